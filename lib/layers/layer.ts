/**
 * The layer contract. A layer owns its weights (created once by {@link Layer.build}) and runs a
 * whole batch per call: `forward` returns the output and a `backward` closure (the tape) that takes
 * the output's gradient, ADDS the parameters' gradients into their `grad` arrays (so a layer used
 * twice, or called twice before a step, accumulates; {@link Layer.zeroGrad} resets them) and returns
 * the input's gradient (null for token ids, which have none).
 *
 * A layer declares what it is, so that models, streaming and decoding never guess from type names:
 * its {@link Layer.state} (what it carries from call to call: rows, width, a cell part), whether it is
 * {@link Layer.causal} (its output at step t depends on steps <= t only, so it can run step by step),
 * and its {@link Layer.config} with every default filled in (what a model file saves).
 *
 * Forward and backward are async: the layers run the ops' async forms, so with the native backend
 * the event loop keeps running during training.
 */
import type { BackendName } from '../backend/index.js';
import type { Workspace } from '../ops/outputs.js';
import type { Rng } from '../random.js';
import type { Kind, Value } from './values.js';

/** One trainable array of a layer or model. */
export interface Parameter {
  /** PyTorch `state_dict` name: relative to the layer (`weight`, `bias_hh_l1_reverse`), or the model (`0.weight`). */
  readonly name: string;
  /** The values, updated in place by optimizers. */
  readonly value: Float32Array;
  /** The gradient, same length; backward adds into it. */
  readonly grad: Float32Array;
  /** PyTorch shape, e.g. `[4 * hiddenSize, inputSize]`. */
  readonly shape: readonly number[];
}

/** What every forward call gets. */
export interface ForwardContext {
  /** Training mode: dropout is active. */
  readonly training: boolean;
  /** The generator for dropout masks. */
  readonly rng: Rng;
  /** Which kernels run: `'native'` or `'js'`. */
  readonly backend: BackendName;
  /**
   * Recurrent layers give their final state (`LayerStep.state`) even when built without
   * `returnState`: stateful training and streaming carry it into the next call. Default: false.
   */
  readonly keepState?: boolean;
  /**
   * Whether backward will be called. `false` (inference: predict, evaluate, sessions, decoding) lets
   * layers skip what only backward needs (the recurrent caches); the step's `backward` then throws.
   * Default: true.
   */
  readonly backward?: boolean;
  /**
   * Where the layers' kernels take their outputs from: each layer takes its own
   * (`workspace.for(layer, slot)`), so that a training loop's steps reuse the arrays of the step
   * before. A forward's results (and its backward's gradients) are valid until the next forward
   * through it. Default: none (fresh arrays).
   */
  readonly workspace?: Workspace | null;
}

/**
 * What a stateful layer carries from call to call (its {@link RecurrentState}): `rows` state rows per
 * sequence (numLayers * numDirections), each `width` floats, and a cell part `c` of the same shape
 * when `cell` (LSTM). `input`: the layer takes its initial state from its input (one-to-many,
 * `stateInput`), so it cannot be given one or stream.
 */
export interface StateSpec {
  readonly rows: number;
  readonly width: number;
  readonly cell: boolean;
  readonly input: boolean;
}

/**
 * The final (or initial) state of a recurrent layer, PyTorch's `(h_n, c_n)` layout:
 * `[numLayers * numDirections, B, hiddenSize]`, layer-major, forward direction before reverse.
 */
export interface RecurrentState {
  /** `[L*D*B*H]`. */
  readonly h: Float32Array;
  /** `[L*D*B*H]` for an LSTM, else null. */
  readonly c: Float32Array | null;
}

/** The result of one forward call: the output and the way back. */
export interface LayerStep {
  /** The output. */
  readonly y: Value;
  /** The final state of a recurrent layer built with `returnState: true`; null otherwise. */
  readonly state: RecurrentState | null;
  /**
   * Back through this call. `dy` has the output's data layout (`[T*B*F]` or `[B*F]`); `dState`, for a
   * recurrent layer, is the gradient with respect to `state` (default: zero). Adds parameter
   * gradients; resolves to the input's gradient (null for Tokens).
   */
  backward(dy: Float32Array, dState?: RecurrentState | null): Promise<Float32Array | null>;
  /** After backward: the gradient with respect to the initial state given to forward (recurrent layers), else null. */
  initialStateGrad(): RecurrentState | null;
}

/** The kinds a layer accepts, each mapped to the kind it gives for it. */
export type KindMap = { readonly [K in Kind]?: Kind };

/**
 * A layer. `M` maps each input kind it accepts to its output kind (e.g. dense:
 * `{ sequence: 'sequence', vector: 'vector' }`); the model builder checks kinds with it at compile time.
 */
export interface Layer<M extends KindMap = KindMap> {
  /** The accepted input kinds and the output kind of each (also checked at run time). */
  readonly kinds: M;
  /** What the layer is (`'dense'`, `'lstm'`, ...): its key in the layer registry (lib/layers/registry.ts). */
  readonly type: string;
  /**
   * What the layer carries between calls (a recurrent layer), or null: it acts on each call alone.
   * Optional so that a user's own layer still fits; undefined means unknown (decoding then
   * recomputes the whole prefix for it).
   */
  readonly state?: StateSpec | null;
  /**
   * Whether the output at step t depends only on steps <= t (false: a bidirectional layer), so that
   * the layer can stream and generate step by step. Default (undefined): true.
   */
  readonly causal?: boolean;
  /**
   * The construction options with every default filled in, as plain JSON: the factory of `type`
   * given this object makes an equal layer (what lib/models/serialize.ts saves). Optional so that a
   * user's own layer still fits the interface; a layer without it cannot be saved.
   */
  readonly config?: LayerConfig;
  /**
   * What {@link Layer.build} would create for `inputFeatures`, without allocating: the output
   * features and each parameter's name and shape, in `parameters()` order. Lets a loader check a
   * description against a file before it allocates anything. Optional, as `config`.
   */
  plan?(inputFeatures: number): LayerPlan;
  /**
   * Creates the weights for `inputFeatures` input features (for Tokens: the input's vocabulary
   * size), once, initialized from `rng` (null: left at zero, for a loader that fills them next);
   * returns the output features. A second call with the same size does nothing; with another size it
   * throws a ValueError.
   */
  build(inputFeatures: number, rng: Rng | null): number;
  /**
   * {@link Layer.build} in interruptible steps (what an async model build drives): the generator
   * yields `undefined` between units of work (a gate block, a chunk of an orthogonalization), then
   * yields the output features once all the work is done and nothing is stored yet; resuming it
   * then stores the weights (the layer is built) and returns the output features. Stopping it
   * (`return()`) before that leaves the layer unbuilt. Optional: a layer without it is built by
   * `build` in one piece.
   */
  buildSteps?(inputFeatures: number, rng: Rng | null): BuildSteps;
  /** The trainable arrays, in PyTorch `state_dict` order (empty before build). */
  parameters(): readonly Parameter[];
  /** Sets every parameter's gradient to zero. */
  zeroGrad(): void;
  /**
   * Runs the layer on a whole batch. `initialState` (recurrent layers only, `[L*D, B, H]` each):
   * default zeros.
   */
  forward(x: Value, ctx: ForwardContext, initialState?: RecurrentState | null): Promise<LayerStep>;
}

/** A JSON value (what a layer's {@link Layer.config} holds). */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A layer's construction options as plain JSON. */
export type LayerConfig = { readonly [key: string]: JsonValue };

/** What {@link Layer.plan} gives. */
export interface LayerPlan {
  /** Output features (per step or per row). */
  readonly outputFeatures: number;
  /** Each parameter's name (relative to the layer) and PyTorch shape, in `parameters()` order. */
  readonly parameters: readonly { readonly name: string; readonly shape: readonly number[] }[];
}

/** A parameter with a zeroed gradient. */
export function parameter(name: string, value: Float32Array, shape: readonly number[]): Parameter {
  return { name, value, grad: new Float32Array(value.length), shape };
}

/** Adds `src` into `dst` element-wise (gradient accumulation). */
export function addInto(dst: Float32Array, src: ArrayLike<number>): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/** What {@link Layer.buildSteps} returns (see there). */
export type BuildSteps = Generator<number | undefined, number, void>;

/** Runs build steps to the end (the work, then the commit): a layer's sync `build` in terms of its `buildSteps`. */
export function runBuildSteps(steps: BuildSteps): number {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

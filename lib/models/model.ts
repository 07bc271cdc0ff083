/**
 * The model contract: what `fit`, `evaluate`, `predict`, checkpoints, save/load, `SessionPool` and
 * decoding need of a model, and all they use. `sequential` (lib/models/sequential.ts) is one
 * implementation; an encoder-decoder is another.
 *
 * - `forward(x, options)` runs the model on a batch (the input value of its input kind, or, for a
 *   model with several named inputs, an object of them) and gives its output, the final states of its
 *   stateful parts (by key, {@link Model.stateSlots}), and the way back.
 * - `backward(dy, dStates)` takes the output's gradient and, optionally, gradients with respect to
 *   the final states; it adds every parameter's gradient and resolves to the input's gradient;
 *   `initialStateGrads()` then gives the gradients with respect to the initial states given to
 *   forward (so that a state handed from one model to another, an encoder's to a decoder, learns).
 * - `parameters()` lists every trainable array under its model-level name (PyTorch `state_dict`
 *   names); `describe()` gives the JSON description a model file saves next to them
 *   (lib/models/serialize.ts reads it back through the model format's loader).
 * - `stateSlots` and `causal` say what the model carries step to step and whether it can run step by
 *   step (streaming sessions and generation check them instead of looking into layers).
 */
import type { BackendName } from '../backend/index.js';
import { describe, positiveInt } from '../check.js';
import { ValueError } from '../errors.js';
import type { AtomicWriteOptions } from '../io/atomic.js';
import type { Parameter, RecurrentState, StateSpec } from '../layers/layer.js';
import { Workspace } from '../ops/outputs.js';
import type { InputOf, Inputs, Kind, ValueOf } from '../layers/values.js';
import type { Rng } from '../random.js';
import type { Batch, Data, Evaluation, EvaluateOptions, FitOptions, History, LossName } from '../train/types.js';

/** The description of a model's input. */
export interface InputSpec<K extends Kind> {
  /** The input's kind. */
  readonly kind: K;
  /** Features per step or row (for Tokens: the vocabulary size, ids in [0, vocabSize)). */
  readonly features: number;
}

/** Options of {@link input}.tokens. */
export interface TokensInputOptions {
  /** Ids are in [0, vocabSize). Required. */
  readonly vocabSize: number;
}
/** Options of {@link input}.sequence and {@link input}.vector. */
export interface FloatInputOptions {
  /** Features per step (Sequence) or per row (Vector). Required. */
  readonly features: number;
}

/** The input specs a model starts from. */
export const input = {
  /** Token ids (a {@link Tokens} value), each in [0, vocabSize). */
  tokens(options: TokensInputOptions): InputSpec<'tokens'> {
    return { kind: 'tokens', features: positiveInt(options?.vocabSize, 'vocabSize') };
  },
  /** Float feature sequences (a {@link Sequence} value). */
  sequence(options: FloatInputOptions): InputSpec<'sequence'> {
    return { kind: 'sequence', features: positiveInt(options?.features, 'features') };
  },
  /** One float feature row per example (a {@link Vector} value). */
  vector(options: FloatInputOptions): InputSpec<'vector'> {
    return { kind: 'vector', features: positiveInt(options?.features, 'features') };
  },
} as const;

/** Options of {@link Model.forward}. */
export interface ModelForwardOptions {
  /** Training mode (dropout active). Default: false. */
  readonly training?: boolean;
  /** Generator for dropout masks. Default: the model's own (seeded by `build`). */
  readonly rng?: Rng;
  /** Initial states of the stateful parts, by {@link StateSlot.key}. Default: zeros. */
  readonly initialStates?: ReadonlyMap<number, RecurrentState>;
  /** Give every stateful part's final state in `states`, not only those built with `returnState`. Default: false. */
  readonly keepStates?: boolean;
  /** Which kernels run this call. Default: the model's backend ({@link Model.backend}). */
  readonly backend?: BackendName;
  /**
   * Whether `backward` will be called: false (inference) lets the layers keep no caches, and the
   * step's `backward` then throws. Default: true.
   */
  readonly backward?: boolean;
  /**
   * Reuse the kernels' output arrays of the forward before (`fit` passes one to its training
   * steps): this forward's results, its `y` included, and its backward's gradients are valid until
   * the next forward through the same {@link Workspace}. Default: none (fresh arrays every call).
   */
  readonly workspace?: Workspace;
}

/** `options.workspace` of a forward: a {@link Workspace} or nothing. */
export function workspaceOption(w: unknown): Workspace | null {
  if (w === undefined || w === null) return null;
  if (w instanceof Workspace) return w;
  throw new ValueError(`expected a Workspace (new Workspace()), got ${describe(w)}`, 'options.workspace');
}

/** What {@link Model.forward} gives. */
export interface ModelStep<Out extends Kind> {
  /** The output. */
  readonly y: ValueOf<Out>;
  /** Final states of the stateful parts built with `returnState: true` (every one with `keepStates`), by key. */
  readonly states: ReadonlyMap<number, RecurrentState>;
  /**
   * Back through the whole model from the output's gradient (`dy` in `y`'s data layout) and,
   * optionally, gradients with respect to the final states (by key; default zero): adds every
   * parameter's gradient; resolves to the input's gradient (null for Tokens).
   */
  backward(dy: Float32Array, dStates?: ReadonlyMap<number, RecurrentState> | null): Promise<Float32Array | null>;
  /** After backward: the gradients with respect to the initial states (by key, every stateful part). */
  initialStateGrads(): ReadonlyMap<number, RecurrentState>;
}

/** A state a model carries between calls: its key in `ModelStep.states` and its shape per sequence. */
export interface StateSlot {
  /** The key (for `sequential`: the layer's position). */
  readonly key: number;
  /** Rows, width and cell part of the state (see {@link StateSpec}). */
  readonly spec: StateSpec;
  /** What carries it (`'lstm'`, ...), for messages. */
  readonly type: string;
}

/** The JSON description of a model, saved in a model file's `__metadata__` (lib/models/serialize.ts). */
export interface ModelDescription {
  /** The model format: `'gated.sequential'`, ... */
  readonly format: string;
  /** The description's version. */
  readonly version: number;
  /** The input spec. */
  readonly input: { readonly kind: Kind; readonly features: number };
  /** Every parameter, in model order. */
  readonly parameters: readonly ParameterDescription[];
  /** The rest, as the format defines it (for `sequential`: `layers`): plain JSON. */
  readonly [field: string]: unknown;
}

/** One parameter of a {@link ModelDescription}. */
export interface ParameterDescription {
  /** The model-level PyTorch `state_dict` name, e.g. `1.weight_ih_l0`. */
  readonly name: string;
  /** PyTorch shape. */
  readonly shape: readonly number[];
  /** The dtype of its tensor in the file (`'F32'` when gated saves it). */
  readonly dtype: string;
}

/** The input spec(s) of `In`: one spec, or one per named input. */
export type InputSpecOf<In extends Inputs> = In extends Kind
  ? InputSpec<In>
  : { readonly [K in keyof In]: In[K] extends Kind ? InputSpec<In[K]> : never };

/** A built model taking `In` values (one kind, or several named ones) and giving `Out` values. */
export interface Model<In extends Inputs, Out extends Kind> {
  /** The input's kind (or, for several named inputs, their kinds by name). */
  readonly inputKind: In;
  /** The output's kind. */
  readonly outputKind: Out;
  /** Features of the output (per step or per row). */
  readonly outputFeatures: number;
  /** The input spec(s). */
  readonly input: InputSpecOf<In>;
  /**
   * The kernels the model runs on: the backend it was built or loaded with, else the process default
   * (`setDefaultBackend`) at each call. Setting it chooses one for later calls.
   */
  backend: BackendName;
  /** The states the model carries between calls (its recurrent parts), in key order. */
  readonly stateSlots: readonly StateSlot[];
  /** Whether the output at step t depends only on input steps <= t (no bidirectional part), so it can stream. */
  readonly causal: boolean;
  /**
   * Whether every stateful part declares its state ({@link stateSlots} is complete), so that running
   * step by step from carried states gives the same outputs as running the whole sequence. False for
   * a model with a user's layer that does not say (decoding then re-runs the prefix).
   */
  readonly stepwise: boolean;
  /** The model's generator (dropout masks); checkpoints save and restore it. */
  readonly rng: Rng;
  /** Runs the model (see the module comment). */
  forward(x: InputOf<In>, options?: ModelForwardOptions): Promise<ModelStep<Out>>;
  /** Every trainable array with its model-level name, in order. */
  parameters(): readonly Parameter[];
  /** Zeroes every gradient. */
  zeroGrad(): void;
  /** The JSON description a model file saves (lib/models/serialize.ts). */
  describe(): ModelDescription;
  /** Trains the model on `data` (lib/train/fit.ts's `fit`); resolves to the per-epoch history. */
  fit<L extends LossName = 'softmaxCrossEntropy'>(
    data: Data<Batch<In, NoInfer<L>, Out>>,
    options: FitOptions<In, L, Out>,
  ): Promise<History>;
  /** Mean loss and metrics over `data` in inference mode (`evaluate`). */
  evaluate<L extends LossName = 'softmaxCrossEntropy'>(
    data: Iterable<Batch<In, L, Out>> | AsyncIterable<Batch<In, L, Out>>,
    options?: EvaluateOptions<L>,
  ): Promise<Evaluation>;
  /** The output for `x` in inference mode (no dropout). */
  predict(x: InputOf<In>): Promise<ValueOf<Out>>;
  /**
   * Writes the model (its description and weights, PyTorch names) to one safetensors file,
   * atomically: the file at `path` is either the old one or the new one, never half-written.
   * Read it back with `loadModel`.
   */
  save(path: string, options?: AtomicWriteOptions): Promise<void>;
}

/** Any model. */
export type AnyModel = Model<Inputs, Kind>;

/** `model` as a {@link Model}: a ValueError naming `name` for anything that is not one. */
export function checkModel(model: unknown, name = 'model'): AnyModel {
  const m = model as AnyModel | null;
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.forward !== 'function' ||
    typeof m.parameters !== 'function' ||
    typeof m.zeroGrad !== 'function'
  ) {
    throw new ValueError(`expected a model (sequential(...).build(), loadModel(...)), got ${describe(model)}`, name);
  }
  return m;
}

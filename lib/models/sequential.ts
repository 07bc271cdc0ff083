/**
 * `sequential`: a chain of layers with the kinds of its input and output tracked by the compiler.
 *
 *   const model = sequential(input.tokens({ vocabSize: 50 }))
 *     .add(embedding({ vocabSize: 50, dim: 16 }))
 *     .add(lstm({ hiddenSize: 32, returnSequences: false }))
 *     .add(dense({ units: 2 }))
 *     .build({ seed: 1 });                       // Model<'tokens', 'vector'>
 *   const { y, backward } = await model.forward(tokens(padBatch(seqs)), { training: true });
 *
 * `.add` accepts only a layer that takes the current output kind: `lstm` after
 * `lstm({ returnSequences: false })` (a Vector where a Sequence is needed) or `embedding` after a
 * float input are compile errors, and `forward` takes only the input kind's value type. The same
 * checks run at run time (ValueError naming the layer's position) for JavaScript callers.
 *
 * Parameter names are PyTorch nn.Sequential `state_dict` names: `'<index>.<name>'` (`'0.weight'`,
 * `'1.weight_ih_l0'`), or `'<layer name>.<name>'` when `.add(layer, name)` names the layer.
 */
import type { BackendName } from '../backend/types.js';
import { ValueError } from '../errors.js';
import { checkInput, positiveInt } from '../layers/checks.js';
import type { KindMap, Layer, LayerStep, Parameter, RecurrentState } from '../layers/layer.js';
import type { Kind, Value, ValueOf } from '../layers/values.js';
import type { AtomicWriteOptions } from '../io/atomic.js';
import { Rng } from '../random.js';
import {
  type Batch, type Data, type Evaluation, type EvaluateOptions, type FitOptions, type History, type LossName, evaluate, fit, predict,
} from '../train/fit.js';
import { describe } from '../validate.js';
import { weightsLock } from './guard.js';
import { saveModelAsync } from './serialize.js';

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

/** Options of {@link SequentialBuilder.build}. */
export interface BuildOptions {
  /** Seed of the model's generator: weights are initialized from it, dropout masks from a stream split off it. Default: 0. */
  readonly seed?: number;
  /** Which kernels run the layers. Default: `'native'`. */
  readonly backend?: BackendName;
}

/** Options of {@link Model.forward}. */
export interface ModelForwardOptions {
  /** Training mode (dropout active). Default: false. */
  readonly training?: boolean;
  /** Generator for dropout masks. Default: the model's own (seeded by `build`). */
  readonly rng?: Rng;
  /** Initial states of recurrent layers, by layer position. Default: zeros. */
  readonly initialStates?: ReadonlyMap<number, RecurrentState>;
  /** Give every recurrent layer's final state in `states`, not only those built with `returnState`. Default: false. */
  readonly keepStates?: boolean;
}

/** What {@link Model.forward} gives. */
export interface ModelStep<Out extends Kind> {
  /** The output. */
  readonly y: ValueOf<Out>;
  /** Final states of the recurrent layers built with `returnState: true` (every one with `keepStates`), by layer position. */
  readonly states: ReadonlyMap<number, RecurrentState>;
  /**
   * Back through the whole model from the output's gradient (`dy` in `y`'s data layout): adds every
   * parameter's gradient; resolves to the input's gradient (null for Tokens).
   */
  backward(dy: Float32Array): Promise<Float32Array | null>;
}

/** A built model taking `In` values and giving `Out` values. */
export interface Model<In extends Kind, Out extends Kind> {
  /** The input's kind. */
  readonly inputKind: In;
  /** The output's kind. */
  readonly outputKind: Out;
  /** Features of the output (per step or per row). */
  readonly outputFeatures: number;
  /** The layers, in order. */
  readonly layers: readonly Layer[];
  /** The input spec the model was started from. */
  readonly input: InputSpec<In>;
  /** The name each layer was added with (`.add(layer, name)`), or null where it is named by its position. */
  readonly layerNames: readonly (string | null)[];
  /** The kernels the layers run on; may be changed between calls. */
  backend: BackendName;
  /** Runs every layer; training mode draws dropout masks. */
  forward(x: ValueOf<In>, options?: ModelForwardOptions): Promise<ModelStep<Out>>;
  /** Every trainable array with its model-level name, in layer order. */
  parameters(): readonly Parameter[];
  /** Zeroes every gradient. */
  zeroGrad(): void;
  /** Trains the model on `data` (lib/train/fit.ts's {@link fit}); resolves to the per-epoch history. */
  fit<L extends LossName = 'softmaxCrossEntropy'>(data: Data<Batch<In, NoInfer<L>, Out>>, options: FitOptions<In, L, Out>): Promise<History>;
  /** Mean loss and metrics over `data` in inference mode ({@link evaluate}). */
  evaluate<L extends LossName = 'softmaxCrossEntropy'>(
    data: Iterable<Batch<In, L, Out>> | AsyncIterable<Batch<In, L, Out>>, options?: EvaluateOptions<L>,
  ): Promise<Evaluation>;
  /** The output for `x` in inference mode (no dropout). */
  predict(x: ValueOf<In>): Promise<ValueOf<Out>>;
  /**
   * Writes the model (its description and weights, PyTorch names) to one safetensors file,
   * atomically: the file at `path` is either the old one or the new one, never half-written.
   * Read it back with `loadModel`.
   */
  save(path: string, options?: AtomicWriteOptions): Promise<void>;
}

interface Entry {
  readonly layer: Layer;
  readonly name: string | null;
}

/** Builds a model layer by layer; `In`: the input kind, `Cur`: the current output kind. */
export class SequentialBuilder<In extends Kind, Cur extends Kind> {
  private readonly spec: InputSpec<In>;
  private readonly entries: readonly Entry[];

  /** Use {@link sequential}. */
  constructor(spec: InputSpec<In>, entries: readonly Entry[]) {
    this.spec = spec;
    this.entries = entries;
  }

  /**
   * Appends a layer that takes the current output kind. `name` replaces the position in parameter
   * names (default: the position, as nn.Sequential).
   */
  add<M extends KindMap & { readonly [K in Cur]: Kind }>(layer: Layer<M>, name?: string): SequentialBuilder<In, M[Cur]> {
    if (typeof layer !== 'object' || layer === null || typeof layer.forward !== 'function') {
      throw new ValueError(`expected a layer, got ${describe(layer)}`, 'layer');
    }
    if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z_][\w]*$/.test(name))) {
      throw new ValueError(`expected an identifier, got ${describe(name)}`, 'name');
    }
    if (name !== undefined && this.entries.some((e) => e.name === name)) throw new ValueError(`the name '${name}' is taken`, 'name');
    return new SequentialBuilder<In, M[Cur]>(this.spec, [...this.entries, { layer: layer as Layer, name: name ?? null }]);
  }

  /** Creates every layer's weights (from a generator seeded with `seed`) and returns the model. */
  build(options: BuildOptions = {}): Model<In, Cur> {
    const seed = options.seed ?? 0;
    const rng = new Rng(seed);
    const initRng = rng.split();
    let kind: Kind = this.spec.kind;
    let features = this.spec.features;
    this.entries.forEach((e, i) => {
      const next = (e.layer.kinds as KindMap)[kind];
      if (next === undefined) {
        const accepts = Object.keys(e.layer.kinds).map((k) => `a ${k}`).join(' or ');
        throw new ValueError(`${e.layer.type} takes ${accepts}, but the model gives it a ${kind}`, `layers[${i}]`);
      }
      features = e.layer.build(features, initRng);
      kind = next;
    });
    return new SequentialModel<In, Cur>(this.spec, this.entries, kind as Cur, features, rng, options.backend ?? 'native');
  }
}

class SequentialModel<In extends Kind, Out extends Kind> implements Model<In, Out> {
  readonly inputKind: In;
  readonly outputKind: Out;
  readonly outputFeatures: number;
  readonly layers: readonly Layer[];
  readonly layerNames: readonly (string | null)[];
  backend: BackendName;
  private readonly spec: InputSpec<In>;
  private readonly entries: readonly Entry[];
  private readonly rng: Rng;

  constructor(spec: InputSpec<In>, entries: readonly Entry[], outKind: Out, features: number, rng: Rng, backend: BackendName) {
    this.spec = spec;
    this.entries = entries;
    this.inputKind = spec.kind;
    this.outputKind = outKind;
    this.outputFeatures = features;
    this.layers = entries.map((e) => e.layer);
    this.layerNames = entries.map((e) => e.name);
    this.rng = rng;
    this.backend = backend;
  }

  get input(): InputSpec<In> {
    return this.spec;
  }

  async forward(x: ValueOf<In>, options: ModelForwardOptions = {}): Promise<ModelStep<Out>> {
    checkInput(x as Value, [this.spec.kind], this.spec.features, 'the model');
    const ctx = { training: options.training ?? false, rng: options.rng ?? this.rng, backend: this.backend, keepState: options.keepStates ?? false };
    const steps: LayerStep[] = [];
    const states = new Map<number, RecurrentState>();
    // Under the weights lock: an optimizer step of a fit in progress never runs during it.
    const y = await weightsLock(this).read(async () => {
      let v: Value = x as Value;
      for (let i = 0; i < this.entries.length; i++) {
        const s = await this.entries[i].layer.forward(v, ctx, options.initialStates?.get(i) ?? null);
        if (s.state) states.set(i, s.state);
        steps.push(s);
        v = s.y;
      }
      return v;
    });
    return {
      y: y as ValueOf<Out>,
      states,
      backward: async (dy: Float32Array): Promise<Float32Array | null> => {
        let g: Float32Array | null = dy;
        for (let i = steps.length - 1; i >= 0 && g !== null; i--) g = await steps[i].backward(g);
        return g;
      },
    };
  }

  parameters(): readonly Parameter[] {
    const out: Parameter[] = [];
    this.entries.forEach((e, i) => {
      const prefix = e.name ?? String(i);
      for (const p of e.layer.parameters()) out.push({ ...p, name: `${prefix}.${p.name}` });
    });
    return out;
  }

  zeroGrad(): void {
    for (const l of this.layers) l.zeroGrad();
  }

  fit<L extends LossName = 'softmaxCrossEntropy'>(data: Data<Batch<In, NoInfer<L>, Out>>, options: FitOptions<In, L, Out>): Promise<History> {
    return fit<In, Out, L>(this, data, options);
  }

  evaluate<L extends LossName = 'softmaxCrossEntropy'>(
    data: Iterable<Batch<In, L, Out>> | AsyncIterable<Batch<In, L, Out>>, options?: EvaluateOptions<L>,
  ): Promise<Evaluation> {
    return evaluate<In, Out, L>(this, data, options);
  }

  predict(x: ValueOf<In>): Promise<ValueOf<Out>> {
    return predict(this, x);
  }

  save(path: string, options?: AtomicWriteOptions): Promise<void> {
    return saveModelAsync(this, path, options);
  }

  /** The generator of `model` (see {@link modelRng}). */
  static rngOf(model: SequentialModel<Kind, Kind>): Rng {
    return model.rng;
  }
}

/**
 * The model's own generator (dropout masks), or null for a model not built by {@link sequential}.
 * Internal: lib/train/checkpoint.ts saves and restores its state; not part of the public API.
 * @internal
 */
export function modelRng(model: object): Rng | null {
  return model instanceof SequentialModel ? SequentialModel.rngOf(model as SequentialModel<Kind, Kind>) : null;
}

/** Starts a model from its input spec (`input.tokens(...)`, `input.sequence(...)`, `input.vector(...)`). */
export function sequential<K extends Kind>(spec: InputSpec<K>): SequentialBuilder<K, K> {
  if (typeof spec !== 'object' || spec === null || !['tokens', 'sequence', 'vector'].includes(spec.kind)) {
    throw new ValueError(`expected an input spec (input.tokens, input.sequence or input.vector), got ${describe(spec)}`, 'input');
  }
  return new SequentialBuilder<K, K>(spec, []);
}

/**
 * `sequential`: a chain of layers with the kinds of its input and output tracked by the compiler,
 * one implementation of the model contract (lib/models/model.ts).
 *
 *   const model = sequential(input.tokens({ vocabSize: 50 }))
 *     .add(embedding({ vocabSize: 50, dim: 16 }))
 *     .add(lstm({ hiddenSize: 32, returnSequences: false }))
 *     .add(dense({ units: 2 }))
 *     .build({ seed: 1 });                       // SequentialModel<'tokens', 'vector'>
 *   const { y, backward } = await model.forward(tokens(padBatch(seqs)), { training: true });
 *
 * `.add` accepts only a layer that takes the current output kind: `lstm` after
 * `lstm({ returnSequences: false })` (a Vector where a Sequence is needed) or `embedding` after a
 * float input are compile errors, and `forward` takes only the input kind's value type. The same
 * checks run at run time (ValueError naming the layer's position) for JavaScript callers.
 *
 * Parameter names are PyTorch nn.Sequential `state_dict` names: `'<index>.<name>'` (`'0.weight'`,
 * `'1.weight_ih_l0'`), or `'<layer name>.<name>'` when `.add(layer, name)` names the layer. States
 * are keyed by layer position.
 *
 * `forward` owns what it hands to the kernels: it copies the input value (so a caller may change or
 * transfer its arrays while the call runs) and refuses non-finite input.
 */
import { type BackendName, defaultBackendName } from '../backend/index.js';
import { allFinite, backendName, describe, objectArgs, optionalSignal, positiveInt } from '../check.js';
import { AbortError, ValueError } from '../errors.js';
import type { AtomicWriteOptions } from '../io/atomic.js';
import {
  type BuildSteps,
  type ForwardContext,
  type KindMap,
  type Layer,
  type LayerStep,
  type Parameter,
  type RecurrentState,
  runBuildSteps,
} from '../layers/layer.js';
import { checkValue, type InputOf, type Kind, type Value, type ValueOf } from '../layers/values.js';
import { Rng } from '../random.js';
import {
  type Batch,
  type Data,
  type Evaluation,
  type EvaluateOptions,
  type FitOptions,
  type History,
  type LossName,
  evaluate,
  fit,
  predict,
} from '../train/fit.js';
import { weightsLock } from './guard.js';
import type { InputSpec, InputSpecOf, Model, ModelForwardOptions, ModelStep, StateSlot } from './model.js';
import { workspaceOption } from './model.js';
import { saveModelAsync } from './save.js';
import { SEQUENTIAL_FORMAT, SEQUENTIAL_FORMAT_VERSION, type SequentialDescription } from './sequential-format.js';

export {
  input,
  type InputSpec,
  type ModelForwardOptions,
  type ModelStep,
  type TokensInputOptions,
  type FloatInputOptions,
} from './model.js';

/** Options of {@link SequentialBuilder.build}. */
export interface BuildOptions {
  /** Seed of the model's generator: weights are initialized from it, dropout masks from a stream split off it. Default: 0. */
  readonly seed?: number;
  /** Which kernels run the model. Default: the process default at each call (`setDefaultBackend`). */
  readonly backend?: BackendName;
}

/** A built sequential model: the model contract plus its layers. */
export interface SequentialModel<In extends Kind, Out extends Kind> extends Model<In, Out> {
  /** The layers, in order. */
  readonly layers: readonly Layer[];
  /** The name each layer was added with (`.add(layer, name)`), or null where it is named by its position. */
  readonly layerNames: readonly (string | null)[];
  /** The description its file saves: the input, every layer's type, name and config, the parameters. */
  describe(): SequentialDescription;
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
    checkSpec(spec);
    if (!Array.isArray(entries)) throw new ValueError(`expected an array of layer entries, got ${describe(entries)}`, 'entries');
    entries.forEach((e: unknown, i) => {
      const entry = e as Partial<Entry> | null;
      if (
        typeof entry !== 'object' ||
        entry === null ||
        typeof entry.layer !== 'object' ||
        entry.layer === null ||
        typeof entry.layer.forward !== 'function'
      )
        throw new ValueError(`expected { layer, name }, got ${describe(e)}`, `entries[${i}]`);
      if (entry.name !== null && typeof entry.name !== 'string')
        throw new ValueError(`expected a string or null, got ${describe(entry.name)}`, `entries[${i}].name`);
    });
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

  /**
   * Creates every layer's weights (from a generator seeded with `seed`) and returns the model. The
   * orthogonal recurrent weights cost O(hiddenSize^3) on the calling thread (about 0.5 s per gate
   * block at hiddenSize 1024): for large layers, or where the event loop must stay live, use
   * {@link SequentialBuilder.buildAsync}, which gives the same weights.
   */
  build(options: BuildOptions = {}): SequentialModel<In, Cur> {
    const o = objectArgs(options, 'options');
    for (const k of Object.keys(o))
      if (k !== 'seed' && k !== 'backend') throw new ValueError(`unknown option (known: seed, backend)`, `options.${k}`);
    const steps = buildSteps<In, Cur>(this.spec, this.entries, {
      seed: o.seed as number | undefined,
      backend: backendName(o.backend, 'options.backend'),
      initialize: true,
    });
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * {@link SequentialBuilder.build} without blocking: the same weights bit for bit, built in slices
   * of a few milliseconds (a gate block, part of an orthogonalization) with the event loop let run
   * between them. `signal` is checked between slices: when it fires, the promise rejects with an
   * AbortError and no layer is left built (the layers this builder holds can be built again), but
   * for a user's own layer that has no `buildSteps`.
   */
  async buildAsync(options: BuildAsyncOptions = {}): Promise<SequentialModel<In, Cur>> {
    const o = objectArgs(options, 'options');
    for (const k of Object.keys(o)) {
      if (k !== 'seed' && k !== 'backend' && k !== 'signal') {
        throw new ValueError(`unknown option (known: seed, backend, signal)`, `options.${k}`);
      }
    }
    const signal = optionalSignal(o.signal, 'options.signal');
    const backend = backendName(o.backend, 'options.backend');
    if (signal?.aborted) throw new AbortError();
    const steps = buildSteps<In, Cur>(this.spec, this.entries, { seed: o.seed as number | undefined, backend, initialize: true });
    try {
      let sliceStart = performance.now();
      for (;;) {
        const r = steps.next();
        if (r.done) return r.value;
        if (performance.now() - sliceStart >= SLICE_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
        if (signal?.aborted) throw new AbortError();
      }
    } finally {
      steps.return(undefined as never);
    }
  }
}

/** Options of {@link SequentialBuilder.buildAsync}. */
export interface BuildAsyncOptions extends BuildOptions {
  /** Cancels the build: the promise rejects with an AbortError. */
  readonly signal?: AbortSignal;
}

/** Longest stretch (ms) an async build runs before it lets the event loop run. */
const SLICE_MS = 8;

/**
 * @internal Builds a sequential model; `initialize: false` leaves every weight at zero (for a loader
 * that fills them next: loading costs about the file's size, with no random initialization).
 */
export function buildSequential<In extends Kind, Out extends Kind>(
  spec: InputSpec<Kind>,
  entries: readonly Entry[],
  o: { seed?: number; backend: BackendName | null; initialize: boolean },
): SequentialModel<In, Out> {
  const steps = buildSteps<In, Out>(spec, entries, o);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The build as steps (yielding between units of work): every layer's work first, in order (the
 * generator's draws as ever), then every layer's commit, so that a build stopped or failing midway
 * leaves no layer built (but a user's layer without `buildSteps`, built in one piece).
 */
function* buildSteps<In extends Kind, Out extends Kind>(
  spec: InputSpec<Kind>,
  entries: readonly Entry[],
  o: { seed?: number; backend: BackendName | null; initialize: boolean },
): Generator<void, SequentialModel<In, Out>, void> {
  const rng = new Rng(o.seed ?? 0);
  const initRng = rng.split();
  let kind: Kind = spec.kind;
  let features = spec.features;
  // Layers whose work is done and whose commit waits, with the input and output features they were built for.
  const pending = new Map<Layer, { steps: BuildSteps; input: number; output: number }>();
  try {
    for (let i = 0; i < entries.length; i++) {
      const layer = entries[i].layer;
      const next = (layer.kinds as KindMap)[kind];
      if (next === undefined) {
        const accepts = Object.keys(layer.kinds)
          .map((k) => `a ${k}`)
          .join(' or ');
        throw new ValueError(`${layer.type} takes ${accepts}, but the model gives it a ${kind}`, `layers[${i}]`);
      }
      const waiting = pending.get(layer);
      if (waiting) {
        // The same layer added twice: as a second `build` would, it keeps its weights (same size) or throws.
        if (waiting.input !== features) {
          throw new ValueError(`${layer.type} is already built for ${waiting.input} input features, got ${features}`, 'inputFeatures');
        }
        features = waiting.output;
      } else if (typeof layer.buildSteps === 'function') {
        const steps = layer.buildSteps(features, o.initialize ? initRng : null);
        for (;;) {
          const r = steps.next();
          if (r.done) {
            features = r.value; // already built: nothing to commit
            break;
          }
          if (r.value !== undefined) {
            pending.set(layer, { steps, input: features, output: r.value });
            features = r.value;
            break;
          }
          yield;
        }
      } else {
        features = layer.build(features, o.initialize ? initRng : null);
      }
      kind = next;
      yield;
    }
    for (const p of pending.values()) runBuildSteps(p.steps);
    pending.clear();
  } finally {
    for (const p of pending.values()) p.steps.return(0);
  }
  return new Sequential(spec, entries, kind, features, rng, o.backend) as unknown as SequentialModel<In, Out>;
}

/** A copy of the input value `x` (so the caller may reuse its arrays during the call), its floats checked finite. */
function ownedInput(x: Value): Value {
  if (x.kind === 'tokens') return { ...x, ids: x.ids.slice(), lengths: x.lengths?.slice() ?? null };
  allFinite(x.data, 'x.data');
  return x.kind === 'sequence' ? { ...x, data: x.data.slice(), lengths: x.lengths?.slice() ?? null } : { ...x, data: x.data.slice() };
}

class Sequential<In extends Kind, Out extends Kind> implements SequentialModel<In, Out> {
  readonly inputKind: In;
  readonly outputKind: Out;
  readonly outputFeatures: number;
  readonly layers: readonly Layer[];
  readonly layerNames: readonly (string | null)[];
  readonly stateSlots: readonly StateSlot[];
  readonly causal: boolean;
  readonly stepwise: boolean;
  readonly rng: Rng;
  private ownBackend: BackendName | null;
  private readonly spec: InputSpec<In>;
  private readonly entries: readonly Entry[];

  constructor(spec: InputSpec<Kind>, entries: readonly Entry[], outKind: Kind, features: number, rng: Rng, backend: BackendName | null) {
    this.spec = spec as InputSpec<In>;
    this.entries = entries;
    this.inputKind = spec.kind as In;
    this.outputKind = outKind as Out;
    this.outputFeatures = features;
    this.layers = entries.map((e) => e.layer);
    this.layerNames = entries.map((e) => e.name);
    this.rng = rng;
    this.ownBackend = backend;
    this.stateSlots = this.layers.flatMap((l, i) => (l.state ? [{ key: i, spec: l.state, type: l.type }] : []));
    this.causal = this.layers.every((l) => l.causal !== false);
    this.stepwise = this.layers.every((l) => l.state !== undefined);
  }

  get input(): InputSpecOf<In> {
    return this.spec as InputSpecOf<In>;
  }

  get backend(): BackendName {
    return this.ownBackend ?? defaultBackendName();
  }

  set backend(name: BackendName) {
    this.ownBackend = backendName(name, 'backend');
  }

  async forward(x: InputOf<In>, options: ModelForwardOptions = {}): Promise<ModelStep<Out>> {
    checkValue(x, this.spec.kind, this.spec.features, 'x');
    const o = objectArgs(options, 'options');
    const ctx: ForwardContext = {
      training: o.training === undefined ? false : checkFlag(o.training, 'options.training'),
      rng: options.rng ?? this.rng,
      backend: backendName(o.backend, 'options.backend', this.backend),
      keepState: o.keepStates === undefined ? false : checkFlag(o.keepStates, 'options.keepStates'),
      backward: o.backward === undefined ? true : checkFlag(o.backward, 'options.backward'),
      workspace: workspaceOption(o.workspace),
    };
    const initial = options.initialStates;
    if (initial !== undefined && !(initial instanceof Map))
      throw new ValueError(`expected a Map of states by layer position, got ${describe(initial)}`, 'options.initialStates');
    const owned = ownedInput(x as Value);
    const steps: LayerStep[] = [];
    const states = new Map<number, RecurrentState>();
    // Under the weights lock: an optimizer step of a fit in progress never runs during it.
    const y = await weightsLock(this).read(async () => {
      let v: Value = owned;
      for (let i = 0; i < this.entries.length; i++) {
        const s = await this.entries[i].layer.forward(v, ctx, initial?.get(i) ?? null);
        if (s.state) states.set(i, s.state);
        steps.push(s);
        v = s.y;
      }
      return v;
    });
    const initialGrads = new Map<number, RecurrentState>();
    return {
      y: y as ValueOf<Out>,
      states,
      backward: async (dy: Float32Array, dStates?: ReadonlyMap<number, RecurrentState> | null): Promise<Float32Array | null> => {
        if (dStates !== undefined && dStates !== null && !(dStates instanceof Map)) {
          throw new ValueError(`expected a Map of states by layer position, or null, got ${describe(dStates)}`, 'dStates');
        }
        let g: Float32Array | null = dy;
        for (let i = steps.length - 1; i >= 0; i--) {
          const dState = dStates?.get(i) ?? null;
          // A Tokens-taking layer (embedding, oneHot) ends the chain of input gradients.
          if (g === null) break;
          g = await steps[i].backward(g, dState);
          const ig = steps[i].initialStateGrad();
          if (ig) initialGrads.set(i, ig);
        }
        return g;
      },
      initialStateGrads: () => initialGrads,
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

  describe(): SequentialDescription {
    const layers = this.entries.map((e, i) => {
      if (e.layer.config === undefined)
        throw new ValueError(`a ${e.layer.type} layer without a config cannot be saved`, `model.layers[${i}]`);
      return { type: e.layer.type, name: e.name, config: e.layer.config };
    });
    return {
      format: SEQUENTIAL_FORMAT,
      version: SEQUENTIAL_FORMAT_VERSION,
      input: { kind: this.spec.kind, features: this.spec.features },
      layers,
      parameters: this.parameters().map((p) => ({ name: p.name, shape: [...p.shape], dtype: 'F32' })),
    };
  }

  fit<L extends LossName = 'softmaxCrossEntropy'>(
    data: Data<Batch<In, NoInfer<L>, Out>>,
    options: FitOptions<In, L, Out>,
  ): Promise<History> {
    return fit<In, Out, L>(this, data, options);
  }

  evaluate<L extends LossName = 'softmaxCrossEntropy'>(
    data: Iterable<Batch<In, L, Out>> | AsyncIterable<Batch<In, L, Out>>,
    options?: EvaluateOptions<L>,
  ): Promise<Evaluation> {
    return evaluate<In, Out, L>(this, data, options);
  }

  predict(x: InputOf<In>): Promise<ValueOf<Out>> {
    return predict(this, x);
  }

  save(path: string, options?: AtomicWriteOptions): Promise<void> {
    return saveModelAsync(this, path, options);
  }
}

function checkFlag(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(v)}`, name);
  return v;
}

/** Starts a model from its input spec (`input.tokens(...)`, `input.sequence(...)`, `input.vector(...)`). */
export function sequential<K extends Kind>(spec: InputSpec<K>): SequentialBuilder<K, K> {
  return new SequentialBuilder<K, K>(spec, []);
}

/** An input spec as {@link input} makes them: a kind and its features (a ValueError naming `input` otherwise). */
function checkSpec(spec: unknown): void {
  const s = spec as Partial<InputSpec<Kind>> | null;
  if (typeof s !== 'object' || s === null || !['tokens', 'sequence', 'vector'].includes(s.kind as string)) {
    throw new ValueError(`expected an input spec (input.tokens, input.sequence or input.vector), got ${describe(spec)}`, 'input');
  }
  positiveInt(s.features, 'input.features');
}

/**
 * `fit`, `evaluate`, `predict`: the training loop over a {@link Model}.
 *
 *   const history = await fit(model, batches, {
 *     epochs: 10, loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 1e-2 }), metrics: ['accuracy'],
 *     validationData: dev, earlyStopping: { patience: 2 }, signal: controller.signal,
 *     onBatchEnd: ({ epoch, batch, loss, examplesPerSecond }) => bar.update(...),
 *   });
 *
 * Each batch: `model.forward(x, { training: true })` -> loss kernel -> `backward` -> (signal checked)
 * -> `optimizer.step` -> `zeroGrad`, then the loop yields to the event loop (a macrotask) so that
 * timers and servers keep running; the recurrent ops themselves run off the main thread on the
 * native backend. A batch's update is all-or-nothing: when the signal fires during a batch, its
 * gradients are dropped and `fit` rejects with an {@link AbortError}, leaving the weights as after the
 * last completed batch (an already-aborted signal rejects before anything runs).
 *
 * Targets follow the output and the loss: `softmaxCrossEntropy` takes class ids (Int32Array) — one per
 * row of the output: `[T*B]` (time-major, row t*B+b) for a Sequence, `[B]` for a Vector — where
 * `ignoreIndex` rows count for nothing; `bceWithLogits` and `mse` take a Float32Array of the output's
 * length. Steps of a Sequence at or past its `lengths` are masked out of every loss and metric.
 * Losses are means over the counted rows (elements for bce/mse); epoch figures are means over all the
 * epoch's counted rows. Reproducible: the model's seed and `seed` (batch shuffling) fix every draw.
 *
 * Checkpoints (lib/train/checkpoint.ts): with `checkpoint: { path, everyBatches, everyEpochs }` the
 * run is saved to one file, atomically, after every N batches and/or epochs, and once more when fit
 * ends normally (all epochs run, or early stopping); `resumeFrom: path` continues a run from such a
 * file exactly as if it had not stopped: weights, optimizer state, both generators, carried states,
 * the epoch's running totals, the history and early stopping's state come back, and the batches of
 * the current epoch that were already trained are drawn again and skipped (so the data must give the
 * same batches in the same order: an array, re-shuffled from the saved generator, or a function of
 * the epoch / re-iterable that repeats itself). `epochs` stays the total of the run.
 */
import type { BackendName } from '../backend/types.js';
import { AbortError, ShapeError, ValueError } from '../errors.js';
import type { Kind, Value, ValueOf } from '../layers/values.js';
import type { RecurrentState } from '../layers/layer.js';
import { beginTraining, weightsLock } from '../models/guard.js';
import type { Model, ModelForwardOptions, ModelStep } from '../models/sequential.js';
import { Rng, type RngState } from '../random.js';
import { describe } from '../validate.js';
import {
  type CarriedStates, type CheckpointOptions, type EpochTotals, type FitConfig, type TrainingState, checkpointOptions, historyOf,
  prepareCheckpoints, resumeCheckpoint, resumeOption, writeCheckpoint,
} from './checkpoint.js';
import { bceWithLogitsAsync, mseAsync, softmaxCrossEntropyAsync } from './kernels.js';
import { METRIC_NAMES, type MetricName } from './metrics.js';
import { adam, type Optimizer } from './optimizers.js';

/** The losses `fit` can train with. */
export type LossName = 'softmaxCrossEntropy' | 'bceWithLogits' | 'mse';

declare const rowsOf: unique symbol;

/**
 * Class ids for softmax cross-entropy. The optional phantom `Out` records, at the type level only,
 * (`never`: unmarked) which output they are for: one id per step of a Sequence (`'sequence'`: tagging, language models)
 * or one per example of a Vector (`'vector'`: classification). A plain Int32Array fits either; ids
 * marked with {@link stepTargets} or {@link sequenceTargets} given to the other kind of model are a
 * compile error (the lengths are checked at run time too).
 */
export type ClassTargets<Out extends Kind = never> = Int32Array & { readonly [rowsOf]?: Out };

/** Marks `ids` as one class per output step, row `t*B+b` (for a model whose output is a Sequence). Returns `ids`. */
export function stepTargets(ids: Int32Array): ClassTargets<'sequence'> {
  if (!(ids instanceof Int32Array)) throw new ValueError(`expected an Int32Array, got ${describe(ids)}`, 'ids');
  return ids;
}

/** Marks `ids` as one class per example (for a model whose output is a Vector). Returns `ids`. */
export function sequenceTargets(ids: Int32Array): ClassTargets<'vector'> {
  if (!(ids instanceof Int32Array)) throw new ValueError(`expected an Int32Array, got ${describe(ids)}`, 'ids');
  return ids;
}

/** The target type of a loss for an output kind: class ids for softmax cross-entropy, floats for the others. */
export type TargetOf<L extends LossName, Out extends Kind = never> = L extends 'softmaxCrossEntropy' ? ClassTargets<Out> : Float32Array;

/** One batch: an input of the model's input kind and its targets (see the module comment for layouts). */
export interface Batch<In extends Kind, L extends LossName = 'softmaxCrossEntropy', Out extends Kind = never> {
  /** The input value. */
  readonly x: ValueOf<In>;
  /** The targets. */
  readonly target: TargetOf<L, Out>;
}

/** Batches: an array or other re-iterable, or a function of the epoch (0-based) giving the epoch's batches. */
export type Data<B> = Iterable<B> | AsyncIterable<B> | ((epoch: number) => Iterable<B> | AsyncIterable<B>);

/** Names a monitored quantity: `'loss'`, `'valLoss'`, a metric, or `'val'` + the capitalized metric. */
export type MonitorName = 'loss' | 'valLoss' | MetricName | `val${Capitalize<MetricName>}`;

/** Options of early stopping. */
export interface EarlyStoppingOptions {
  /** What to watch (accuracy: higher is better; the rest: lower). Default: `'valLoss'` with validation data, else `'loss'`. */
  readonly monitor?: MonitorName;
  /** Epochs without improvement before stopping (0 behaves as 1: stop at the first), an integer >= 0. Default: 0 (Keras'). */
  readonly patience?: number;
  /** Smallest change that counts as an improvement, >= 0. Default: 0. */
  readonly minDelta?: number;
}

/** What `onBatchEnd` gets. */
export interface BatchLog {
  /** Epoch, 0-based. */
  readonly epoch: number;
  /** Batch within the epoch, 0-based. */
  readonly batch: number;
  /** This batch's loss. */
  readonly loss: number;
  /** This batch's value of the first metric, or null without metrics. */
  readonly metric: number | null;
  /** This batch's value of every metric. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Examples (sequences) in this batch. */
  readonly examples: number;
  /** Examples per second so far in this epoch. */
  readonly examplesPerSecond: number;
}

/** What `onEpochEnd` gets, and what {@link History} lists. */
export interface EpochLog {
  /** Epoch, 0-based. */
  readonly epoch: number;
  /** Batches run. */
  readonly batches: number;
  /** Mean training loss over the epoch's counted rows. */
  readonly loss: number;
  /** The epoch's value of the first metric, or null without metrics. */
  readonly metric: number | null;
  /** The epoch's value of every metric. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Validation loss, or null without validation data. */
  readonly valLoss: number | null;
  /** Validation metrics, or null without validation data. */
  readonly valMetrics: Readonly<Record<string, number>> | null;
  /** Training examples per second over the epoch. */
  readonly examplesPerSecond: number;
}

/** What {@link fit} resolves to. */
export interface History {
  /** One entry per epoch run. */
  readonly epochs: readonly EpochLog[];
  /** Training loss per epoch. */
  readonly loss: readonly number[];
  /** Validation loss per epoch (empty without validation data). */
  readonly valLoss: readonly number[];
  /** Whether early stopping ended the run. */
  readonly stoppedEarly: boolean;
}

/** Options of {@link fit}. */
export interface FitOptions<In extends Kind = Kind, L extends LossName = LossName, Out extends Kind = never> {
  /** Passes over the data, an integer >= 1. Required. */
  readonly epochs: number;
  /** The loss. Default: `'softmaxCrossEntropy'`. */
  readonly loss?: L;
  /** The optimizer (holds its state; reuse it to continue training). Default: `adam()` (lr 1e-3). */
  readonly optimizer?: Optimizer;
  /** Metrics computed per batch and per epoch (softmaxCrossEntropy only). Default: none. */
  readonly metrics?: readonly MetricName[];
  /** Target of softmax cross-entropy that counts for nothing. Default: -100. */
  readonly ignoreIndex?: number;
  /**
   * Truncated BPTT over a long stream: every recurrent layer's final state becomes its initial state
   * in the next batch, so consecutive batches must continue each other track by track (as
   * `streamWindows` makes them) and keep one batch size. Gradients stop at batch edges (the carried
   * state is a constant). The state starts from zeros at every epoch and every evaluation. Default: false.
   */
  readonly stateful?: boolean;
  /** Evaluated after every epoch (inference mode; stateful when training is). Default: none. */
  readonly validationData?: Data<Batch<In, L, Out>>;
  /** Stop when the monitored quantity stops improving. Default: off. */
  readonly earlyStopping?: EarlyStoppingOptions;
  /** Shuffle the batch order every epoch (only for array data). Default: false. */
  readonly shuffle?: boolean;
  /** Seed of the shuffling generator. Default: 0. */
  readonly seed?: number;
  /** Called after each batch (awaited when it returns a Promise). */
  readonly onBatchEnd?: (log: BatchLog) => void | Promise<void>;
  /** Called after each epoch, after validation (awaited when it returns a Promise). */
  readonly onEpochEnd?: (log: EpochLog) => void | Promise<void>;
  /** Stops training between batches; `fit` then rejects with an AbortError. */
  readonly signal?: AbortSignal;
  /** Kernels for the layers, the loss and the optimizer during the fit. Default: the model's `backend`. */
  readonly backend?: BackendName;
  /**
   * Save the run to one file, atomically, every `everyBatches` batches and/or `everyEpochs` epochs
   * (neither given: every epoch), and when fit ends normally; see lib/train/checkpoint.ts. Needs a
   * model built by `sequential` (or loaded). Default: none.
   */
  readonly checkpoint?: CheckpointOptions;
  /**
   * A checkpoint to continue from (it may be `checkpoint.path`): the model and optimizer (built as for
   * the run that wrote it) get its state, and training goes on from its position to `epochs` (the
   * run's total); the History includes the epochs before it. The data must give the same batches in
   * the same order again. Default: none (start from scratch).
   */
  readonly resumeFrom?: string;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions<L extends LossName = LossName> {
  /** The loss. Default: `'softmaxCrossEntropy'`. */
  readonly loss?: L;
  /** Metrics (softmaxCrossEntropy only). Default: none. */
  readonly metrics?: readonly MetricName[];
  /** Target of softmax cross-entropy that counts for nothing. Default: -100. */
  readonly ignoreIndex?: number;
  /** Carry recurrent states from batch to batch (see {@link FitOptions.stateful}). Default: false. */
  readonly stateful?: boolean;
  /** Stops between batches with an AbortError. */
  readonly signal?: AbortSignal;
  /** Kernels. Default: the model's `backend`. */
  readonly backend?: BackendName;
}

/** What {@link evaluate} resolves to. */
export interface Evaluation {
  /** Mean loss over the counted rows. */
  readonly loss: number;
  /** Every metric's value. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Examples (sequences) seen. */
  readonly examples: number;
}

// ---------------------------------------------------------------------------------------------
// validation

type Obj = Readonly<Record<string, unknown>>;

function intOpt(o: Obj, key: string, dflt: number | undefined, lo: number): number {
  const v = o[key];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo) throw new ValueError(`expected an integer >= ${lo}, got ${describe(v)}`, `options.${key}`);
  return v;
}

function fnOpt(o: Obj, key: string): void {
  if (o[key] !== undefined && typeof o[key] !== 'function') throw new ValueError(`expected a function, got ${describe(o[key])}`, `options.${key}`);
}

interface Common {
  readonly loss: LossName;
  readonly metrics: readonly MetricName[];
  readonly ignoreIndex: number;
  readonly stateful: boolean;
  readonly signal: AbortSignal | null;
  readonly backend: BackendName | null;
}

function commonOptions(o: Obj): Common {
  const loss = o.loss ?? 'softmaxCrossEntropy';
  if (loss !== 'softmaxCrossEntropy' && loss !== 'bceWithLogits' && loss !== 'mse') {
    throw new ValueError(`expected 'softmaxCrossEntropy', 'bceWithLogits' or 'mse', got ${describe(loss)}`, 'options.loss');
  }
  const m = o.metrics ?? [];
  if (!Array.isArray(m)) throw new ValueError(`expected an array of metric names, got ${describe(m)}`, 'options.metrics');
  (m as unknown[]).forEach((name, i) => {
    if (!METRIC_NAMES.includes(name as MetricName)) throw new ValueError(`expected one of ${METRIC_NAMES.join(', ')}, got ${describe(name)}`, `options.metrics[${i}]`);
  });
  if (m.length > 0 && loss !== 'softmaxCrossEntropy') throw new ValueError(`metrics need the softmaxCrossEntropy loss, got ${loss}`, 'options.metrics');
  const ignoreIndex = o.ignoreIndex === undefined ? -100 : o.ignoreIndex;
  if (typeof ignoreIndex !== 'number' || !Number.isInteger(ignoreIndex)) throw new ValueError(`expected an integer, got ${describe(ignoreIndex)}`, 'options.ignoreIndex');
  const stateful = o.stateful ?? false;
  if (typeof stateful !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(stateful)}`, 'options.stateful');
  const signal = o.signal ?? null;
  if (signal !== null && !(signal instanceof AbortSignal)) throw new ValueError(`expected an AbortSignal, got ${describe(signal)}`, 'options.signal');
  const backend = o.backend ?? null;
  if (backend !== null && backend !== 'native' && backend !== 'js') throw new ValueError(`expected 'native' or 'js', got ${describe(backend)}`, 'options.backend');
  return { loss, metrics: m as MetricName[], ignoreIndex, stateful, signal: signal as AbortSignal | null, backend: backend as BackendName | null };
}

function checkModel(model: unknown): Model<Kind, Kind> {
  const m = model as Model<Kind, Kind> | null;
  if (typeof m !== 'object' || m === null || typeof m.forward !== 'function' || typeof m.parameters !== 'function' || typeof m.zeroGrad !== 'function') {
    throw new ValueError(`expected a model (sequential(...).build()), got ${describe(model)}`, 'model');
  }
  return m;
}

function checkData(data: unknown, name: string, epochs: number): void {
  if (typeof data === 'function') return;
  const d = data as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown; next?: unknown } | null;
  if (typeof d !== 'object' || d === null || (typeof d[Symbol.iterator] !== 'function' && typeof d[Symbol.asyncIterator] !== 'function')) {
    throw new ValueError(`expected an iterable of batches or a function of the epoch, got ${describe(data)}`, name);
  }
  if (typeof d.next === 'function' && epochs > 1) {
    throw new ValueError('a one-shot iterator cannot be read for several epochs: pass an array or a function of the epoch', name);
  }
}

function throwIfAborted(signal: AbortSignal | null): void {
  if (signal?.aborted) throw new AbortError();
}

const tick = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------
// one batch's loss

interface BatchResult {
  readonly loss: number;
  readonly grad: Float32Array;
  /** Counted rows (CE) or elements (bce/mse): the weight of this batch's loss in an epoch mean. */
  readonly count: number;
  readonly correct: number;
  readonly examples: number;
}

function rowMask(y: Value): { rows: number; features: number; mask: Float32Array | null; examples: number } {
  if (y.kind === 'tokens') throw new ValueError('the model gives token ids; a loss needs float outputs', 'model');
  if (y.kind === 'vector') return { rows: y.batch, features: y.features, mask: null, examples: y.batch };
  const { seqLen: T, batch: B, lengths } = y;
  if (!lengths) return { rows: T * B, features: y.features, mask: null, examples: B };
  const mask = new Float32Array(T * B);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) mask[t * B + b] = t < lengths[b] ? 1 : 0;
  return { rows: T * B, features: y.features, mask, examples: B };
}

async function batchLoss(y: Value, target: unknown, c: Common, backend: BackendName, where: string): Promise<BatchResult> {
  const { rows, features, mask, examples } = rowMask(y);
  const data = (y as { data: Float32Array }).data;
  if (c.loss === 'softmaxCrossEntropy') {
    if (!(target instanceof Int32Array)) throw new ValueError(`expected an Int32Array of class ids, got ${describe(target)}`, `${where}.target`);
    if (target.length !== rows) {
      throw new ShapeError(`expected length ${rows} (${y.kind === 'sequence' ? 'seqLen*batch' : 'batch'}: one class per output row), got ${target.length}`, `${where}.target`);
    }
    const r = await softmaxCrossEntropyAsync({ logits: data, targets: target, numClasses: features, weights: mask, ignoreIndex: c.ignoreIndex }, { backend });
    return { loss: r.loss, grad: r.dLogits, count: r.weightSum, correct: r.numCorrect, examples };
  }
  if (!(target instanceof Float32Array)) throw new ValueError(`expected a Float32Array, got ${describe(target)}`, `${where}.target`);
  if (target.length !== data.length) throw new ShapeError(`expected length ${data.length} (the output's), got ${target.length}`, `${where}.target`);
  let weights: Float32Array | null = null;
  let count = data.length;
  if (mask) {
    weights = new Float32Array(data.length);
    count = 0;
    for (let r = 0; r < rows; r++) {
      if (mask[r] === 0) continue;
      weights.fill(1, r * features, (r + 1) * features);
      count += features;
    }
  }
  const r = c.loss === 'mse'
    ? await (async () => { const m = await mseAsync({ predictions: data, targets: target, weights, reduction: 'sum' }, { backend }); return { loss: m.loss, grad: m.dPredictions }; })()
    : await (async () => { const m = await bceWithLogitsAsync({ logits: data, targets: target, weights, reduction: 'sum' }, { backend }); return { loss: m.loss, grad: m.dLogits }; })();
  const scale = count > 0 ? 1 / count : 0;
  for (let i = 0; i < r.grad.length; i++) r.grad[i] *= scale;
  return { loss: r.loss * scale, grad: r.grad, count, correct: 0, examples };
}

/** Sums over batches turned into the epoch's loss and metrics (saved and restored by checkpoints). */
class Totals {
  private lossSum = 0;
  private count = 0;
  private correct = 0;
  examples = 0;
  batches = 0;

  constructor(saved?: EpochTotals) {
    if (saved) ({ lossSum: this.lossSum, count: this.count, correct: this.correct, examples: this.examples, batches: this.batches } = saved);
  }

  /** The sums, and `seconds` the epoch has run. */
  saved(seconds: number): EpochTotals {
    return { lossSum: this.lossSum, count: this.count, correct: this.correct, examples: this.examples, batches: this.batches, seconds };
  }

  add(r: BatchResult): void {
    this.lossSum += r.loss * r.count;
    this.count += r.count;
    this.correct += r.correct;
    this.examples += r.examples;
    this.batches++;
  }

  get loss(): number {
    return this.count > 0 ? this.lossSum / this.count : 0;
  }

  metrics(names: readonly MetricName[]): Record<string, number> {
    return metricValues(names, this.loss, this.correct, this.count);
  }
}

function metricValues(names: readonly MetricName[], meanCe: number, correct: number, count: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) {
    out[n] = n === 'accuracy' ? (count > 0 ? correct / count : 0) : n === 'perplexity' ? Math.exp(meanCe) : meanCe / Math.LN2;
  }
  return out;
}

/** The epoch's batches as `data` gives them (called once per epoch). */
function epochData<B>(data: Data<B>, epoch: number): Iterable<B> | AsyncIterable<B> {
  return typeof data === 'function' ? data(epoch) : data;
}

/** The batches of `src` (the epoch's data), in an order drawn from `order` when it is an array. */
async function* batchesOf<B>(src: Iterable<B> | AsyncIterable<B>, epoch: number, order: Rng | null): AsyncGenerator<B> {
  if (order && Array.isArray(src)) {
    const perm = order.permutation(src.length);
    for (let i = 0; i < perm.length; i++) yield (src as B[])[perm[i]];
    return;
  }
  if (typeof (src as AsyncIterable<B>)[Symbol.asyncIterator] === 'function') {
    for await (const b of src as AsyncIterable<B>) yield b;
  } else if (typeof (src as Iterable<B>)[Symbol.iterator] === 'function') {
    for (const b of src as Iterable<B>) yield b;
  } else {
    throw new ValueError(`the data function gave ${describe(src)} for epoch ${epoch}, not an iterable of batches`, 'data');
  }
}

/**
 * The recurrent states carried from batch to batch by stateful training and evaluation (nothing is
 * carried otherwise): what `model.forward` is given and keeps.
 */
class Carry {
  private states: ReadonlyMap<number, RecurrentState> | undefined;
  private batch = -1;

  /** `saved`: the states a checkpoint carried into its next batch. */
  constructor(private readonly on: boolean, saved?: CarriedStates | null) {
    if (on && saved) {
      this.states = saved.states;
      this.batch = saved.batch;
    }
  }

  /** What to save in a checkpoint (null when nothing is carried yet). */
  saved(): CarriedStates | null {
    return this.on && this.states ? { batch: this.batch, states: this.states } : null;
  }

  /** Forward options for the batch `x` (a ShapeError when a stateful run changes the batch size). */
  options(x: Value, training: boolean, where: string): ModelForwardOptions {
    if (!this.on) return { training };
    if (this.batch >= 0 && x.batch !== this.batch) {
      throw new ShapeError(`stateful: every batch carries on the previous one's ${this.batch} tracks, got a batch of ${x.batch}`, `${where}.x`);
    }
    this.batch = x.batch;
    return { training, keepStates: true, initialStates: this.states };
  }

  /** Keeps the final states of the batch just run. */
  keep(step: ModelStep<Kind>): void {
    if (this.on) this.states = step.states;
  }
}

function checkBatch(b: unknown, where: string): { x: Value; target: unknown } {
  if (typeof b !== 'object' || b === null || typeof (b as { x?: unknown }).x !== 'object' || (b as { x?: unknown }).x === null) {
    throw new ValueError(`expected a batch {x, target}, got ${describe(b)}`, where);
  }
  return b as { x: Value; target: unknown };
}

async function runEvaluation(model: Model<Kind, Kind>, data: Data<unknown>, c: Common, backend: BackendName, name: string, epoch: number): Promise<Evaluation> {
  const totals = new Totals();
  const carry = new Carry(c.stateful);
  let i = 0;
  for await (const raw of batchesOf(epochData(data, epoch), epoch, null)) {
    throwIfAborted(c.signal);
    const where = `${name}[${i}]`;
    const b = checkBatch(raw, where);
    const s = await model.forward(b.x as never, carry.options(b.x, false, where));
    carry.keep(s);
    totals.add(await batchLoss(s.y as Value, b.target, c, backend, where));
    i++;
    await tick();
  }
  return { loss: totals.loss, metrics: totals.metrics(c.metrics), examples: totals.examples };
}

function withBackend<T>(model: Model<Kind, Kind>, backend: BackendName | null, run: () => Promise<T>): Promise<T> {
  if (backend === null || backend === model.backend) return run();
  const saved = model.backend;
  model.backend = backend;
  return run().finally(() => {
    model.backend = saved;
  });
}

// ---------------------------------------------------------------------------------------------
// the public functions

/** Trains `model` on `data`; resolves to the per-epoch history (see the module comment). */
export async function fit<In extends Kind, Out extends Kind, L extends LossName = 'softmaxCrossEntropy'>(
  model: Model<In, Out>, data: Data<Batch<In, NoInfer<L>, NoInfer<Out>>>, options: FitOptions<In, L, NoInfer<Out>>,
): Promise<History> {
  const m = checkModel(model);
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const o = options as unknown as Obj;
  const epochs = intOpt(o, 'epochs', undefined, 1);
  const c = commonOptions(o);
  checkData(data, 'data', epochs);
  if (o.validationData !== undefined) checkData(o.validationData, 'options.validationData', epochs);
  const opt = (o.optimizer ?? adam()) as Optimizer;
  if (typeof opt !== 'object' || opt === null || typeof opt.step !== 'function' || typeof opt.setEpoch !== 'function') {
    throw new ValueError(`expected an optimizer (sgd(), adam(), ...), got ${describe(o.optimizer)}`, 'options.optimizer');
  }
  fnOpt(o, 'onBatchEnd');
  fnOpt(o, 'onEpochEnd');
  if (o.shuffle !== undefined && typeof o.shuffle !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(o.shuffle)}`, 'options.shuffle');
  const seed = intOpt(o, 'seed', 0, 0);
  const hasVal = options.validationData !== undefined;
  let early: { monitor: MonitorName; patience: number; minDelta: number; max: boolean } | null = null;
  if (o.earlyStopping !== undefined) {
    const e = o.earlyStopping as Obj;
    if (typeof e !== 'object' || e === null) throw new ValueError(`expected an object, got ${describe(e)}`, 'options.earlyStopping');
    const monitor = (e.monitor ?? (hasVal ? 'valLoss' : 'loss')) as MonitorName;
    const known = ['loss', 'valLoss', ...c.metrics, ...c.metrics.map((n) => `val${n[0].toUpperCase()}${n.slice(1)}`)];
    if (!known.includes(monitor) || (monitor.startsWith('val') && !hasVal)) {
      throw new ValueError(`expected one of ${known.filter((k) => hasVal || !k.startsWith('val')).join(', ')} (metrics must be listed in options.metrics; val* needs validationData), got ${describe(e.monitor)}`, 'options.earlyStopping.monitor');
    }
    const patience = e.patience ?? 0;
    if (typeof patience !== 'number' || !Number.isSafeInteger(patience) || patience < 0) throw new ValueError(`expected an integer >= 0, got ${describe(patience)}`, 'options.earlyStopping.patience');
    const minDelta = e.minDelta ?? 0;
    if (typeof minDelta !== 'number' || !Number.isFinite(minDelta) || minDelta < 0) throw new ValueError(`expected a finite number >= 0, got ${describe(minDelta)}`, 'options.earlyStopping.minDelta');
    early = { monitor, patience, minDelta, max: /accuracy$/i.test(monitor) };
  }
  const plan = checkpointOptions(o.checkpoint);
  const resumeFrom = resumeOption(o.resumeFrom);
  const config: FitConfig = { loss: c.loss, stateful: c.stateful, shuffle: options.shuffle ?? false, seed, monitor: early?.monitor ?? null };
  throwIfAborted(c.signal);
  const release = beginTraining(m);

  return withBackend(m, c.backend, async () => {
    const backend = m.backend;
    const lock = weightsLock(m);
    // Before anything is trained: checkpoints that cannot be written, or a checkpoint that does not
    // fit, fail now, not hours later.
    const description = plan ? await prepareCheckpoints(plan, m) : '';
    const resumed: TrainingState | null = resumeFrom ? await resumeCheckpoint(resumeFrom, m, opt, config, epochs, lock) : null;
    const order = options.shuffle ? new Rng(seed) : null;
    if (order && resumed?.shuffleRng) order.setState(resumed.shuffleRng);
    const params = m.parameters();
    const logs: EpochLog[] = resumed ? [...resumed.history] : [];
    let best = resumed?.early ? resumed.early.best : early?.max ? -Infinity : Infinity;
    let wait = resumed?.early ? resumed.early.wait : 0;
    let stoppedEarly = resumed?.stoppedEarly ?? false;
    let steps = resumed?.steps ?? 0; // batches trained since the run began, across resumes
    const first = resumed?.epoch ?? 0;

    // Checkpoints: the position written last, so that the final one is not written twice.
    let savedAt = '';
    const save = async (state: TrainingState): Promise<void> => {
      if (!plan) return;
      await writeCheckpoint(plan, description, m, opt, state);
      savedAt = `${state.epoch}:${state.batch}`;
      if (plan.onSaved) await plan.onSaved({ path: plan.path, epoch: state.epoch, batch: state.batch, steps: state.steps });
    };
    const runState = (epoch: number, batch: number, epochSize: number | null, shuffleRng: RngState | null, totals: EpochTotals, carry: CarriedStates | null): TrainingState => ({
      epoch, batch, steps, epochSize, stoppedEarly, fit: config, shuffleRng, totals, carry,
      history: logs, early: early ? { best, wait } : null,
    });
    const noTotals = new Totals().saved(0);

    let epoch = first;
    for (; epoch < epochs && !stoppedEarly; epoch++) {
      opt.setEpoch(epoch);
      // A resumed epoch continues from the checkpoint's totals, carried states, clock and batch.
      const resuming = resumed !== null && epoch === first;
      const skip = resuming ? resumed.batch : 0;
      const totals = new Totals(resuming ? resumed.totals : undefined);
      const carry = new Carry(c.stateful, resuming ? resumed.carry : null);
      const start = performance.now() - (resuming ? resumed.totals.seconds * 1000 : 0);
      const orderAtStart = order?.state() ?? null; // the shuffling generator before this epoch's draw
      const src = epochData(data as Data<unknown>, epoch);
      const epochSize = Array.isArray(src) ? src.length : null;
      if (resuming && skip > 0 && resumed.epochSize !== null && epochSize !== null && epochSize !== resumed.epochSize) {
        throw new ValueError(`the checkpoint ${resumeFrom} was written with ${resumed.epochSize} batches in epoch ${epoch}, the data has ${epochSize}: resuming needs the same batches`, 'data');
      }
      let i = 0;
      for await (const raw of batchesOf(src, epoch, order)) {
        if (i < skip) {
          i++; // trained before the checkpoint
          continue;
        }
        throwIfAborted(c.signal);
        const where = `data[${i}]`;
        const b = checkBatch(raw, where);
        m.zeroGrad();
        const s = await m.forward(b.x as never, carry.options(b.x, true, where));
        const r = await batchLoss(s.y as Value, b.target, c, backend, where);
        await s.backward(r.grad);
        if (c.signal?.aborted) {
          m.zeroGrad(); // all-or-nothing: this batch's gradients are dropped, the weights untouched
          throw new AbortError();
        }
        await lock.write(() => opt.step(params, { backend }));
        m.zeroGrad();
        carry.keep(s);
        totals.add(r);
        steps++;
        if (options.onBatchEnd) {
          const mv = metricValues(c.metrics, r.loss, r.correct, r.count);
          const secs = (performance.now() - start) / 1000;
          await options.onBatchEnd({
            epoch, batch: i, loss: r.loss, metric: c.metrics.length > 0 ? mv[c.metrics[0]] : null, metrics: mv,
            examples: r.examples, examplesPerSecond: secs > 0 ? totals.examples / secs : 0,
          });
        }
        i++;
        if (plan?.everyBatches && steps % plan.everyBatches === 0) {
          await save(runState(epoch, i, epochSize, orderAtStart, totals.saved((performance.now() - start) / 1000), carry.saved()));
        }
        await tick();
      }
      if (i < skip) {
        throw new ValueError(`the checkpoint ${resumeFrom} is at batch ${skip} of epoch ${epoch}, but the data gave ${i} batches: resuming needs the same batches in the same order`, 'data');
      }
      const secs = (performance.now() - start) / 1000;
      const metrics = totals.metrics(c.metrics);
      let val: Evaluation | null = null;
      if (options.validationData !== undefined) val = await runEvaluation(m, options.validationData as Data<unknown>, c, backend, 'options.validationData', epoch);
      const log: EpochLog = {
        epoch, batches: totals.batches, loss: totals.loss, metric: c.metrics.length > 0 ? metrics[c.metrics[0]] : null, metrics,
        valLoss: val ? val.loss : null, valMetrics: val ? val.metrics : null, examplesPerSecond: secs > 0 ? totals.examples / secs : 0,
      };
      logs.push(log);
      if (options.onEpochEnd) await options.onEpochEnd(log);
      if (early) {
        const mon = early.monitor;
        const value = mon === 'loss' ? log.loss : mon === 'valLoss' ? (log.valLoss as number)
          : mon.startsWith('val') ? (log.valMetrics as Record<string, number>)[`${mon[3].toLowerCase()}${mon.slice(4)}`] : log.metrics[mon];
        const improved = early.max ? value > best + early.minDelta : value < best - early.minDelta;
        if (improved) {
          best = value;
          wait = 0;
        } else if (++wait >= Math.max(1, early.patience)) {
          stoppedEarly = true;
        }
      }
      // An epoch-end checkpoint is at the next epoch's first batch (stoppedEarly: the run's end).
      if (plan?.everyEpochs && (epoch + 1) % plan.everyEpochs === 0) await save(runState(epoch + 1, 0, null, order?.state() ?? null, noTotals, null));
      if (!stoppedEarly) throwIfAborted(c.signal);
    }
    // The run ended normally (all epochs, or early stopping): its final state, unless just written.
    if (plan && savedAt !== `${epoch}:0`) await save(runState(epoch, 0, null, order?.state() ?? null, noTotals, null));
    return historyOf(logs, stoppedEarly);
  }).finally(release);
}

/** Mean loss and metrics of `model` (inference mode) over `data`. */
export async function evaluate<In extends Kind, Out extends Kind, L extends LossName = 'softmaxCrossEntropy'>(
  model: Model<In, Out>, data: Iterable<Batch<In, L, NoInfer<Out>>> | AsyncIterable<Batch<In, L, NoInfer<Out>>>, options: EvaluateOptions<L> = {},
): Promise<Evaluation> {
  const m = checkModel(model);
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const c = commonOptions(options as unknown as Obj);
  checkData(data, 'data', 1);
  throwIfAborted(c.signal);
  return withBackend(m, c.backend, () => runEvaluation(m, data as Data<unknown>, c, m.backend, 'data', 0));
}

/** The model's output for `x` in inference mode (no dropout). */
export async function predict<In extends Kind, Out extends Kind>(model: Model<In, Out>, x: ValueOf<In>): Promise<ValueOf<Out>> {
  const m = checkModel(model);
  const s = await m.forward(x as never, { training: false });
  return s.y as ValueOf<Out>;
}

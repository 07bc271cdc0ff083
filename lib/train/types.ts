/**
 * The types of training (what `fit` and `evaluate` take and give), on their own so that the model
 * contract (lib/models/model.ts) can name them without importing the training loop.
 */
import type { BackendName } from '../backend/index.js';
import type { InputOf, Inputs, Kind } from '../layers/values.js';
import type { MetricName } from './metrics.js';
import type { Optimizer } from './optimizers.js';

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

/** The target type of a loss for an output kind: class ids for softmax cross-entropy, floats for the others. */
export type TargetOf<L extends LossName, Out extends Kind = never> = L extends 'softmaxCrossEntropy' ? ClassTargets<Out> : Float32Array;

/** One batch: an input of the model's input kind and its targets (see the module comment for layouts). */
export interface Batch<In extends Inputs, L extends LossName = 'softmaxCrossEntropy', Out extends Kind = never> {
  /** The input value. */
  readonly x: InputOf<In>;
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
export interface FitOptions<In extends Inputs = Kind, L extends LossName = LossName, Out extends Kind = never> {
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
   * Label smoothing e in [0, 1) for softmaxCrossEntropy (PyTorch's `label_smoothing`): training
   * batches are scored against `(1 - e) onehot + e / V`. Validation and `evaluate` report plain
   * cross-entropy (so perplexity stays comparable). Default: 0.
   */
  readonly labelSmoothing?: number;
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
   * model of a format gated reads back (`sequential`, `encoderDecoder`, or loaded). Default: none.
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

/** Options of `fit`'s `checkpoint`. */
export interface CheckpointOptions {
  /** The checkpoint file (replaced atomically at every write); its directory must exist. Required. */
  readonly path: string;
  /** Write after every this many batches (counted over the whole run, across resumes), an integer >= 1. Default: none (per epoch only). */
  readonly everyBatches?: number;
  /** Write after every this many epochs (after validation and early stopping), an integer >= 1. Default: 1 when `everyBatches` is not given, else none. */
  readonly everyEpochs?: number;
  /** Flush each checkpoint to stable storage (see AtomicWriteOptions.fsync); without it a write survives a killed process but not a power loss. Default: true. */
  readonly fsync?: boolean;
  /** Called (and awaited) after each checkpoint is on disk, before the next batch. */
  readonly onSaved?: (saved: SavedCheckpoint) => void | Promise<void>;
}

/** Where a run stands: the next batch to run and the batches trained so far. */
export interface CheckpointPosition {
  /** Epoch of the next batch, 0-based (the number of completed epochs when `batch` is 0). */
  readonly epoch: number;
  /** The next batch within that epoch, 0-based (the batches of the epoch already trained). */
  readonly batch: number;
  /** Batches trained since the run began (what `everyBatches` counts). */
  readonly steps: number;
}

/** What `onSaved` gets. */
export interface SavedCheckpoint extends CheckpointPosition {
  /** The file written. */
  readonly path: string;
}

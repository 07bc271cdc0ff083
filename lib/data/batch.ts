/**
 * From variable-length sequences to the time-major batches the kernels take, and the index
 * plumbing around them (minibatches, length buckets, truncated-BPTT windows, forecasting windows).
 *
 * Layout convention (the backend's): a time-major buffer of T steps and B sequences stores step t
 * of sequence b at `[t * B + b]` (times F features for float data: `[(t * B + b) * F + f]`).
 * Padding is never read as data: every batch comes with `lengths`, and {@link mask} turns those
 * into per-step weights for losses.
 */

import { describe, MAX_ELEMENTS } from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import { defaultRng, Rng } from '../random.js';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function checkPositiveInt(x: unknown, name: string): asserts x is number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1) {
    throw new ValueError(`expected an integer >= 1, got ${describe(x)}`, name);
  }
}

function checkNonNegativeInt(x: unknown, name: string): asserts x is number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x > MAX_ELEMENTS) {
    throw new ValueError(`expected an integer in [0, 2^31-1], got ${describe(x)}`, name);
  }
}

function checkRng(rng: unknown, name: string): asserts rng is Rng {
  if (!(rng instanceof Rng)) {
    throw new ValueError(`expected an Rng, got ${describe(rng)}`, name);
  }
}

function checkLengths(lengths: ArrayLike<number>, name: string): void {
  if (lengths === null || typeof lengths !== 'object' || typeof lengths.length !== 'number') {
    throw new ValueError('expected an array of lengths', name);
  }
  for (let i = 0; i < lengths.length; i++) checkNonNegativeInt(lengths[i], `${name}[${i}]`);
}

// ---------------------------------------------------------------------------------------------
// Padding

/** Options of {@link padBatch}. */
export interface PadBatchOptions {
  /** Id written into padding cells; default 0 (the default `<pad>` id). */
  readonly padId?: number;
  /** Longer sequences are cut to their first `maxLen` ids (and their length says so); default no limit. */
  readonly maxLen?: number;
  /** `true`: `ids[t * B + b]` (what the kernels take); `false`: `ids[b * T + t]`. Default true. */
  readonly timeMajor?: boolean;
}

/** A padded batch of id sequences. */
export interface IdBatch {
  /** `[T, B]` if `timeMajor`, else `[B, T]`; padding cells hold `padId`. */
  readonly ids: Int32Array;
  /** `[B]`: the length of each sequence after any `maxLen` cut; all in [0, T]. */
  readonly lengths: Int32Array;
  /** T: the longest length in the batch. */
  readonly seqLen: number;
  /** B: number of sequences. */
  readonly batch: number;
  /** The layout of `ids`. */
  readonly timeMajor: boolean;
}

/**
 * Pads id sequences to the longest one and lays them out time-major.
 *
 * ```ts
 * padBatch([[5, 6, 7], [8]], { padId: 0 })
 * // ids = [5, 8,  6, 0,  7, 0]  (t=0: both, t=1, t=2), lengths = [3, 1], seqLen 3, batch 2
 * ```
 * @param seqs at least one sequence of int32 ids (empty sequences are allowed).
 */
export function padBatch(seqs: readonly (Int32Array | readonly number[])[], options: PadBatchOptions = {}): IdBatch {
  if (typeof options !== 'object' || options === null) throw new ValueError('expected an object', 'options');
  const padId = options.padId ?? 0;
  const timeMajor = options.timeMajor ?? true;
  if (!Number.isInteger(padId) || padId < INT32_MIN || padId > INT32_MAX) {
    throw new ValueError(`expected an int32, got ${describe(padId)}`, 'options.padId');
  }
  if (options.maxLen !== undefined) checkNonNegativeInt(options.maxLen, 'options.maxLen');
  if (!Array.isArray(seqs) || seqs.length === 0) throw new ValueError('expected a non-empty array of sequences', 'seqs');
  const B = seqs.length;
  const lengths = new Int32Array(B);
  let T = 0;
  for (let b = 0; b < B; b++) {
    const seq = seqs[b];
    if (!(seq instanceof Int32Array) && !Array.isArray(seq)) {
      throw new ValueError('expected an Int32Array or an array of numbers', `seqs[${b}]`);
    }
    const len = Math.min(seq.length, options.maxLen ?? Infinity);
    if (!(seq instanceof Int32Array)) {
      // Int32Array ids are valid by construction; plain numbers would be silently wrapped.
      for (let t = 0; t < len; t++) {
        const v = seq[t];
        if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
          throw new ValueError(`expected an int32 id, got ${describe(v)}`, `seqs[${b}][${t}]`);
        }
      }
    }
    lengths[b] = len;
    if (len > T) T = len;
  }
  const ids = new Int32Array(T * B).fill(padId);
  for (let b = 0; b < B; b++) {
    const seq = seqs[b];
    for (let t = 0; t < lengths[b]; t++) ids[timeMajor ? t * B + b : b * T + t] = seq[t];
  }
  return { ids, lengths, seqLen: T, batch: B, timeMajor };
}

/** Options of {@link padFeatureBatch}. */
export interface PadFeatureBatchOptions {
  /** Value written into padding cells; default 0. */
  readonly padValue?: number;
  /** Longer sequences are cut to their first `maxLen` steps; default no limit. */
  readonly maxLen?: number;
  /** `true`: `x[(t * B + b) * F + f]`; `false`: `x[(b * T + t) * F + f]`. Default true. */
  readonly timeMajor?: boolean;
}

/** A padded batch of feature sequences. */
export interface FeatureBatch {
  /** `[T, B, F]` if `timeMajor`, else `[B, T, F]`; padding cells hold `padValue`. */
  readonly x: Float32Array;
  /** `[B]`: steps per sequence after any `maxLen` cut. */
  readonly lengths: Int32Array;
  /** T: the longest length. */
  readonly seqLen: number;
  /** B: number of sequences. */
  readonly batch: number;
  /** F: features per step. */
  readonly features: number;
  /** The layout of `x`. */
  readonly timeMajor: boolean;
}

/**
 * Pads float feature sequences (each `[len, F]` row-major, so `len * F` numbers) and lays them out
 * time-major `[T, B, F]`.
 * @param seqs at least one sequence; each length a multiple of `features` (else ShapeError naming `seqs[i]`).
 * @param features F, an integer >= 1.
 */
export function padFeatureBatch(seqs: readonly Float32Array[], features: number, options: PadFeatureBatchOptions = {}): FeatureBatch {
  checkPositiveInt(features, 'features');
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const padValue = options.padValue ?? 0;
  const timeMajor = options.timeMajor ?? true;
  if (typeof padValue !== 'number' || Number.isNaN(padValue)) {
    throw new ValueError(`expected a number, got ${describe(padValue)}`, 'options.padValue');
  }
  if (options.maxLen !== undefined) checkNonNegativeInt(options.maxLen, 'options.maxLen');
  if (!Array.isArray(seqs) || seqs.length === 0) throw new ValueError('expected a non-empty array of sequences', 'seqs');
  const F = features;
  const B = seqs.length;
  const lengths = new Int32Array(B);
  let T = 0;
  for (let b = 0; b < B; b++) {
    const seq = seqs[b];
    if (!(seq instanceof Float32Array)) throw new ValueError('expected a Float32Array', `seqs[${b}]`);
    if (seq.length % F !== 0) {
      throw new ShapeError(`expected a multiple of features (${F}) values, got ${seq.length}`, `seqs[${b}]`);
    }
    const len = Math.min(seq.length / F, options.maxLen ?? Infinity);
    lengths[b] = len;
    if (len > T) T = len;
  }
  const x = new Float32Array(T * B * F).fill(padValue);
  for (let b = 0; b < B; b++) {
    const seq = seqs[b];
    for (let t = 0; t < lengths[b]; t++) {
      const dst = (timeMajor ? t * B + b : b * T + t) * F;
      x.set(seq.subarray(t * F, (t + 1) * F), dst);
    }
  }
  return { x, lengths, seqLen: T, batch: B, features: F, timeMajor };
}

/**
 * Time-major `[T, B]` weights: 1 where step t is inside sequence b (`t < lengths[b]`), else 0.
 * Multiply per-step losses by it (and divide by the sum of lengths) so padding never counts.
 * @param lengths `[B]`, each in [0, T] (ShapeError naming `lengths[b]` otherwise).
 * @param seqLen T, a non-negative integer.
 */
export function mask(lengths: ArrayLike<number>, seqLen: number): Float32Array {
  checkNonNegativeInt(seqLen, 'seqLen');
  checkLengths(lengths, 'lengths');
  const B = lengths.length;
  for (let b = 0; b < B; b++) {
    if (lengths[b] > seqLen) throw new ShapeError(`expected <= seqLen (${seqLen}), got ${lengths[b]}`, `lengths[${b}]`);
  }
  const out = new Float32Array(seqLen * B);
  for (let t = 0; t < seqLen; t++) {
    for (let b = 0; b < B; b++) if (t < lengths[b]) out[t * B + b] = 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Minibatch indices

/** Options of {@link batches}. */
export interface BatchesOptions {
  /** Visit the items in a random order; default false (0, 1, 2, ...). */
  readonly shuffle?: boolean;
  /** Generator for the shuffle; default {@link defaultRng}. */
  readonly rng?: Rng;
  /** Leave out the last batch if it is smaller than `batchSize`; default false. */
  readonly dropLast?: boolean;
}

/**
 * Splits the item indices 0..n-1 into minibatches. The order is drawn when this is called (not
 * when iteration starts), so the rng is advanced at a predictable point; call once per epoch.
 * @param n number of items, a non-negative integer.
 * @param batchSize an integer >= 1.
 */
export function batches(n: number, batchSize: number, options: BatchesOptions = {}): IterableIterator<Int32Array> {
  checkNonNegativeInt(n, 'n');
  checkPositiveInt(batchSize, 'batchSize');
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (options.shuffle) {
    const rng = options.rng ?? defaultRng();
    checkRng(rng, 'options.rng');
    rng.shuffle(order);
  }
  const end = options.dropLast ? n - (n % batchSize) : n;
  return (function* () {
    for (let start = 0; start < end; start += batchSize) {
      yield order.slice(start, Math.min(start + batchSize, end));
    }
  })();
}

/** Options of {@link bucketByLength}. */
export interface BucketByLengthOptions {
  /** Leave out the one batch smaller than `batchSize` (the longest items' remainder); default false. */
  readonly dropLast?: boolean;
}

/**
 * Groups items of similar length into the same batch to cut padding, then shuffles the order of
 * the batches. Items are shuffled first and then stably sorted by length, so items of equal length
 * land in random batches, and the whole result is a function of the rng state.
 * @param lengths `[n]` non-negative integer lengths.
 * @param batchSize an integer >= 1.
 * @param rng default {@link defaultRng}.
 * @returns index arrays, one per batch; every index appears exactly once (unless `dropLast`).
 */
export function bucketByLength(
  lengths: ArrayLike<number>,
  batchSize: number,
  rng: Rng = defaultRng(),
  options: BucketByLengthOptions = {},
): Int32Array[] {
  checkLengths(lengths, 'lengths');
  checkPositiveInt(batchSize, 'batchSize');
  checkRng(rng, 'rng');
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const n = lengths.length;
  const order = rng.permutation(n);
  // Int32Array.prototype.sort is not guaranteed stable; a plain array's sort is (ES2019).
  const sorted = Array.from(order).sort((a, b) => lengths[a] - lengths[b]);
  const out: Int32Array[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const chunk = sorted.slice(start, start + batchSize);
    if (options.dropLast && chunk.length < batchSize) continue;
    out.push(Int32Array.from(chunk));
  }
  return rng.shuffle(out);
}

// ---------------------------------------------------------------------------------------------
// Windows

/** Options of {@link streamWindows}. */
export interface StreamWindowsOptions {
  /** B: number of parallel tracks the stream is cut into, an integer >= 1. */
  readonly batch: number;
  /** Steps per window (the truncated-BPTT length), an integer >= 1. */
  readonly window: number;
}

/** One truncated-BPTT window over `batch` tracks. */
export interface StreamWindow {
  /** `[seqLen, B]` time-major input ids. */
  readonly inputs: Int32Array;
  /** `[seqLen, B]`: the next id after each input (`targets[t*B+b]` follows `inputs[t*B+b]` in the stream). */
  readonly targets: Int32Array;
  /** Steps in this window: `window`, or fewer for the last one. */
  readonly seqLen: number;
  /** B. */
  readonly batch: number;
  /** Position of the window's first step within each track. */
  readonly offset: number;
}

/**
 * Windows for a stateful language model over one long stream (PyTorch word_language_model's
 * `batchify` + `get_batch`). The stream is cut into `batch` contiguous tracks of
 * `L = floor(n / batch)` ids (the `n % batch` trailing ids are dropped); track b is
 * `ids[b*L .. (b+1)*L)`. Windows walk the tracks in step: window k covers track positions
 * `[k*window, k*window + seqLen)` as inputs and the positions one later as targets, so window k+1 of
 * track b starts exactly where window k ended and the hidden state can be carried across (detached).
 * The last window is shorter when `L - 1` is not a multiple of `window`.
 * @param ids the token stream; needs at least 2 ids per track (ShapeError otherwise).
 */
export function streamWindows(ids: Int32Array, options: StreamWindowsOptions): IterableIterator<StreamWindow> {
  if (!(ids instanceof Int32Array)) throw new ValueError('expected an Int32Array', 'ids');
  if (typeof options !== 'object' || options === null) throw new ValueError('expected an object', 'options');
  checkPositiveInt(options.batch, 'options.batch');
  checkPositiveInt(options.window, 'options.window');
  const B = options.batch;
  const window = options.window;
  const L = Math.floor(ids.length / B);
  if (L < 2) {
    throw new ShapeError(`expected at least 2 ids per track (2 * batch = ${2 * B}), got ${ids.length}`, 'ids');
  }
  return (function* () {
    // Only L - 1 positions per track have a next id to predict.
    for (let offset = 0; offset < L - 1; offset += window) {
      const seqLen = Math.min(window, L - 1 - offset);
      const inputs = new Int32Array(seqLen * B);
      const targets = new Int32Array(seqLen * B);
      for (let t = 0; t < seqLen; t++) {
        for (let b = 0; b < B; b++) {
          const src = b * L + offset + t;
          inputs[t * B + b] = ids[src];
          targets[t * B + b] = ids[src + 1];
        }
      }
      yield { inputs, targets, seqLen, batch: B, offset };
    }
  })();
}

/** Options of {@link slidingWindows}. */
export interface SlidingWindowsOptions {
  /** Steps of history per window, an integer >= 1. */
  readonly input: number;
  /** Steps to predict after the history; default 1. */
  readonly horizon?: number;
  /** Steps between the starts of consecutive windows; default 1. */
  readonly stride?: number;
}

/** Forecasting windows cut from one series, one row per window. */
export interface SeriesWindows {
  /** `[count, input]`: row k is `series[k*stride .. k*stride + input)`. */
  readonly inputs: Float32Array;
  /** `[count, horizon]`: row k is the `horizon` values right after row k's inputs. */
  readonly targets: Float32Array;
  /** Number of windows. */
  readonly count: number;
  /** Steps per input row. */
  readonly input: number;
  /** Steps per target row. */
  readonly horizon: number;
}

/**
 * Cuts a series into (history, future) pairs for forecasting. Rows are window-major so that a
 * minibatch is a set of row indices (see {@link batches}); a model wants each minibatch
 * time-major `[input, B, 1]`, i.e. `x[t*B + j] = inputs[idx[j]*input + t]`.
 * Windows that would run past the end are not made.
 * @param series needs at least `input + horizon` values (ShapeError otherwise).
 */
export function slidingWindows(series: Float32Array, options: SlidingWindowsOptions): SeriesWindows {
  if (!(series instanceof Float32Array)) throw new ValueError('expected a Float32Array', 'series');
  if (typeof options !== 'object' || options === null) throw new ValueError('expected an object', 'options');
  const horizon = options.horizon ?? 1;
  const stride = options.stride ?? 1;
  checkPositiveInt(options.input, 'options.input');
  checkPositiveInt(horizon, 'options.horizon');
  checkPositiveInt(stride, 'options.stride');
  const input = options.input;
  const span = input + horizon;
  if (series.length < span) {
    throw new ShapeError(`expected at least input + horizon (${span}) values, got ${series.length}`, 'series');
  }
  const count = Math.floor((series.length - span) / stride) + 1;
  const inputs = new Float32Array(count * input);
  const targets = new Float32Array(count * horizon);
  for (let k = 0; k < count; k++) {
    const start = k * stride;
    inputs.set(series.subarray(start, start + input), k * input);
    targets.set(series.subarray(start + input, start + span), k * horizon);
  }
  return { inputs, targets, count, input, horizon };
}

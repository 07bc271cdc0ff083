/**
 * Metrics: accuracy (argmax, first maximum, with masks and an ignore index), perplexity (exp of the
 * mean token cross-entropy) and bits per character (mean cross-entropy in nats / ln 2).
 *
 *   accuracy({ logits, targets, numClasses: 5 });           // fraction of counted rows right
 *   perplexity(meanCrossEntropy({ logits, targets, numClasses: 5 }));
 */
import { ShapeError, ValueError } from '../errors.js';
import { describe } from '../check.js';
import { softmaxCrossEntropy } from '../ops/train.js';

/** The metrics `fit` and `evaluate` know. */
export type MetricName = 'accuracy' | 'perplexity' | 'bitsPerCharacter';

/** Every {@link MetricName}. */
export const METRIC_NAMES: readonly MetricName[] = ['accuracy', 'perplexity', 'bitsPerCharacter'];

/** Arguments of {@link accuracy} and {@link meanCrossEntropy}. */
export interface ClassArgs {
  /** Scores `[N, numClasses]`, row-major. */
  readonly logits: Float32Array;
  /** Class of each row `[N]`, or `ignoreIndex`. */
  readonly targets: Int32Array;
  /** C, >= 1. */
  readonly numClasses: number;
  /** Rows whose target equals it do not count. Default: -100. */
  readonly ignoreIndex?: number;
  /** `[N]`: rows where it is 0 do not count (e.g. `mask(lengths, T)` from lib/data). Default: all count. */
  readonly mask?: Float32Array | null;
}

function checkClassArgs(args: ClassArgs): { N: number; C: number; ignore: number } {
  if (typeof args !== 'object' || args === null) throw new ValueError(`expected an object, got ${describe(args)}`, 'args');
  const C = args.numClasses;
  if (typeof C !== 'number' || !Number.isSafeInteger(C) || C < 1)
    throw new ValueError(`expected an integer >= 1, got ${describe(C)}`, 'numClasses');
  if (!(args.targets instanceof Int32Array)) throw new ValueError(`expected an Int32Array, got ${describe(args.targets)}`, 'targets');
  const N = args.targets.length;
  if (!(args.logits instanceof Float32Array)) throw new ValueError(`expected a Float32Array, got ${describe(args.logits)}`, 'logits');
  if (args.logits.length !== N * C)
    throw new ShapeError(`expected length ${N * C} (N*numClasses = ${N}*${C}), got ${args.logits.length}`, 'logits');
  const ignore = args.ignoreIndex ?? -100;
  if (typeof ignore !== 'number' || !Number.isInteger(ignore))
    throw new ValueError(`expected an integer, got ${describe(ignore)}`, 'ignoreIndex');
  if (args.mask !== undefined && args.mask !== null) {
    if (!(args.mask instanceof Float32Array)) throw new ValueError(`expected a Float32Array, got ${describe(args.mask)}`, 'mask');
    if (args.mask.length !== N) throw new ShapeError(`expected length ${N} (N = targets.length), got ${args.mask.length}`, 'mask');
  }
  for (let i = 0; i < N; i++) {
    const t = args.targets[i];
    if (t !== ignore && (t < 0 || t >= C))
      throw new ValueError(`targets[${i}] = ${t} is outside [0, numClasses = ${C}) and is not ignoreIndex (${ignore})`, 'targets');
  }
  return { N, C, ignore };
}

/** Correct and counted rows (argmax, first maximum, against the target), for accumulating over batches. */
export function accuracyCounts(args: ClassArgs): { correct: number; count: number } {
  const { N, C, ignore } = checkClassArgs(args);
  const { logits, targets, mask } = args;
  let correct = 0,
    count = 0;
  for (let i = 0; i < N; i++) {
    if (targets[i] === ignore || (mask && mask[i] === 0)) continue;
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
    count++;
    if (best === targets[i]) correct++;
  }
  return { correct, count };
}

/** Fraction of the counted rows whose argmax is the target; 0 when no row counts. */
export function accuracy(args: ClassArgs): number {
  const { correct, count } = accuracyCounts(args);
  return count === 0 ? 0 : correct / count;
}

/** Mean softmax cross-entropy (nats) over the counted rows; 0 when none counts. */
export function meanCrossEntropy(args: ClassArgs): number {
  const { N } = checkClassArgs(args);
  const weights = args.mask ? Float32Array.from(args.mask, (m) => (m === 0 ? 0 : 1)) : null;
  void N;
  return softmaxCrossEntropy(
    {
      logits: args.logits,
      targets: args.targets,
      numClasses: args.numClasses,
      ignoreIndex: args.ignoreIndex ?? -100,
      weights,
    },
    { backend: 'js' },
  ).loss;
}

function checkCe(meanCe: number): number {
  if (typeof meanCe !== 'number' || !(meanCe >= 0) || Number.isNaN(meanCe))
    throw new ValueError(`expected a number >= 0, got ${describe(meanCe)}`, 'meanCrossEntropy');
  return meanCe;
}

/** exp(mean token cross-entropy in nats). */
export function perplexity(meanCrossEntropyNats: number): number {
  return Math.exp(checkCe(meanCrossEntropyNats));
}

/** Mean cross-entropy in nats / ln 2 (bits per character when the tokens are characters). */
export function bitsPerCharacter(meanCrossEntropyNats: number): number {
  return checkCe(meanCrossEntropyNats) / Math.LN2;
}

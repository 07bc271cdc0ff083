/**
 * The losses `fit` and `evaluate` train and score with, as a registry of {@link Loss} objects: each
 * checks a batch's target against the model's output and gives the batch's mean loss, its gradient
 * with respect to the output, and the counts an epoch mean needs, through its kernel (lib/ops/).
 *
 * Targets follow the output and the loss: `softmaxCrossEntropy` takes class ids (Int32Array), one per
 * row of the output (`[T*B]`, time-major row t*B+b, for a Sequence; `[B]` for a Vector), where
 * `ignoreIndex` rows count for nothing; `bceWithLogits` and `mse` take a Float32Array of the output's
 * length. Steps of a Sequence at or past its `lengths` are masked out of every loss. Losses are means
 * over the counted rows (CE) or elements (bce/mse).
 *
 * Adding a loss (CTC next): one file with its {@link Loss}, its kernel as an op, and a line in
 * {@link LOSSES}.
 */
import type { BackendName } from '../backend/index.js';
import { allFinite, describe } from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import type { Sequence, Value, Vector } from '../layers/values.js';
import type { Workspace } from '../ops/outputs.js';
import { bceWithLogits, mse, softmaxCrossEntropy } from '../ops/train.js';
import type { LossName } from './types.js';

/** One batch's loss. */
export interface LossResult {
  /** The batch's mean loss. */
  readonly loss: number;
  /** Gradient of `loss` with respect to the output's data. */
  readonly grad: Float32Array;
  /** Counted rows (CE) or elements (bce/mse): the weight of this batch's loss in an epoch mean. */
  readonly count: number;
  /** Counted rows whose argmax is the target (class losses), else 0. */
  readonly correct: number;
  /** Examples (sequences) in the batch. */
  readonly examples: number;
}

/** What every loss call gets besides the output and target. */
export interface LossContext {
  /** Target of a class loss that counts for nothing. */
  readonly ignoreIndex: number;
  /** Which kernels run it. */
  readonly backend: BackendName;
  /**
   * Softmax cross-entropy against the smoothed target `(1 - e) onehot + e / V` (PyTorch's
   * `label_smoothing`): the loss is `(1 - e) CE + e mean_v(-log p_v)`. 0 (plain CE) when absent.
   */
  readonly labelSmoothing?: number;
  /** Where the loss's gradient array comes from (fit's training steps reuse it), or none (fresh). */
  readonly workspace?: Workspace | null;
}

/** A loss of the registry. */
export interface Loss {
  readonly name: LossName;
  /** Whether it scores classes (and so supports the accuracy / perplexity / bits-per-character metrics). */
  readonly classes: boolean;
  /** The batch's loss; a typed error naming `${where}.target` when the target does not fit `y`. */
  compute(y: Sequence | Vector, target: unknown, ctx: LossContext, where: string): Promise<LossResult>;
}

/** The output's rows and the mask of its valid steps (null: all count). */
function rowMask(y: Sequence | Vector): { rows: number; mask: Float32Array | null; examples: number } {
  if (y.kind === 'vector') return { rows: y.batch, mask: null, examples: y.batch };
  const { seqLen: T, batch: B, lengths } = y;
  if (!lengths) return { rows: T * B, mask: null, examples: B };
  const mask = new Float32Array(T * B);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) mask[t * B + b] = t < lengths[b] ? 1 : 0;
  return { rows: T * B, mask, examples: B };
}

const softmaxCrossEntropyLoss: Loss = {
  name: 'softmaxCrossEntropy',
  classes: true,
  async compute(y, target, ctx, where) {
    const { rows, mask, examples } = rowMask(y);
    if (!(target instanceof Int32Array))
      throw new ValueError(`expected an Int32Array of class ids, got ${describe(target)}`, `${where}.target`);
    if (target.length !== rows) {
      throw new ShapeError(
        `expected length ${rows} (${y.kind === 'sequence' ? 'seqLen*batch' : 'batch'}: one class per output row), got ${target.length}`,
        `${where}.target`,
      );
    }
    const r = await softmaxCrossEntropy.async(
      { logits: y.data, targets: target, numClasses: y.features, weights: mask, ignoreIndex: ctx.ignoreIndex },
      { backend: ctx.backend, workspace: ctx.workspace ?? null },
    );
    const eps = ctx.labelSmoothing ?? 0;
    const loss = eps > 0 ? smooth(y.data, target, mask, y.features, r.loss, r.dLogits, r.weightSum, eps, ctx.ignoreIndex) : r.loss;
    return { loss, grad: r.dLogits, count: r.weightSum, correct: r.numCorrect, examples };
  },
};

/**
 * Label smoothing on top of a plain CE result (mean `ce`, gradient `grad` = w (p - onehot) / W):
 * gives the smoothed mean loss and turns `grad` into w (p - (1-e) onehot - e/V) / W in place.
 */
function smooth(
  logits: Float32Array,
  target: Int32Array,
  mask: Float32Array | null,
  V: number,
  ce: number,
  grad: Float32Array,
  W: number,
  eps: number,
  ignoreIndex: number,
): number {
  if (W <= 0) return ce;
  let uniform = 0; // sum_i w_i mean_v(-log p_iv)
  for (let i = 0; i < target.length; i++) {
    const w = mask ? mask[i] : 1;
    if (w === 0 || target[i] === ignoreIndex) continue;
    const o = i * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v] > m) m = logits[o + v];
    let z = 0;
    let sum = 0;
    for (let v = 0; v < V; v++) {
      z += Math.exp(logits[o + v] - m);
      sum += logits[o + v];
    }
    uniform += w * (m + Math.log(z) - sum / V);
    const k = (w * eps) / W;
    for (let v = 0; v < V; v++) grad[o + v] -= k / V;
    grad[o + target[i]] += k;
  }
  return (1 - eps) * ce + (eps * uniform) / W;
}

/** A loss over each element against a float target of the output's shape, as a mean over the counted elements. */
function elementwise(name: 'bceWithLogits' | 'mse'): Loss {
  return {
    name,
    classes: false,
    async compute(y, target, ctx, where) {
      const { rows, mask, examples } = rowMask(y);
      const data = y.data;
      if (!(target instanceof Float32Array)) throw new ValueError(`expected a Float32Array, got ${describe(target)}`, `${where}.target`);
      if (target.length !== data.length)
        throw new ShapeError(`expected length ${data.length} (the output's), got ${target.length}`, `${where}.target`);
      allFinite(target, `${where}.target`);
      let weights: Float32Array | null = null;
      let count = data.length;
      if (mask) {
        weights = new Float32Array(data.length);
        count = 0;
        for (let r = 0; r < rows; r++) {
          if (mask[r] === 0) continue;
          weights.fill(1, r * y.features, (r + 1) * y.features);
          count += y.features;
        }
      }
      const o = { backend: ctx.backend };
      const r =
        name === 'mse'
          ? await mse
              .async({ predictions: data, targets: target, weights, reduction: 'sum' }, o)
              .then((m) => ({ loss: m.loss, grad: m.dPredictions }))
          : await bceWithLogits
              .async({ logits: data, targets: target, weights, reduction: 'sum' }, o)
              .then((m) => ({ loss: m.loss, grad: m.dLogits }));
      const scale = count > 0 ? 1 / count : 0;
      for (let i = 0; i < r.grad.length; i++) r.grad[i] *= scale;
      return { loss: r.loss * scale, grad: r.grad, count, correct: 0, examples };
    },
  };
}

/** The losses by name. */
export const LOSSES: Readonly<Record<LossName, Loss>> = {
  softmaxCrossEntropy: softmaxCrossEntropyLoss,
  bceWithLogits: elementwise('bceWithLogits'),
  mse: elementwise('mse'),
};

/** The loss called `name` (undefined: softmax cross-entropy); a ValueError naming `argument` for an unknown one. */
export function lossOf(name: unknown, argument: string): Loss {
  if (name === undefined) return LOSSES.softmaxCrossEntropy;
  if (typeof name !== 'string' || !Object.hasOwn(LOSSES, name)) {
    throw new ValueError(
      `expected one of ${Object.keys(LOSSES)
        .map((k) => `'${k}'`)
        .join(', ')}, got ${describe(name)}`,
      argument,
    );
  }
  return LOSSES[name as LossName];
}

/** The float output a loss scores (a model giving token ids has none). */
export function lossInput(y: Value): Sequence | Vector {
  if (y.kind === 'tokens') throw new ValueError('the model gives token ids; a loss needs float outputs', 'model');
  return y;
}

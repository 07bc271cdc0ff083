/**
 * The pure-TS twins of the training kernels in native/train.h (losses, optimizers, clipping): the
 * reference the native kernels are tested against and the `'js'` backend of lib/train/kernels.ts.
 *
 * Every function is generic over the float array type (see ./common.ts): called with Float64Array
 * arrays it runs entirely in float64 (the gradient checks do); with Float32Array each stored value
 * is rounded to float32 while every intermediate is a double. Arguments are trusted (lib/train/kernels.ts
 * validated them). The math, reductions and conventions are native/train.h's:
 * - 'mean' of softmax cross-entropy divides by the sum of the weights of the rows that count
 *   (PyTorch's ignore_index / class-weight semantics); 'mean' of BCE and MSE divides by n (PyTorch's
 *   `weight` semantics). When nothing counts the loss and the gradient are 0 (PyTorch gives NaN).
 * - Sums run in index order in doubles.
 */
import type { FloatArray } from './common.js';

/** How per-row losses are combined. */
export type Reduction = 'mean' | 'sum';

/** What a softmax cross-entropy call returns besides its gradient. */
export interface CrossEntropyTotals {
  /** The reduced loss. */
  readonly loss: number;
  /** Sum of the weights of the rows that count (their number when unweighted). */
  readonly weightSum: number;
  /** Rows that count whose argmax (first maximum) equals the target. */
  readonly numCorrect: number;
}

/**
 * Softmax cross-entropy, stable (max subtracted before exp). logits, dLogits `[rows, numClasses]`;
 * targets `[rows]` class ids in [0, numClasses) or `ignoreIndex`; weights `[rows]` (>= 0) or null;
 * correct `[rows]` or null: 1 where a counted row's argmax equals its target, else 0.
 */
export function softmaxCrossEntropy<A extends FloatArray>(
  logits: A,
  targets: Int32Array,
  weights: FloatArray | null,
  rows: number,
  numClasses: number,
  ignoreIndex: number,
  reduction: Reduction,
  dLogits: A,
  correct: Uint8Array | null,
): CrossEntropyTotals {
  const C = numClasses;
  let weightSum = 0;
  for (let i = 0; i < rows; i++) if (targets[i] !== ignoreIndex) weightSum += weights ? weights[i] : 1;
  const scale = reduction === 'mean' ? (weightSum > 0 ? 1 / weightSum : 0) : 1;
  let total = 0;
  let numCorrect = 0;
  for (let i = 0; i < rows; i++) {
    const t = targets[i];
    const w = weights ? weights[i] : 1;
    const off = i * C;
    if (correct) correct[i] = 0;
    if (t === ignoreIndex || w === 0) {
      dLogits.fill(0, off, off + C);
      continue;
    }
    let mx = logits[off];
    let am = 0;
    for (let j = 1; j < C; j++) {
      if (logits[off + j] > mx) {
        mx = logits[off + j];
        am = j;
      }
    }
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(logits[off + j] - mx);
    total += w * (Math.log(s) - (logits[off + t] - mx));
    const g = w * scale;
    for (let j = 0; j < C; j++) dLogits[off + j] = Math.exp(logits[off + j] - mx) * (g / s);
    dLogits[off + t] = Math.exp(logits[off + t] - mx) * (g / s) - g;
    if (am === t) {
      numCorrect++;
      if (correct) correct[i] = 1;
    }
  }
  return { loss: total * scale, weightSum, numCorrect };
}

/**
 * Binary cross-entropy on logits (PyTorch's BCEWithLogitsLoss): l = w (max(x,0) - x y + log(1 + e^-|x|)),
 * dx = w scale (sigmoid(x) - y). x, y, dx `[n]`; w `[n]` or null. Returns the reduced loss.
 */
export function bceWithLogits<A extends FloatArray>(
  x: A,
  y: FloatArray,
  w: FloatArray | null,
  n: number,
  reduction: Reduction,
  dx: A,
): number {
  const scale = reduction === 'mean' ? (n > 0 ? 1 / n : 0) : 1;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i];
    const yi = y[i];
    const wi = w ? w[i] : 1;
    const e = Math.exp(-Math.abs(xi));
    total += wi * ((xi > 0 ? xi : 0) - xi * yi + Math.log1p(e));
    const sig = xi >= 0 ? 1 / (1 + e) : e / (1 + e);
    dx[i] = wi * scale * (sig - yi);
  }
  return total * scale;
}

/** Mean squared error: l = w (p - t)^2, dp = 2 w scale (p - t). p, t, dp `[n]`; w `[n]` or null. */
export function mse<A extends FloatArray>(p: A, t: FloatArray, w: FloatArray | null, n: number, reduction: Reduction, dp: A): number {
  const scale = reduction === 'mean' ? (n > 0 ? 1 / n : 0) : 1;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const d = p[i] - t[i];
    const wi = w ? w[i] : 1;
    total += wi * d * d;
    dp[i] = 2 * wi * scale * d;
  }
  return total * scale;
}

/** SGD hyperparameters (torch.optim.SGD). */
export interface SgdHyper {
  readonly lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
}

/**
 * One SGD step in place (torch.optim.SGD's algorithm): g = grad + wd param; with momentum,
 * buf = (step 1) g, else momentum buf + (1 - dampening) g; g = nesterov ? g + momentum buf : buf;
 * param -= lr g. buf `[n]` may be null when momentum is 0.
 */
export function sgdStep<A extends FloatArray>(param: A, grad: FloatArray, buf: A | null, n: number, h: SgdHyper, step: number): void {
  const first = step <= 1;
  for (let i = 0; i < n; i++) {
    let g = grad[i];
    if (h.weightDecay !== 0) g += h.weightDecay * param[i];
    if (h.momentum !== 0 && buf) {
      const b = first ? g : h.momentum * buf[i] + (1 - h.dampening) * g;
      buf[i] = b;
      const bStored = buf[i]; // the buffer's own precision, as the next step (and native) sees it
      g = h.nesterov ? g + h.momentum * bStored : bStored;
    }
    param[i] = param[i] - h.lr * g;
  }
}

/** Adam / AdamW hyperparameters (torch.optim.Adam, AdamW). */
export interface AdamHyper {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** AdamW: param *= 1 - lr wd instead of adding wd param to the gradient. */
  readonly decoupled: boolean;
}

/**
 * One Adam(W) step in place, `step` >= 1 this step's count. PyTorch's single-tensor form:
 * m += (1 - b1)(g - m); v = b2 v + (1 - b2) g^2; param -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 */
export function adamStep<A extends FloatArray>(param: A, grad: FloatArray, m: A, v: A, n: number, h: AdamHyper, step: number): void {
  const stepSize = h.lr / (1 - h.beta1 ** step);
  const bc2Sqrt = Math.sqrt(1 - h.beta2 ** step);
  const decay = h.weightDecay !== 0;
  for (let i = 0; i < n; i++) {
    let p = param[i];
    let g = grad[i];
    if (decay) {
      if (h.decoupled) p *= 1 - h.lr * h.weightDecay;
      else g += h.weightDecay * p;
    }
    m[i] = m[i] + (1 - h.beta1) * (g - m[i]);
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    const denom = Math.sqrt(v[i]) / bc2Sqrt + h.eps;
    param[i] = p - stepSize * (m[i] / denom);
  }
}

/** RMSprop hyperparameters (torch.optim.RMSprop). */
export interface RmspropHyper {
  readonly lr: number;
  readonly alpha: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly centered: boolean;
}

/**
 * One RMSprop step in place: g += wd param; sq = alpha sq + (1 - alpha) g^2; centered:
 * ga += (1 - alpha)(g - ga), avg = sqrt(max(sq - ga^2, 0)) + eps (clamped: rounding could make the
 * variance estimate -1e-12), else sqrt(sq) + eps; momentum > 0: buf = momentum buf + g / avg,
 * param -= lr buf; else param -= lr g / avg. gradAvg only when centered, buf only when momentum > 0.
 */
export function rmspropStep<A extends FloatArray>(
  param: A,
  grad: FloatArray,
  squareAvg: A,
  gradAvg: A | null,
  buf: A | null,
  n: number,
  h: RmspropHyper,
): void {
  for (let i = 0; i < n; i++) {
    let g = grad[i];
    if (h.weightDecay !== 0) g += h.weightDecay * param[i];
    squareAvg[i] = h.alpha * squareAvg[i] + (1 - h.alpha) * g * g;
    let variance = squareAvg[i];
    if (h.centered && gradAvg) {
      gradAvg[i] = gradAvg[i] + (1 - h.alpha) * (g - gradAvg[i]);
      variance = Math.max(0, variance - gradAvg[i] * gradAvg[i]); // NaN stays NaN
    }
    let upd = g / (Math.sqrt(variance) + h.eps);
    if (h.momentum > 0 && buf) {
      buf[i] = h.momentum * buf[i] + upd;
      upd = buf[i];
    }
    param[i] = param[i] - h.lr * upd;
  }
}

/**
 * Global L2 norm over all arrays (one double sum, arrays in order); when maxNorm / (norm + 1e-6) < 1
 * (or NaN) every gradient is multiplied by it (torch.nn.utils.clip_grad_norm_). Returns the norm
 * before clipping.
 */
export function clipGradNorm(grads: readonly FloatArray[], maxNorm: number): number {
  let sq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef >= 1)) {
    // float32 arrays: the native kernel multiplies by the coefficient rounded to float32.
    for (const g of grads) {
      const c = g instanceof Float32Array ? Math.fround(coef) : coef;
      for (let i = 0; i < g.length; i++) g[i] *= c;
    }
  }
  return norm;
}

/** Clamps every element into [-clipValue, clipValue] in place (NaN stays NaN). */
export function clipGradValue(grads: readonly FloatArray[], clipValue: number): void {
  for (const g of grads) {
    const c = g instanceof Float32Array ? Math.fround(clipValue) : clipValue;
    for (let i = 0; i < g.length; i++) g[i] = Math.min(c, Math.max(-c, g[i]));
  }
}

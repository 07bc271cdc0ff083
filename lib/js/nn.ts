/**
 * The pure-TS twins of native/nn.h (linear and embedding) and native/norm.h (layer normalization),
 * forward and backward: the reference the
 * native kernels are tested against and the `'js'` backend of lib/ops/nn.ts. Arguments are
 * trusted (lib/ops/nn.ts validated them). Generic over the float array type like the cell
 * kernels (./common.ts): Float64Array arrays compute in float64.
 * Reductions run in the native kernels' order: bias gradients and the embedding scatter add rows in
 * increasing row order.
 */
import { type FloatArray, fillRows, gemmNN, gemmTN, transpose } from './common.js';

/** y [N, out] = x [N, in] W^T + b; W [out, in], b [out] or null. y is overwritten. */
export function linearForward<A extends FloatArray>(
  x: A,
  weight: A,
  bias: A | null,
  rows: number,
  inFeatures: number,
  outFeatures: number,
  y: A,
): void {
  fillRows(y, rows, outFeatures, bias);
  const wT = transpose(weight, outFeatures, inFeatures); // [in, out]: the product runs i-k-j
  gemmNN(rows, outFeatures, inFeatures, x, 0, inFeatures, wT, 0, outFeatures, y, 0, outFeatures);
}

/**
 * Gradients of {@link linearForward} from dy [N, out]: dx [N, in] = dy W (written; skipped when
 * null), dWeight [out, in] (+)= dy^T x, dBias [out] (+)= column sums of dy (skipped when null).
 * `accumulate` false overwrites dWeight and dBias instead of adding.
 */
export function linearBackward<A extends FloatArray>(
  x: A,
  weight: A,
  dy: A,
  rows: number,
  inFeatures: number,
  outFeatures: number,
  dx: A | null,
  dWeight: A,
  dBias: A | null,
  accumulate: boolean,
): void {
  if (dx) {
    dx.fill(0, 0, rows * inFeatures);
    gemmNN(rows, inFeatures, outFeatures, dy, 0, outFeatures, weight, 0, inFeatures, dx, 0, inFeatures);
  }
  if (!accumulate) dWeight.fill(0, 0, outFeatures * inFeatures);
  gemmTN(outFeatures, inFeatures, rows, dy, 0, outFeatures, x, 0, inFeatures, dWeight, 0, inFeatures);
  if (dBias) {
    if (!accumulate) dBias.fill(0, 0, outFeatures);
    for (let r = 0; r < rows; r++) {
      const row = r * outFeatures;
      for (let j = 0; j < outFeatures; j++) dBias[j] += dy[row + j];
    }
  }
}

/**
 * out [N, E] = rows `ids[n]` of weight [V, E]; rows whose id is `paddingIndex` are zeros
 * (`paddingIndex` -1: none). Every id is in [0, V) (checked by the caller).
 */
export function embeddingForward<A extends FloatArray>(
  ids: Int32Array,
  weight: A,
  rows: number,
  dim: number,
  paddingIndex: number,
  out: A,
): void {
  for (let n = 0; n < rows; n++) {
    const id = ids[n];
    if (id === paddingIndex) out.fill(0, n * dim, (n + 1) * dim);
    else out.set(weight.subarray(id * dim, (id + 1) * dim), n * dim);
  }
}

/**
 * dWeight [V, E] (+)= scatter-add of dy [N, E] into rows `ids[n]`, n increasing; the padding row
 * gets no gradient. `accumulate` false zeroes dWeight first.
 */
export function embeddingBackward<A extends FloatArray>(
  ids: Int32Array,
  dy: A,
  rows: number,
  dim: number,
  paddingIndex: number,
  dWeight: A,
  accumulate: boolean,
): void {
  if (!accumulate) dWeight.fill(0);
  for (let n = 0; n < rows; n++) {
    const id = ids[n];
    if (id === paddingIndex) continue;
    const dst = id * dim;
    const src = n * dim;
    for (let e = 0; e < dim; e++) dWeight[dst + e] += dy[src + e];
  }
}

/**
 * Layer normalization over the last dimension (native/norm.h): per row, mean and biased variance in
 * double, `rstd = 1/sqrt(var + eps)`, `y = (x - mean) * rstd * gamma + beta` (no gamma/beta: 1 and 0).
 * y [N, F], mean and rstd [N] are overwritten.
 */
export function layerNormForward<A extends FloatArray>(
  x: A,
  gamma: A | null,
  beta: A | null,
  rows: number,
  features: number,
  eps: number,
  y: A,
  mean: A,
  rstd: A,
): void {
  const F = features;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let f = 0; f < F; f++) sum += x[r * F + f];
    const m = F > 0 ? sum / F : 0;
    let sq = 0;
    for (let f = 0; f < F; f++) sq += (x[r * F + f] - m) ** 2;
    mean[r] = m;
    rstd[r] = 1 / Math.sqrt((F > 0 ? sq / F : 0) + eps);
    const mr = mean[r];
    const rs = rstd[r];
    for (let f = 0; f < F; f++) {
      const xhat = (x[r * F + f] - mr) * rs;
      y[r * F + f] = xhat * (gamma ? gamma[f] : 1) + (beta ? beta[f] : 0);
    }
  }
}

/**
 * Gradients of {@link layerNormForward} from dy [N, F] (native/norm.h): dx is overwritten; dGamma
 * and dBeta [F] are ADDED to (rows in order), skipped when null.
 */
export function layerNormBackward<A extends FloatArray>(
  x: A,
  gamma: A | null,
  mean: A,
  rstd: A,
  dy: A,
  rows: number,
  features: number,
  dx: A,
  dGamma: A | null,
  dBeta: A | null,
): void {
  const F = features;
  for (let r = 0; r < rows; r++) {
    const m = mean[r];
    const rs = rstd[r];
    let sg = 0;
    let sgx = 0;
    for (let f = 0; f < F; f++) {
      const i = r * F + f;
      const xhat = (x[i] - m) * rs;
      const g = gamma ? dy[i] * gamma[f] : dy[i];
      sg += g;
      sgx += g * xhat;
      if (dGamma) dGamma[f] += dy[i] * xhat;
      if (dBeta) dBeta[f] += dy[i];
    }
    const mg = F > 0 ? sg / F : 0;
    const mgx = F > 0 ? sgx / F : 0;
    for (let f = 0; f < F; f++) {
      const i = r * F + f;
      const xhat = (x[i] - m) * rs;
      const g = gamma ? dy[i] * gamma[f] : dy[i];
      dx[i] = rs * (g - mg - xhat * mgx);
    }
  }
}

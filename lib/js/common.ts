/**
 * Shared pieces of the pure-JS kernels (lib/js/rnn.ts, lstm.ts, gru.ts): the generic float array
 * type, the three matmul loops, activations, and the lengths / processing-step logic of
 * native/cells.h.
 *
 * Every kernel is generic over the float array type: outputs and workspaces are allocated with the
 * constructor of `args.x`, so a call whose arrays are all Float64Array runs entirely in float64
 * (the gradient checks rely on this). The public Backend (lib/backend/js.ts) uses Float32Array.
 */
import type { SeqSizes } from '../ops/layout.js';

/** The float arrays the JS kernels compute in. */
export type FloatArray = Float32Array | Float64Array;

/** A new zeroed array of `length` elements, of the same type as `like`. */
export function allocLike<A extends FloatArray>(like: A, length: number): A {
  const Ctor = like.constructor as unknown as new (length: number) => A;
  return new Ctor(length);
}

/** A copy of `src` as the same type as `like`, or zeros of `length` when `src` is absent. */
export function copyOrZeros<A extends FloatArray>(like: A, src: A | null | undefined, length: number): A {
  const out = allocLike(like, length);
  if (src) out.set(src.subarray(0, length));
  return out;
}

// ---- activations ----

/** The logistic function 1 / (1 + e^-v). */
export function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** max(v, 0). */
export function relu(v: number): number {
  return v > 0 ? v : 0;
}

// ---- matmul loops (row-major, BLAS-style offsets and leading dimensions, all accumulate) ----

/**
 * C[m, n] += A[m, k] · B[k, n]. Element (i, j) of a matrix M lives at `mOff + i*ldm + j`.
 * i-k-j order: the inner loop streams a row of B into a row of C.
 */
export function gemmNN(
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  aOff: number,
  lda: number,
  b: FloatArray,
  bOff: number,
  ldb: number,
  c: FloatArray,
  cOff: number,
  ldc: number,
): void {
  for (let i = 0; i < m; i++) {
    const cRow = cOff + i * ldc;
    for (let p = 0; p < k; p++) {
      const aip = a[aOff + i * lda + p];
      const bRow = bOff + p * ldb;
      for (let j = 0; j < n; j++) c[cRow + j] += aip * b[bRow + j];
    }
  }
}

/**
 * C[m, n] += A^T · B with A stored [k, m] and B stored [k, n] (weight gradients: dW = dG^T X).
 * Reduction index p outermost, so every C element sums its k terms in increasing p.
 */
export function gemmTN(
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  aOff: number,
  lda: number,
  b: FloatArray,
  bOff: number,
  ldb: number,
  c: FloatArray,
  cOff: number,
  ldc: number,
): void {
  for (let p = 0; p < k; p++) {
    const aRow = aOff + p * lda;
    const bRow = bOff + p * ldb;
    for (let i = 0; i < m; i++) {
      const api = a[aRow + i];
      const cRow = cOff + i * ldc;
      for (let j = 0; j < n; j++) c[cRow + j] += api * b[bRow + j];
    }
  }
}

/** The transpose `[cols, rows]` of a row-major `[rows, cols]` matrix (weights are packed once per call). */
export function transpose<A extends FloatArray>(src: A, rows: number, cols: number): A {
  const out = allocLike(src, rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = src[i * cols + j];
  }
  return out;
}

/** Sets every row of `out [rows, width]` to `bias [width]`, or to zero when there is no bias. */
export function fillRows(out: FloatArray, rows: number, width: number, bias: FloatArray | null | undefined): void {
  if (!bias) {
    out.fill(0, 0, rows * width);
    return;
  }
  for (let r = 0; r < rows; r++) out.set(bias.subarray(0, width), r * width);
}

/** Gathers rows of `a [blocks, rows, width]`: out[blk, r] = a[blk, index[r]] (out `[blocks, index.length, width]`). */
export function gatherRows<A extends FloatArray>(a: A, blocks: number, rows: number, width: number, index: Int32Array): A {
  const R2 = index.length;
  const out = allocLike(a, blocks * R2 * width);
  for (let blk = 0; blk < blocks; blk++) {
    for (let r = 0; r < R2; r++) {
      const src = (blk * rows + index[r]) * width;
      out.set(a.subarray(src, src + width), (blk * R2 + r) * width);
    }
  }
  return out;
}

/**
 * out[r] = log_softmax(a[r]) for each of `rows` rows of width V: (a - m) - log(sum exp(a - m)), m the
 * row's max, the sum in float64 (native/nn.h log_softmax_row's formula). `out` may be `a`.
 */
export function logSoftmaxRows(a: FloatArray, rows: number, V: number, out: FloatArray = a): void {
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (a[o + v] > m) m = a[o + v];
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(a[o + v] - m);
    const ls = Math.log(s);
    for (let v = 0; v < V; v++) out[o + v] = a[o + v] - m - ls;
  }
}

/** Column sums `[width]` of `m [rows, width]` (bias gradients), rows added in increasing order. */
export function columnSums<A extends FloatArray>(m: A, rows: number, width: number): A {
  const out = allocLike(m, width);
  for (let r = 0; r < rows; r++) {
    const row = r * width;
    for (let j = 0; j < width; j++) out[j] += m[row + j];
  }
  return out;
}

/**
 * The input projection of all T*B rows at once: `[T*B, G*H] = X [T*B, D] · W_ih^T + b_ih`.
 * `weightIh` is `[G*H, D]`; it is transposed once so that the product runs in i-k-j order.
 */
export function projectInputs<A extends FloatArray>(
  x: A,
  weightIh: A,
  biasIh: A | null | undefined,
  rows: number,
  inputSize: number,
  width: number,
): A {
  const out = allocLike(x, rows * width);
  fillRows(out, rows, width, biasIh);
  const wT = transpose(weightIh, width, inputSize); // [D, G*H]
  gemmNN(rows, width, inputSize, x, 0, inputSize, wT, 0, width, out, 0, width);
  return out;
}

// ---- lengths and processing steps ----

/** `lengths` as an Int32Array `[B]`; every sequence runs all T steps when it is absent. */
export function resolveLengths(lengths: Int32Array | readonly number[] | null | undefined, batch: number, seqLen: number): Int32Array {
  const out = new Int32Array(batch);
  if (!lengths) out.fill(seqLen);
  else for (let b = 0; b < batch; b++) out[b] = lengths[b];
  return out;
}

/**
 * The time index of a sequence of length `len` at processing step `s` (valid while s < len):
 * forward runs t = s, reverse runs t = len - 1 - s, so each sequence starts at its own last step.
 */
export function timeIndex(s: number, len: number, reverse: boolean): number {
  return reverse ? len - 1 - s : s;
}

// ---- argument and result shapes of the generic kernels (the Backend types, over FloatArray) ----

/** Arguments every cell's forward takes (see lib/ops/cells.ts SeqForwardArgs). */
export interface JsSeqForwardArgs<A extends FloatArray> extends SeqSizes {
  /** `[T, B, D]` */
  readonly x: A;
  /** `[G*H, D]` */
  readonly weightIh: A;
  /** `[G*H, H]` */
  readonly weightHh: A;
  /** `[G*H]`, absent = zero. */
  readonly biasIh?: A | null;
  /** `[G*H]`, absent = zero. */
  readonly biasHh?: A | null;
  /** `[B, H]`, absent = zeros. */
  readonly h0?: A | null;
  /** `[B]`, each in [0, T]; absent = all T. */
  readonly lengths?: Int32Array | readonly number[] | null;
  /** Default false. */
  readonly reverse?: boolean;
  /** Default true; false: no cache is allocated or written (the result's `cache` is null). */
  readonly keepCache?: boolean;
}

/** What backward takes besides the forward arguments. */
export interface JsSeqBackwardExtra<A extends FloatArray> {
  /** The cache of the matching forward call (layout: native/cells.h). */
  readonly cache: A;
  /** `[T, B, H]`, absent = zero. */
  readonly dy?: A | null;
  /** `[B, H]`, absent = zero. */
  readonly dhN?: A | null;
}

/** What every cell's forward returns (+ `cN` for the LSTM). `C`: the cache's type (null: not kept). */
export interface JsSeqForwardResult<A extends FloatArray, C extends A | null = A> {
  /** `[T, B, H]` */
  readonly y: A;
  /** `[B, H]` */
  readonly hN: A;
  /** Layout: native/cells.h; null when `keepCache` was false. */
  readonly cache: C;
}

/** What every cell's backward returns (+ `dc0`, `dWeightPeephole` for the LSTM). */
export interface JsSeqGrads<A extends FloatArray> {
  /** `[T, B, D]` */
  readonly dx: A;
  /** `[B, H]` */
  readonly dh0: A;
  /** `[G*H, D]` */
  readonly dWeightIh: A;
  /** `[G*H, H]` */
  readonly dWeightHh: A;
  /** `[G*H]`, null when `biasIh` was not given. */
  readonly dBiasIh: A | null;
  /** `[G*H]`, null when `biasHh` was not given. */
  readonly dBiasHh: A | null;
}

/**
 * The input-side gradients after the backward time loop, each one product over all T*B rows:
 * `dx = dG · W_ih`, `dW_ih = dG^T · X`, `db_ih` = column sums of dG (only when `biasIh` was given).
 * `dG [T*B, G*H]` holds the gradients of the input-side pre-activations (zero rows where masked).
 */
export function inputGradients<A extends FloatArray>(
  args: JsSeqForwardArgs<A>,
  dG: A,
  width: number,
): { dx: A; dWeightIh: A; dBiasIh: A | null } {
  const { x, weightIh, seqLen: T, batch: B, inputSize: D } = args;
  const rows = T * B;
  const dx = allocLike(x, rows * D);
  gemmNN(rows, D, width, dG, 0, width, weightIh, 0, D, dx, 0, D);
  const dWeightIh = allocLike(x, width * D);
  gemmTN(width, D, rows, dG, 0, width, x, 0, D, dWeightIh, 0, D);
  const dBiasIh = args.biasIh ? columnSums(dG, rows, width) : null;
  return { dx, dWeightIh, dBiasIh };
}

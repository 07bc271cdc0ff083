/**
 * Weight initialization as practitioners expect it (Keras' and PyTorch's recipes), every draw from
 * the model's seeded {@link Rng}:
 * - Xavier/Glorot uniform (Glorot & Bengio 2010): U(-a, a), a = sqrt(6 / (fanIn + fanOut)), for
 *   dense weights and recurrent input weights (per gate block: fanOut = hiddenSize, as Keras'
 *   per-gate kernels).
 * - Orthogonal (Saxe et al. 2014) for recurrent weights, per gate block `[H, H]`: the Q of a seeded
 *   standard normal matrix (Gram–Schmidt, so its R has a positive diagonal: Haar-distributed).
 * - Normal(0, 1) for embeddings (PyTorch's nn.Embedding), the padding row zero.
 *
 * The orthogonalization is O(H^3), so it is written for speed and to be interruptible: a blocked
 * Gram–Schmidt in float64 over row-major rows, where the projections on the rows already done are
 * two matrix products with a 2x4 register-blocked kernel (about 2.3x the plain row-by-row loop), and
 * {@link orthogonalSteps} yields between chunks of about 10^7 flops so an async build
 * (`buildAsync`) can let the event loop run and check its AbortSignal. The sync {@link orthogonal}
 * runs the same steps to the end: both give the same bits.
 */
import type { Rng } from '../random.js';

/** Fills `rows` rows of `cols` at `out[offset..]` with Glorot-uniform draws for (fanIn, fanOut). */
export function glorotUniform(
  rng: Rng,
  out: Float32Array,
  offset: number,
  rows: number,
  cols: number,
  fanIn: number,
  fanOut: number,
): void {
  const a = fanIn + fanOut > 0 ? Math.sqrt(6 / (fanIn + fanOut)) : 0;
  for (let i = 0; i < rows * cols; i++) out[offset + i] = (2 * rng.uniform() - 1) * a;
}

/**
 * Writes an orthogonal `[rows, cols]` matrix (row-major) at `out[offset..]`: orthonormal rows when
 * `rows <= cols` (W W^T = I), orthonormal columns otherwise (W^T W = I), to float32 rounding.
 * `cols` defaults to `rows` (a square gate block). Runs {@link orthogonalSteps} to the end.
 */
export function orthogonal(rng: Rng, out: Float32Array, offset: number, rows: number, cols = rows): void {
  const steps = orthogonalSteps(rng, out, offset, rows, cols);
  while (!steps.next().done);
}

/** Rows per block of the blocked Gram–Schmidt. */
const BLOCK = 32;
/** Elements copied out per step. */
const COPY_STEP = 1 << 18;
/** Previous rows projected out per step (one yield per ~BLOCK * CHUNK * n * 4 flops). */
const CHUNK = 128;

/**
 * {@link orthogonal} as a generator that yields between units of work (each about 10^7 flops or
 * less), so a caller can pause, let the event loop run, or stop (`return()`: nothing is written to
 * `out` before the last step). Draws `rows * cols` standard normals from `rng` first, row-major.
 */
export function* orthogonalSteps(rng: Rng, out: Float32Array, offset: number, rows: number, cols = rows): Generator<undefined, void, void> {
  const size = rows * cols;
  const drawn = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    drawn[i] = rng.normal();
    if ((i & 0xffff) === 0xffff) yield;
  }
  // Orthonormalize the rows of an [r, n] matrix with r <= n: the drawn one, or its transpose.
  const tall = rows > cols;
  const r = tall ? cols : rows;
  const n = tall ? rows : cols;
  let m = drawn;
  if (tall) {
    m = new Float64Array(size);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) m[j * rows + i] = drawn[i * cols + j];
      if (i % Math.max(1, Math.floor(COPY_STEP / cols)) === 0) yield;
    }
  }
  if (n > 0) yield* gramSchmidtRows(m, r, n);
  // Written out in slices of rows (a yield between them), so that no single step copies megabytes.
  const rowsPerStep = Math.max(1, Math.floor(COPY_STEP / Math.max(1, cols)));
  for (let i0 = 0; i0 < rows; i0 += rowsPerStep) {
    const i1 = Math.min(rows, i0 + rowsPerStep);
    if (tall) {
      for (let i = i0; i < i1; i++) for (let j = 0; j < cols; j++) out[offset + i * cols + j] = m[j * rows + i];
    } else {
      for (let i = i0 * cols; i < i1 * cols; i++) out[offset + i] = m[i];
    }
    if (i1 < rows) yield;
  }
}

/**
 * Orthonormalizes the `r` rows (each `n` long, r <= n) of `m` in place: blocks of BLOCK rows, each
 * first made orthogonal to all rows before it by block projections (B -= (B Q^T) Q, CHUNK rows of Q
 * at a time: block modified Gram–Schmidt), then row by row inside the block.
 */
function* gramSchmidtRows(m: Float64Array, r: number, n: number): Generator<undefined, void, void> {
  const c = new Float64Array(BLOCK * CHUNK);
  for (let s = 0; s < r; s += BLOCK) {
    const b = Math.min(BLOCK, r - s);
    for (let j0 = 0; j0 < s; j0 += CHUNK) {
      const q = Math.min(CHUNK, s - j0);
      dots(m, n, s, b, j0, q, c);
      subtract(m, n, s, b, j0, q, c);
      yield;
    }
    for (let i = s; i < s + b; i++) {
      const ri = i * n;
      for (let j = s; j < i; j++) {
        const rj = j * n;
        let dot = 0;
        for (let k = 0; k < n; k++) dot += m[ri + k] * m[rj + k];
        for (let k = 0; k < n; k++) m[ri + k] -= dot * m[rj + k];
      }
      let norm = 0;
      for (let k = 0; k < n; k++) norm += m[ri + k] * m[ri + k];
      norm = Math.sqrt(norm);
      // A normal matrix is rank-deficient with probability 0; guard anyway so no NaN can reach the
      // weights (a zero row then takes a unit vector, orthogonal to the rows before it where one is free).
      if (!(norm > 1e-12)) {
        m.fill(0, ri, ri + n);
        m[ri + (i % n)] = 1;
        norm = 1;
      }
      const inv = 1 / norm;
      for (let k = 0; k < n; k++) m[ri + k] *= inv;
    }
    yield;
  }
}

/** c[i * q + j] = row (s + i) . row (j0 + j), for i < b, j < q (2 rows x 4 rows per pass over k). */
function dots(m: Float64Array, n: number, s: number, b: number, j0: number, q: number, c: Float64Array): void {
  let i = 0;
  for (; i + 1 < b; i += 2) {
    const a0 = (s + i) * n;
    const a1 = a0 + n;
    const o0 = i * q;
    const o1 = o0 + q;
    let j = 0;
    for (; j + 3 < q; j += 4) {
      const b0 = (j0 + j) * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      for (let k = 0; k < n; k++) {
        const x0 = m[a0 + k];
        const x1 = m[a1 + k];
        const y0 = m[b0 + k];
        const y1 = m[b1 + k];
        const y2 = m[b2 + k];
        const y3 = m[b3 + k];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
      }
      c[o0 + j] = c00;
      c[o0 + j + 1] = c01;
      c[o0 + j + 2] = c02;
      c[o0 + j + 3] = c03;
      c[o1 + j] = c10;
      c[o1 + j + 1] = c11;
      c[o1 + j + 2] = c12;
      c[o1 + j + 3] = c13;
    }
    for (; j < q; j++) {
      const b0 = (j0 + j) * n;
      let c00 = 0,
        c10 = 0;
      for (let k = 0; k < n; k++) {
        c00 += m[a0 + k] * m[b0 + k];
        c10 += m[a1 + k] * m[b0 + k];
      }
      c[o0 + j] = c00;
      c[o1 + j] = c10;
    }
  }
  for (; i < b; i++) {
    const a0 = (s + i) * n;
    for (let j = 0; j < q; j++) {
      const b0 = (j0 + j) * n;
      let c00 = 0;
      for (let k = 0; k < n; k++) c00 += m[a0 + k] * m[b0 + k];
      c[i * q + j] = c00;
    }
  }
}

/** row (s + i) -= sum_j c[i * q + j] * row (j0 + j), for i < b (2 rows x 4 rows per pass over k). */
function subtract(m: Float64Array, n: number, s: number, b: number, j0: number, q: number, c: Float64Array): void {
  let i = 0;
  for (; i + 1 < b; i += 2) {
    const a0 = (s + i) * n;
    const a1 = a0 + n;
    const o0 = i * q;
    const o1 = o0 + q;
    let j = 0;
    for (; j + 3 < q; j += 4) {
      const b0 = (j0 + j) * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      const c00 = c[o0 + j],
        c01 = c[o0 + j + 1],
        c02 = c[o0 + j + 2],
        c03 = c[o0 + j + 3];
      const c10 = c[o1 + j],
        c11 = c[o1 + j + 1],
        c12 = c[o1 + j + 2],
        c13 = c[o1 + j + 3];
      for (let k = 0; k < n; k++) {
        const y0 = m[b0 + k];
        const y1 = m[b1 + k];
        const y2 = m[b2 + k];
        const y3 = m[b3 + k];
        m[a0 + k] -= c00 * y0 + c01 * y1 + c02 * y2 + c03 * y3;
        m[a1 + k] -= c10 * y0 + c11 * y1 + c12 * y2 + c13 * y3;
      }
    }
    for (; j < q; j++) {
      const b0 = (j0 + j) * n;
      const c00 = c[o0 + j];
      const c10 = c[o1 + j];
      for (let k = 0; k < n; k++) {
        m[a0 + k] -= c00 * m[b0 + k];
        m[a1 + k] -= c10 * m[b0 + k];
      }
    }
  }
  for (; i < b; i++) {
    const a0 = (s + i) * n;
    for (let j = 0; j < q; j++) {
      const b0 = (j0 + j) * n;
      const c00 = c[i * q + j];
      for (let k = 0; k < n; k++) m[a0 + k] -= c00 * m[b0 + k];
    }
  }
}

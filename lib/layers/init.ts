/**
 * Weight initialization as practitioners expect it (Keras' and PyTorch's recipes), every draw from
 * the model's seeded {@link Rng}:
 * - Xavier/Glorot uniform (Glorot & Bengio 2010): U(-a, a), a = sqrt(6 / (fanIn + fanOut)), for
 *   dense weights and recurrent input weights (per gate block: fanOut = hiddenSize, as Keras'
 *   per-gate kernels).
 * - Orthogonal (Saxe et al. 2014) for recurrent weights, per gate block `[H, H]`: Gram–Schmidt on a
 *   seeded standard normal matrix (the Q of its QR with a positive-diagonal R: Haar-distributed).
 * - Normal(0, 1) for embeddings (PyTorch's nn.Embedding), the padding row zero.
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
 * Writes an orthogonal `[n, n]` matrix at `out[offset..]`: modified Gram–Schmidt (in float64) over
 * the rows of a standard normal matrix. Rows are orthonormal, so W W^T = I (to float32 rounding).
 */
export function orthogonal(rng: Rng, out: Float32Array, offset: number, n: number): void {
  const m = new Float64Array(n * n);
  for (let i = 0; i < m.length; i++) m[i] = rng.normal();
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < i; j++) {
      const rj = j * n;
      let dot = 0;
      for (let k = 0; k < n; k++) dot += m[ri + k] * m[rj + k];
      for (let k = 0; k < n; k++) m[ri + k] -= dot * m[rj + k];
    }
    let norm = 0;
    for (let k = 0; k < n; k++) norm += m[ri + k] * m[ri + k];
    norm = Math.sqrt(norm);
    // A normal matrix is singular with probability 0; guard anyway so no NaN can reach the weights.
    if (norm < 1e-12) {
      m.fill(0, ri, ri + n);
      m[ri + i] = 1;
      norm = 1;
    }
    for (let k = 0; k < n; k++) m[ri + k] /= norm;
  }
  for (let i = 0; i < n * n; i++) out[offset + i] = m[i];
}

/**
 * The plumbing of bidirectional and one-to-many recurrent layers (lib/layers/recurrent.ts,
 * lib/layers/jordan.ts), per row of H features (hidden units, or a Jordan layer's outputs): the two
 * directions' halves, the merge modes and their gradients, and `[B, K*H]` <-> `[K, B, H]` states.
 */
/** How the two directions of a bidirectional layer's output are combined. */
export type MergeMode = 'concat' | 'sum' | 'mean';

/** `[rows, 2H]` from two `[rows, H]` (forward first). */
export function concatHalves(a: Float32Array, b: Float32Array, rows: number, H: number): Float32Array {
  const out = new Float32Array(rows * 2 * H);
  for (let r = 0; r < rows; r++) {
    out.set(a.subarray(r * H, (r + 1) * H), r * 2 * H);
    out.set(b.subarray(r * H, (r + 1) * H), r * 2 * H + H);
  }
  return out;
}

/** The two `[rows, H]` halves of `[rows, 2H]`. */
export function splitHalves(m: Float32Array, rows: number, H: number): [Float32Array, Float32Array] {
  const a = new Float32Array(rows * H);
  const b = new Float32Array(rows * H);
  for (let r = 0; r < rows; r++) {
    a.set(m.subarray(r * 2 * H, r * 2 * H + H), r * H);
    b.set(m.subarray(r * 2 * H + H, (r + 1) * 2 * H), r * H);
  }
  return [a, b];
}

export function merge(mode: MergeMode, parts: readonly Float32Array[], rows: number, H: number): Float32Array {
  if (parts.length === 1) return parts[0];
  if (mode === 'concat') return concatHalves(parts[0], parts[1], rows, H);
  const scale = mode === 'mean' ? 0.5 : 1;
  const out = new Float32Array(rows * H);
  for (let i = 0; i < out.length; i++) out[i] = (parts[0][i] + parts[1][i]) * scale;
  return out;
}

/** The gradient of each direction's part of {@link merge}'s output. */
export function unmerge(mode: MergeMode, dy: Float32Array, dirs: number, rows: number, H: number): Float32Array[] {
  if (dirs === 1) return [dy];
  if (mode === 'concat') return splitHalves(dy, rows, H);
  if (mode === 'sum') return [dy, dy];
  const half = new Float32Array(dy.length);
  for (let i = 0; i < dy.length; i++) half[i] = dy[i] * 0.5;
  return [half, half];
}

/** `[B, K*H]` (a Vector of K states per sequence) to `[K, B, H]` (h_0 layout). */
export function vectorToState(v: Float32Array, B: number, K: number, H: number): Float32Array {
  const out = new Float32Array(K * B * H);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) out.set(v.subarray((b * K + k) * H, (b * K + k + 1) * H), (k * B + b) * H);
  return out;
}

/** The inverse of {@link vectorToState}. */
export function stateToVector(s: Float32Array, B: number, K: number, H: number): Float32Array {
  const out = new Float32Array(B * K * H);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) out.set(s.subarray((k * B + b) * H, (k * B + b + 1) * H), (b * K + k) * H);
  return out;
}

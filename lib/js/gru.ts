/**
 * GRU, whole sequence, pure TypeScript: the readable reference for native/gru.cc.
 *
 *   r = σ(x_r + h_r)   z = σ(x_z + h_z)   h = (1 - z) ⊙ n + z ⊙ h_prev, gates in PyTorch order (r, z, n),
 *   reset after  (default; PyTorch, cuDNN):    n = tanh(x_n + r ⊙ (W_hn h_prev + b_hn))
 *   reset before (Cho et al., ONNX default):   n = tanh(x_n + W_hn (r ⊙ h_prev) + b_hn)
 *
 * with x_* = W_i* x + b_i*, h_* = W_h* h_prev + b_h*.
 *
 * Cache (native/cells.h), blocks of [T*B, width] indexed by time t, masked rows zero:
 *   [gates 3H (activated r, z, n) | hPrev H | hn H],
 *   hn = W_hn h_prev + b_hn (reset after) or r ⊙ h_prev (reset before).
 */
import { cacheOffsets, cacheSize } from '../ops/layout.js';
import {
  type FloatArray,
  type JsSeqBackwardExtra,
  type JsSeqForwardArgs,
  type JsSeqForwardResult,
  type JsSeqGrads,
  allocLike,
  copyOrZeros,
  fillRows,
  gemmNN,
  gemmTN,
  columnSums,
  inputGradients,
  projectInputs,
  sigmoid,
  resolveLengths,
  timeIndex,
  transpose,
} from './common.js';

/** GruForwardArgs (lib/ops/cells.ts) over any {@link FloatArray}. */
export interface JsGruForwardArgs<A extends FloatArray> extends JsSeqForwardArgs<A> {
  /** Where the reset gate applies (see above). Default `true`. */
  readonly resetAfter?: boolean;
}
/** GruBackwardArgs over any {@link FloatArray}. */
export type JsGruBackwardArgs<A extends FloatArray> = JsGruForwardArgs<A> & JsSeqBackwardExtra<A>;

/** Whole-sequence GRU forward. Returns `y`, `hN` and the cache (`5*T*B*H`; null when `keepCache` is false). */
export function gruForward<A extends FloatArray>(args: JsGruForwardArgs<A> & { readonly keepCache: false }): JsSeqForwardResult<A, null>;
export function gruForward<A extends FloatArray>(args: JsGruForwardArgs<A>): JsSeqForwardResult<A>;
export function gruForward<A extends FloatArray>(args: JsGruForwardArgs<A>): JsSeqForwardResult<A, A | null> {
  const { x, weightHh, seqLen: T, batch: B, inputSize: D, hiddenSize: H } = args;
  const resetAfter = args.resetAfter ?? true;
  const reverse = args.reverse ?? false;
  const lengths = resolveLengths(args.lengths, B, T);
  const rows = T * B;
  const G = 3 * H;
  const L = cacheOffsets('gru', rows, H);

  const y = allocLike(x, rows * H);
  const cache = args.keepCache === false ? null : allocLike(x, cacheSize('gru', args));

  const xw = projectInputs(x, args.weightIh, args.biasIh, rows, D, G); // [T*B, 3H]
  const whhT = transpose(weightHh, G, H); // [H, 3H], packed once
  const h = copyOrZeros(x, args.h0, B * H);
  // Recurrent part of one step [B, 3H]: h_r, h_z, and the n block (W_hn h_prev + b_hn, or
  // W_hn (r ⊙ h_prev) + b_hn for reset before).
  const hw = allocLike(x, B * G);
  const rh = resetAfter ? null : allocLike(x, B * H); // r ⊙ h_prev [B, H] (reset before)

  for (let s = 0; s < T; s++) {
    fillRows(hw, B, G, args.biasHh);
    if (resetAfter) {
      gemmNN(B, G, H, h, 0, H, whhT, 0, G, hw, 0, G);
    } else if (rh) {
      // r must be known before W_hn is applied: first the r and z columns, then r ⊙ h_prev, then n.
      gemmNN(B, 2 * H, H, h, 0, H, whhT, 0, G, hw, 0, G);
      rh.fill(0);
      for (let b = 0; b < B; b++) {
        if (s >= lengths[b]) continue;
        const xr = (timeIndex(s, lengths[b], reverse) * B + b) * G;
        for (let j = 0; j < H; j++) rh[b * H + j] = sigmoid(xw[xr + j] + hw[b * G + j]) * h[b * H + j];
      }
      gemmNN(B, H, H, rh, 0, H, whhT, 2 * H, G, hw, 2 * H, G);
    }
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue;
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      const xr = row * G;
      const hr = b * G;
      for (let j = 0; j < H; j++) {
        const hPrev = h[b * H + j];
        const r = sigmoid(xw[xr + j] + hw[hr + j]);
        const z = sigmoid(xw[xr + H + j] + hw[hr + H + j]);
        const hnBlock = hw[hr + 2 * H + j];
        const n = Math.tanh(xw[xr + 2 * H + j] + (resetAfter ? r * hnBlock : hnBlock));
        const hNew = (1 - z) * n + z * hPrev;

        if (cache) {
          cache[L.gates + xr + j] = r;
          cache[L.gates + xr + H + j] = z;
          cache[L.gates + xr + 2 * H + j] = n;
          cache[L.hPrev + row * H + j] = hPrev;
          cache[L.hn + row * H + j] = resetAfter ? hnBlock : r * hPrev;
        }
        y[row * H + j] = hNew;
        h[b * H + j] = hNew;
      }
    }
  }
  return { y, hN: h, cache };
}

/**
 * Whole-sequence GRU backward (BPTT). Per step: the gate gradients and `dh_prev = z ⊙ dh + dG_h · W_hh`
 * (reset before: the n block goes through `r ⊙ (dG_n · W_hn)`); after the loop: `dW_hh` and the input side.
 *
 * With reset after, the hidden-side gradient of the n block is `r ⊙ dn` while the input side's is
 * `dn`, so two gradient matrices are kept: dGx (input side) and dGh (hidden side). With reset before
 * they are the same, but the n block of `dW_hh` multiplies `r ⊙ h_prev` (the cached hn), not `h_prev`.
 */
export function gruBackward<A extends FloatArray>(args: JsGruBackwardArgs<A>): JsSeqGrads<A> {
  const { x, weightHh, cache, dy, seqLen: T, batch: B, hiddenSize: H } = args;
  const resetAfter = args.resetAfter ?? true;
  const reverse = args.reverse ?? false;
  const lengths = resolveLengths(args.lengths, B, T);
  const rows = T * B;
  const G = 3 * H;
  const L = cacheOffsets('gru', rows, H);

  const dGx = allocLike(x, rows * G); // d(x_r, x_z, x_n), zero where masked
  const dGh = resetAfter ? allocLike(x, rows * G) : dGx; // d(h_r, h_z, h_n)
  const dGStep = allocLike(x, B * G); // this step's rows of dGh
  const dhPrev = allocLike(x, B * H);
  const drh = resetAfter ? null : allocLike(x, B * H); // d(r ⊙ h_prev) = dG_n · W_hn (reset before)
  const dh = copyOrZeros(x, args.dhN, B * H);

  for (let s = T - 1; s >= 0; s--) {
    dGStep.fill(0);
    dhPrev.fill(0);
    // Pass 1: z and n gradients (and r for reset after), and the direct path dh_prev = z ⊙ dh.
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue;
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      const gr = L.gates + row * G;
      const sr = b * G;
      for (let j = 0; j < H; j++) {
        const r = cache[gr + j];
        const z = cache[gr + H + j];
        const n = cache[gr + 2 * H + j];
        const hPrev = cache[L.hPrev + row * H + j];
        const dhTotal = dh[b * H + j] + (dy ? dy[row * H + j] : 0);
        const dZ = dhTotal * (hPrev - n) * z * (1 - z);
        const dN = dhTotal * (1 - z) * (1 - n * n);
        dhPrev[b * H + j] = dhTotal * z;
        dGStep[sr + H + j] = dZ;
        if (resetAfter) {
          const hn = cache[L.hn + row * H + j]; // W_hn h_prev + b_hn
          const dR = dN * hn * r * (1 - r);
          dGStep[sr + j] = dR;
          dGStep[sr + 2 * H + j] = dN * r;
          dGx[row * G + j] = dR;
          dGx[row * G + H + j] = dZ;
          dGx[row * G + 2 * H + j] = dN;
        } else {
          dGStep[sr + 2 * H + j] = dN;
        }
      }
    }
    if (resetAfter) {
      gemmNN(B, H, G, dGStep, 0, G, weightHh, 0, H, dhPrev, 0, H);
    } else if (drh) {
      // Pass 2 (reset before): d(r ⊙ h_prev) = dG_n · W_hn gives dr and part of dh_prev.
      drh.fill(0);
      gemmNN(B, H, H, dGStep, 2 * H, G, weightHh, 2 * H * H, H, drh, 0, H);
      for (let b = 0; b < B; b++) {
        if (s >= lengths[b]) continue;
        const row = timeIndex(s, lengths[b], reverse) * B + b;
        const gr = L.gates + row * G;
        for (let j = 0; j < H; j++) {
          const r = cache[gr + j];
          const hPrev = cache[L.hPrev + row * H + j];
          dGStep[b * G + j] = drh[b * H + j] * hPrev * r * (1 - r);
          dhPrev[b * H + j] += drh[b * H + j] * r;
        }
      }
      gemmNN(B, H, 2 * H, dGStep, 0, G, weightHh, 0, H, dhPrev, 0, H);
    }
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue; // finished at this step: dh passes through unchanged
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      dGh.set(dGStep.subarray(b * G, (b + 1) * G), row * G);
      for (let j = 0; j < H; j++) dh[b * H + j] = dhPrev[b * H + j];
    }
  }

  const dWeightHh = allocLike(x, G * H);
  if (resetAfter) {
    gemmTN(G, H, rows, dGh, 0, G, cache, L.hPrev, H, dWeightHh, 0, H);
  } else {
    gemmTN(2 * H, H, rows, dGh, 0, G, cache, L.hPrev, H, dWeightHh, 0, H); // r, z rows: dG^T h_prev
    gemmTN(H, H, rows, dGh, 2 * H, G, cache, L.hn, H, dWeightHh, 2 * H * H, H); // n rows: dG_n^T (r ⊙ h_prev)
  }
  const dBiasHh = args.biasHh ? columnSums(dGh, rows, G) : null;
  const { dx, dWeightIh, dBiasIh } = inputGradients(args, dGx, G);
  return { dx, dh0: dh, dWeightIh, dWeightHh, dBiasIh, dBiasHh };
}

/**
 * LSTM, whole sequence, pure TypeScript: the readable reference for native/lstm.cc.
 *
 *   i = σ(x_i + h_i + p_i ⊙ c_prev)   f = σ(x_f + h_f + p_f ⊙ c_prev)   g = tanh(x_g + h_g)
 *   c = f ⊙ c_prev + i ⊙ g            o = σ(x_o + h_o + p_o ⊙ c)          h = o ⊙ tanh(c)
 *
 * with x_* = W_i* x + b_i*, h_* = W_h* h_prev + b_h*, gates in PyTorch order (i, f, g, o), and
 * peepholes `weightPeephole [3H]` in ONNX order (p_i, p_o, p_f), zero when absent.
 *
 * Cache (native/cells.h), blocks of [T*B, width] indexed by time t, masked rows zero:
 *   [gates 4H (activated i, f, g, o) | hPrev H | cPrev H | c H | tanh(c) H]
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

/** LstmForwardArgs (lib/backend/types.ts) over any {@link FloatArray}. */
export interface JsLstmForwardArgs<A extends FloatArray> extends JsSeqForwardArgs<A> {
  /** `[B, H]`, absent = zeros. */
  readonly c0?: A | null;
  /** `[3H]` (p_i, p_o, p_f), absent = no peepholes. */
  readonly weightPeephole?: A | null;
}
/** LstmBackwardArgs over any {@link FloatArray}. */
export interface JsLstmBackwardArgs<A extends FloatArray> extends JsLstmForwardArgs<A>, JsSeqBackwardExtra<A> {
  /** `[B, H]`, absent = zero. */
  readonly dcN?: A | null;
}
/** LstmForwardResult over any {@link FloatArray}. */
export interface JsLstmForwardResult<A extends FloatArray, C extends A | null = A> extends JsSeqForwardResult<A, C> {
  /** `[B, H]` */
  readonly cN: A;
}
/** LstmGrads over any {@link FloatArray}. */
export interface JsLstmGrads<A extends FloatArray> extends JsSeqGrads<A> {
  /** `[B, H]` */
  readonly dc0: A;
  /** `[3H]`, null when `weightPeephole` was not given. */
  readonly dWeightPeephole: A | null;
}

/** Whole-sequence LSTM forward. Returns `y`, `hN`, `cN` and the cache (`8*T*B*H`; null when `keepCache` is false). */
export function lstmForward<A extends FloatArray>(args: JsLstmForwardArgs<A> & { readonly keepCache: false }): JsLstmForwardResult<A, null>;
export function lstmForward<A extends FloatArray>(args: JsLstmForwardArgs<A>): JsLstmForwardResult<A>;
export function lstmForward<A extends FloatArray>(args: JsLstmForwardArgs<A>): JsLstmForwardResult<A, A | null> {
  const { x, weightHh, weightPeephole: peep, seqLen: T, batch: B, inputSize: D, hiddenSize: H } = args;
  const reverse = args.reverse ?? false;
  const lengths = resolveLengths(args.lengths, B, T);
  const rows = T * B;
  const G = 4 * H;
  const L = cacheOffsets('lstm', rows, H);

  const y = allocLike(x, rows * H);
  const cache = args.keepCache === false ? null : allocLike(x, cacheSize('lstm', args));

  const xw = projectInputs(x, args.weightIh, args.biasIh, rows, D, G); // [T*B, 4H]
  const whhT = transpose(weightHh, G, H); // [H, 4H], packed once
  const h = copyOrZeros(x, args.h0, B * H);
  const c = copyOrZeros(x, args.c0, B * H);
  const hw = allocLike(x, B * G); // recurrent part of one step [B, 4H]

  for (let s = 0; s < T; s++) {
    fillRows(hw, B, G, args.biasHh);
    gemmNN(B, G, H, h, 0, H, whhT, 0, G, hw, 0, G);
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue;
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      const xr = row * G; // this row of xw and of the gates block
      const hr = b * G;
      for (let j = 0; j < H; j++) {
        const cPrev = c[b * H + j];
        const pI = peep ? peep[j] : 0;
        const pO = peep ? peep[H + j] : 0;
        const pF = peep ? peep[2 * H + j] : 0;
        const i = sigmoid(xw[xr + j] + hw[hr + j] + pI * cPrev);
        const f = sigmoid(xw[xr + H + j] + hw[hr + H + j] + pF * cPrev);
        const g = Math.tanh(xw[xr + 2 * H + j] + hw[hr + 2 * H + j]);
        const cNew = f * cPrev + i * g;
        const o = sigmoid(xw[xr + 3 * H + j] + hw[hr + 3 * H + j] + pO * cNew);
        const tanhC = Math.tanh(cNew);
        const hNew = o * tanhC;

        if (cache) {
          cache[L.gates + xr + j] = i;
          cache[L.gates + xr + H + j] = f;
          cache[L.gates + xr + 2 * H + j] = g;
          cache[L.gates + xr + 3 * H + j] = o;
          cache[L.hPrev + row * H + j] = h[b * H + j];
          cache[L.cPrev + row * H + j] = cPrev;
          cache[L.c + row * H + j] = cNew;
          cache[L.tanhC + row * H + j] = tanhC;
        }
        y[row * H + j] = hNew;
        h[b * H + j] = hNew;
        c[b * H + j] = cNew;
      }
    }
  }
  return { y, hN: h, cN: c, cache };
}

/**
 * Whole-sequence LSTM backward (BPTT). Per step: the four gate gradients, `dc_prev` (element-wise)
 * and `dh_prev = dG · W_hh`; after the loop: `dW_hh = dG^T · H_prev` and the input side.
 */
export function lstmBackward<A extends FloatArray>(args: JsLstmBackwardArgs<A>): JsLstmGrads<A> {
  const { x, weightHh, weightPeephole: peep, cache, dy, seqLen: T, batch: B, hiddenSize: H } = args;
  const reverse = args.reverse ?? false;
  const lengths = resolveLengths(args.lengths, B, T);
  const rows = T * B;
  const G = 4 * H;
  const L = cacheOffsets('lstm', rows, H);

  const dG = allocLike(x, rows * G); // d(pre-activations) (i, f, g, o), zero where masked
  const dGStep = allocLike(x, B * G);
  const dhPrev = allocLike(x, B * H);
  const dh = copyOrZeros(x, args.dhN, B * H);
  const dc = copyOrZeros(x, args.dcN, B * H);
  const dPeep = peep ? allocLike(x, 3 * H) : null; // (p_i, p_o, p_f)

  for (let s = T - 1; s >= 0; s--) {
    dGStep.fill(0);
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue;
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      const gr = L.gates + row * G;
      for (let j = 0; j < H; j++) {
        const i = cache[gr + j];
        const f = cache[gr + H + j];
        const g = cache[gr + 2 * H + j];
        const o = cache[gr + 3 * H + j];
        const cPrev = cache[L.cPrev + row * H + j];
        const cNew = cache[L.c + row * H + j];
        const tanhC = cache[L.tanhC + row * H + j];
        const pI = peep ? peep[j] : 0;
        const pO = peep ? peep[H + j] : 0;
        const pF = peep ? peep[2 * H + j] : 0;

        const dhTotal = dh[b * H + j] + (dy ? dy[row * H + j] : 0);
        const dO = dhTotal * tanhC * o * (1 - o);
        // c feeds h through tanh(c) and, with peepholes, the output gate.
        const dcTotal = dc[b * H + j] + dhTotal * o * (1 - tanhC * tanhC) + dO * pO;
        const dI = dcTotal * g * i * (1 - i);
        const dF = dcTotal * cPrev * f * (1 - f);
        const dGg = dcTotal * i * (1 - g * g);

        dc[b * H + j] = dcTotal * f + dI * pI + dF * pF; // dc_prev
        if (dPeep) {
          dPeep[j] += dI * cPrev;
          dPeep[H + j] += dO * cNew;
          dPeep[2 * H + j] += dF * cPrev;
        }
        const sr = b * G;
        dGStep[sr + j] = dI;
        dGStep[sr + H + j] = dF;
        dGStep[sr + 2 * H + j] = dGg;
        dGStep[sr + 3 * H + j] = dO;
      }
      dG.set(dGStep.subarray(b * G, (b + 1) * G), row * G);
    }
    dhPrev.fill(0);
    gemmNN(B, H, G, dGStep, 0, G, weightHh, 0, H, dhPrev, 0, H);
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue;
      for (let j = 0; j < H; j++) dh[b * H + j] = dhPrev[b * H + j];
    }
  }

  const dWeightHh = allocLike(x, G * H);
  gemmTN(G, H, rows, dG, 0, G, cache, L.hPrev, H, dWeightHh, 0, H);
  const dBiasHh = args.biasHh ? columnSums(dG, rows, G) : null;
  const { dx, dWeightIh, dBiasIh } = inputGradients(args, dG, G);
  return { dx, dh0: dh, dc0: dc, dWeightIh, dWeightHh, dBiasIh, dBiasHh, dWeightPeephole: dPeep };
}

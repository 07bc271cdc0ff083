/**
 * Simple (Elman) RNN, whole sequence, pure TypeScript: the readable reference for native/rnn.cc.
 *
 *   h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act tanh or relu.
 *
 * Cache (native/cells.h): [hPrev H | hNew H], each block [T*B, H] indexed by time t, masked rows zero.
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
  relu,
  resolveLengths,
  timeIndex,
  transpose,
} from './common.js';

/** RnnForwardArgs (lib/ops/cells.ts) over any {@link FloatArray}. */
export interface JsRnnForwardArgs<A extends FloatArray> extends JsSeqForwardArgs<A> {
  /** Default `'tanh'`. */
  readonly nonlinearity?: 'tanh' | 'relu';
}
/** RnnBackwardArgs over any {@link FloatArray}. */
export type JsRnnBackwardArgs<A extends FloatArray> = JsRnnForwardArgs<A> & JsSeqBackwardExtra<A>;

/** Whole-sequence RNN forward. Returns `y [T, B, H]`, `hN [B, H]` and the cache (`2*T*B*H`; null when `keepCache` is false). */
export function rnnForward<A extends FloatArray>(args: JsRnnForwardArgs<A> & { readonly keepCache: false }): JsSeqForwardResult<A, null>;
export function rnnForward<A extends FloatArray>(args: JsRnnForwardArgs<A>): JsSeqForwardResult<A>;
export function rnnForward<A extends FloatArray>(args: JsRnnForwardArgs<A>): JsSeqForwardResult<A, A | null> {
  const { x, weightHh, seqLen: T, batch: B, inputSize: D, hiddenSize: H } = args;
  const isRelu = args.nonlinearity === 'relu';
  const reverse = args.reverse ?? false;
  const lengths = resolveLengths(args.lengths, B, T);
  const rows = T * B;

  const y = allocLike(x, rows * H);
  const cache = args.keepCache === false ? null : allocLike(x, cacheSize('rnn', args));
  const { hPrev: hPrevOff, hNew: hNewOff } = cacheOffsets('rnn', rows, H);

  const xw = projectInputs(x, args.weightIh, args.biasIh, rows, D, H); // [T*B, H]
  const whhT = transpose(weightHh, H, H); // [H, H], packed once
  const h = copyOrZeros(x, args.h0, B * H); // running state [B, H]
  const hw = allocLike(x, B * H); // recurrent part of one step [B, H]

  for (let s = 0; s < T; s++) {
    // hw = h · W_hh^T + b_hh for every sequence (finished ones are ignored below).
    fillRows(hw, B, H, args.biasHh);
    gemmNN(B, H, H, h, 0, H, whhT, 0, H, hw, 0, H);
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue; // finished: state carried, output and cache stay zero
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      for (let j = 0; j < H; j++) {
        const pre = xw[row * H + j] + hw[b * H + j];
        const hNew = isRelu ? relu(pre) : Math.tanh(pre);
        if (cache) {
          cache[hPrevOff + row * H + j] = h[b * H + j];
          cache[hNewOff + row * H + j] = hNew;
        }
        y[row * H + j] = hNew;
        h[b * H + j] = hNew;
      }
    }
  }
  return { y, hN: h, cache };
}

/**
 * Whole-sequence RNN backward (BPTT). Per step: gate gradients and `dh_prev = dG · W_hh`; after the
 * loop: `dW_hh = dG^T · H_prev`, and the input side (`dx`, `dW_ih`, `db_ih`) in one product each.
 */
export function rnnBackward<A extends FloatArray>(args: JsRnnBackwardArgs<A>): JsSeqGrads<A> {
  const { x, weightHh, cache, dy, seqLen: T, batch: B, hiddenSize: H } = args;
  const isRelu = args.nonlinearity === 'relu';
  const reverse = args.reverse ?? false;
  const lengths = resolveLengths(args.lengths, B, T);
  const rows = T * B;
  const { hPrev: hPrevOff, hNew: hNewOff } = cacheOffsets('rnn', rows, H);

  const dG = allocLike(x, rows * H); // d(pre-activation) for every (t, b), zero where masked
  const dGStep = allocLike(x, B * H); // this step's rows of dG, batch-indexed
  const dhPrev = allocLike(x, B * H); // dGStep · W_hh
  const dh = copyOrZeros(x, args.dhN, B * H); // dL/dh of the running state [B, H]

  for (let s = T - 1; s >= 0; s--) {
    dGStep.fill(0);
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue;
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      for (let j = 0; j < H; j++) {
        const dhTotal = dh[b * H + j] + (dy ? dy[row * H + j] : 0);
        const hNew = cache[hNewOff + row * H + j];
        const dAct = isRelu ? (hNew > 0 ? 1 : 0) : 1 - hNew * hNew;
        const g = dhTotal * dAct;
        dGStep[b * H + j] = g;
        dG[row * H + j] = g;
      }
    }
    dhPrev.fill(0);
    gemmNN(B, H, H, dGStep, 0, H, weightHh, 0, H, dhPrev, 0, H);
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue; // finished at this step: dh passes through unchanged
      for (let j = 0; j < H; j++) dh[b * H + j] = dhPrev[b * H + j];
    }
  }

  const dWeightHh = allocLike(x, H * H);
  gemmTN(H, H, rows, dG, 0, H, cache, hPrevOff, H, dWeightHh, 0, H);
  const dBiasHh = args.biasHh ? columnSums(dG, rows, H) : null;
  const { dx, dWeightIh, dBiasIh } = inputGradients(args, dG, H);
  return { dx, dh0: dh, dWeightIh, dWeightHh, dBiasIh, dBiasHh };
}

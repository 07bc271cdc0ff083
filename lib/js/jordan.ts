/**
 * Jordan network (Jordan 1986), whole sequence, pure TypeScript: the readable reference for
 * native/jordan.cc (math, masking and cache layout: native/jordan.h).
 *
 *   h_t = act(W_ih x_t + b_ih + W_hy y_{t-1} + b_hh),   y_t = act_out(W_ho h_t + b_ho),   y_{-1} = y0.
 *
 * The recurrence goes through the output y [B, O], not the hidden state. Generic over the float
 * array type: with Float64Array inputs everything runs in float64 (gradient checks).
 * Cache: [yPrev O | h H | y O], each block [T*B, width] indexed by time t, masked rows zero.
 */
import { jordanCacheOffsets, jordanCacheWidth } from '../ops/layout.js';
import { type FloatArray, allocLike, copyOrZeros, resolveLengths, sigmoid, timeIndex } from './common.js';

/** Hidden activation. */
export type JordanActivation = 'tanh' | 'relu';
/** Output activation. */
export type JordanOutputActivation = 'tanh' | 'sigmoid' | 'linear';

/** Sizes of a Jordan call. */
export interface JordanSizes {
  readonly seqLen: number;
  readonly batch: number;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly outputSize: number;
}

/** Inputs of the JS Jordan kernels over any {@link FloatArray}. */
export interface JsJordanArgs<A extends FloatArray> extends JordanSizes {
  /** `[T, B, D]`. */
  readonly x: A;
  /** `[H, D]`. */
  readonly weightIh: A;
  /** `[H, O]`. */
  readonly weightHy: A;
  /** `[O, H]`. */
  readonly weightHo: A;
  readonly biasIh?: A | null;
  readonly biasHh?: A | null;
  readonly biasHo?: A | null;
  /** `[B]`, each in [0, T]; default all T. */
  readonly lengths?: Int32Array | readonly number[] | null;
  readonly reverse?: boolean;
  /** Default `'tanh'`. */
  readonly activation?: JordanActivation;
  /** Default `'tanh'`. */
  readonly outputActivation?: JordanOutputActivation;
}

/** Forward inputs. */
export interface JsJordanForwardArgs<A extends FloatArray> extends JsJordanArgs<A> {
  /** `[B, O]` initial fed-back output; default zeros. */
  readonly y0?: A | null;
  /** Whether to keep the cache for backward. Default true. */
  readonly keepCache?: boolean;
}

/** Forward outputs. */
export interface JsJordanForwardResult<A extends FloatArray> {
  /** `[T, B, O]`. */
  readonly y: A;
  /** `[B, O]`. */
  readonly yN: A;
  /** `[T, B, H]`. */
  readonly h: A;
  /** `[T*B*(2*O + H)]` or null. */
  readonly cache: A | null;
}

/** Backward inputs. */
export interface JsJordanBackwardArgs<A extends FloatArray> extends JsJordanArgs<A> {
  readonly cache: A;
  /** `[T, B, O]` or null (zero). */
  readonly dy?: A | null;
  /** `[B, O]` or null (zero). */
  readonly dyN?: A | null;
}

/** Backward outputs (every bias gradient is returned, whether or not the bias was given). */
export interface JsJordanGrads<A extends FloatArray> {
  readonly dx: A;
  readonly dy0: A;
  readonly dWeightIh: A;
  readonly dWeightHy: A;
  readonly dWeightHo: A;
  readonly dBiasIh: A;
  readonly dBiasHh: A;
  readonly dBiasHo: A;
}

/** Cache length `T*B*(2*O + H)`. */
export function jordanCacheSize(s: JordanSizes): number {
  return s.seqLen * s.batch * jordanCacheWidth(s.hiddenSize, s.outputSize);
}

function actOut(v: number, a: JordanOutputActivation): number {
  return a === 'tanh' ? Math.tanh(v) : a === 'sigmoid' ? sigmoid(v) : v;
}
function dActOut(y: number, a: JordanOutputActivation): number {
  return a === 'tanh' ? 1 - y * y : a === 'sigmoid' ? y * (1 - y) : 1;
}

/** Whole-sequence Jordan forward. */
export function jordanForward<A extends FloatArray>(args: JsJordanForwardArgs<A>): JsJordanForwardResult<A> {
  const { x, weightIh, weightHy, weightHo, seqLen: T, batch: B, inputSize: D, hiddenSize: H, outputSize: O } = args;
  const relu = args.activation === 'relu';
  const outAct = args.outputActivation ?? 'tanh';
  const reverse = args.reverse ?? false;
  const lengths = resolveLengths(args.lengths, B, T);
  const rows = T * B;
  const y = allocLike(x, rows * O);
  const h = allocLike(x, rows * H);
  const cache = args.keepCache === false ? null : allocLike(x, jordanCacheSize(args));
  const { h: hOff, y: yOff } = jordanCacheOffsets(rows, H, O);
  const yr = copyOrZeros(x, args.y0, B * O); // the fed-back output [B, O]
  const hs = allocLike(x, H);
  for (let s = 0; s < T; s++) {
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue;
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      for (let j = 0; j < H; j++) {
        let pre = (args.biasIh ? args.biasIh[j] : 0) + (args.biasHh ? args.biasHh[j] : 0);
        for (let d = 0; d < D; d++) pre += weightIh[j * D + d] * x[row * D + d];
        for (let k = 0; k < O; k++) pre += weightHy[j * O + k] * yr[b * O + k];
        const v = relu ? (pre > 0 ? pre : 0) : Math.tanh(pre);
        hs[j] = v;
        h[row * H + j] = v;
      }
      if (cache) {
        for (let k = 0; k < O; k++) cache[row * O + k] = yr[b * O + k];
        for (let j = 0; j < H; j++) cache[hOff + row * H + j] = hs[j];
      }
      for (let k = 0; k < O; k++) {
        let z = args.biasHo ? args.biasHo[k] : 0;
        for (let j = 0; j < H; j++) z += weightHo[k * H + j] * hs[j];
        const v = actOut(z, outAct);
        y[row * O + k] = v;
        yr[b * O + k] = v;
        if (cache) cache[yOff + row * O + k] = v;
      }
    }
  }
  return { y, yN: yr, h, cache };
}

/** Whole-sequence Jordan backward (BPTT through the fed-back output). */
export function jordanBackward<A extends FloatArray>(args: JsJordanBackwardArgs<A>): JsJordanGrads<A> {
  const { x, weightIh, weightHy, weightHo, cache, dy, seqLen: T, batch: B, inputSize: D, hiddenSize: H, outputSize: O } = args;
  const relu = args.activation === 'relu';
  const outAct = args.outputActivation ?? 'tanh';
  const reverse = args.reverse ?? false;
  const lengths = resolveLengths(args.lengths, B, T);
  const rows = T * B;
  const { h: hOff, y: yOff } = jordanCacheOffsets(rows, H, O);
  const dx = allocLike(x, rows * D);
  const dWeightIh = allocLike(x, H * D);
  const dWeightHy = allocLike(x, H * O);
  const dWeightHo = allocLike(x, O * H);
  const dBiasIh = allocLike(x, H);
  const dBiasHo = allocLike(x, O);
  const dyr = copyOrZeros(x, args.dyN, B * O); // gradient of the fed-back output [B, O]
  const dzo = allocLike(x, O);
  const dzh = allocLike(x, H);
  for (let s = T - 1; s >= 0; s--) {
    for (let b = 0; b < B; b++) {
      if (s >= lengths[b]) continue; // finished: dyr passes through
      const row = timeIndex(s, lengths[b], reverse) * B + b;
      for (let k = 0; k < O; k++) {
        const g = (dyr[b * O + k] + (dy ? dy[row * O + k] : 0)) * dActOut(cache[yOff + row * O + k], outAct);
        dzo[k] = g;
        dBiasHo[k] += g;
      }
      for (let j = 0; j < H; j++) {
        const hv = cache[hOff + row * H + j];
        let dh = 0;
        for (let k = 0; k < O; k++) dh += dzo[k] * weightHo[k * H + j];
        const g = dh * (relu ? (hv > 0 ? 1 : 0) : 1 - hv * hv);
        dzh[j] = g;
        dBiasIh[j] += g;
        for (let k = 0; k < O; k++) dWeightHo[k * H + j] += dzo[k] * hv;
      }
      for (let k = 0; k < O; k++) {
        let d = 0;
        for (let j = 0; j < H; j++) {
          d += dzh[j] * weightHy[j * O + k];
          dWeightHy[j * O + k] += dzh[j] * cache[row * O + k];
        }
        dyr[b * O + k] = d;
      }
      for (let j = 0; j < H; j++) {
        for (let d = 0; d < D; d++) {
          dWeightIh[j * D + d] += dzh[j] * x[row * D + d];
          dx[row * D + d] += dzh[j] * weightIh[j * D + d];
        }
      }
    }
  }
  return { dx, dy0: dyr, dWeightIh, dWeightHy, dWeightHo, dBiasIh, dBiasHh: dBiasIh.slice() as A, dBiasHo };
}

/**
 * The Jordan network (Jordan 1986) as a fused whole-sequence op with a typed, validated API:
 *
 *   h_t = act(W_ih x_t + b_ih + W_hy y_{t-1} + b_hh),   y_t = act_out(W_ho h_t + b_ho),   y_{-1} = y0.
 *
 * The recurrence goes through the OUTPUT y (size O), not the hidden state. Math, masking
 * (`lengths`, `reverse`, as the other cells) and the cache layout: native/jordan.h; the pure-TS
 * twin: lib/js/jordan.ts.
 *
 *   const f = jordanForward({ x, weightIh, weightHy, weightHo, seqLen, batch, inputSize, hiddenSize, outputSize });
 *   const g = jordanBackward({ ...sameArgs, cache: f.cache!, dy });
 *
 * Every call runs on the chosen backend (`{ backend }`, default the process default); the native
 * backend throws a {@link NativeError} when the addon cannot be loaded. Arguments
 * are checked here before any backend runs (the addon checks them again): a {@link ShapeError} for a
 * wrong length, a {@link ValueError} for a wrong type or value, each naming the argument.
 *
 * {@link jordanForwardAsync} / {@link jordanBackwardAsync} take the same arguments and resolve to the
 * same results: with the native backend the kernel runs on a libuv worker thread and the event loop
 * keeps running (bit-identical results to the sync op); with `'js'` it runs inline before resolving.
 * Errors, validation ones included, reject the promise with the same typed error the sync op throws.
 * Inputs must not be modified, nor their buffers transferred, until the promise settles.
 */
import type { Plan } from '../backend/index.js';
import { checkBool, checkF32, checkSize, type Fields, lengths as checkLengths, objectArgs, oneOf, product } from '../check.js';
import * as js from '../js/jordan.js';
import { jordanCacheWidth } from './layout.js';
import { defineOp, type Op } from './op.js';

export type { JordanActivation, JordanOutputActivation, JordanSizes } from '../js/jordan.js';
export { jordanCacheSize } from '../js/jordan.js';

/** Inputs shared by forward and backward. */
export interface JordanArgs extends js.JordanSizes {
  /** Input `[seqLen, batch, inputSize]`, time-major. */
  readonly x: Float32Array;
  /** `[hiddenSize, inputSize]`. */
  readonly weightIh: Float32Array;
  /** `[hiddenSize, outputSize]`: the fed-back output's weights. */
  readonly weightHy: Float32Array;
  /** `[outputSize, hiddenSize]`. */
  readonly weightHo: Float32Array;
  /** `[hiddenSize]`. Default: none (zero). */
  readonly biasIh?: Float32Array | null;
  /** `[hiddenSize]`. Default: none (zero). */
  readonly biasHh?: Float32Array | null;
  /** `[outputSize]`. Default: none (zero). */
  readonly biasHo?: Float32Array | null;
  /** Valid steps of each sequence `[batch]`, each in [0, seqLen]. Default: all seqLen. */
  readonly lengths?: Int32Array | readonly number[] | null;
  /** Run each sequence from its last valid step to its first. Default: false. */
  readonly reverse?: boolean;
  /** Hidden activation. Default: `'tanh'`. */
  readonly activation?: js.JordanActivation;
  /** Output activation. Default: `'tanh'`. */
  readonly outputActivation?: js.JordanOutputActivation;
}

/** Arguments of {@link jordanForward}. */
export interface JordanForwardArgs extends JordanArgs {
  /** The output fed back at the first step `[batch, outputSize]`. Default: zeros. */
  readonly y0?: Float32Array | null;
  /** Keep the cache for backward. Default: true. */
  readonly keepCache?: boolean;
  /** Return the hidden sequence `h`. Default: false. */
  readonly returnHidden?: boolean;
}

/** What {@link jordanForward} returns. */
export interface JordanForwardResult {
  /** Outputs `[seqLen, batch, outputSize]` (zeros at masked steps). */
  readonly y: Float32Array;
  /** The output after each sequence's own last step `[batch, outputSize]` (y0 when its length is 0). */
  readonly yN: Float32Array;
  /** Hidden sequence `[seqLen, batch, hiddenSize]` when `returnHidden`, else null. */
  readonly h: Float32Array | null;
  /** `[jordanCacheSize]` for backward, or null when `keepCache` is false. */
  readonly cache: Float32Array | null;
}

/** Arguments of {@link jordanBackward}. */
export interface JordanBackwardArgs extends JordanArgs {
  /** The forward's cache. */
  readonly cache: Float32Array;
  /** Gradient with respect to y `[seqLen, batch, outputSize]`. Default: zero. */
  readonly dy?: Float32Array | null;
  /** Gradient with respect to yN `[batch, outputSize]`. Default: zero. */
  readonly dyN?: Float32Array | null;
}

/** What {@link jordanBackward} returns (fresh arrays). */
export interface JordanGrads {
  readonly dx: Float32Array;
  readonly dy0: Float32Array;
  readonly dWeightIh: Float32Array;
  readonly dWeightHy: Float32Array;
  readonly dWeightHo: Float32Array;
  readonly dBiasIh: Float32Array;
  readonly dBiasHh: Float32Array;
  readonly dBiasHo: Float32Array;
}

interface Checked {
  readonly sizes: js.JordanSizes;
  readonly common: js.JsJordanArgs<Float32Array>;
}

function checkCommon(a: Fields): Checked {
  const seqLen = checkSize(a.seqLen, 'seqLen');
  const batch = checkSize(a.batch, 'batch');
  const inputSize = checkSize(a.inputSize, 'inputSize');
  const hiddenSize = checkSize(a.hiddenSize, 'hiddenSize');
  const outputSize = checkSize(a.outputSize, 'outputSize');
  const T: [string, number] = ['seqLen', seqLen];
  const B: [string, number] = ['batch', batch];
  const D: [string, number] = ['inputSize', inputSize];
  const H: [string, number] = ['hiddenSize', hiddenSize];
  const O: [string, number] = ['outputSize', outputSize];
  const sizes = { seqLen, batch, inputSize, hiddenSize, outputSize };
  const common: js.JsJordanArgs<Float32Array> = {
    ...sizes,
    x: checkF32(a, 'x', product('x', [T, B, D])),
    weightIh: checkF32(a, 'weightIh', product('weightIh', [H, D])),
    weightHy: checkF32(a, 'weightHy', product('weightHy', [H, O])),
    weightHo: checkF32(a, 'weightHo', product('weightHo', [O, H])),
    biasIh: checkF32(a, 'biasIh', product('biasIh', [H]), false),
    biasHh: checkF32(a, 'biasHh', product('biasHh', [H]), false),
    biasHo: checkF32(a, 'biasHo', product('biasHo', [O]), false),
    lengths: checkLengths(a.lengths, batch, seqLen),
    reverse: checkBool(a, 'reverse', false),
    activation: oneOf(a.activation, ['tanh', 'relu'] as const, 'tanh', 'activation', true),
    outputActivation: oneOf(a.outputActivation, ['tanh', 'sigmoid', 'linear'] as const, 'tanh', 'outputActivation', true),
  };
  cacheExtent(sizes);
  return { sizes, common };
}

function cacheExtent(s: js.JordanSizes) {
  return product('cache', [
    ['seqLen', s.seqLen],
    ['batch', s.batch],
    ['2*outputSize+hiddenSize', jordanCacheWidth(s.hiddenSize, s.outputSize)],
  ]);
}

function planForward(args: JordanForwardArgs): Plan<JordanForwardResult> {
  const a = objectArgs(args);
  const { sizes, common } = checkCommon(a);
  const y0 = checkF32(
    a,
    'y0',
    product('y0', [
      ['batch', sizes.batch],
      ['outputSize', sizes.outputSize],
    ]),
    false,
  );
  const keepCache = checkBool(a, 'keepCache', true);
  const returnHidden = checkBool(a, 'returnHidden', false);
  return {
    js: () => {
      const r = js.jordanForward({ ...common, y0, keepCache });
      return { y: r.y, yN: r.yN, h: returnHidden ? r.h : null, cache: r.cache };
    },
    native: () => {
      const { seqLen: T, batch: B, hiddenSize: H, outputSize: O } = sizes;
      const out = {
        y: new Float32Array(T * B * O),
        yN: new Float32Array(B * O),
        h: returnHidden ? new Float32Array(T * B * H) : null,
        cache: keepCache ? new Float32Array(js.jordanCacheSize(sizes)) : null,
      };
      return { fields: { ...common, lengths: common.lengths ?? null, y0, ...out }, result: () => out };
    },
  };
}

function planBackward(args: JordanBackwardArgs): Plan<JordanGrads> {
  const a = objectArgs(args);
  const { sizes, common } = checkCommon(a);
  const { seqLen: T, batch: B, inputSize: D, hiddenSize: H, outputSize: O } = sizes;
  const cache = checkF32(a, 'cache', cacheExtent(sizes));
  const dy = checkF32(
    a,
    'dy',
    product('dy', [
      ['seqLen', T],
      ['batch', B],
      ['outputSize', O],
    ]),
    false,
  );
  const dyN = checkF32(
    a,
    'dyN',
    product('dyN', [
      ['batch', B],
      ['outputSize', O],
    ]),
    false,
  );
  return {
    js: () => js.jordanBackward({ ...common, cache, dy, dyN }),
    native: () => {
      const g: JordanGrads = {
        dx: new Float32Array(T * B * D),
        dy0: new Float32Array(B * O),
        dWeightIh: new Float32Array(H * D),
        dWeightHy: new Float32Array(H * O),
        dWeightHo: new Float32Array(O * H),
        dBiasIh: new Float32Array(H),
        dBiasHh: new Float32Array(H),
        dBiasHo: new Float32Array(O),
      };
      return { fields: { ...common, lengths: common.lengths ?? null, cache, dy, dyN, ...g }, result: () => g };
    },
  };
}

/** Whole-sequence forward. */
export const jordanForward: Op<JordanForwardArgs, JordanForwardResult> = defineOp('jordanForward', planForward);
/** Whole-sequence backward (BPTT through the fed-back output). Async: do not modify the inputs (the cache included) until it settles. */
export const jordanBackward: Op<JordanBackwardArgs, JordanGrads> = defineOp('jordanBackward', planBackward);
/** {@link jordanForward} off the main thread (native). */
export const jordanForwardAsync = jordanForward.async;
/** {@link jordanBackward} off the main thread (native). */
export const jordanBackwardAsync = jordanBackward.async;

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
 * Every call runs on the native kernels unless `{ backend: 'js' }` is passed; the native backend
 * throws a {@link NativeError} when the addon cannot be loaded or lacks `exports.jordan`. Arguments
 * are checked here before any backend runs (the addon checks them again): a {@link ShapeError} for a
 * wrong length, a {@link ValueError} for a wrong type or value, each naming the argument.
 *
 * {@link jordanForwardAsync} / {@link jordanBackwardAsync} take the same arguments and resolve to the
 * same results: with the native backend the kernel runs on a libuv worker thread and the event loop
 * keeps running (bit-identical results to the sync op); with `'js'` it runs inline before resolving.
 * Errors, validation ones included, reject the promise with the same typed error the sync op throws.
 * Inputs must not be modified, nor their buffers transferred, until the promise settles.
 */
import { mapNativeError } from '../backend/native.js';
import { ShapeError, ValueError } from '../errors.js';
import * as js from '../js/jordan.js';
import { addonHasPart, callAddonPart, type NativeCallArgs } from '../native.js';
import {
  backendOption, checkBool, checkF32, checkSize, describe, type Fields, objectArgs, product,
} from '../validate.js';
import type { NnCallOptions } from './kernels.js';
import type { NativeOp } from './native.js';

export type { JordanActivation, JordanOutputActivation, JordanSizes } from '../js/jordan.js';
export { jordanCacheSize } from '../js/jordan.js';

/**
 * `exports.jordan` of the addon (field names: native/binding/jordan_binding.cc), sync or with
 * `async: true` ({@link NativeOp}).
 */
export interface NativeJordanOps {
  readonly forward: NativeOp<undefined>;
  readonly backward: NativeOp<undefined>;
}

/** Whether the addon loads and has the Jordan kernels. Never throws. */
export function nativeJordanAvailable(): boolean {
  return addonHasPart('jordan');
}

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

function lengthsOf(a: Fields, batch: number, seqLen: number): Int32Array | null {
  const v = a.lengths;
  if (v === undefined || v === null) return null;
  if (!(v instanceof Int32Array) && !Array.isArray(v)) {
    throw new ValueError(`expected an Int32Array or an array of numbers, got ${describe(v)}`, 'lengths');
  }
  const arr = v as ArrayLike<unknown>;
  if (arr.length !== batch) throw new ShapeError(`expected length ${batch} (batch), got ${arr.length}`, 'lengths');
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const len = arr[b];
    if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > seqLen) {
      throw new ValueError(`lengths[${b}] = ${describe(len)} is outside [0, seqLen = ${seqLen}]`, 'lengths');
    }
    out[b] = len;
  }
  return out;
}

function enumOf<T extends string>(a: Fields, name: string, allowed: readonly T[]): T {
  const v = a[name];
  if (v === undefined || v === null) return allowed[0];
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ValueError(`expected one of ${allowed.map((s) => `'${s}'`).join(', ')}, got ${describe(v)}`, name);
  }
  return v as T;
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
    lengths: lengthsOf(a, batch, seqLen),
    reverse: checkBool(a, 'reverse', false),
    activation: enumOf(a, 'activation', ['tanh', 'relu'] as const),
    outputActivation: enumOf(a, 'outputActivation', ['tanh', 'sigmoid', 'linear'] as const),
  };
  product('cache', [T, B, ['2*outputSize+hiddenSize', 2 * outputSize + hiddenSize]]);
  return { sizes, common };
}

function cacheExtent(s: js.JordanSizes) {
  return product('cache', [['seqLen', s.seqLen], ['batch', s.batch], ['2*outputSize+hiddenSize', 2 * s.outputSize + s.hiddenSize]]);
}

/**
 * A validated call: with the js backend, the twin to run (it allocates its own outputs); with the
 * native one, the op, its fields and the outputs already allocated.
 */
type Planned<R> =
  | { readonly backend: 'js'; readonly js: () => R }
  | { readonly backend: 'native'; readonly op: keyof NativeJordanOps; readonly fields: NativeCallArgs; readonly result: R };

function run<R>(p: Planned<R>): R {
  if (p.backend === 'js') return p.js();
  callAddonPart('jordan', (ops) => ops[p.op](p.fields), mapNativeError);
  return p.result;
}

async function runAsync<R>(p: Planned<R>): Promise<R> {
  if (p.backend === 'js') return p.js();
  try {
    await callAddonPart('jordan', (ops) => ops[p.op]({ ...p.fields, async: true }), mapNativeError);
  } catch (err) {
    throw mapNativeError(err);
  }
  return p.result;
}

function planForward(args: JordanForwardArgs, options: NnCallOptions | undefined): Planned<JordanForwardResult> {
  const a = objectArgs(args);
  const backend = backendOption(options);
  const { sizes, common } = checkCommon(a);
  const y0 = checkF32(a, 'y0', product('y0', [['batch', sizes.batch], ['outputSize', sizes.outputSize]]), false);
  const keepCache = checkBool(a, 'keepCache', true);
  const returnHidden = checkBool(a, 'returnHidden', false);
  if (backend === 'js') {
    return {
      backend,
      js: () => {
        const r = js.jordanForward({ ...common, y0, keepCache });
        return { y: r.y, yN: r.yN, h: returnHidden ? r.h : null, cache: r.cache };
      },
    };
  }
  const { seqLen: T, batch: B, hiddenSize: H, outputSize: O } = sizes;
  const y = new Float32Array(T * B * O);
  const yN = new Float32Array(B * O);
  const h = returnHidden ? new Float32Array(T * B * H) : null;
  const cache = keepCache ? new Float32Array(js.jordanCacheSize(sizes)) : null;
  const lengths = common.lengths ?? null;
  return { backend, op: 'forward', fields: { ...common, lengths, y0, y, yN, h, cache }, result: { y, yN, h, cache } };
}

/** Whole-sequence forward. */
export function jordanForward(args: JordanForwardArgs, options?: NnCallOptions): JordanForwardResult {
  return run(planForward(args, options));
}

/** {@link jordanForward} off the main thread (native). Do not modify the inputs until it settles. */
export async function jordanForwardAsync(args: JordanForwardArgs, options?: NnCallOptions): Promise<JordanForwardResult> {
  return runAsync(planForward(args, options));
}

function planBackward(args: JordanBackwardArgs, options: NnCallOptions | undefined): Planned<JordanGrads> {
  const a = objectArgs(args);
  const backend = backendOption(options);
  const { sizes, common } = checkCommon(a);
  const { seqLen: T, batch: B, inputSize: D, hiddenSize: H, outputSize: O } = sizes;
  const cache = checkF32(a, 'cache', cacheExtent(sizes));
  const dy = checkF32(a, 'dy', product('dy', [['seqLen', T], ['batch', B], ['outputSize', O]]), false);
  const dyN = checkF32(a, 'dyN', product('dyN', [['batch', B], ['outputSize', O]]), false);
  if (backend === 'js') return { backend, js: () => js.jordanBackward({ ...common, cache, dy, dyN }) };
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
  const lengths = common.lengths ?? null;
  return { backend, op: 'backward', fields: { ...common, lengths, cache, dy, dyN, ...g }, result: g };
}

/** Whole-sequence backward (BPTT through the fed-back output). */
export function jordanBackward(args: JordanBackwardArgs, options?: NnCallOptions): JordanGrads {
  return run(planBackward(args, options));
}

/**
 * {@link jordanBackward} off the main thread (native). Do not modify the inputs (the cache
 * included) until it settles.
 */
export async function jordanBackwardAsync(args: JordanBackwardArgs, options?: NnCallOptions): Promise<JordanGrads> {
  return runAsync(planBackward(args, options));
}

/** The Jordan network op, with its `...Async` twins. */
export const jordanKernels = {
  forward: jordanForward, backward: jordanBackward, forwardAsync: jordanForwardAsync, backwardAsync: jordanBackwardAsync,
} as const;

/**
 * The one place that validates the public ops' arguments in TypeScript, before any backend runs.
 *
 * Rules (each error names the argument in `argument` and at the start of its message):
 * - Sizes (`seqLen`, `batch`, `inputSize`, `hiddenSize`) are integers in [0, 2^31-1]: anything else
 *   (NaN, Infinity, 1.5, -1, a string) is a {@link ValueError}.
 * - Every array's expected length is a product of sizes. A product above {@link MAX_ELEMENTS}
 *   (2^31-1 elements, the same bound the native binding uses) is a {@link ShapeError}: such arrays
 *   cannot be passed to the addon. Products are computed in doubles: exact up to 2^53, and reliably
 *   above the limit beyond it.
 * - Arrays are `Float32Array` exactly (checked on the internal slot, so it works across realms; other
 *   typed arrays, plain arrays, detached and resizable buffers are a ValueError); a wrong length is
 *   a ShapeError whose message gives the formula, e.g.
 *   `weightIh: expected length 4096 (4*hiddenSize*inputSize = 4*32*32), got 4095`.
 * - `lengths` is an Int32Array or an array of numbers, of length `batch` (ShapeError), each an
 *   integer in [0, seqLen] (ValueError).
 * - `nonlinearity` is `'tanh'` or `'relu'`; `reverse`, `resetAfter`, `keepCache` are booleans when
 *   given.
 * - Backward: `cache` has the cell's cache size (types.ts `cacheSize`), `dy` is `[T, B, H]`,
 *   `dhN` / `dcN` are `[B, H]`.
 * Optional arrays may be `undefined` or `null`. Unknown extra fields are ignored.
 *
 * The same building blocks ({@link objectArgs}, {@link backendOption}, {@link checkSize},
 * {@link product}, {@link checkF32}, {@link checkI32}, {@link checkBool}) check the arguments of the
 * layer kernels (lib/nn/kernels.ts) and the training kernels (lib/train/kernels.ts), so every op
 * words the same mistake the same way.
 */
import { types } from 'node:util';

import { ShapeError, ValueError } from './errors.js';
import type {
  BackendName, GruBackwardArgs, GruForwardArgs, LstmBackwardArgs, LstmForwardArgs, RnnBackwardArgs,
  RnnForwardArgs, SeqSizes,
} from './backend/types.js';
import { cacheWidth } from './backend/types.js';

/** Largest size, and largest element count of any array, accepted (2^31-1). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

type Cell = keyof typeof cacheWidth;
const GATES: Record<Cell, number> = { rnn: 1, lstm: 4, gru: 3 };

/** An argument object read field by field. */
export type Fields = Readonly<Record<string, unknown>>;

/** A short description of a value for messages: "a Float64Array", "the number 1.5", "null". */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}...` : v)}`;
  if (typeof v !== 'object') return `a ${typeof v}`;
  if (Array.isArray(v)) return 'an Array';
  if (ArrayBuffer.isView(v)) {
    const tag = Object.prototype.toString.call(v).slice(8, -1);
    return /^[AEIOU]/.test(tag) ? `an ${tag}` : `a ${tag}`;
  }
  return 'an object';
}

/** Whether a buffer has been detached (transferred). Node 20 lacks `ArrayBuffer.prototype.detached`. */
function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0 || types.isSharedArrayBuffer(buffer)) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/**
 * Whether a buffer can shrink (a resizable ArrayBuffer). Rejected: an async native call keeps raw
 * pointers into it, and a shrink during the call would unmap memory the kernel uses.
 */
function isResizable(buffer: ArrayBufferLike): boolean {
  return !types.isSharedArrayBuffer(buffer) && (buffer as { resizable?: unknown }).resizable === true;
}

/** `args` as an object to read fields from; a ValueError naming `name` for anything else (null included). */
export function objectArgs(args: unknown, name = 'args'): Fields {
  if (typeof args !== 'object' || args === null) {
    throw new ValueError(`expected an object, got ${describe(args)}`, name);
  }
  return args as Fields;
}

/** `options.backend` of a kernel call (`options` itself may be omitted): 'native' (the default) or 'js'. */
export function backendOption(options: unknown): BackendName {
  if (options === undefined) return 'native';
  const b = objectArgs(options, 'options').backend;
  if (b === undefined) return 'native';
  if (b !== 'native' && b !== 'js') throw new ValueError(`expected 'native' or 'js', got ${describe(b)}`, 'options.backend');
  return b;
}

/** An integer in [lo, hi]. */
export function checkInt(value: unknown, name: string, lo: number, hi: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
    throw new ValueError(`expected an integer in [${lo}, ${hi}], got ${describe(value)}`, name);
  }
  return value;
}

/** A size: an integer in [0, MAX_ELEMENTS]. */
export function checkSize(value: unknown, name: string): number {
  return checkInt(value, name, 0, MAX_ELEMENTS);
}

/** An expected element count and its formula, e.g. `4*hiddenSize*inputSize = 4*32*32`. */
export interface Extent {
  readonly value: number;
  readonly formula: string;
}

/** One factor of an {@link Extent}: its label in the formula and its value. */
export type Factor = readonly [label: string, value: number];

/** The product of `factors`; a ShapeError naming `arg` when it exceeds MAX_ELEMENTS. */
export function product(arg: string, factors: readonly Factor[]): Extent {
  const formula = `${factors.map((f) => f[0]).join('*')} = ${factors.map((f) => f[1]).join('*')}`;
  // At most four factors, each <= 2^31-1: the double product is exact while it is <= 2^53 and
  // correctly above the limit otherwise (a zero factor makes it 0, never NaN).
  let value = 1;
  for (const [, v] of factors) value *= v;
  if (value > MAX_ELEMENTS) {
    throw new ShapeError(`expected length ${formula} exceeds the limit of ${MAX_ELEMENTS} elements`, arg);
  }
  return { value, formula };
}

/** A typed array class as the checks see it: its name and its brand check (realm-independent). */
interface ArrayKind<T extends Float32Array | Int32Array> {
  readonly article: string;
  readonly is: (v: unknown) => v is T;
}

const F32: ArrayKind<Float32Array> = { article: 'a Float32Array', is: types.isFloat32Array };
const I32: ArrayKind<Int32Array> = { article: 'an Int32Array', is: types.isInt32Array };

/** `fields[name]` of `kind` on an attached, fixed-length buffer, of `extent.value` elements when given. */
function checkArray<T extends Float32Array | Int32Array>(
  kind: ArrayKind<T>, fields: Fields, name: string, extent: Extent | undefined, required: boolean,
): T | null {
  const v = fields[name];
  if (!required && (v === undefined || v === null)) return null;
  const what = extent === undefined ? kind.article : `${kind.article} of length ${extent.value} (${extent.formula})`;
  if (!kind.is(v)) throw new ValueError(`expected ${what}, got ${describe(v)}`, name);
  if (isDetached(v.buffer)) throw new ValueError(`expected ${what}, got one whose ArrayBuffer is detached`, name);
  if (isResizable(v.buffer)) {
    throw new ValueError(`expected ${kind.article} on a fixed-length buffer, got one on a resizable ArrayBuffer`, name);
  }
  if (extent !== undefined && v.length !== extent.value) {
    throw new ShapeError(`expected length ${extent.value} (${extent.formula}), got ${v.length}`, name);
  }
  return v;
}

/**
 * `fields[name]` as a Float32Array (exactly, on an attached fixed-length buffer) of `extent.value`
 * elements, or of any length when `extent` is undefined. When not `required`, undefined or null
 * gives null.
 */
export function checkF32(fields: Fields, name: string, extent?: Extent, required?: true): Float32Array;
export function checkF32(fields: Fields, name: string, extent: Extent | undefined, required: boolean): Float32Array | null;
export function checkF32(fields: Fields, name: string, extent?: Extent, required = true): Float32Array | null {
  return checkArray(F32, fields, name, extent, required);
}

/** {@link checkF32} for an Int32Array (always required). */
export function checkI32(fields: Fields, name: string, extent?: Extent): Int32Array {
  return checkArray(I32, fields, name, extent, true) as Int32Array;
}

/** `fields[name]` as a boolean; `dflt` when undefined. */
export function checkBool(fields: Fields, name: string, dflt = false): boolean {
  const v = fields[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(v)}`, name);
  return v;
}

function checkLengths(fields: Fields, batch: number, seqLen: number): void {
  const v = fields.lengths;
  if (v === undefined || v === null) return;
  let values: ArrayLike<unknown>;
  if (types.isInt32Array(v)) {
    if (isDetached(v.buffer)) {
      throw new ValueError('expected an Int32Array or an array of numbers, got one whose ArrayBuffer is detached', 'lengths');
    }
    values = v;
  } else if (Array.isArray(v)) {
    values = v;
  } else {
    throw new ValueError(`expected an Int32Array or an array of numbers, got ${describe(v)}`, 'lengths');
  }
  if (values.length !== batch) {
    throw new ShapeError(`expected length ${batch} (batch), got ${values.length}`, 'lengths');
  }
  for (let b = 0; b < values.length; b++) {
    const len = values[b];
    if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > seqLen) {
      throw new ValueError(`lengths[${b}] = ${describe(len)} is not an integer in [0, seqLen = ${seqLen}]`, 'lengths');
    }
  }
}

/** Checks what every cell's forward and backward share; returns the sizes. */
function checkSeq(cell: Cell, fields: Fields): SeqSizes {
  const seqLen = checkSize(fields.seqLen, 'seqLen');
  const batch = checkSize(fields.batch, 'batch');
  const inputSize = checkSize(fields.inputSize, 'inputSize');
  const hiddenSize = checkSize(fields.hiddenSize, 'hiddenSize');
  const T: Factor = ['seqLen', seqLen];
  const B: Factor = ['batch', batch];
  const D: Factor = ['inputSize', inputSize];
  const H: Factor = ['hiddenSize', hiddenSize];
  const G: Factor[] = GATES[cell] === 1 ? [] : [[String(GATES[cell]), GATES[cell]]];
  checkF32(fields, 'x', product('x', [T, B, D]), true);
  checkF32(fields, 'weightIh', product('weightIh', [...G, H, D]), true);
  checkF32(fields, 'weightHh', product('weightHh', [...G, H, H]), true);
  checkF32(fields, 'biasIh', product('biasIh', [...G, H]), false);
  checkF32(fields, 'biasHh', product('biasHh', [...G, H]), false);
  checkF32(fields, 'h0', product('h0', [B, H]), false);
  checkLengths(fields, batch, seqLen);
  checkBool(fields, 'reverse');
  checkBool(fields, 'keepCache');
  return { seqLen, batch, inputSize, hiddenSize };
}

function checkBackwardExtra(cell: Cell, fields: Fields, s: SeqSizes): void {
  const T: Factor = ['seqLen', s.seqLen];
  const B: Factor = ['batch', s.batch];
  const H: Factor = ['hiddenSize', s.hiddenSize];
  const W = cacheWidth[cell];
  checkF32(fields, 'cache', product('cache', [[String(W), W], T, B, H]), true);
  checkF32(fields, 'dy', product('dy', [T, B, H]), false);
  checkF32(fields, 'dhN', product('dhN', [B, H]), false);
}

function checkNonlinearity(fields: Fields): void {
  const v = fields.nonlinearity;
  if (v !== undefined && v !== 'tanh' && v !== 'relu') {
    throw new ValueError(`expected 'tanh' or 'relu', got ${describe(v)}`, 'nonlinearity');
  }
}

function checkLstmExtra(fields: Fields, s: SeqSizes): void {
  const B: Factor = ['batch', s.batch];
  const H: Factor = ['hiddenSize', s.hiddenSize];
  checkF32(fields, 'c0', product('c0', [B, H]), false);
  checkF32(fields, 'weightPeephole', product('weightPeephole', [['3', 3], H]), false);
}

/** Throws a ShapeError or ValueError unless `args` are valid {@link RnnForwardArgs}. */
export function validateRnnForward(args: unknown): asserts args is RnnForwardArgs {
  const f = objectArgs(args);
  checkSeq('rnn', f);
  checkNonlinearity(f);
}

/** Throws a ShapeError or ValueError unless `args` are valid {@link RnnBackwardArgs}. */
export function validateRnnBackward(args: unknown): asserts args is RnnBackwardArgs {
  const f = objectArgs(args);
  const s = checkSeq('rnn', f);
  checkNonlinearity(f);
  checkBackwardExtra('rnn', f, s);
}

/** Throws a ShapeError or ValueError unless `args` are valid {@link LstmForwardArgs}. */
export function validateLstmForward(args: unknown): asserts args is LstmForwardArgs {
  const f = objectArgs(args);
  const s = checkSeq('lstm', f);
  checkLstmExtra(f, s);
}

/** Throws a ShapeError or ValueError unless `args` are valid {@link LstmBackwardArgs}. */
export function validateLstmBackward(args: unknown): asserts args is LstmBackwardArgs {
  const f = objectArgs(args);
  const s = checkSeq('lstm', f);
  checkLstmExtra(f, s);
  checkBackwardExtra('lstm', f, s);
  checkF32(f, 'dcN', product('dcN', [['batch', s.batch], ['hiddenSize', s.hiddenSize]]), false);
}

/** Throws a ShapeError or ValueError unless `args` are valid {@link GruForwardArgs}. */
export function validateGruForward(args: unknown): asserts args is GruForwardArgs {
  const f = objectArgs(args);
  checkSeq('gru', f);
  checkBool(f, 'resetAfter');
}

/** Throws a ShapeError or ValueError unless `args` are valid {@link GruBackwardArgs}. */
export function validateGruBackward(args: unknown): asserts args is GruBackwardArgs {
  const f = objectArgs(args);
  const s = checkSeq('gru', f);
  checkBool(f, 'resetAfter');
  checkBackwardExtra('gru', f, s);
}

/** Throws a ValueError unless `n` is an integer thread count in [1, 256]. */
export function validateThreads(n: unknown): asserts n is number {
  checkInt(n, 'n', 1, 256);
}

/**
 * The one validation vocabulary: every check of a user's argument in lib/ (ops, layers, models,
 * training, decoding, serving) is one of these, so that the same mistake is worded the same way
 * everywhere. Each throws a typed error ({@link ValueError}: wrong type or value; {@link ShapeError}:
 * wrong length) whose `argument` names the argument at fault and starts the message.
 *
 * - Sizes are integers in [0, {@link MAX_ELEMENTS}]; an array's expected length is a
 *   {@link product} of sizes, with its formula in the message
 *   (`weightIh: expected length 4096 (4*hiddenSize*inputSize = 4*32*32), got 4095`).
 * - Arrays are `Float32Array` / `Int32Array` exactly (checked on the internal slot, so it works
 *   across realms), on an attached, fixed-length buffer.
 * - `lengths` is an Int32Array or an array of numbers, of length `batch`, each in [0, seqLen].
 * - Options objects: {@link options} refuses unknown (e.g. misspelled) keys, naming the key and the
 *   closest known one.
 *
 * Nothing here imports another gated module but the errors, so every module may use it.
 */
import { types } from 'node:util';

import { ShapeError, ValueError } from './errors.js';

/** Largest size, and largest element count of any array, accepted (2^31-1, the native binding's bound too). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** An argument object read field by field. */
export type Fields = Readonly<Record<string, unknown>>;

/** A short description of a value for messages: "a Float64Array", "the number 1.5", "null". Never throws. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}...` : v)}`;
  if (typeof v === 'bigint') return `the bigint ${v}n`;
  if (typeof v !== 'object') return `a ${typeof v}`;
  if (Array.isArray(v)) return 'an Array';
  if (ArrayBuffer.isView(v)) {
    const tag = Object.prototype.toString.call(v).slice(8, -1);
    return /^[AEIOU]/.test(tag) ? `an ${tag}` : `a ${tag}`;
  }
  return 'an object';
}

// ---------------------------------------------------------------------------------------------
// objects and options

/** `args` as an object to read fields from; a ValueError naming `name` for anything else (null included). */
export function objectArgs(args: unknown, name = 'args'): Fields {
  if (typeof args !== 'object' || args === null) throw new ValueError(`expected an object, got ${describe(args)}`, name);
  return args as Fields;
}

/** Edit distance of two short strings (for "did you mean"). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** Throws a ValueError naming the first key of `o` that is not in `known` (and the closest known key). */
export function knownKeys(o: Fields, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    let best = '';
    let bestD = Infinity;
    for (const k of known) {
      const d = distance(key, k);
      if (d < bestD) [best, bestD] = [k, d];
    }
    const hint = bestD <= Math.max(2, Math.floor(key.length / 3)) ? `; did you mean '${best}'?` : '';
    const name = prefix === '' ? key : `${prefix}.${key}`;
    throw new ValueError(`unknown option (known: ${known.join(', ')})${hint}`, name);
  }
}

/**
 * An options object (`undefined`: `{}`) whose keys are all in `known`: a misspelled or unknown key
 * is a ValueError naming it under `prefix` (`options.peephole: unknown option (known: ...); did you
 * mean 'peepholes'?`; a layer factory, whose option errors name the bare option, passes `''`).
 */
export function options(o: unknown, known: readonly string[], name = 'options', prefix = name): Fields {
  if (o === undefined) return {};
  const f = objectArgs(o, name);
  knownKeys(f, known, prefix);
  return f;
}

// ---------------------------------------------------------------------------------------------
// numbers

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

/** An integer >= 1 (and <= 2^31-1). */
export function positiveInt(v: unknown, name: string): number {
  const n = checkSize(v, name);
  if (n < 1) throw new ValueError(`expected an integer >= 1, got ${describe(v)}`, name);
  return n;
}

/** A safe integer >= `lo`, or `dflt` when undefined (and a default is given). */
export function intOr(v: unknown, name: string, lo: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo)
    throw new ValueError(`expected an integer >= ${lo}, got ${describe(v)}`, name);
  return v;
}

/** The bounds of {@link finite}: `lo`/`hi` inclusive unless `loOpen`/`hiOpen`. */
export interface Range {
  readonly lo?: number;
  readonly hi?: number;
  readonly loOpen?: boolean;
  readonly hiOpen?: boolean;
}

function rangeText(r: Range): string {
  const lo = r.lo ?? -Infinity;
  const hi = r.hi ?? Infinity;
  if (hi === Infinity) return lo === -Infinity ? '' : ` ${r.loOpen ? '>' : '>='} ${lo}`;
  return ` in ${r.loOpen ? '(' : '['}${lo}, ${hi}${r.hiOpen ? ')' : ']'}`;
}

/** A finite number in `range`, or `dflt` when undefined (and a default is given). */
export function finite(v: unknown, name: string, range: Range = {}, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  const lo = range.lo ?? -Infinity;
  const hi = range.hi ?? Infinity;
  if (typeof v !== 'number' || !Number.isFinite(v) || (range.loOpen ? v <= lo : v < lo) || (range.hiOpen ? v >= hi : v > hi)) {
    throw new ValueError(`expected a finite number${rangeText(range)}, got ${describe(v)}`, name);
  }
  return v;
}

/** A rate in [0, 1), or 0 when undefined. */
export function rate(v: unknown, name: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new ValueError(`expected a number in [0, 1), got ${describe(v)}`, name);
  return v;
}

/** A boolean, or `dflt` when undefined. */
export function boolOr(v: unknown, dflt: boolean, name: string): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(v)}`, name);
  return v;
}

/** `fields[name]` as a boolean; `dflt` when undefined. */
export function checkBool(fields: Fields, name: string, dflt = false): boolean {
  return boolOr(fields[name], dflt, name);
}

/** One of `allowed`, or `dflt` when undefined (null too when `nullIsDefault`). */
export function oneOf<T extends string>(v: unknown, allowed: readonly T[], dflt: T, name: string, nullIsDefault = false): T {
  if (v === undefined || (nullIsDefault && v === null)) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ValueError(`expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}`, name);
  }
  return v as T;
}

/** A function, or undefined. */
export function optionalFunction(v: unknown, name: string): void {
  if (v !== undefined && typeof v !== 'function') throw new ValueError(`expected a function, got ${describe(v)}`, name);
}

/** An AbortSignal, or null when undefined. */
export function optionalSignal(v: unknown, name: string): AbortSignal | null {
  if (v === undefined || v === null) return null;
  if (!(v instanceof AbortSignal)) throw new ValueError(`expected an AbortSignal, got ${describe(v)}`, name);
  return v;
}

/** The kernels' implementations by name. */
export type BackendName = 'native' | 'js';

/** `'native'` or `'js'`, or `dflt` when undefined. */
export function backendName(v: unknown, name: string, dflt: BackendName): BackendName;
export function backendName(v: unknown, name: string, dflt?: BackendName | null): BackendName | null;
export function backendName(v: unknown, name: string, dflt: BackendName | null = null): BackendName | null {
  if (v === undefined) return dflt;
  if (v !== 'native' && v !== 'js') throw new ValueError(`expected 'native' or 'js', got ${describe(v)}`, name);
  return v;
}

// ---------------------------------------------------------------------------------------------
// extents and arrays

/** An expected element count and its formula, e.g. `4*hiddenSize*inputSize = 4*32*32`. */
export interface Extent {
  readonly value: number;
  readonly formula: string;
}

/** One factor of an {@link Extent}: its label in the formula and its value. */
export type Factor = readonly [label: string, value: number];

/** An Extent whose formula is spelled out only when a message needs it (every op checks several). */
class ProductExtent implements Extent {
  constructor(
    readonly value: number,
    private readonly factors: readonly Factor[],
  ) {}
  get formula(): string {
    return `${this.factors.map((f) => f[0]).join('*')} = ${this.factors.map((f) => f[1]).join('*')}`;
  }
}

/** The product of `factors`; a ShapeError naming `arg` when it exceeds MAX_ELEMENTS. */
export function product(arg: string, factors: readonly Factor[]): Extent {
  // Each factor <= 2^31-1: the double product is exact while it is <= 2^53 and correctly above the
  // limit otherwise (a zero factor makes it 0, never NaN).
  let value = 1;
  for (const [, v] of factors) value *= v;
  const extent = new ProductExtent(value, factors);
  if (value > MAX_ELEMENTS) throw new ShapeError(`expected length ${extent.formula} exceeds the limit of ${MAX_ELEMENTS} elements`, arg);
  return extent;
}

/**
 * A zeroed Float32Array of `extent.value` elements; a ShapeError naming `name`, with the size, when
 * the process cannot allocate it (instead of a RangeError from deep inside).
 */
export function allocF32(extent: Extent, name: string): Float32Array {
  try {
    return new Float32Array(extent.value);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new ShapeError(
      `cannot allocate ${extent.value} floats (${((extent.value * 4) / 2 ** 30).toFixed(1)} GiB, ${extent.formula})`,
      name,
    );
  }
}

/** The extent `n` elements, written as `<of>.length = n` in messages. */
export function lengthOf(of: string, n: number): Extent {
  return { value: n, formula: `${of}.length = ${n}` };
}

/** Whether a buffer has been detached (transferred). Node 20 lacks `ArrayBuffer.prototype.detached`. */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0 || types.isSharedArrayBuffer(buffer)) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/** A resizable ArrayBuffer: refused, as a shrink during an async native call would unmap memory the kernel uses. */
function isResizable(buffer: ArrayBufferLike): boolean {
  return !types.isSharedArrayBuffer(buffer) && (buffer as { resizable?: unknown }).resizable === true;
}

interface ArrayKind<T extends Float32Array | Int32Array> {
  readonly article: string;
  readonly is: (v: unknown) => v is T;
}

const F32: ArrayKind<Float32Array> = { article: 'a Float32Array', is: types.isFloat32Array };
const I32: ArrayKind<Int32Array> = { article: 'an Int32Array', is: types.isInt32Array };

function checkArray<T extends Float32Array | Int32Array>(
  kind: ArrayKind<T>,
  v: unknown,
  name: string,
  extent: Extent | undefined,
  required: boolean,
): T | null {
  if (!required && (v === undefined || v === null)) return null;
  const what = () => (extent === undefined ? kind.article : `${kind.article} of length ${extent.value} (${extent.formula})`);
  if (!kind.is(v)) throw new ValueError(`expected ${what()}, got ${describe(v)}`, name);
  if (isDetached(v.buffer)) throw new ValueError(`expected ${what()}, got one whose ArrayBuffer is detached`, name);
  if (isResizable(v.buffer))
    throw new ValueError(`expected ${kind.article} on a fixed-length buffer, got one on a resizable ArrayBuffer`, name);
  if (extent !== undefined && v.length !== extent.value)
    throw new ShapeError(`expected length ${extent.value} (${extent.formula}), got ${v.length}`, name);
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
  return checkArray(F32, fields[name], name, extent, required);
}

/** {@link checkF32} for an Int32Array (always required). */
export function checkI32(fields: Fields, name: string, extent?: Extent): Int32Array {
  return checkArray(I32, fields[name], name, extent, true) as Int32Array;
}

/**
 * A decode step's optional row gather: `f[indexName]` an Int32Array `[batch]`, each in [0, count),
 * and `f[countName]` its count (default batch; without an index it must be batch). Row r then reads
 * row index[r] of a `[count]`-row array.
 */
export function rowIndex(f: Fields, indexName: string, countName: string, batch: number): { index: Int32Array | null; count: number } {
  const v = f[indexName];
  const index = v === undefined || v === null ? null : checkI32(f, indexName, product(indexName, [['batch', batch]]));
  const count = f[countName] === undefined || f[countName] === null ? batch : checkSize(f[countName], countName);
  if (!index && count !== batch) throw new ValueError(`expected batch (${batch}) without a ${indexName}, got ${count}`, countName);
  if (index) {
    for (let r = 0; r < batch; r++) {
      if (!(index[r] >= 0 && index[r] < count))
        throw new ValueError(`${indexName}[${r}] = ${index[r]} is outside [0, ${countName} = ${count})`, indexName);
    }
  }
  return { index, count };
}

/** A ValueError naming `name[i]` for the first element of `a` that is NaN or infinite. */
export function allFinite(a: ArrayLike<number>, name: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new ValueError(`${name}[${i}] is ${a[i]}: expected finite values`, name);
  }
}

/** Ids `[n]`, each an integer in [0, vocabSize): a ValueError naming the first one outside. */
export function tokenIds(ids: Int32Array, vocabSize: number, name: string): Int32Array {
  for (let n = 0; n < ids.length; n++) {
    if (ids[n] < 0 || ids[n] >= vocabSize) throw new ValueError(`${name}[${n}] = ${ids[n]} is outside [0, vocabSize = ${vocabSize})`, name);
  }
  return ids;
}

/** One token id: an integer in [0, vocabSize). */
export function tokenId(t: unknown, vocabSize: number, name: string): number {
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocabSize) {
    throw new ValueError(`expected a token id, an integer in [0, ${vocabSize}), got ${describe(t)}`, name);
  }
  return t;
}

/**
 * Valid steps per sequence: an Int32Array or an array of numbers, of length `batch`, each an integer
 * in [0, seqLen]; undefined or null gives null. Returns an Int32Array (the given one, or a copy of an array).
 */
export function lengths(v: unknown, batch: number, seqLen: number, name = 'lengths'): Int32Array | null {
  if (v === undefined || v === null) return null;
  let values: ArrayLike<unknown>;
  if (types.isInt32Array(v)) {
    if (isDetached(v.buffer))
      throw new ValueError('expected an Int32Array or an array of numbers, got one whose ArrayBuffer is detached', name);
    values = v;
  } else if (Array.isArray(v)) {
    values = v;
  } else {
    throw new ValueError(`expected an Int32Array or an array of numbers, got ${describe(v)}`, name);
  }
  if (values.length !== batch) throw new ShapeError(`expected length ${batch} (batch), got ${values.length}`, name);
  for (let b = 0; b < values.length; b++) {
    const len = values[b];
    if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > seqLen) {
      throw new ValueError(`${name}[${b}] = ${describe(len)} is not an integer in [0, seqLen = ${seqLen}]`, name);
    }
  }
  return types.isInt32Array(v) ? v : Int32Array.from(values as readonly number[]);
}

/**
 * The values that flow through a model, in the kernels' time-major layout (DESIGN.md "Shapes"):
 * step t of sequence b is row `t * batch + b`. Each carries a `kind` tag so that the three are
 * distinct types (a Sequence is never accepted where a Vector is expected, nor the other way).
 *
 * - {@link Tokens}: integer ids `[T*B]` (from `padBatch`), with optional `lengths`.
 * - {@link Sequence}: float features `[T*B*F]`, with optional `lengths` (the recurrent kernels mask
 *   steps at or past a sequence's length; other layers compute them and losses mask them).
 * - {@link Vector}: one feature row per sequence `[B*F]`.
 */
import { types } from 'node:util';

import { ShapeError, ValueError } from '../errors.js';
import { checkSize, describe, tokenIds } from '../check.js';

/** The kinds of value a layer takes or gives. */
export type Kind = 'tokens' | 'sequence' | 'vector';

/** Token ids, time-major. */
export interface Tokens {
  readonly kind: 'tokens';
  /** `[T*B]`: id of step t of sequence b at `t * batch + b`. */
  readonly ids: Int32Array;
  /** T. */
  readonly seqLen: number;
  /** B. */
  readonly batch: number;
  /** `[B]` valid steps of each sequence (each in [0, T]), or null when all run T steps. */
  readonly lengths: Int32Array | null;
}

/** A batch of float feature sequences, time-major. */
export interface Sequence {
  readonly kind: 'sequence';
  /** `[T*B*F]`: feature f of step t of sequence b at `(t * batch + b) * features + f`. */
  readonly data: Float32Array;
  /** T. */
  readonly seqLen: number;
  /** B. */
  readonly batch: number;
  /** F. */
  readonly features: number;
  /** `[B]` valid steps of each sequence (each in [0, T]), or null when all run T steps. */
  readonly lengths: Int32Array | null;
}

/** One feature row per sequence. */
export interface Vector {
  readonly kind: 'vector';
  /** `[B*F]`, row-major. */
  readonly data: Float32Array;
  /** B. */
  readonly batch: number;
  /** F. */
  readonly features: number;
}

/** Any value. */
export type Value = Tokens | Sequence | Vector;

/** The value type of a kind. */
export type ValueOf<K extends Kind> = K extends 'tokens' ? Tokens : K extends 'sequence' ? Sequence : Vector;

/**
 * What a model takes: one value of a kind, or several named ones (an encoder-decoder takes
 * `{ source: 'tokens', target: 'tokens' }`).
 */
export type Inputs = Kind | { readonly [name: string]: Kind };

/** The input value(s) of `In`: a value, or an object of values by name. */
export type InputOf<In extends Inputs> = In extends Kind
  ? ValueOf<In>
  : { readonly [K in keyof In]: In[K] extends Kind ? ValueOf<In[K]> : never };

/** The values of an input (one, or each named one in key order) with their names (`x`, `x.source`). */
export function inputValues(x: unknown, name = 'x'): { readonly name: string; readonly value: Value }[] {
  if (typeof x !== 'object' || x === null) throw new ValueError(`expected a value or an object of values, got ${describe(x)}`, name);
  if (typeof (x as { kind?: unknown }).kind === 'string') return [{ name, value: x as Value }];
  return Object.entries(x as Record<string, Value>).map(([k, v]) => ({ name: `${name}.${k}`, value: v }));
}

/** The batch size of an input (its first value's). */
export function batchOf(x: unknown): number {
  return inputValues(x)[0]?.value.batch ?? 0;
}

function checkLengths(lengths: unknown, batch: number, seqLen: number, name: string): Int32Array | null {
  if (lengths === undefined || lengths === null) return null;
  if (Array.isArray(lengths)) {
    // Each element a number before the conversion (a Symbol or a BigInt would throw a TypeError in it).
    const bad = lengths.findIndex((v) => typeof v !== 'number');
    if (bad >= 0) throw new ValueError(`${name}[${bad}] = ${describe(lengths[bad])} is not an integer in [0, seqLen = ${seqLen}]`, name);
  }
  const arr = types.isInt32Array(lengths) ? lengths : Array.isArray(lengths) ? Int32Array.from(lengths as number[]) : null;
  if (arr === null) throw new ValueError(`expected an Int32Array or an array of numbers, got ${describe(lengths)}`, name);
  if (arr.length !== batch) throw new ShapeError(`expected length ${batch} (batch), got ${arr.length}`, name);
  for (let b = 0; b < batch; b++) {
    if (arr[b] < 0 || arr[b] > seqLen || (!types.isInt32Array(lengths) && arr[b] !== (lengths as number[])[b])) {
      throw new ValueError(
        `${name}[${b}] = ${describe((lengths as ArrayLike<unknown>)[b])} is not an integer in [0, seqLen = ${seqLen}]`,
        name,
      );
    }
  }
  return arr;
}

function checkData(data: unknown, length: number, formula: string, name: string): Float32Array {
  if (!types.isFloat32Array(data))
    throw new ValueError(`expected a Float32Array of length ${length} (${formula}), got ${describe(data)}`, name);
  if (data.length !== length) throw new ShapeError(`expected length ${length} (${formula}), got ${data.length}`, name);
  return data;
}

/** What {@link tokens} takes: the fields of a {@link Tokens} (an `IdBatch` from `padBatch` fits). */
export interface TokensInit {
  /** `[T*B]` ids, time-major. */
  readonly ids: Int32Array;
  /** T. */
  readonly seqLen: number;
  /** B. */
  readonly batch: number;
  /** `[B]` valid steps per sequence. Default: all T. */
  readonly lengths?: Int32Array | readonly number[] | null;
  /** Must be true when given (the layout of `padBatch({ timeMajor: false })` is refused). Default: true. */
  readonly timeMajor?: boolean;
}

/** A checked {@link Tokens} value. Ids are range-checked by the layer that reads them. */
export function tokens(init: TokensInit): Tokens {
  if (typeof init !== 'object' || init === null) throw new ValueError(`expected an object, got ${describe(init)}`, 'tokens');
  if (init.timeMajor === false) throw new ValueError('expected a time-major batch (padBatch with timeMajor: true)', 'timeMajor');
  const seqLen = checkSize(init.seqLen, 'seqLen');
  const batch = checkSize(init.batch, 'batch');
  if (!types.isInt32Array(init.ids)) throw new ValueError(`expected an Int32Array, got ${describe(init.ids)}`, 'ids');
  if (init.ids.length !== seqLen * batch) {
    throw new ShapeError(`expected length ${seqLen * batch} (seqLen*batch = ${seqLen}*${batch}), got ${init.ids.length}`, 'ids');
  }
  return { kind: 'tokens', ids: init.ids, seqLen, batch, lengths: checkLengths(init.lengths, batch, seqLen, 'lengths') };
}

/** What {@link sequence} takes. */
export interface SequenceInit {
  /** `[T*B*F]`, time-major. */
  readonly data: Float32Array;
  /** T. */
  readonly seqLen: number;
  /** B. */
  readonly batch: number;
  /** F. */
  readonly features: number;
  /** `[B]` valid steps per sequence. Default: all T. */
  readonly lengths?: Int32Array | readonly number[] | null;
}

/** A checked {@link Sequence} value. */
export function sequence(init: SequenceInit): Sequence {
  if (typeof init !== 'object' || init === null) throw new ValueError(`expected an object, got ${describe(init)}`, 'sequence');
  const seqLen = checkSize(init.seqLen, 'seqLen');
  const batch = checkSize(init.batch, 'batch');
  const features = checkSize(init.features, 'features');
  const n = seqLen * batch * features;
  const data = checkData(init.data, n, `seqLen*batch*features = ${seqLen}*${batch}*${features}`, 'data');
  return { kind: 'sequence', data, seqLen, batch, features, lengths: checkLengths(init.lengths, batch, seqLen, 'lengths') };
}

/** What {@link vector} takes. */
export interface VectorInit {
  /** `[B*F]`. */
  readonly data: Float32Array;
  /** B. */
  readonly batch: number;
  /** F. */
  readonly features: number;
}

/** A checked {@link Vector} value. */
export function vector(init: VectorInit): Vector {
  if (typeof init !== 'object' || init === null) throw new ValueError(`expected an object, got ${describe(init)}`, 'vector');
  const batch = checkSize(init.batch, 'batch');
  const features = checkSize(init.features, 'features');
  const data = checkData(init.data, batch * features, `batch*features = ${batch}*${features}`, 'data');
  return { kind: 'vector', data, batch, features };
}

/**
 * `x` checked as a whole value of `kind` with `features` features (for Tokens: ids in
 * [0, features)): the tag, the sizes, the array types and lengths, the lengths. A raw object built
 * by hand (not by {@link tokens}, {@link sequence}, {@link vector}) gets the same checks; errors
 * name `${name}.<field>`.
 */
export function checkValue(x: unknown, kind: Kind, features: number, name: string): Value {
  if (typeof x !== 'object' || x === null) throw new ValueError(`the model expects a ${kind}, got ${describe(x)}`, name);
  const v = x as Partial<Record<string, unknown>>;
  if (v.kind !== kind)
    throw new ValueError(`the model expects a ${kind}, got ${typeof v.kind === 'string' ? `a ${v.kind}` : describe(x)}`, name);
  const batch = checkSize(v.batch, `${name}.batch`);
  if (kind === 'vector') {
    if (v.features !== features) throw new ValueError(`expected ${features} features, got ${describe(v.features)}`, `${name}.features`);
    checkData(v.data, batch * features, `batch*features = ${batch}*${features}`, `${name}.data`);
    return x as Vector;
  }
  const seqLen = checkSize(v.seqLen, `${name}.seqLen`);
  checkLengths(v.lengths, batch, seqLen, `${name}.lengths`);
  if (kind === 'sequence') {
    if (v.features !== features) throw new ValueError(`expected ${features} features, got ${describe(v.features)}`, `${name}.features`);
    checkData(v.data, seqLen * batch * features, `seqLen*batch*features = ${seqLen}*${batch}*${features}`, `${name}.data`);
    return x as Sequence;
  }
  if (!types.isInt32Array(v.ids)) throw new ValueError(`expected an Int32Array, got ${describe(v.ids)}`, `${name}.ids`);
  if (v.ids.length !== seqLen * batch)
    throw new ShapeError(`expected length ${seqLen * batch} (seqLen*batch = ${seqLen}*${batch}), got ${v.ids.length}`, `${name}.ids`);
  tokenIds(v.ids, features, `${name}.ids`);
  return x as Tokens;
}

/** The float data of a Sequence or Vector with the same shape and new data (internal helper of the layers). */
export function withData<V extends Sequence | Vector>(v: V, data: Float32Array, features: number): V {
  return { ...v, data, features };
}

/** Rows of a float value: T*B for a Sequence, B for a Vector. */
export function rowsOf(v: Sequence | Vector): number {
  return v.kind === 'sequence' ? v.seqLen * v.batch : v.batch;
}

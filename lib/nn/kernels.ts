/**
 * The layer kernels besides the fused sequence ops, with a typed, validated API: a linear map
 * (`nn.Linear`'s layout, applied to N rows at once) and an embedding lookup, forward and backward.
 *
 *   const y = nnKernels.linearForward({ x, weight, bias, rows: T * B, inFeatures: F, outFeatures: U });
 *   const dx = nnKernels.linearBackward({ x, weight, dy, rows: T * B, inFeatures: F, outFeatures: U, dWeight, dBias });
 *
 * Backward calls ADD into the gradient arrays they are given (`dWeight`, `dBias`), so a layer used
 * several times accumulates its gradient; zero them for a plain gradient.
 *
 * Every call runs on the native kernels (native/nn.h) unless `{ backend: 'js' }` is passed; the native
 * backend throws a {@link NativeError} when the addon cannot be loaded or lacks `exports.nn`. Both give
 * the same results up to float32 rounding (test/layers/nn-kernels.test.ts). Arguments are checked
 * here before any backend runs (the addon checks them again): a {@link ShapeError} for a wrong length,
 * a {@link ValueError} for a wrong type or value, each naming the argument, e.g.
 * `ids: ids[4] = 12 is outside [0, vocabSize = 10)`.
 */
import { types } from 'node:util';

import { ShapeError, ValueError } from '../errors.js';
import * as js from '../js/nn.js';
import { checkSize, describe, MAX_ELEMENTS } from '../validate.js';
import { callNativeNn } from './native.js';

/** Which implementation runs a call. */
export type NnBackendName = 'native' | 'js';

/** Per-call options. */
export interface NnCallOptions {
  /** `'native'` (the C++ kernels) or `'js'` (the pure-TS twins). Default: `'native'`. */
  readonly backend?: NnBackendName;
}

type Args = Readonly<Record<string, unknown>>;

function objectArgs(args: unknown, name = 'args'): Args {
  if (typeof args !== 'object' || args === null) throw new ValueError(`expected an object, got ${describe(args)}`, name);
  return args as Args;
}

function backendOf(options: unknown): NnBackendName {
  if (options === undefined) return 'native';
  const b = objectArgs(options, 'options').backend;
  if (b === undefined) return 'native';
  if (b !== 'native' && b !== 'js') throw new ValueError(`expected 'native' or 'js', got ${describe(b)}`, 'options.backend');
  return b;
}

/** The element count `a*b` (formula for messages), a ShapeError naming `name` past MAX_ELEMENTS. */
function extent(name: string, labels: string, a: number, b: number): { value: number; formula: string } {
  const value = a * b;
  const formula = `${labels} = ${a}*${b}`;
  if (value > MAX_ELEMENTS) throw new ShapeError(`expected length ${formula} exceeds the limit of ${MAX_ELEMENTS} elements`, name);
  return { value, formula };
}

function f32(a: Args, name: string, e: { value: number; formula: string }, required: true): Float32Array;
function f32(a: Args, name: string, e: { value: number; formula: string }, required: false): Float32Array | null;
function f32(a: Args, name: string, e: { value: number; formula: string }, required: boolean): Float32Array | null {
  const v = a[name];
  if (!required && (v === undefined || v === null)) return null;
  const what = `a Float32Array of length ${e.value} (${e.formula})`;
  if (!types.isFloat32Array(v)) throw new ValueError(`expected ${what}, got ${describe(v)}`, name);
  if (v.length !== e.value) throw new ShapeError(`expected length ${e.value} (${e.formula}), got ${v.length}`, name);
  return v;
}

function idsOf(a: Args, rows: number, vocabSize: number): Int32Array {
  const v = a.ids;
  if (!types.isInt32Array(v)) throw new ValueError(`expected an Int32Array of length ${rows} (rows), got ${describe(v)}`, 'ids');
  if (v.length !== rows) throw new ShapeError(`expected length ${rows} (rows), got ${v.length}`, 'ids');
  for (let n = 0; n < rows; n++) {
    if (v[n] < 0 || v[n] >= vocabSize) throw new ValueError(`ids[${n}] = ${v[n]} is outside [0, vocabSize = ${vocabSize})`, 'ids');
  }
  return v;
}

function paddingIndexOf(a: Args, vocabSize: number): number {
  const v = a.paddingIndex;
  if (v === undefined || v === null) return -1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -1 || v >= vocabSize) {
    throw new ValueError(`expected an integer in [-1, vocabSize = ${vocabSize}), got ${describe(v)}`, 'paddingIndex');
  }
  return v;
}

/** Sizes of a linear call. */
export interface LinearSizes {
  /** Rows N (a Vector's batch, or T*B steps of a time-major Sequence). */
  readonly rows: number;
  /** Input features per row. */
  readonly inFeatures: number;
  /** Output features per row. */
  readonly outFeatures: number;
}

/** Arguments of {@link linearForward}. */
export interface LinearForwardArgs extends LinearSizes {
  /** Input `[rows, inFeatures]`. */
  readonly x: Float32Array;
  /** Weight `[outFeatures, inFeatures]` (PyTorch nn.Linear layout). */
  readonly weight: Float32Array;
  /** Bias `[outFeatures]`. Default: none. */
  readonly bias?: Float32Array | null;
}

/** Arguments of {@link linearBackward}. */
export interface LinearBackwardArgs extends LinearSizes {
  /** The forward's input `[rows, inFeatures]`. */
  readonly x: Float32Array;
  /** The forward's weight `[outFeatures, inFeatures]`. */
  readonly weight: Float32Array;
  /** Gradient with respect to the output `[rows, outFeatures]`. */
  readonly dy: Float32Array;
  /** Weight gradient `[outFeatures, inFeatures]`: dy^T x is ADDED to it. */
  readonly dWeight: Float32Array;
  /** Bias gradient `[outFeatures]`: the column sums of dy are ADDED to it. Default: none. */
  readonly dBias?: Float32Array | null;
  /** Whether to compute the input gradient (false: returns null). Default: true. */
  readonly inputGradient?: boolean;
}

function linearSizes(a: Args): LinearSizes {
  return { rows: checkSize(a.rows, 'rows'), inFeatures: checkSize(a.inFeatures, 'inFeatures'), outFeatures: checkSize(a.outFeatures, 'outFeatures') };
}

/** y `[rows, outFeatures]` = x W^T + b. */
export function linearForward(args: LinearForwardArgs, options?: NnCallOptions): Float32Array {
  const a = objectArgs(args);
  const backend = backendOf(options);
  const { rows, inFeatures, outFeatures } = linearSizes(a);
  const x = f32(a, 'x', extent('x', 'rows*inFeatures', rows, inFeatures), true);
  const weight = f32(a, 'weight', extent('weight', 'outFeatures*inFeatures', outFeatures, inFeatures), true);
  const bias = f32(a, 'bias', extent('bias', 'outFeatures*1', outFeatures, 1), false);
  const y = new Float32Array(extent('y', 'rows*outFeatures', rows, outFeatures).value);
  if (backend === 'js') js.linearForward(x, weight, bias, rows, inFeatures, outFeatures, y);
  else callNativeNn((ops) => ops.linearForward({ rows, inFeatures, outFeatures, x, weight, bias, y }));
  return y;
}

/** Adds dy^T x to dWeight and the column sums of dy to dBias; returns dx = dy W `[rows, inFeatures]` (or null). */
export function linearBackward(args: LinearBackwardArgs, options?: NnCallOptions): Float32Array | null {
  const a = objectArgs(args);
  const backend = backendOf(options);
  const { rows, inFeatures, outFeatures } = linearSizes(a);
  const x = f32(a, 'x', extent('x', 'rows*inFeatures', rows, inFeatures), true);
  const wExtent = extent('weight', 'outFeatures*inFeatures', outFeatures, inFeatures);
  const weight = f32(a, 'weight', wExtent, true);
  const dy = f32(a, 'dy', extent('dy', 'rows*outFeatures', rows, outFeatures), true);
  const dWeight = f32(a, 'dWeight', { ...wExtent }, true);
  const dBias = f32(a, 'dBias', extent('dBias', 'outFeatures*1', outFeatures, 1), false);
  const wantDx = a.inputGradient ?? true;
  if (typeof wantDx !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(wantDx)}`, 'inputGradient');
  const dx = wantDx ? new Float32Array(rows * inFeatures) : null;
  if (backend === 'js') js.linearBackward(x, weight, dy, rows, inFeatures, outFeatures, dx, dWeight, dBias, true);
  else {
    callNativeNn((ops) => ops.linearBackward({
      rows, inFeatures, outFeatures, x, weight, dy, dx, dWeight, dBias, accumulate: true,
    }));
  }
  return dx;
}

/** Arguments of {@link embeddingForward}. */
export interface EmbeddingForwardArgs {
  /** Ids `[rows]`, each in [0, vocabSize). */
  readonly ids: Int32Array;
  /** Embedding table `[vocabSize, dim]`. */
  readonly weight: Float32Array;
  /** Rows V of the table. */
  readonly vocabSize: number;
  /** Columns E of the table. */
  readonly dim: number;
  /** Id whose rows come out as zeros and get no gradient, in [0, vocabSize), or -1 for none. Default: -1. */
  readonly paddingIndex?: number;
}

/** Arguments of {@link embeddingBackward}. */
export interface EmbeddingBackwardArgs {
  /** The forward's ids `[rows]`. */
  readonly ids: Int32Array;
  /** Gradient with respect to the output `[rows, dim]`. */
  readonly dy: Float32Array;
  /** Rows V of the table. */
  readonly vocabSize: number;
  /** Columns E of the table. */
  readonly dim: number;
  /** The forward's padding index (its row gets no gradient). Default: -1 (none). */
  readonly paddingIndex?: number;
  /** Table gradient `[vocabSize, dim]`: each dy row is ADDED to the row of its id, rows in order. */
  readonly dWeight: Float32Array;
}

/** out `[rows, dim]` = the table rows of `ids` (zeros at the padding index). */
export function embeddingForward(args: EmbeddingForwardArgs, options?: NnCallOptions): Float32Array {
  const a = objectArgs(args);
  const backend = backendOf(options);
  const vocabSize = checkSize(a.vocabSize, 'vocabSize');
  const dim = checkSize(a.dim, 'dim');
  const weight = f32(a, 'weight', extent('weight', 'vocabSize*dim', vocabSize, dim), true);
  const rows = types.isInt32Array(a.ids) ? a.ids.length : 0;
  const ids = idsOf(a, rows, vocabSize);
  const paddingIndex = paddingIndexOf(a, vocabSize);
  const out = new Float32Array(extent('out', 'rows*dim', rows, dim).value);
  if (backend === 'js') js.embeddingForward(ids, weight, rows, dim, paddingIndex, out);
  else callNativeNn((ops) => ops.embeddingForward({ rows, vocabSize, dim, ids, weight, paddingIndex, out }));
  return out;
}

/** Adds each dy row into the dWeight row of its id (the padding row excepted). */
export function embeddingBackward(args: EmbeddingBackwardArgs, options?: NnCallOptions): void {
  const a = objectArgs(args);
  const backend = backendOf(options);
  const vocabSize = checkSize(a.vocabSize, 'vocabSize');
  const dim = checkSize(a.dim, 'dim');
  const rows = types.isInt32Array(a.ids) ? a.ids.length : 0;
  const ids = idsOf(a, rows, vocabSize);
  const dy = f32(a, 'dy', extent('dy', 'rows*dim', rows, dim), true);
  const paddingIndex = paddingIndexOf(a, vocabSize);
  const dWeight = f32(a, 'dWeight', extent('dWeight', 'vocabSize*dim', vocabSize, dim), true);
  if (backend === 'js') js.embeddingBackward(ids, dy, rows, dim, paddingIndex, dWeight, true);
  else {
    callNativeNn((ops) => ops.embeddingBackward({
      rows, vocabSize, dim, ids, dy, paddingIndex, dWeight, accumulate: true,
    }));
  }
}

/** The layer kernels. */
export const nnKernels = { linearForward, linearBackward, embeddingForward, embeddingBackward } as const;

/**
 * The layer kernels besides the fused sequence ops, with a typed, validated API: a linear map
 * (`nn.Linear`'s layout, applied to N rows at once), an embedding lookup and layer normalization,
 * forward and backward.
 *
 *   const y = nnKernels.linearForward({ x, weight, bias, rows: T * B, inFeatures: F, outFeatures: U });
 *   const dx = nnKernels.linearBackward({ x, weight, dy, rows: T * B, inFeatures: F, outFeatures: U, dWeight, dBias });
 *
 * Backward calls ADD into the gradient arrays they are given (`dWeight`, `dBias`), so a layer used
 * several times accumulates its gradient; zero them for a plain gradient.
 *
 * Every call runs on the native kernels (native/nn.h) unless `{ backend: 'js' }` is passed; the native
 * backend throws a {@link NativeError} when the addon cannot be loaded. Both give
 * the same results up to float32 rounding (test/ops/nn.test.ts). Arguments are checked
 * here before any backend runs (the addon checks them again): a {@link ShapeError} for a wrong length,
 * a {@link ValueError} for a wrong type or value, each naming the argument, e.g.
 * `ids: ids[4] = 12 is outside [0, vocabSize = 10)`.
 *
 * Each op has an async form (`linearForward.async`, also `ops.linearForwardAsync`) with the same
 * arguments and its result as a Promise: with the native backend the kernel runs on a libuv worker thread and the event loop keeps
 * running (bit-identical results to the sync op); with `'js'` it runs inline before resolving. Errors,
 * validation ones included, reject the promise with the same typed error the sync op throws. Inputs
 * and the gradient arrays passed in (`dWeight`, `dBias`) must not be modified, nor their buffers
 * transferred, until the promise settles: the kernel reads and writes them while JavaScript runs.
 */
import type { Plan } from '../backend/index.js';
import { checkBool, checkF32, checkI32, checkSize, describe, type Fields, finite, objectArgs, product, tokenIds } from '../check.js';
import { ValueError } from '../errors.js';
import * as js from '../js/nn.js';
import { type Alloc, defineOp, type Op, type OpOptions, planInPlace } from './op.js';

/** Per-call options (the backend). */
export type NnCallOptions = OpOptions;

/** `ids`, each in [0, vocabSize). */
function idsOf(a: Fields, vocabSize: number): Int32Array {
  return tokenIds(checkI32(a, 'ids'), vocabSize, 'ids');
}

function paddingIndexOf(a: Fields, vocabSize: number): number {
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

function linearSizes(a: Fields): LinearSizes {
  return {
    rows: checkSize(a.rows, 'rows'),
    inFeatures: checkSize(a.inFeatures, 'inFeatures'),
    outFeatures: checkSize(a.outFeatures, 'outFeatures'),
  };
}

function planLinearForward(args: LinearForwardArgs, alloc: Alloc): Plan<Float32Array> {
  const a = objectArgs(args);
  const { rows, inFeatures, outFeatures } = linearSizes(a);
  const x = checkF32(
    a,
    'x',
    product('x', [
      ['rows', rows],
      ['inFeatures', inFeatures],
    ]),
  );
  const weight = checkF32(
    a,
    'weight',
    product('weight', [
      ['outFeatures', outFeatures],
      ['inFeatures', inFeatures],
    ]),
  );
  const bias = checkF32(a, 'bias', product('bias', [['outFeatures', outFeatures]]), false);
  const y = alloc(
    product('y', [
      ['rows', rows],
      ['outFeatures', outFeatures],
    ]).value,
  );
  return planInPlace(
    { rows, inFeatures, outFeatures, x, weight, bias, y },
    () => js.linearForward(x, weight, bias, rows, inFeatures, outFeatures, y),
    () => y,
  );
}

function planLinearBackward(args: LinearBackwardArgs, alloc: Alloc): Plan<Float32Array | null> {
  const a = objectArgs(args);
  const { rows, inFeatures, outFeatures } = linearSizes(a);
  const x = checkF32(
    a,
    'x',
    product('x', [
      ['rows', rows],
      ['inFeatures', inFeatures],
    ]),
  );
  const wExtent = product('weight', [
    ['outFeatures', outFeatures],
    ['inFeatures', inFeatures],
  ]);
  const weight = checkF32(a, 'weight', wExtent);
  const dy = checkF32(
    a,
    'dy',
    product('dy', [
      ['rows', rows],
      ['outFeatures', outFeatures],
    ]),
  );
  const dWeight = checkF32(a, 'dWeight', wExtent);
  const dBias = checkF32(a, 'dBias', product('dBias', [['outFeatures', outFeatures]]), false);
  const wantDx = checkBool(a, 'inputGradient', true);
  const dx = wantDx ? alloc(rows * inFeatures) : null;
  return planInPlace(
    { rows, inFeatures, outFeatures, x, weight, dy, dx, dWeight, dBias, accumulate: true },
    () => js.linearBackward(x, weight, dy, rows, inFeatures, outFeatures, dx, dWeight, dBias, true),
    () => dx,
  );
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

function planEmbeddingForward(args: EmbeddingForwardArgs, alloc: Alloc): Plan<Float32Array> {
  const a = objectArgs(args);
  const vocabSize = checkSize(a.vocabSize, 'vocabSize');
  const dim = checkSize(a.dim, 'dim');
  const weight = checkF32(
    a,
    'weight',
    product('weight', [
      ['vocabSize', vocabSize],
      ['dim', dim],
    ]),
  );
  const ids = idsOf(a, vocabSize);
  const rows = ids.length;
  const paddingIndex = paddingIndexOf(a, vocabSize);
  const out = alloc(
    product('out', [
      ['rows', rows],
      ['dim', dim],
    ]).value,
  );
  return planInPlace(
    { rows, vocabSize, dim, ids, weight, paddingIndex, out },
    () => js.embeddingForward(ids, weight, rows, dim, paddingIndex, out),
    () => out,
  );
}

function planEmbeddingBackward(args: EmbeddingBackwardArgs): Plan<undefined> {
  const a = objectArgs(args);
  const vocabSize = checkSize(a.vocabSize, 'vocabSize');
  const dim = checkSize(a.dim, 'dim');
  const ids = idsOf(a, vocabSize);
  const rows = ids.length;
  const dy = checkF32(
    a,
    'dy',
    product('dy', [
      ['rows', rows],
      ['dim', dim],
    ]),
  );
  const paddingIndex = paddingIndexOf(a, vocabSize);
  const dWeight = checkF32(
    a,
    'dWeight',
    product('dWeight', [
      ['vocabSize', vocabSize],
      ['dim', dim],
    ]),
  );
  return planInPlace(
    { rows, vocabSize, dim, ids, dy, paddingIndex, dWeight, accumulate: true },
    () => js.embeddingBackward(ids, dy, rows, dim, paddingIndex, dWeight, true),
    () => undefined,
  );
}

/** y `[rows, outFeatures]` = x W^T + b. */
export const linearForward: Op<LinearForwardArgs, Float32Array> = defineOp('linearForward', planLinearForward);
/**
 * Adds dy^T x to dWeight and the column sums of dy to dBias; returns dx = dy W `[rows, inFeatures]`
 * (or null). Async: do not modify the inputs, `dWeight` or `dBias` until it settles.
 */
export const linearBackward: Op<LinearBackwardArgs, Float32Array | null> = defineOp('linearBackward', planLinearBackward);
/** out `[rows, dim]` = the table rows of `ids` (zeros at the padding index). */
export const embeddingForward: Op<EmbeddingForwardArgs, Float32Array> = defineOp('embeddingForward', planEmbeddingForward);
/**
 * Adds each dy row into the dWeight row of its id (the padding row excepted). Async: do not modify
 * the inputs or `dWeight` until it settles.
 */
export const embeddingBackward: Op<EmbeddingBackwardArgs, undefined> = defineOp('embeddingBackward', planEmbeddingBackward);

/** Arguments of {@link layerNormForward}. */
export interface LayerNormForwardArgs {
  /** Input `[rows, features]`. */
  readonly x: Float32Array;
  /** Rows N. */
  readonly rows: number;
  /** Features F, normalized together. */
  readonly features: number;
  /** Scale gamma `[features]`. Default: none (1). */
  readonly weight?: Float32Array | null;
  /** Shift beta `[features]`. Default: none (0). */
  readonly bias?: Float32Array | null;
  /** Added to the variance, in (0, 1]. Default: 1e-5 (PyTorch's). */
  readonly eps?: number;
}

/** What {@link layerNormForward} gives: the output and the row statistics backward needs. */
export interface LayerNormForwardResult {
  /** `[rows, features]`. */
  readonly y: Float32Array;
  /** `[rows]`. */
  readonly mean: Float32Array;
  /** `[rows]`: 1 / sqrt(var + eps). */
  readonly rstd: Float32Array;
}

/** Arguments of {@link layerNormBackward}. */
export interface LayerNormBackwardArgs {
  readonly x: Float32Array;
  readonly rows: number;
  readonly features: number;
  readonly weight?: Float32Array | null;
  /** The forward's `mean` and `rstd`. */
  readonly mean: Float32Array;
  readonly rstd: Float32Array;
  /** Gradient with respect to y `[rows, features]`. */
  readonly dy: Float32Array;
  /** `[features]`: sum over rows of dy * xhat is ADDED to it. Default: none. */
  readonly dWeight?: Float32Array | null;
  /** `[features]`: the column sums of dy are ADDED to it. Default: none. */
  readonly dBias?: Float32Array | null;
}

function normSizes(a: Fields) {
  const rows = checkSize(a.rows, 'rows');
  const features = checkSize(a.features, 'features');
  return {
    rows,
    features,
    xe: product('x', [
      ['rows', rows],
      ['features', features],
    ]),
    fe: product('weight', [['features', features]]),
    re: product('mean', [['rows', rows]]),
  };
}

function planLayerNormForward(args: LayerNormForwardArgs): Plan<LayerNormForwardResult> {
  const a = objectArgs(args);
  const { rows, features, xe, fe } = normSizes(a);
  const x = checkF32(a, 'x', xe);
  const weight = checkF32(a, 'weight', fe, false);
  const bias = checkF32(a, 'bias', fe, false);
  const eps = finite(a.eps, 'eps', { lo: 0, hi: 1, loOpen: true }, 1e-5);
  const out = { y: new Float32Array(xe.value), mean: new Float32Array(rows), rstd: new Float32Array(rows) };
  return planInPlace(
    { rows, features, x, weight, bias, eps, ...out },
    () => js.layerNormForward(x, weight, bias, rows, features, eps, out.y, out.mean, out.rstd),
    () => out,
  );
}

function planLayerNormBackward(args: LayerNormBackwardArgs): Plan<Float32Array> {
  const a = objectArgs(args);
  const { rows, features, xe, fe, re } = normSizes(a);
  const x = checkF32(a, 'x', xe);
  const weight = checkF32(a, 'weight', fe, false);
  const mean = checkF32(a, 'mean', re);
  const rstd = checkF32(a, 'rstd', re);
  const dy = checkF32(a, 'dy', xe);
  const dWeight = checkF32(a, 'dWeight', fe, false);
  const dBias = checkF32(a, 'dBias', fe, false);
  const dx = new Float32Array(xe.value);
  return planInPlace(
    { rows, features, x, weight, mean, rstd, dy, dx, dWeight, dBias },
    () => js.layerNormBackward(x, weight, mean, rstd, dy, rows, features, dx, dWeight, dBias),
    () => dx,
  );
}

/**
 * Layer normalization over the last dimension (PyTorch's `nn.LayerNorm(features)` on
 * `[rows, features]`): `y = (x - mean) / sqrt(var + eps) * weight + bias`, biased variance, with
 * the row statistics for backward (native/norm.h).
 */
export const layerNormForward: Op<LayerNormForwardArgs, LayerNormForwardResult> = defineOp('layerNormForward', planLayerNormForward);
/**
 * Gradients of {@link layerNormForward}: returns dx; ADDS into `dWeight` and `dBias`. Async: do not
 * modify the inputs, `dWeight` or `dBias` until it settles.
 */
export const layerNormBackward: Op<LayerNormBackwardArgs, Float32Array> = defineOp('layerNormBackward', planLayerNormBackward);

/** The async forms, by name. */
export const linearForwardAsync = linearForward.async;
export const linearBackwardAsync = linearBackward.async;
export const embeddingForwardAsync = embeddingForward.async;
export const embeddingBackwardAsync = embeddingBackward.async;
export const layerNormForwardAsync = layerNormForward.async;
export const layerNormBackwardAsync = layerNormBackward.async;

/** The layer kernels, each with its `...Async` twin. */
export const nnKernels = {
  linearForward,
  linearBackward,
  embeddingForward,
  embeddingBackward,
  layerNormForward,
  layerNormBackward,
  linearForwardAsync,
  linearBackwardAsync,
  embeddingForwardAsync,
  embeddingBackwardAsync,
  layerNormForwardAsync,
  layerNormBackwardAsync,
} as const;

/**
 * Training kernels with a typed, validated API: losses (softmax cross-entropy, BCE with logits, MSE)
 * returning the loss and its gradient in one pass, optimizer steps that update parameters and their
 * state in place (SGD, Adam, AdamW, RMSprop, PyTorch semantics and defaults), and gradient clipping.
 *
 *   const { loss, dLogits, correct } = losses.softmaxCrossEntropy({ logits, targets, numClasses: 10 });
 *   optimizers.adamStep({ param, grad, expAvg, expAvgSq, step: t, lr: 1e-3 });
 *
 * Every call runs on the native kernels (native/train.h) unless `{ backend: 'js' }` is passed; the
 * native backend throws a {@link NativeError} when the addon cannot be loaded. Both give the same results up to float32 rounding (tested for parity).
 *
 * Arguments are checked here before any backend runs (the addon checks them again): every error is a
 * {@link ShapeError} (wrong length) or {@link ValueError} (wrong type, out-of-range value) naming the
 * argument, e.g. `targets: targets[3] = 12 is outside [0, numClasses = 10) and is not ignoreIndex (-100)`.
 * Arrays are Float32Array (targets Int32Array), on fixed-length, attached buffers. State buffers are
 * the caller's: allocate them zeroed with the parameter's length, keep them between steps.
 *
 * Every kernel has an async form (`softmaxCrossEntropy.async`, also `losses.softmaxCrossEntropyAsync`)
 * with the same arguments and its result as a Promise: with the native backend the kernel runs on a libuv
 * worker thread and the event loop keeps running (bit-identical results to the sync kernel); with
 * `'js'` it runs inline before resolving. Errors, validation ones included, reject the promise with
 * the same typed error the sync kernel throws. The arrays passed in (inputs, parameters, state
 * buffers, gradients) must not be modified, nor their buffers transferred, until the promise
 * settles: the kernel reads and writes them while JavaScript runs.
 */
import type { Plan } from '../backend/index.js';
import {
  checkBool,
  checkF32,
  checkI32,
  checkInt,
  checkSize,
  describe,
  type Extent,
  type Fields,
  finite,
  lengthOf,
  objectArgs,
  oneOf,
  product,
  type Range,
} from '../check.js';
import { ValueError } from '../errors.js';
import * as js from '../js/train.js';
import { type Alloc, defineOp, type Op, type OpOptions, planInPlace } from './op.js';

/** Per-call options (the backend). */
export type TrainCallOptions = OpOptions;

/** How per-row losses are combined. */
export type Reduction = js.Reduction;

/** A step kernel's result: nothing (the arrays were updated in place). */
const nothing = (): void => undefined;

// ---------------------------------------------------------------------------------------------
// validation (the shared checks are lib/check.ts's; these are the training ops' own)

/** Optional weights: Float32Array of `extent`, every element finite and >= 0. */
function weightsOf(a: Fields, extent: Extent): Float32Array | null {
  const w = checkF32(a, 'weights', extent, false);
  if (w) {
    for (let i = 0; i < w.length; i++) {
      if (!(w[i] >= 0) || !Number.isFinite(w[i])) {
        throw new ValueError(`weights[${i}] = ${w[i]} is not a finite number >= 0`, 'weights');
      }
    }
  }
  return w;
}

/**
 * The meaningful range of each hyperparameter (shared with lib/train/optimizers.ts). PyTorch only
 * asks for >= 0; beyond these bounds a step makes infinite or NaN weights (an `eps` of 0 divides 0 by
 * 0 wherever a gradient is exactly 0), so they are refused up front.
 */
export const HYPER_RANGES = {
  lr: { lo: 0, hi: 1e3 },
  momentum: { lo: 0, hi: 1, hiOpen: true },
  dampening: { lo: 0, hi: 1 },
  weightDecay: { lo: 0, hi: 1e3 },
  beta: { lo: 0, hi: 1, hiOpen: true },
  eps: { lo: 0, hi: 1, loOpen: true },
  alpha: { lo: 0, hi: 1 },
} as const satisfies Record<string, Range>;

function reductionOf(a: Fields): Reduction {
  return oneOf(a.reduction, ['mean', 'sum'] as const, 'mean', 'reduction');
}

function gradList(a: Fields): Float32Array[] {
  const v = a.grads;
  if (!Array.isArray(v)) throw new ValueError(`expected an Array of Float32Arrays, got ${describe(v)}`, 'grads');
  const list = v as readonly unknown[];
  return list.map((g, k) => checkF32({ [`grads[${k}]`]: g }, `grads[${k}]`));
}

// ---------------------------------------------------------------------------------------------
// losses

/** Arguments of {@link softmaxCrossEntropy}. */
export interface SoftmaxCrossEntropyArgs {
  /** Unnormalized scores `[N, numClasses]`, row-major. */
  readonly logits: Float32Array;
  /** Class id of each row `[N]`: in [0, numClasses), or `ignoreIndex`. */
  readonly targets: Int32Array;
  /** Number of classes C (>= 1 unless N is 0 or every row is ignored). */
  readonly numClasses: number;
  /** Per-row weights `[N]`, each finite and >= 0 (0 masks the row out). Default: all 1. */
  readonly weights?: Float32Array | null;
  /** Rows whose target equals this count for nothing (loss, gradient, mean). Default: -100 (PyTorch's). */
  readonly ignoreIndex?: number;
  /**
   * `'mean'`: the weighted sum of the row losses / the sum of the weights of the rows that count
   * (PyTorch's CrossEntropyLoss semantics); 0 when nothing counts (PyTorch: NaN). `'sum'`: the weighted
   * sum. Default: `'mean'`.
   */
  readonly reduction?: Reduction;
}

/** Result of {@link softmaxCrossEntropy}. */
export interface SoftmaxCrossEntropyResult {
  /** The reduced loss. */
  readonly loss: number;
  /** Gradient of `loss` with respect to `logits`, `[N, numClasses]` (zero rows where ignored or masked). */
  readonly dLogits: Float32Array;
  /** `[N]`: 1 where a counted row's argmax (first maximum) is its target, else 0. */
  readonly correct: Uint8Array;
  /** Number of ones in `correct`. */
  readonly numCorrect: number;
  /** Sum of the weights of the rows that count (the mean's denominator). */
  readonly weightSum: number;
}

function planSoftmaxCrossEntropy(args: SoftmaxCrossEntropyArgs, alloc: Alloc): Plan<SoftmaxCrossEntropyResult> {
  const a = objectArgs(args);
  const C = checkSize(a.numClasses, 'numClasses');
  const t = checkI32(a, 'targets');
  const N = t.length;
  const logits = checkF32(
    a,
    'logits',
    product('logits', [
      ['N', N],
      ['numClasses', C],
    ]),
  );
  const weights = weightsOf(a, { value: N, formula: `N = targets.length = ${N}` });
  const ignoreIndex = a.ignoreIndex === undefined ? -100 : checkInt(a.ignoreIndex, 'ignoreIndex', -(2 ** 31), 2 ** 31 - 1);
  const reduction = reductionOf(a);
  for (let i = 0; i < N; i++) {
    const ti = t[i];
    if (ti !== ignoreIndex && (ti < 0 || ti >= C)) {
      throw new ValueError(`targets[${i}] = ${ti} is outside [0, numClasses = ${C}) and is not ignoreIndex (${ignoreIndex})`, 'targets');
    }
  }
  const dLogits = alloc(N * C);
  const correct = new Uint8Array(N);
  return planInPlace(
    { rows: N, numClasses: C, logits, targets: t, weights, ignoreIndex, reduction, dLogits, correct },
    () => js.softmaxCrossEntropy(logits, t, weights, N, C, ignoreIndex, reduction, dLogits, correct),
    (totals) => ({ loss: totals.loss, dLogits, correct, numCorrect: totals.numCorrect, weightSum: totals.weightSum }),
  );
}

/** Arguments of {@link bceWithLogits}. */
export interface BceWithLogitsArgs {
  /** Logits `[n]` (any real numbers). */
  readonly logits: Float32Array;
  /** Target probabilities `[n]`, each in [0, 1]. */
  readonly targets: Float32Array;
  /** Per-element weights `[n]`, each finite and >= 0. Default: all 1. */
  readonly weights?: Float32Array | null;
  /** `'mean'` (weighted sum / n, PyTorch's BCEWithLogitsLoss) or `'sum'`. Default: `'mean'`. */
  readonly reduction?: Reduction;
}

/** Result of {@link bceWithLogits}. */
export interface BceWithLogitsResult {
  readonly loss: number;
  /** Gradient with respect to `logits`, `[n]`. */
  readonly dLogits: Float32Array;
}

function planBceWithLogits(args: BceWithLogitsArgs): Plan<BceWithLogitsResult> {
  const a = objectArgs(args);
  const x = checkF32(a, 'logits');
  const n = x.length;
  const y = checkF32(a, 'targets', lengthOf('logits', n));
  for (let i = 0; i < n; i++) {
    if (!(y[i] >= 0 && y[i] <= 1)) throw new ValueError(`targets[${i}] = ${y[i]} is outside [0, 1]`, 'targets');
  }
  const w = weightsOf(a, lengthOf('logits', n));
  const reduction = reductionOf(a);
  const dLogits = new Float32Array(n);
  return planInPlace(
    { size: n, input: x, target: y, weights: w, reduction, dInput: dLogits },
    () => js.bceWithLogits(x, y, w, n, reduction, dLogits),
    (loss) => ({ loss, dLogits }),
  );
}

/** Arguments of {@link mse}. */
export interface MseArgs {
  /** Predictions `[n]`. */
  readonly predictions: Float32Array;
  /** Targets `[n]`. */
  readonly targets: Float32Array;
  /** Per-element weights `[n]`, each finite and >= 0. Default: all 1. */
  readonly weights?: Float32Array | null;
  /** `'mean'` (weighted sum / n, PyTorch's MSELoss) or `'sum'`. Default: `'mean'`. */
  readonly reduction?: Reduction;
}

/** Result of {@link mse}. */
export interface MseResult {
  readonly loss: number;
  /** Gradient with respect to `predictions`, `[n]`. */
  readonly dPredictions: Float32Array;
}

function planMse(args: MseArgs): Plan<MseResult> {
  const a = objectArgs(args);
  const p = checkF32(a, 'predictions');
  const n = p.length;
  const t = checkF32(a, 'targets', lengthOf('predictions', n));
  const w = weightsOf(a, lengthOf('predictions', n));
  const reduction = reductionOf(a);
  const dPredictions = new Float32Array(n);
  return planInPlace(
    { size: n, input: p, target: t, weights: w, reduction, dInput: dPredictions },
    () => js.mse(p, t, w, n, reduction, dPredictions),
    (loss) => ({ loss, dPredictions }),
  );
}

/** Softmax cross-entropy over classes with its gradient and per-row accuracy. */
export const softmaxCrossEntropy: Op<SoftmaxCrossEntropyArgs, SoftmaxCrossEntropyResult> = defineOp(
  'softmaxCrossEntropy',
  planSoftmaxCrossEntropy,
);
/** Binary cross-entropy on logits: max(x,0) - x y + log(1 + exp(-|x|)), stable for any x. */
export const bceWithLogits: Op<BceWithLogitsArgs, BceWithLogitsResult> = defineOp('bceWithLogits', planBceWithLogits);
/** Mean squared error, w (p - t)^2. */
export const mse: Op<MseArgs, MseResult> = defineOp('mse', planMse);

/** The async forms, by name. */
export const softmaxCrossEntropyAsync = softmaxCrossEntropy.async;
export const bceWithLogitsAsync = bceWithLogits.async;
export const mseAsync = mse.async;

/** The loss functions, each with its `...Async` twin. */
export const losses = { softmaxCrossEntropy, bceWithLogits, mse, softmaxCrossEntropyAsync, bceWithLogitsAsync, mseAsync } as const;

// ---------------------------------------------------------------------------------------------
// optimizers

const MAX_STEP = 2 ** 31 - 1;

/** Arguments of {@link sgdStep} (torch.optim.SGD). */
export interface SgdStepArgs {
  /** Parameters `[n]`, updated in place. */
  readonly param: Float32Array;
  /** Gradient `[n]` (not modified). */
  readonly grad: Float32Array;
  /** Momentum buffer `[n]`, updated in place; required when `momentum` is not 0 (start it zeroed). */
  readonly momentumBuffer?: Float32Array | null;
  /** 1-based count of this step; step 1 sets the momentum buffer to the gradient (PyTorch's first step). */
  readonly step: number;
  /** Learning rate, in [0, 1000]. Default: 1e-3 (PyTorch's). */
  readonly lr?: number;
  /** Momentum factor, in [0, 1). Default: 0. */
  readonly momentum?: number;
  /** Dampening for momentum, in [0, 1]. Default: 0. */
  readonly dampening?: number;
  /** L2 penalty added to the gradient (wd * param), in [0, 1000]. Default: 0. */
  readonly weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default: false. */
  readonly nesterov?: boolean;
}

function planSgdStep(args: SgdStepArgs): Plan<void> {
  const a = objectArgs(args);
  const param = checkF32(a, 'param');
  const n = param.length;
  const f = lengthOf('param', n);
  const grad = checkF32(a, 'grad', f);
  const step = checkInt(a.step, 'step', 1, MAX_STEP);
  const h: js.SgdHyper = {
    lr: finite(a.lr, 'lr', HYPER_RANGES.lr, 1e-3),
    momentum: finite(a.momentum, 'momentum', HYPER_RANGES.momentum, 0),
    dampening: finite(a.dampening, 'dampening', HYPER_RANGES.dampening, 0),
    weightDecay: finite(a.weightDecay, 'weightDecay', HYPER_RANGES.weightDecay, 0),
    nesterov: checkBool(a, 'nesterov', false),
  };
  if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
    throw new ValueError(`requires momentum > 0 and dampening = 0, got momentum ${h.momentum}, dampening ${h.dampening}`, 'nesterov');
  }
  const buf = checkF32(a, 'momentumBuffer', f, false);
  if (h.momentum !== 0 && !buf)
    throw new ValueError(
      `expected a Float32Array of length ${n} (${f.formula}) when momentum is not 0, got ${describe(a.momentumBuffer)}`,
      'momentumBuffer',
    );
  return planInPlace(
    { size: n, param, grad, momentumBuffer: buf, ...h, step },
    () => {
      js.sgdStep(param, grad, buf, n, h, step);
      return undefined;
    },
    nothing,
  );
}

/** Arguments of {@link adamStep} (torch.optim.Adam) and {@link adamwStep} (torch.optim.AdamW). */
export interface AdamStepArgs {
  /** Parameters `[n]`, updated in place. */
  readonly param: Float32Array;
  /** Gradient `[n]` (not modified). */
  readonly grad: Float32Array;
  /** First moment `[n]` (exp_avg), updated in place; start it zeroed. */
  readonly expAvg: Float32Array;
  /** Second moment `[n]` (exp_avg_sq), updated in place; start it zeroed. */
  readonly expAvgSq: Float32Array;
  /** 1-based count of this step (bias correction 1 - beta^step). */
  readonly step: number;
  /** Learning rate, in [0, 1000]. Default: 1e-3. */
  readonly lr?: number;
  /** (beta1, beta2), each in [0, 1). Default: (0.9, 0.999). */
  readonly betas?: readonly [number, number];
  /** Added to the denominator, in (0, 1]. Default: 1e-8. */
  readonly eps?: number;
  /** Weight decay, in [0, 1000]. Default: 0 for Adam (L2 added to the gradient), 1e-2 for AdamW (decoupled). */
  readonly weightDecay?: number;
  /** Decoupled weight decay (param *= 1 - lr wd, AdamW). Default: false (adamStep), true (adamwStep). */
  readonly decoupledWeightDecay?: boolean;
}

function planAdam(args: AdamStepArgs, adamw: boolean): Plan<void> {
  const a = objectArgs(args);
  const param = checkF32(a, 'param');
  const n = param.length;
  const f = lengthOf('param', n);
  const grad = checkF32(a, 'grad', f);
  const expAvg = checkF32(a, 'expAvg', f);
  const expAvgSq = checkF32(a, 'expAvgSq', f);
  const step = checkInt(a.step, 'step', 1, MAX_STEP);
  let beta1 = 0.9;
  let beta2 = 0.999;
  if (a.betas !== undefined) {
    const b = a.betas;
    if (!Array.isArray(b) || b.length !== 2) throw new ValueError(`expected a pair [beta1, beta2], got ${describe(b)}`, 'betas');
    const pair = b as readonly unknown[];
    beta1 = finite(pair[0], 'betas[0]', HYPER_RANGES.beta);
    beta2 = finite(pair[1], 'betas[1]', HYPER_RANGES.beta);
  }
  const decoupled = checkBool(a, 'decoupledWeightDecay', adamw);
  const h: js.AdamHyper = {
    lr: finite(a.lr, 'lr', HYPER_RANGES.lr, 1e-3),
    beta1,
    beta2,
    eps: finite(a.eps, 'eps', HYPER_RANGES.eps, 1e-8),
    weightDecay: finite(a.weightDecay, 'weightDecay', HYPER_RANGES.weightDecay, adamw ? 1e-2 : 0),
    decoupled,
  };
  return planInPlace(
    {
      size: n,
      param,
      grad,
      expAvg,
      expAvgSq,
      lr: h.lr,
      beta1,
      beta2,
      eps: h.eps,
      weightDecay: h.weightDecay,
      decoupledWeightDecay: decoupled,
      step,
    },
    () => {
      js.adamStep(param, grad, expAvg, expAvgSq, n, h, step);
      return undefined;
    },
    nothing,
  );
}

/** Arguments of {@link rmspropStep} (torch.optim.RMSprop). */
export interface RmspropStepArgs {
  /** Parameters `[n]`, updated in place. */
  readonly param: Float32Array;
  /** Gradient `[n]` (not modified). */
  readonly grad: Float32Array;
  /** Running average of the squared gradient `[n]`, updated in place; start it zeroed. */
  readonly squareAvg: Float32Array;
  /** Running average of the gradient `[n]`; required when `centered`. */
  readonly gradAvg?: Float32Array | null;
  /** Momentum buffer `[n]`; required when `momentum` > 0. */
  readonly momentumBuffer?: Float32Array | null;
  /** Learning rate, in [0, 1000]. Default: 1e-2 (PyTorch's). */
  readonly lr?: number;
  /** Smoothing constant in [0, 1]. Default: 0.99. */
  readonly alpha?: number;
  /** Added to the denominator, in (0, 1]. Default: 1e-8. */
  readonly eps?: number;
  /** L2 penalty added to the gradient, in [0, 1000]. Default: 0. */
  readonly weightDecay?: number;
  /** Momentum factor, in [0, 1). Default: 0. */
  readonly momentum?: number;
  /** Normalize by the estimated variance (sq - avg^2) instead of the second moment. Default: false. */
  readonly centered?: boolean;
}

function planRmspropStep(args: RmspropStepArgs): Plan<void> {
  const a = objectArgs(args);
  const param = checkF32(a, 'param');
  const n = param.length;
  const f = lengthOf('param', n);
  const grad = checkF32(a, 'grad', f);
  const squareAvg = checkF32(a, 'squareAvg', f);
  const h: js.RmspropHyper = {
    lr: finite(a.lr, 'lr', HYPER_RANGES.lr, 1e-2),
    alpha: finite(a.alpha, 'alpha', HYPER_RANGES.alpha, 0.99),
    eps: finite(a.eps, 'eps', HYPER_RANGES.eps, 1e-8),
    weightDecay: finite(a.weightDecay, 'weightDecay', HYPER_RANGES.weightDecay, 0),
    momentum: finite(a.momentum, 'momentum', HYPER_RANGES.momentum, 0),
    centered: checkBool(a, 'centered', false),
  };
  const gradAvg = checkF32(a, 'gradAvg', f, false);
  if (h.centered && !gradAvg)
    throw new ValueError(`expected a Float32Array of length ${n} (${f.formula}) when centered, got ${describe(a.gradAvg)}`, 'gradAvg');
  const buf = checkF32(a, 'momentumBuffer', f, false);
  if (h.momentum > 0 && !buf)
    throw new ValueError(
      `expected a Float32Array of length ${n} (${f.formula}) when momentum > 0, got ${describe(a.momentumBuffer)}`,
      'momentumBuffer',
    );
  const ga = h.centered ? gradAvg : null;
  const mb = h.momentum > 0 ? buf : null;
  return planInPlace(
    { size: n, param, grad, squareAvg, gradAvg: ga, momentumBuffer: mb, ...h },
    () => {
      js.rmspropStep(param, grad, squareAvg, ga, mb, n, h);
      return undefined;
    },
    nothing,
  );
}

/** Arguments of {@link clipGradNorm} (torch.nn.utils.clip_grad_norm_, L2). */
export interface ClipGradNormArgs {
  /** The gradients, clipped together in place. */
  readonly grads: readonly Float32Array[];
  /** Largest allowed global L2 norm, >= 0. Required. */
  readonly maxNorm: number;
}

function planClipGradNorm(args: ClipGradNormArgs): Plan<number> {
  const a = objectArgs(args);
  if (a.maxNorm === undefined) throw new ValueError('expected a finite number >= 0, got undefined', 'maxNorm');
  const maxNorm = finite(a.maxNorm, 'maxNorm', { lo: 0 });
  const grads = gradList(a);
  return planInPlace(
    { grads, maxNorm },
    () => js.clipGradNorm(grads, maxNorm),
    (norm) => norm,
  );
}

/** Arguments of {@link clipGradValue} (torch.nn.utils.clip_grad_value_). */
export interface ClipGradValueArgs {
  /** The gradients, clamped in place. */
  readonly grads: readonly Float32Array[];
  /** Every element is clamped into [-clipValue, clipValue]; >= 0, at most float32's max. Required. */
  readonly clipValue: number;
}

function planClipGradValue(args: ClipGradValueArgs): Plan<void> {
  const a = objectArgs(args);
  if (a.clipValue === undefined) throw new ValueError('expected a finite number >= 0, got undefined', 'clipValue');
  const clipValue = finite(a.clipValue, 'clipValue', { lo: 0, hi: 3.4028234663852886e38 });
  const grads = gradList(a);
  return planInPlace(
    { grads, clipValue },
    () => {
      js.clipGradValue(grads, clipValue);
      return undefined;
    },
    nothing,
  );
}

/** One SGD step in place. */
export const sgdStep: Op<SgdStepArgs, void> = defineOp('sgdStep', planSgdStep);
/** One Adam step in place (or AdamW's with `decoupledWeightDecay: true`). */
export const adamStep: Op<AdamStepArgs, void> = defineOp('adamStep', (a: AdamStepArgs) => planAdam(a, false));
/** One AdamW step in place: {@link adamStep} with decoupled weight decay, default weightDecay 1e-2 (the same kernel). */
export const adamwStep: Op<AdamStepArgs, void> = defineOp('adamStep', (a: AdamStepArgs) => planAdam(a, true));
/** One RMSprop step in place. RMSprop has no bias correction, so it takes no step count. */
export const rmspropStep: Op<RmspropStepArgs, void> = defineOp('rmspropStep', planRmspropStep);
/**
 * Global L2 norm of all `grads` together (double sum, in order); when it exceeds `maxNorm`, every
 * gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping.
 */
export const clipGradNorm: Op<ClipGradNormArgs, number> = defineOp('clipGradNorm', planClipGradNorm);
/** Clamps every gradient element into [-clipValue, clipValue] in place (NaN stays NaN). */
export const clipGradValue: Op<ClipGradValueArgs, void> = defineOp('clipGradValue', planClipGradValue);

/** The async forms, by name. */
export const sgdStepAsync = sgdStep.async;
export const adamStepAsync = adamStep.async;
export const adamwStepAsync = adamwStep.async;
export const rmspropStepAsync = rmspropStep.async;
export const clipGradNormAsync = clipGradNorm.async;
export const clipGradValueAsync = clipGradValue.async;

/** The optimizer steps and clipping, each with its `...Async` twin. */
export const optimizers = {
  sgdStep,
  adamStep,
  adamwStep,
  rmspropStep,
  clipGradNorm,
  clipGradValue,
  sgdStepAsync,
  adamStepAsync,
  adamwStepAsync,
  rmspropStepAsync,
  clipGradNormAsync,
  clipGradValueAsync,
} as const;

/**
 * The native training ops (native/binding/train_binding.cc, `exports.train` of the addon) as typed
 * functions (lib/native.ts's {@link addonPart} loads them). Internal: lib/train/kernels.ts validates
 * arguments and calls these; tests call {@link nativeTrainAvailable}.
 *
 * Addon errors (`code` ERR_GATED_SHAPE / ERR_GATED_VALUE / ERR_GATED_NATIVE) become ShapeError /
 * ValueError / NativeError through the same mapping as the cell ops.
 */
import { mapNativeError } from '../backend/native.js';
import { addonHasPart, callAddonPart } from '../native.js';
import type { NativeOp } from '../nn/native.js';

/** What the addon's softmaxCrossEntropy returns (dLogits and correct are written in place). */
export interface NativeCrossEntropyTotals {
  readonly loss: number;
  readonly weightSum: number;
  readonly numCorrect: number;
}

/** What each training op returns (sync) or its promise resolves to (`async: true`). */
export interface NativeTrainResults {
  softmaxCrossEntropy: NativeCrossEntropyTotals;
  bceWithLogits: number;
  mse: number;
  sgdStep: undefined;
  adamStep: undefined;
  rmspropStep: undefined;
  clipGradNorm: number;
  clipGradValue: undefined;
}

/**
 * `exports.train` of the addon; each op takes one object (field names: train_binding.cc), sync or
 * with `async: true` ({@link NativeOp}).
 */
export type NativeTrainOps = { readonly [K in keyof NativeTrainResults]: NativeOp<NativeTrainResults[K]> };

/** Whether the addon loads and has the training ops. Never throws. */
export function nativeTrainAvailable(): boolean {
  return addonHasPart('train');
}

/**
 * Runs `fn` on the addon's training ops, mapping addon errors to typed ones. Throws a
 * {@link NativeError} when the addon cannot be loaded or was built without the training ops.
 */
export function callNativeTrain<R>(fn: (ops: NativeTrainOps) => R): R {
  return callAddonPart('train', fn, mapNativeError);
}

/**
 * {@link callNativeTrain} for an async call (`fn` passes `async: true`): resolves to what the op's
 * promise resolves to; every failure (addon missing, argument error, kernel failure) rejects with
 * the typed error.
 */
export async function callNativeTrainAsync<R>(fn: (ops: NativeTrainOps) => Promise<R>): Promise<R> {
  try {
    return await callAddonPart('train', fn, mapNativeError);
  } catch (err) {
    throw mapNativeError(err);
  }
}

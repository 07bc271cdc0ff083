/**
 * The native training ops (native/binding/train_binding.cc, `exports.train` of the addon) as typed
 * functions (lib/native.ts's {@link addonPart} loads them). Internal: lib/train/kernels.ts validates
 * arguments and calls these; tests call {@link nativeTrainAvailable}.
 *
 * Addon errors (`code` ERR_GATED_SHAPE / ERR_GATED_VALUE / ERR_GATED_NATIVE) become ShapeError /
 * ValueError / NativeError through the same mapping as the cell ops.
 */
import { mapNativeError } from '../backend/native.js';
import { addonHasPart, callAddonPart, type NativeCallArgs } from '../native.js';

/** What the addon's softmaxCrossEntropy returns (dLogits and correct are written in place). */
export interface NativeCrossEntropyTotals {
  readonly loss: number;
  readonly weightSum: number;
  readonly numCorrect: number;
}

/** `exports.train` of the addon; each op takes one object (field names: train_binding.cc). */
export interface NativeTrainOps {
  softmaxCrossEntropy(args: NativeCallArgs): NativeCrossEntropyTotals;
  bceWithLogits(args: NativeCallArgs): number;
  mse(args: NativeCallArgs): number;
  sgdStep(args: NativeCallArgs): undefined;
  adamStep(args: NativeCallArgs): undefined;
  rmspropStep(args: NativeCallArgs): undefined;
  clipGradNorm(args: NativeCallArgs): number;
  clipGradValue(args: NativeCallArgs): undefined;
}

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

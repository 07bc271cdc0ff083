/**
 * The native layer kernels (native/binding/nn_binding.cc, `exports.nn` of the addon) as typed
 * functions (lib/native.ts's {@link addonPart} loads them). Internal: lib/nn/kernels.ts validates
 * arguments and calls these; tests call {@link nativeNnAvailable}. Addon errors become ShapeError /
 * ValueError / NativeError through the same mapping as the cell ops.
 */
import { mapNativeError } from '../backend/native.js';
import { addonHasPart, callAddonPart, type NativeCallArgs } from '../native.js';

/** `exports.nn` of the addon; each op takes one object (field names: nn_binding.cc) and writes its outputs in place. */
export interface NativeNnOps {
  linearForward(args: NativeCallArgs): undefined;
  linearBackward(args: NativeCallArgs): undefined;
  embeddingForward(args: NativeCallArgs): undefined;
  embeddingBackward(args: NativeCallArgs): undefined;
}

/** Whether the addon loads and has the layer kernels. Never throws. */
export function nativeNnAvailable(): boolean {
  return addonHasPart('nn');
}

/**
 * Runs `fn` on the addon's layer kernels, mapping addon errors to typed ones. Throws a
 * {@link NativeError} when the addon cannot be loaded or was built without them.
 */
export function callNativeNn<R>(fn: (ops: NativeNnOps) => R): R {
  return callAddonPart('nn', fn, mapNativeError);
}

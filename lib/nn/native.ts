/**
 * The native layer kernels (native/binding/nn_binding.cc, `exports.nn` of the addon) as typed
 * functions. Internal: lib/nn/kernels.ts validates arguments and calls these; tests call
 * {@link nativeNnAvailable}. Addon errors become ShapeError / ValueError / NativeError through the
 * same mapping as the cell ops.
 */
import { mapNativeError } from '../backend/native.js';
import { NativeError } from '../errors.js';
import { loadAddon, nativeAvailable, type NativeCallArgs } from '../native.js';

/** `exports.nn` of the addon; each op takes one object (field names: nn_binding.cc) and writes its outputs in place. */
export interface NativeNnOps {
  linearForward(args: NativeCallArgs): undefined;
  linearBackward(args: NativeCallArgs): undefined;
  embeddingForward(args: NativeCallArgs): undefined;
  embeddingBackward(args: NativeCallArgs): undefined;
}

function nnExport(): NativeNnOps | undefined {
  return (loadAddon() as unknown as { readonly nn?: NativeNnOps }).nn;
}

/** Whether the addon loads and has the layer kernels. Never throws. */
export function nativeNnAvailable(): boolean {
  return nativeAvailable() && nnExport() !== undefined;
}

/**
 * Runs `fn` on the addon's layer kernels, mapping addon errors to typed ones. Throws a
 * {@link NativeError} when the addon cannot be loaded or was built without them.
 */
export function callNativeNn<R>(fn: (ops: NativeNnOps) => R): R {
  const ops = nnExport(); // loadAddon throws NativeError when the addon is missing
  if (ops === undefined) {
    throw new NativeError(
      "the native addon has no layer kernels (exports.nn): rebuild it (`npm run build:native`), or use the 'js' backend",
    );
  }
  try {
    return fn(ops);
  } catch (err) {
    throw mapNativeError(err);
  }
}

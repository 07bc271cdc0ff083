/**
 * The native layer kernels (native/binding/nn_binding.cc, `exports.nn` of the addon) as typed
 * functions (lib/native.ts's {@link addonPart} loads them). Internal: lib/nn/kernels.ts validates
 * arguments and calls these; tests call {@link nativeNnAvailable}. Addon errors become ShapeError /
 * ValueError / NativeError through the same mapping as the cell ops.
 */
import { mapNativeError } from '../backend/native.js';
import { addonHasPart, callAddonPart, type NativeCallArgs } from '../native.js';

/**
 * One op of the addon's optional parts (nn, train, jordan): with `async` absent or false it runs on
 * the calling thread and returns `R`; with `async: true` it returns a Promise of `R`, resolved once
 * the kernel ran on a libuv worker thread (native/binding/worker.h). Argument errors are thrown in
 * both modes (before anything is queued).
 */
export interface NativeOp<R> {
  (args: NativeCallArgs & { readonly async?: false | null }): R;
  (args: NativeCallArgs & { readonly async: true }): Promise<R>;
}

/** `exports.nn` of the addon; each op takes one object (field names: nn_binding.cc) and writes its outputs in place. */
export interface NativeNnOps {
  readonly linearForward: NativeOp<undefined>;
  readonly linearBackward: NativeOp<undefined>;
  readonly embeddingForward: NativeOp<undefined>;
  readonly embeddingBackward: NativeOp<undefined>;
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

/**
 * {@link callNativeNn} for an async call (`fn` passes `async: true`): resolves to what the op's
 * promise resolves to; every failure (addon missing, argument error, kernel failure) rejects with
 * the typed error.
 */
export async function callNativeNnAsync<R>(fn: (ops: NativeNnOps) => Promise<R>): Promise<R> {
  try {
    return await callAddonPart('nn', fn, mapNativeError);
  } catch (err) {
    throw mapNativeError(err);
  }
}

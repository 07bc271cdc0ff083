/**
 * What an op is: a name (the addon's export of the same name) and a `plan` function that validates
 * the arguments (every check of lib/check.ts, so both backends raise the same typed error for the
 * same mistake, before either runs) and returns a {@link Plan}: the pure-TS twin, and the native
 * call with its outputs allocated. {@link defineOp} turns that into the op users call, sync and
 * async, on the backend the options name (default: the process default).
 *
 * Adding an op: one `defineOp` in a file of lib/ops/ (its plan: checks, the native fields, the twin
 * in lib/js/), its kernel and binding in native/, and a line in lib/ops/index.ts.
 *
 * Async calls: with the native backend the kernel runs on a libuv worker thread and the event loop
 * keeps running; with `'js'` the twin runs inline before the promise resolves. Validation errors
 * reject the promise. Inputs must not be modified (or their buffers transferred or resized) until
 * the promise settles: the native kernel reads them while JavaScript runs. A buffer detached or
 * resized meanwhile rejects the promise with a ValueError naming the argument once the kernel ends,
 * but cannot stop the kernel from reading memory the array no longer owns
 * (native/binding/worker.h).
 */
import { objectArgs } from '../check.js';
import { ShapeError } from '../errors.js';
import type { NativeCallArgs } from '../backend/addon.js';
import { type Backend, type BackendName, type Plan, resolveBackend } from '../backend/index.js';

/** Options every op accepts. */
export interface OpOptions {
  /**
   * Which implementation runs the op: `'native'` (the C++ addon), `'js'` (pure TypeScript), or a
   * {@link Backend} object. Default: the process default (see `setDefaultBackend`; initially
   * `'native'`).
   */
  readonly backend?: BackendName | Backend;
}

/** An op: `op(args, options)` runs it on the calling thread, `op.async(args, options)` off it. */
export interface Op<A, R> {
  /** The op's name (also the addon export that runs it). */
  readonly opName: string;
  (args: A, options?: OpOptions): R;
  /** The same op off the main thread (native backend); see the module comment. */
  async(args: A, options?: OpOptions): Promise<R>;
}

function backendOf(options: OpOptions | undefined): Backend {
  if (options === undefined) return resolveBackend(undefined, 'options.backend');
  return resolveBackend(objectArgs(options, 'options').backend, 'options.backend');
}

/** The op named `name` whose arguments `plan` validates (see the module comment). */
export function defineOp<A, R>(name: string, plan: (args: A) => Plan<R>): Op<A, R> {
  const op = ((args: A, options?: OpOptions): R => {
    const p = plan(args);
    return backendOf(options).run(name, p);
  }) as Op<A, R>;
  Object.defineProperty(op, 'opName', { value: name });
  op.async = async (args: A, options?: OpOptions): Promise<R> => {
    const p = plan(args);
    return backendOf(options).runAsync(name, p);
  };
  return op;
}

/**
 * The plan of an op whose outputs were allocated before either backend runs (so both write the same
 * arrays): `twin` computes them in TS and returns what the addon's op returns (a loss, a norm, or
 * nothing), and `result` turns that into the op's result.
 */
export function planInPlace<T, R>(fields: NativeCallArgs, twin: () => T, result: (returned: T) => R): Plan<R> {
  return { js: () => result(twin()), native: () => ({ fields, result: (returned) => result(returned as T) }) };
}

/**
 * An output array for the addon to fill. The kernels overwrite every element of every output they
 * are given (native/cells.h; native/tests/cells_test.cc pre-fills outputs with poison to prove it),
 * so large ones are allocated without the zero fill of `new Float32Array(n)`: for a training step's
 * 16 MB cache that fill is a whole extra pass over memory. Small ones keep the plain constructor.
 * Only for outputs the kernel writes completely.
 */
export function outputArray(n: number): Float32Array {
  if (n < 16384) return new Float32Array(n);
  try {
    const bytes = Buffer.allocUnsafeSlow(4 * n); // its own ArrayBuffer, byteOffset 0, not pooled
    return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new ShapeError(`cannot allocate an output of ${n} floats (${((n * 4) / 2 ** 30).toFixed(1)} GiB)`, 'sizes');
  }
}

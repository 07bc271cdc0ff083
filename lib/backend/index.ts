/**
 * The two implementations of every op, by name, and the process default.
 *
 * An op (lib/ops/) validates its arguments and makes a {@link Plan}: its pure-TypeScript twin, and
 * the addon call with its outputs allocated. A {@link Backend} runs a plan: `'native'` calls the
 * addon's op of the same name (sync, or on a libuv worker thread with `runAsync`) and maps its errors
 * to typed ones; `'js'` runs the twin (inline, also for `runAsync`, which then resolves).
 *
 * The backend is chosen once: by an op's `backend` option, by a model (built or loaded with
 * `backend`), or else the process default, `'native'` until {@link setDefaultBackend} changes it.
 * It travels in a model's forward context to every layer, loss and optimizer step of that call; no
 * call changes a model to switch it. When the addon could not be loaded, using the native backend
 * throws a {@link NativeError} naming the cause: gated never falls back to the pure-JS backend
 * silently.
 */
import { type BackendName, backendName, checkInt, describe } from '../check.js';
import { GatedError, NativeError, ShapeError, ValueError } from '../errors.js';
import { addonOp, loadAddon, type NativeCallArgs } from './addon.js';

export type { BackendName } from '../check.js';

/** The addon call of a plan: its argument object (outputs allocated) and the result from the addon's return value. */
export interface NativeCall<R> {
  readonly fields: NativeCallArgs;
  result(returned: unknown): R;
}

/** A validated call of one op, ready for either backend. */
export interface Plan<R> {
  /** Runs the pure-TypeScript twin (it allocates its own outputs). */
  js(): R;
  /** Prepares the addon call (allocates the outputs it writes). */
  native(): NativeCall<R>;
}

/** One implementation of the ops: runs an op's plan, on the calling thread or off it. */
export interface Backend {
  readonly name: BackendName;
  /** Runs op `op`'s `plan` and returns its result. */
  run<R>(op: string, plan: Plan<R>): R;
  /** The same off the main thread where the backend can (native: a libuv worker; js: inline, then resolves). */
  runAsync<R>(op: string, plan: Plan<R>): Promise<R>;
}

/** Turns an addon error (message `"<argument>: <text>"`, `code`) into gated's typed error. */
export function mapNativeError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof GatedError) return err;
  const code = (err as { code?: unknown }).code;
  const match = /^([A-Za-z_$][\w$.[\]]*): ([\s\S]*)$/.exec(err.message);
  const argument = match ? match[1] : undefined;
  const text = match ? match[2] : err.message;
  let mapped: GatedError;
  if (code === 'ERR_GATED_SHAPE') mapped = new ShapeError(text, argument);
  else if (code === 'ERR_GATED_VALUE') mapped = new ValueError(text, argument);
  else if (code === 'ERR_GATED_NATIVE') mapped = new NativeError(text, argument);
  else return err;
  Object.defineProperty(mapped, 'cause', { value: err, enumerable: false, configurable: true, writable: true });
  return mapped;
}

/** The native addon. Every call throws a {@link NativeError} when the addon could not be loaded. */
export const nativeBackend: Backend = Object.freeze({
  name: 'native' as const,
  run<R>(op: string, plan: Plan<R>): R {
    const fn = addonOp(op);
    const call = plan.native();
    let returned: unknown;
    try {
      returned = fn({ ...call.fields, async: false });
    } catch (err) {
      throw mapNativeError(err);
    }
    return call.result(returned);
  },
  async runAsync<R>(op: string, plan: Plan<R>): Promise<R> {
    const fn = addonOp(op);
    const call = plan.native();
    let returned: unknown;
    try {
      returned = await fn({ ...call.fields, async: true });
    } catch (err) {
      throw mapNativeError(err);
    }
    return call.result(returned);
  },
});

/**
 * The pure-TypeScript kernels (lib/js/): the readable reference the native backend is tested
 * against, and the baseline of the benchmarks. `runAsync` runs inline before resolving: this backend
 * blocks the event loop for the whole call.
 */
export const jsBackend: Backend = Object.freeze({
  name: 'js' as const,
  run<R>(_op: string, plan: Plan<R>): R {
    return plan.js();
  },
  async runAsync<R>(_op: string, plan: Plan<R>): Promise<R> {
    return plan.js();
  },
});

const backends: Readonly<Record<BackendName, Backend>> = { native: nativeBackend, js: jsBackend };
let defaultName: BackendName = 'native';

/**
 * The backend called `name`, or the process default when `name` is omitted.
 * @throws ValueError for an unknown name.
 */
export function getBackend(name?: BackendName): Backend {
  return backends[name === undefined ? defaultName : backendName(name, 'name', defaultName)];
}

/**
 * Sets the backend that ops, models and training use when nothing names one. Initially `'native'`.
 * @throws ValueError for an unknown name.
 */
export function setDefaultBackend(name: BackendName): void {
  if (name === undefined) throw new ValueError("expected 'native' or 'js', got undefined", 'name');
  defaultName = backendName(name, 'name', defaultName);
}

/** The backend that ops, models and training use when nothing names one. */
export function defaultBackend(): Backend {
  return backends[defaultName];
}

/** The name of the process default backend. */
export function defaultBackendName(): BackendName {
  return defaultName;
}

/** A backend option: a name, a {@link Backend} object, or undefined (the process default). */
export function resolveBackend(b: unknown, argument: string): Backend {
  if (b === undefined || b === null) return defaultBackend();
  if (b === 'native' || b === 'js') return backends[b];
  if (
    typeof b === 'object' &&
    typeof (b as Backend).run === 'function' &&
    typeof (b as Backend).runAsync === 'function' &&
    ((b as Backend).name === 'native' || (b as Backend).name === 'js')
  ) {
    return b as Backend;
  }
  throw new ValueError(`expected 'native', 'js' or a Backend object, got ${describe(b)}`, argument);
}

/**
 * Sets how many threads the native kernels use (default: the machine's hardware threads). Results do
 * not depend on it: every reduction runs in a fixed order.
 * @param n an integer in [1, 256].
 * @throws ValueError when `n` is not an integer in [1, 256]; NativeError when the addon is not loaded.
 */
export function setThreads(n: number): void {
  checkInt(n, 'n', 1, 256);
  loadAddon().setThreads(n);
}

/**
 * How many threads the native kernels use.
 * @throws NativeError when the addon is not loaded.
 */
export function getThreads(): number {
  return loadAddon().getThreads();
}

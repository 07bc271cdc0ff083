/**
 * Backend selection: the two implementations of {@link Backend} by name, the process default, and the
 * native kernels' thread count.
 *
 * The default is `'native'`. When the addon could not be loaded, using the native backend throws a
 * {@link NativeError} naming the cause; gated never falls back to the pure-JS backend silently (call
 * `setDefaultBackend('js')` to choose it).
 */
import { ValueError } from '../errors.js';
import { loadAddon } from '../native.js';
import { describe, validateThreads } from '../validate.js';
import { jsBackend } from './js.js';
import { nativeBackend } from './native.js';
import type { Backend, BackendName } from './types.js';

const backends: Readonly<Record<BackendName, Backend>> = { native: nativeBackend, js: jsBackend };
let defaultName: BackendName = 'native';

function checkName(name: unknown, argument: string): BackendName {
  if (name !== 'native' && name !== 'js') {
    throw new ValueError(`expected 'native' or 'js', got ${describe(name)}`, argument);
  }
  return name;
}

/**
 * The backend called `name`, or the process default when `name` is omitted.
 * @throws ValueError for an unknown name.
 */
export function getBackend(name?: BackendName): Backend {
  return name === undefined ? backends[defaultName] : backends[checkName(name, 'name')];
}

/**
 * Sets the backend that ops use when their options name none. Initially `'native'`.
 * @throws ValueError for an unknown name.
 */
export function setDefaultBackend(name: BackendName): void {
  defaultName = checkName(name, 'name');
}

/** The backend that ops use when their options name none. */
export function defaultBackend(): Backend {
  return backends[defaultName];
}

/**
 * Sets how many threads the native kernels use (default: the machine's hardware threads). Results do
 * not depend on it: every reduction runs in a fixed order.
 * @param n an integer in [1, 256].
 * @throws ValueError when `n` is not an integer in [1, 256]; NativeError when the addon is not loaded.
 */
export function setThreads(n: number): void {
  validateThreads(n);
  loadAddon().setThreads(n);
}

/**
 * How many threads the native kernels use.
 * @throws NativeError when the addon is not loaded.
 */
export function getThreads(): number {
  return loadAddon().getThreads();
}

/**
 * gated: fast recurrent neural networks for Node.js. The public API.
 *
 * - {@link ops}: the fused whole-sequence RNN / LSTM / GRU forward and backward ops (sync and async).
 * - {@link getBackend}, {@link setDefaultBackend}: choose the native addon or the pure-JS backend.
 * - {@link setThreads}, {@link getThreads}: the native kernels' thread count.
 * - Typed errors: {@link ShapeError}, {@link ValueError}, {@link NativeError}, {@link AbortError}.
 */
import { createRequire } from 'node:module';

export { ops } from './ops.js';
export type { OpOptions, Ops } from './ops.js';
export { getBackend, setDefaultBackend, defaultBackend, setThreads, getThreads } from './backend/index.js';
export { cacheSize, cacheWidth } from './backend/types.js';
export type * from './backend/types.js';
export { GatedError, ShapeError, ValueError, AbortError, NativeError } from './errors.js';

/** This package's version (from its package.json). */
export const version: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/**
 * gated: fast recurrent neural networks for Node.js. The public API.
 *
 * - Models: {@link sequential} + {@link input} and the layers ({@link embedding}, {@link lstm},
 *   {@link gru}, {@link rnn}, {@link jordan}, {@link dense}, ...); `model.fit` / `evaluate` /
 *   `predict` / `save`, {@link loadModel}; values {@link tokens}, {@link sequence}, {@link vector}.
 * - Training: optimizers ({@link adam}, {@link sgd}, ...), schedules, metrics, {@link fit}.
 * - Decoding: {@link generate}, {@link greedy}, {@link sample} (temperature, top-k, top-p).
 * - Data: readers of the shared formats, {@link Vocabulary}, {@link padBatch}, {@link streamWindows}, ...
 * - Serving: {@link SessionPool} (streaming sessions with dynamic batching).
 * - Files: safetensors ({@link saveSafetensors}, {@link loadSafetensors}), atomic writes.
 * - {@link ops}: the fused whole-sequence RNN / LSTM / GRU forward and backward ops (sync and async).
 * - {@link getBackend}, {@link setDefaultBackend}: choose the native addon or the pure-JS backend.
 * - {@link setThreads}, {@link getThreads}: the native kernels' thread count.
 * - Seeds: {@link Rng}, {@link setSeed}.
 * - Typed errors: {@link ShapeError}, {@link ValueError}, {@link NativeError}, {@link AbortError},
 *   {@link FormatError}, {@link FileError}, {@link BusyError}.
 */
import { createRequire } from 'node:module';

export { ops } from './ops.js';
export type { OpOptions, Ops } from './ops.js';
export { getBackend, setDefaultBackend, defaultBackend, setThreads, getThreads } from './backend/index.js';
export { cacheSize, cacheWidth } from './backend/types.js';
export type * from './backend/types.js';
export { GatedError, ShapeError, ValueError, AbortError, NativeError, FormatError, BusyError } from './errors.js';
export { FileError, writeFileAtomic, writeFileAtomicAsync, cleanupTempFiles, type AtomicWriteOptions, type FileData } from './io/atomic.js';
export {
  encodeSafetensors, decodeSafetensors, saveSafetensors, saveSafetensorsAsync, loadSafetensors, loadSafetensorsAsync, toFloat32,
  CHECKSUM_KEY, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_TENSORS,
  type Dtype, type DtypeArrays, type Tensor, type TensorOf, type SafetensorsContent, type ChecksumStatus,
  type SafetensorsReadOptions, type SafetensorsWriteOptions, type SafetensorsSaveOptions,
} from './io/safetensors.js';
export { Rng, setSeed, defaultRng, type RngState } from './random.js';
export * from './layers/index.js';
export {
  sequential, input, SequentialBuilder,
  type Model, type ModelStep, type ModelForwardOptions, type BuildOptions, type InputSpec, type TokensInputOptions, type FloatInputOptions,
} from './models/sequential.js';
export {
  saveModel, saveModelAsync, loadModel, loadModelAsync, loadStateDict, describeModel, encodeModel, decodeModel, layerTypes,
  type LoadModelOptions, type LoadStateDictOptions, type LoadStateDictResult, type ModelDescription, type LayerDescription, type ParameterDescription,
} from './models/serialize.js';
export * from './train/index.js';
export * from './decode/index.js';
export * from './data/index.js';
export {
  SessionPool, encodeSnapshot, decodeSnapshot, type Session, type SessionPoolOptions, type SessionSnapshot, type SessionGenerateOptions, type StepInput, type PoolStats,
} from './serve/sessions.js';

/** This package's version (from its package.json). */
export const version: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

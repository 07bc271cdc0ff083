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
 * - {@link ops}: every op (cells, Jordan, linear, embedding, losses, optimizer steps), sync and async;
 *   a {@link Workspace} hands the same output arrays back to repeated calls;
 *   {@link DecodeStep}: one decode step (cell + output layer + log-softmax + top-k) per call.
 * - {@link getBackend}, {@link setDefaultBackend}: choose the native addon or the pure-JS backend.
 * - {@link setThreads}, {@link getThreads}: the native kernels' thread count; {@link isaInfo},
 *   {@link setIsa}: their instruction set.
 * - Seeds: {@link Rng}, {@link setSeed}.
 * - Typed errors: {@link ShapeError}, {@link ValueError}, {@link NativeError}, {@link AbortError},
 *   {@link FormatError}, {@link FileError}, {@link BusyError}.
 */
import { createRequire } from 'node:module';

export { ops, Workspace } from './ops/index.js';
export type { OpOptions, Ops } from './ops/index.js';
export { losses, optimizers as stepKernels } from './ops/train.js';
export type * from './ops/train.js';
export type * from './ops/nn.js';
export type * from './ops/jordan.js';
export type * from './ops/cells.js';
export {
  getBackend,
  setDefaultBackend,
  defaultBackend,
  setThreads,
  getThreads,
  type Backend,
  type BackendName,
  type Plan,
  type NativeCall,
} from './backend/index.js';
export { isaInfo, setIsa, type IsaInfo, type IsaName } from './isa.js';
export {
  DecodeStep,
  type DecodeStepConfig,
  type DecodeStepInput,
  type DecodeStepOptions,
  type DecodeStepResult,
  type DecodeStepWeights,
} from './ops/step.js';
export { cacheSize, cacheWidth, type SeqSizes } from './ops/layout.js';
export { GatedError, ShapeError, ValueError, AbortError, NativeError, FormatError, BusyError, NumericError } from './errors.js';
export { FileError, writeFileAtomic, writeFileAtomicAsync, cleanupTempFiles, type AtomicWriteOptions, type FileData } from './io/atomic.js';
export {
  encodeSafetensors,
  decodeSafetensors,
  saveSafetensors,
  saveSafetensorsAsync,
  loadSafetensors,
  loadSafetensorsAsync,
  toFloat32,
  CHECKSUM_KEY,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_TENSORS,
  type Dtype,
  type DtypeArrays,
  type Tensor,
  type TensorOf,
  type SafetensorsContent,
  type ChecksumStatus,
  type SafetensorsReadOptions,
  type SafetensorsWriteOptions,
  type SafetensorsSaveOptions,
} from './io/safetensors.js';
export { Rng, setSeed, defaultRng, type RngState } from './random.js';
export * from './layers/index.js';
export {
  input,
  type Model,
  type ModelStep,
  type ModelForwardOptions,
  type InputSpec,
  type TokensInputOptions,
  type FloatInputOptions,
  type ModelDescription,
  type ParameterDescription,
  type StateSlot,
} from './models/model.js';
export { sequential, SequentialBuilder, type SequentialModel, type BuildOptions, type BuildAsyncOptions } from './models/sequential.js';
export type { LayerDescription, SequentialDescription } from './models/sequential-format.js';
export {
  encoderDecoder,
  type BridgeKind,
  type DecoderOptions,
  type EncoderDecoderBuilder,
  type EncoderDecoderConfig,
  type EncoderDecoderModel,
  type EncoderDecoderOptions,
  type EncoderOptions,
  type Seq2SeqDescription,
  type Seq2SeqForwardOptions,
  type Seq2SeqInputs,
  type Seq2SeqStep,
} from './models/seq2seq.js';
export { saveModel, saveModelAsync, describeModel, encodeModel } from './models/save.js';
export {
  loadModel,
  loadModelAsync,
  loadStateDict,
  decodeModel,
  layerTypes,
  loadEncoderDecoder,
  loadEncoderDecoderAsync,
  type LoadEncoderDecoderOptions,
  type LoadModelOptions,
  type LoadStateDictOptions,
  type LoadStateDictResult,
} from './models/load.js';
export * from './train/index.js';
export * from './decode/index.js';
export * from './data/index.js';
export {
  SessionPool,
  encodeSnapshot,
  decodeSnapshot,
  type Session,
  type SessionPoolOptions,
  type SessionSnapshot,
  type SessionGenerateOptions,
  type StepInput,
  type PoolStats,
} from './serve/sessions.js';

/** This package's version (from its package.json). */
export const version: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

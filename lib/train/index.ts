/** Training: optimizers, schedules, metrics, the fit / evaluate / predict loop, checkpoints, and the raw kernels. */
export * from './optimizers.js';
export * from './metrics.js';
export * from './fit.js';
export {
  CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, loadCheckpointModel, loadCheckpointModelAsync, readCheckpoint, readCheckpointAsync,
  type CheckpointOptions, type CheckpointPosition, type CheckpointInfo, type SavedCheckpoint,
} from './checkpoint.js';
export { losses, optimizers as stepKernels } from './kernels.js';
export type * from './kernels.js';

/** Training: optimizers, schedules, metrics, losses, the fit / evaluate / predict loop, and checkpoints. */
export * from './optimizers.js';
export * from './metrics.js';
export * from './fit.js';
export { LOSSES, type Loss, type LossContext, type LossResult } from './losses.js';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  readCheckpoint,
  readCheckpointAsync,
  type CheckpointOptions,
  type CheckpointPosition,
  type CheckpointInfo,
  type SavedCheckpoint,
} from './checkpoint.js';
export { loadCheckpointModel, loadCheckpointModelAsync } from '../models/load.js';

/**
 * The two things `fit` does between batches and epochs besides training, as small objects: early
 * stopping (watch a quantity, stop when it stops improving) and the checkpoint schedule (write the
 * run every N batches and/or epochs, and once at its end).
 */
import { describe, finite, intOr, objectArgs } from '../check.js';
import { ValueError } from '../errors.js';
import type { AnyModel } from '../models/model.js';
import { type CheckpointPlan, type TrainingState, writeCheckpoint } from './checkpoint.js';
import type { MetricName } from './metrics.js';
import type { Optimizer } from './optimizers.js';
import type { EpochLog, MonitorName } from './types.js';

/** Early stopping (Keras' semantics): see `FitOptions.earlyStopping`. */
export class EarlyStopping {
  readonly monitor: MonitorName;
  private readonly patience: number;
  private readonly minDelta: number;
  private readonly max: boolean;
  private best: number;
  private wait = 0;

  /** Checks `options.earlyStopping` (`v`) against the metrics listed and whether there is validation data. */
  constructor(v: unknown, metrics: readonly MetricName[], hasVal: boolean) {
    const e = objectArgs(v, 'options.earlyStopping');
    for (const k of Object.keys(e)) {
      if (!['monitor', 'patience', 'minDelta'].includes(k))
        throw new ValueError('unknown option (known: monitor, patience, minDelta)', `options.earlyStopping.${k}`);
    }
    const monitor = (e.monitor ?? (hasVal ? 'valLoss' : 'loss')) as MonitorName;
    const known = ['loss', 'valLoss', ...metrics, ...metrics.map((n) => `val${n[0].toUpperCase()}${n.slice(1)}`)];
    if (!known.includes(monitor) || (monitor.startsWith('val') && !hasVal)) {
      throw new ValueError(
        `expected one of ${known.filter((k) => hasVal || !k.startsWith('val')).join(', ')} (metrics must be listed in options.metrics; val* needs validationData), got ${describe(e.monitor)}`,
        'options.earlyStopping.monitor',
      );
    }
    this.monitor = monitor;
    this.patience = intOr(e.patience, 'options.earlyStopping.patience', 0, 0);
    this.minDelta = finite(e.minDelta, 'options.earlyStopping.minDelta', { lo: 0 }, 0);
    this.max = /accuracy$/i.test(monitor);
    this.best = this.max ? -Infinity : Infinity;
  }

  /** What a checkpoint saves. */
  state(): { best: number; wait: number } {
    return { best: this.best, wait: this.wait };
  }

  /** Continues from a checkpoint's state. */
  restore(s: { best: number; wait: number }): void {
    this.best = s.best;
    this.wait = s.wait;
  }

  /** Takes the epoch's log; true when training should stop. */
  update(log: EpochLog): boolean {
    const mon = this.monitor;
    const value =
      mon === 'loss'
        ? log.loss
        : mon === 'valLoss'
          ? (log.valLoss as number)
          : mon.startsWith('val')
            ? (log.valMetrics as Record<string, number>)[`${mon[3].toLowerCase()}${mon.slice(4)}`]
            : log.metrics[mon];
    const improved = this.max ? value > this.best + this.minDelta : value < this.best - this.minDelta;
    if (improved) {
      this.best = value;
      this.wait = 0;
      return false;
    }
    return ++this.wait >= Math.max(1, this.patience);
  }
}

/** When a fit writes its checkpoint (see `FitOptions.checkpoint`), and the writing. */
export class CheckpointSchedule {
  /** The position written last, so that the final one is not written twice. */
  private savedAt = '';

  constructor(
    private readonly plan: CheckpointPlan,
    private readonly description: string,
    private readonly model: AnyModel,
    private readonly optimizer: Optimizer,
  ) {}

  private async save(state: TrainingState): Promise<void> {
    await writeCheckpoint(this.plan, this.description, this.model, this.optimizer, state);
    this.savedAt = `${state.epoch}:${state.batch}`;
    if (this.plan.onSaved) await this.plan.onSaved({ path: this.plan.path, epoch: state.epoch, batch: state.batch, steps: state.steps });
  }

  /** After a batch: `steps` batches trained so far in the run; `state` gives what to write. */
  async afterBatch(steps: number, state: () => TrainingState): Promise<void> {
    if (this.plan.everyBatches && steps % this.plan.everyBatches === 0) await this.save(state());
  }

  /** After epoch `epoch` (validation and early stopping done): written at the next epoch's first batch. */
  async afterEpoch(epoch: number, state: () => TrainingState): Promise<void> {
    if (this.plan.everyEpochs && (epoch + 1) % this.plan.everyEpochs === 0) await this.save(state());
  }

  /** When the run ended normally at `epoch` (all epochs, or early stopping): its final state, unless just written. */
  async atEnd(epoch: number, state: () => TrainingState): Promise<void> {
    if (this.savedAt !== `${epoch}:0`) await this.save(state());
  }
}

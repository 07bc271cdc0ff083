/**
 * `fit`, `evaluate`, `predict`: the training loop over a {@link Model}.
 *
 *   const history = await fit(model, batches, {
 *     epochs: 10, loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 1e-2 }), metrics: ['accuracy'],
 *     validationData: dev, earlyStopping: { patience: 2 }, signal: controller.signal,
 *     onBatchEnd: ({ epoch, batch, loss, examplesPerSecond }) => bar.update(...),
 *   });
 *
 * Each batch: `model.forward(x, { training: true, workspace })` -> the loss (lib/train/losses.ts) ->
 * `backward` -> (signal checked) -> `optimizer.step` -> `zeroGrad` -> callbacks, then the loop yields to the
 * event loop (a macrotask) so that timers and servers keep running; the kernels themselves run off
 * the main thread on the native backend. A batch's update is all-or-nothing: when the signal fires
 * during a batch, its gradients are dropped and `fit` rejects with an {@link AbortError}, leaving the
 * weights as after the last completed batch (an already-aborted signal rejects before anything
 * runs). A non-finite input is a ValueError naming it (`data[3].x.data`); a non-finite loss or
 * gradient (training diverged) stops the run with a {@link NumericError} naming the epoch and batch,
 * before that batch changes any weight.
 *
 * Targets and the loss: lib/train/losses.ts. Epoch figures are means over all the epoch's counted
 * rows. Reproducible: the model's seed and `seed` (batch shuffling) fix every draw. The backend is
 * `options.backend`, else the model's; it is passed to every forward, loss and step of the run (the
 * model itself is not changed).
 *
 * Checkpoints (lib/train/checkpoint.ts): with `checkpoint: { path, everyBatches, everyEpochs }` the
 * run is saved to one file, atomically, after every N batches and/or epochs, and once more when fit
 * ends normally (all epochs run, or early stopping); `resumeFrom: path` continues a run from such a
 * file exactly as if it had not stopped: weights, optimizer state, both generators, carried states,
 * the epoch's running totals, the history and early stopping's state come back, and the batches of
 * the current epoch that were already trained are drawn again and skipped (so the data must give the
 * same batches in the same order: an array, re-shuffled from the saved generator, or a function of
 * the epoch / re-iterable that repeats itself). `epochs` stays the total of the run.
 */
import { type BackendName, backendName, boolOr, describe, intOr, objectArgs, optionalFunction, optionalSignal } from '../check.js';
import { AbortError, NumericError, ValueError } from '../errors.js';
import type { InputOf, Inputs, Kind, Value, ValueOf } from '../layers/values.js';
import { beginTraining, weightsLock } from '../models/guard.js';
import { type AnyModel, checkModel, type Model } from '../models/model.js';
import { Workspace } from '../ops/outputs.js';
import { Rng, type RngState } from '../random.js';
import { CheckpointSchedule, EarlyStopping } from './callbacks.js';
import {
  type CarriedStates,
  type EpochTotals,
  type FitConfig,
  type TrainingState,
  checkpointOptions,
  historyOf,
  prepareCheckpoints,
  resumeCheckpoint,
  resumeOption,
} from './checkpoint.js';
import { batchesOf, Carry, checkBatch, epochData, metricValues, Totals } from './epoch.js';
import { type Loss, type LossResult, lossInput, lossOf } from './losses.js';
import { METRIC_NAMES, type MetricName } from './metrics.js';
import { adam, type Optimizer } from './optimizers.js';
import type { Batch, ClassTargets, Data, EpochLog, Evaluation, EvaluateOptions, FitOptions, History, LossName } from './types.js';

export type * from './types.js';

/** Marks `ids` as one class per output step, row `t*B+b` (for a model whose output is a Sequence). Returns `ids`. */
export function stepTargets(ids: Int32Array): ClassTargets<'sequence'> {
  if (!(ids instanceof Int32Array)) throw new ValueError(`expected an Int32Array, got ${describe(ids)}`, 'ids');
  return ids;
}

/** Marks `ids` as one class per example (for a model whose output is a Vector). Returns `ids`. */
export function sequenceTargets(ids: Int32Array): ClassTargets<'vector'> {
  if (!(ids instanceof Int32Array)) throw new ValueError(`expected an Int32Array, got ${describe(ids)}`, 'ids');
  return ids;
}

// ---------------------------------------------------------------------------------------------
// options

type Obj = Readonly<Record<string, unknown>>;

const EVALUATE_KEYS = ['loss', 'metrics', 'ignoreIndex', 'stateful', 'signal', 'backend'] as const;
const FIT_KEYS = [
  ...EVALUATE_KEYS,
  'epochs',
  'optimizer',
  'validationData',
  'earlyStopping',
  'shuffle',
  'seed',
  'onBatchEnd',
  'onEpochEnd',
  'checkpoint',
  'resumeFrom',
  'labelSmoothing',
] as const;

/** What fit and evaluate share. */
interface Common {
  readonly loss: Loss;
  readonly metrics: readonly MetricName[];
  readonly ignoreIndex: number;
  readonly stateful: boolean;
  readonly signal: AbortSignal | null;
  readonly backend: BackendName;
  /** Training batches only (validation and evaluate report plain cross-entropy). */
  readonly labelSmoothing: number;
}

function commonOptions(o: Obj, model: AnyModel, known: readonly string[]): Common {
  for (const k of Object.keys(o))
    if (!known.includes(k)) throw new ValueError(`unknown option (known: ${known.join(', ')})`, `options.${k}`);
  const loss = lossOf(o.loss, 'options.loss');
  const m = o.metrics ?? [];
  if (!Array.isArray(m)) throw new ValueError(`expected an array of metric names, got ${describe(m)}`, 'options.metrics');
  (m as unknown[]).forEach((name, i) => {
    if (!METRIC_NAMES.includes(name as MetricName))
      throw new ValueError(`expected one of ${METRIC_NAMES.join(', ')}, got ${describe(name)}`, `options.metrics[${i}]`);
  });
  if (m.length > 0 && !loss.classes)
    throw new ValueError(`metrics need a class loss (softmaxCrossEntropy), got ${loss.name}`, 'options.metrics');
  const ignoreIndex = o.ignoreIndex === undefined ? -100 : o.ignoreIndex;
  if (typeof ignoreIndex !== 'number' || !Number.isInteger(ignoreIndex))
    throw new ValueError(`expected an integer, got ${describe(ignoreIndex)}`, 'options.ignoreIndex');
  return {
    loss,
    metrics: m as MetricName[],
    ignoreIndex,
    stateful: boolOr(o.stateful, false, 'options.stateful'),
    signal: optionalSignal(o.signal, 'options.signal'),
    backend: backendName(o.backend, 'options.backend', model.backend),
    labelSmoothing: smoothingOf(o.labelSmoothing, loss),
  };
}

function smoothingOf(v: unknown, loss: Loss): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v < 1))
    throw new ValueError(`expected a number in [0, 1), got ${describe(v)}`, 'options.labelSmoothing');
  if (v > 0 && loss.name !== 'softmaxCrossEntropy') {
    throw new ValueError(`label smoothing is for softmaxCrossEntropy, got ${loss.name}`, 'options.labelSmoothing');
  }
  return v;
}

function checkData(data: unknown, name: string, epochs: number): void {
  if (typeof data === 'function') return;
  const d = data as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown; next?: unknown } | null;
  if (typeof d !== 'object' || d === null || (typeof d[Symbol.iterator] !== 'function' && typeof d[Symbol.asyncIterator] !== 'function')) {
    throw new ValueError(`expected an iterable of batches or a function of the epoch, got ${describe(data)}`, name);
  }
  if (typeof d.next === 'function' && epochs > 1) {
    throw new ValueError('a one-shot iterator cannot be read for several epochs: pass an array or a function of the epoch', name);
  }
}

function throwIfAborted(signal: AbortSignal | null): void {
  if (signal?.aborted) throw new AbortError();
}

const tick = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** A NumericError unless every element of the batch's gradients is finite. */
function checkGradients(model: AnyModel, epoch: number, where: string): void {
  for (const p of model.parameters()) {
    const g = p.grad;
    for (let i = 0; i < g.length; i++) {
      if (!Number.isFinite(g[i]))
        throw new NumericError(
          `the gradient of ${p.name} is ${g[i]} at epoch ${epoch}: training diverged (lower the learning rate, clip the gradients); the weights are those after the previous batch`,
          where,
        );
    }
  }
}

/** One batch's loss on `model`'s output for `x` (inference or training as `training`). */
async function batchLoss(
  model: AnyModel,
  b: { x: unknown; target: unknown },
  c: Common,
  carry: Carry,
  training: boolean,
  where: string,
  workspace: Workspace | null = null,
): Promise<{ r: LossResult; backward: (dy: Float32Array) => Promise<unknown> }> {
  const s = await model.forward(b.x as never, {
    training,
    backend: c.backend,
    backward: training,
    ...carry.options(b.x, where),
    ...(workspace ? { workspace } : {}),
  });
  carry.keep(s);
  const r = await c.loss.compute(
    lossInput(s.y as Value),
    b.target,
    {
      ignoreIndex: c.ignoreIndex,
      backend: c.backend,
      labelSmoothing: training ? c.labelSmoothing : 0,
      workspace: workspace?.for(c.loss, 0) ?? null,
    },
    where,
  );
  return { r, backward: (dy) => s.backward(dy) };
}

async function runEvaluation(model: AnyModel, data: Data<unknown>, c: Common, name: string, epoch: number): Promise<Evaluation> {
  const totals = new Totals();
  const carry = new Carry(c.stateful);
  let i = 0;
  for await (const raw of batchesOf(epochData(data, epoch), epoch, null)) {
    throwIfAborted(c.signal);
    const where = `${name}[${i}]`;
    totals.add((await batchLoss(model, checkBatch(raw, where), c, carry, false, where)).r);
    i++;
    await tick();
  }
  return { loss: totals.loss, metrics: totals.metrics(c.metrics), examples: totals.examples };
}

// ---------------------------------------------------------------------------------------------
// the public functions

/** Trains `model` on `data`; resolves to the per-epoch history (see the module comment). */
export async function fit<In extends Inputs, Out extends Kind, L extends LossName = 'softmaxCrossEntropy'>(
  model: Model<In, Out>,
  data: Data<Batch<In, NoInfer<L>, NoInfer<Out>>>,
  options: FitOptions<In, L, NoInfer<Out>>,
): Promise<History> {
  const m = checkModel(model);
  const o = objectArgs(options, 'options');
  const c = commonOptions(o, m, FIT_KEYS);
  const epochs = intOr(o.epochs, 'options.epochs', 1);
  checkData(data, 'data', epochs);
  if (o.validationData !== undefined) checkData(o.validationData, 'options.validationData', epochs);
  const opt = (o.optimizer ?? adam()) as Optimizer;
  if (typeof opt !== 'object' || opt === null || typeof opt.step !== 'function' || typeof opt.setEpoch !== 'function') {
    throw new ValueError(`expected an optimizer (sgd(), adam(), ...), got ${describe(o.optimizer)}`, 'options.optimizer');
  }
  optionalFunction(o.onBatchEnd, 'options.onBatchEnd');
  optionalFunction(o.onEpochEnd, 'options.onEpochEnd');
  const shuffle = boolOr(o.shuffle, false, 'options.shuffle');
  const seed = intOr(o.seed, 'options.seed', 0, 0);
  const hasVal = options.validationData !== undefined;
  const early = o.earlyStopping !== undefined ? new EarlyStopping(o.earlyStopping, c.metrics, hasVal) : null;
  const plan = checkpointOptions(o.checkpoint);
  const resumeFrom = resumeOption(o.resumeFrom);
  const config: FitConfig = { loss: c.loss.name, stateful: c.stateful, shuffle, seed, monitor: early?.monitor ?? null };
  throwIfAborted(c.signal);
  const release = beginTraining(m);
  try {
    const lock = weightsLock(m);
    // Before anything is trained: checkpoints that cannot be written, or a checkpoint that does not
    // fit, fail now, not hours later.
    const checkpoints = plan ? new CheckpointSchedule(plan, await prepareCheckpoints(plan, m), m, opt) : null;
    const resumed: TrainingState | null = resumeFrom ? await resumeCheckpoint(resumeFrom, m, opt, config, epochs, lock) : null;
    const order = shuffle ? new Rng(seed) : null;
    if (order && resumed?.shuffleRng) order.setState(resumed.shuffleRng);
    if (early && resumed?.early) early.restore(resumed.early);
    const params = m.parameters();
    const logs: EpochLog[] = resumed ? [...resumed.history] : [];
    let stoppedEarly = resumed?.stoppedEarly ?? false;
    let steps = resumed?.steps ?? 0; // batches trained since the run began, across resumes
    const first = resumed?.epoch ?? 0;
    const runState = (
      epoch: number,
      batch: number,
      epochSize: number | null,
      shuffleRng: RngState | null,
      totals: EpochTotals,
      carry: CarriedStates | null,
    ): TrainingState => ({
      epoch,
      batch,
      steps,
      epochSize,
      stoppedEarly,
      fit: config,
      shuffleRng,
      totals,
      carry,
      history: logs,
      early: early?.state() ?? null,
    });
    const noTotals = new Totals().saved(0);
    // The training steps' kernel outputs, reused from step to step (each step's forward, loss,
    // backward and optimizer step end before the next forward).
    const workspace = new Workspace();

    let epoch = first;
    for (; epoch < epochs && !stoppedEarly; epoch++) {
      opt.setEpoch(epoch);
      // A resumed epoch continues from the checkpoint's totals, carried states, clock and batch.
      const resuming = resumed !== null && epoch === first;
      const skip = resuming ? resumed.batch : 0;
      const totals = new Totals(resuming ? resumed.totals : undefined);
      const carry = new Carry(c.stateful, resuming ? resumed.carry : null);
      const start = performance.now() - (resuming ? resumed.totals.seconds * 1000 : 0);
      const orderAtStart = order?.state() ?? null; // the shuffling generator before this epoch's draw
      const src = epochData(data as Data<unknown>, epoch);
      const epochSize = Array.isArray(src) ? src.length : null;
      if (resuming && skip > 0 && resumed.epochSize !== null && epochSize !== null && epochSize !== resumed.epochSize) {
        throw new ValueError(
          `the checkpoint ${resumeFrom} was written with ${resumed.epochSize} batches in epoch ${epoch}, the data has ${epochSize}: resuming needs the same batches`,
          'data',
        );
      }
      let i = 0;
      for await (const raw of batchesOf(src, epoch, order)) {
        if (i < skip) {
          i++; // trained before the checkpoint
          continue;
        }
        throwIfAborted(c.signal);
        const where = `data[${i}]`;
        m.zeroGrad();
        const { r, backward } = await batchLoss(m, checkBatch(raw, where), c, carry, true, where, workspace);
        if (!Number.isFinite(r.loss)) {
          throw new NumericError(
            `the loss is ${r.loss} at epoch ${epoch}: training diverged (lower the learning rate, clip the gradients); the weights are those after the previous batch`,
            where,
          );
        }
        await backward(r.grad);
        if (c.signal?.aborted) {
          m.zeroGrad(); // all-or-nothing: this batch's gradients are dropped, the weights untouched
          throw new AbortError();
        }
        checkGradients(m, epoch, where);
        await lock.write(() => opt.step(params, { backend: c.backend }));
        m.zeroGrad();
        totals.add(r);
        steps++;
        if (options.onBatchEnd) {
          const mv = metricValues(c.metrics, r.loss, r.correct, r.count);
          const secs = (performance.now() - start) / 1000;
          await options.onBatchEnd({
            epoch,
            batch: i,
            loss: r.loss,
            metric: c.metrics.length > 0 ? mv[c.metrics[0]] : null,
            metrics: mv,
            examples: r.examples,
            examplesPerSecond: secs > 0 ? totals.examples / secs : 0,
          });
        }
        i++;
        await checkpoints?.afterBatch(steps, () =>
          runState(epoch, i, epochSize, orderAtStart, totals.saved((performance.now() - start) / 1000), carry.saved()),
        );
        await tick();
      }
      if (i < skip) {
        throw new ValueError(
          `the checkpoint ${resumeFrom} is at batch ${skip} of epoch ${epoch}, but the data gave ${i} batches: resuming needs the same batches in the same order`,
          'data',
        );
      }
      const secs = (performance.now() - start) / 1000;
      const metrics = totals.metrics(c.metrics);
      const val = hasVal ? await runEvaluation(m, options.validationData as Data<unknown>, c, 'options.validationData', epoch) : null;
      const log: EpochLog = {
        epoch,
        batches: totals.batches,
        loss: totals.loss,
        metric: c.metrics.length > 0 ? metrics[c.metrics[0]] : null,
        metrics,
        valLoss: val ? val.loss : null,
        valMetrics: val ? val.metrics : null,
        examplesPerSecond: secs > 0 ? totals.examples / secs : 0,
      };
      logs.push(log);
      if (options.onEpochEnd) await options.onEpochEnd(log);
      if (early?.update(log)) stoppedEarly = true;
      // An epoch-end checkpoint is at the next epoch's first batch (stoppedEarly: the run's end).
      await checkpoints?.afterEpoch(epoch, () => runState(epoch + 1, 0, null, order?.state() ?? null, noTotals, null));
      if (!stoppedEarly) throwIfAborted(c.signal);
    }
    // The run ended normally (all epochs, or early stopping): its final state, unless just written.
    await checkpoints?.atEnd(epoch, () => runState(epoch, 0, null, order?.state() ?? null, noTotals, null));
    return historyOf(logs, stoppedEarly);
  } finally {
    release();
  }
}

/** Mean loss and metrics of `model` (inference mode) over `data`. */
export async function evaluate<In extends Inputs, Out extends Kind, L extends LossName = 'softmaxCrossEntropy'>(
  model: Model<In, Out>,
  data: Iterable<Batch<In, L, NoInfer<Out>>> | AsyncIterable<Batch<In, L, NoInfer<Out>>>,
  options: EvaluateOptions<L> = {},
): Promise<Evaluation> {
  const m = checkModel(model);
  const c = commonOptions(objectArgs(options, 'options'), m, EVALUATE_KEYS);
  checkData(data, 'data', 1);
  throwIfAborted(c.signal);
  return runEvaluation(m, data as Data<unknown>, c, 'data', 0);
}

/** The model's output for `x` in inference mode (no dropout, no caches kept). */
export async function predict<In extends Inputs, Out extends Kind>(model: Model<In, Out>, x: InputOf<In>): Promise<ValueOf<Out>> {
  const m = checkModel(model);
  const s = await m.forward(x as never, { training: false, backward: false });
  return s.y as ValueOf<Out>;
}

/**
 * Training checkpoints: everything {@link fit} needs to continue a run exactly where it stopped, in
 * ONE safetensors file that `fit` writes atomically (writeFileAtomicAsync: a temporary file beside
 * the target, fsync, rename), so a process killed at any moment leaves the previous checkpoint whole.
 *
 *   await fit(model, data, { epochs: 20, optimizer, checkpoint: { path: 'run.ckpt', everyBatches: 500 } });
 *   // after a crash, in a new process, with a model and optimizer built the same way:
 *   await fit(model, data, { epochs: 20, optimizer, checkpoint: { path: 'run.ckpt', everyBatches: 500 }, resumeFrom: 'run.ckpt' });
 *
 * The file's tensors (all F32):
 *
 *   model.<name>            every parameter under its model-level PyTorch name (`model.1.weight_ih_l0`)
 *   optimizer.<slot>.<i>    the optimizer's buffers (`optimizer.expAvg.0`), one per parameter, in
 *                           parameter order, each of its parameter's shape
 *   carry.<layer>.h / .c    the recurrent states a stateful fit carries into its next batch, by layer
 *                           position, flat (`[L*D*B*H]`)
 *
 * and its `__metadata__`:
 *
 *   "gated.format":         "gated.checkpoint"
 *   "gated.format_version": "1"
 *   "gated.model":          the model's description, as in a model file (describeModel)
 *   "gated.checkpoint":     the training state, JSON:
 *
 *   { "position": { "epoch": 2, "batch": 5, "steps": 29, "epochSize": 12 },
 *     "stoppedEarly": false,
 *     "fit": { "loss": "softmaxCrossEntropy", "stateful": false, "shuffle": true, "seed": 3, "monitor": "valLoss" },
 *     "optimizer": { "type": "adam", "step": 29, "epoch": 2, "slots": ["expAvg", "expAvgSq"] },
 *     "rng": { "model": RngState, "shuffle": RngState },
 *     "totals": { "lossSum": 3.1, "count": 40, "correct": 31, "examples": 40, "batches": 5, "seconds": 0.8 },
 *     "carry": { "batch": 8, "layers": [{ "layer": 1, "c": true }] },
 *     "history": [ EpochLog, ... ],
 *     "early": { "best": 0.41, "wait": 1 } }
 *
 * `position`: the next batch to run (`batch` within `epoch`, both 0-based), the batches trained since
 * the run began (`steps`, what `everyBatches` counts), and the length of the epoch's data when it is
 * an array (checked on resume; null otherwise). `rng.model` is the model's generator (dropout masks)
 * now, `rng.shuffle` the shuffling generator as of the START of `position.epoch` (so that the epoch's
 * order can be drawn again). `totals` are the running sums of the epoch so far (so the epoch's loss
 * and metrics come out identical), `history` the completed epochs, `early` early stopping's best value
 * and epochs without improvement. Non-finite numbers (an early-stopping best of Infinity, a NaN loss)
 * are written as the strings "NaN", "Infinity", "-Infinity" (and -0 as "-0"); every other number
 * round-trips exactly through JSON.
 *
 * A checkpoint is also a model: {@link loadCheckpointModel} gives the model with the checkpoint's
 * weights (what loadModel gives for a model file), and {@link readCheckpoint} its position and history.
 * Python's `safetensors.torch.load_file(path)` reads it too (strip the `model.` prefix for a
 * `state_dict`).
 *
 * Reading checks everything before it changes anything: the safetensors container (decodeSafetensors),
 * the format and version, every field of the training state, and that the tensors are exactly the
 * ones the state and the description name, with their shapes. Every problem is a {@link FormatError}
 * whose `argument` names the field (`checkpoint.position.epoch`, `tensors["optimizer.expAvg.3"]`);
 * resuming into a model or optimizer the checkpoint does not fit is a FormatError naming what differs
 * (`layers[1].config.hiddenSize`, `parameters[2].shape`, `checkpoint.optimizer.type`), and options
 * that would not continue the same run (another loss, seed, shuffle, stateful or early-stopping
 * monitor) a ValueError naming the option.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import { describe } from '../check.js';
import { FormatError, GatedError, ValueError } from '../errors.js';
import { FileError, toFileError } from '../io/atomic.js';
import { type SafetensorsContent, type Tensor, loadSafetensors, loadSafetensorsAsync, saveSafetensorsAsync } from '../io/safetensors.js';
import type { RecurrentState } from '../layers/layer.js';
import { type ReadModel, readDescriptionText } from '../models/formats.js';
import type { WeightsLock } from '../models/guard.js';
import type { AnyModel, ModelDescription } from '../models/model.js';
import { bareMessage, type Fail, failIn, isObject, shapeText } from '../models/reading.js';
import { describeModel, METADATA_KEYS } from '../models/save.js';
import { Rng, type RngState } from '../random.js';
import type { Optimizer, OptimizerType } from './optimizers.js';
import type { CheckpointPosition, EpochLog, History, LossName, MonitorName, SavedCheckpoint } from './types.js';

export type { CheckpointOptions, CheckpointPosition, SavedCheckpoint } from './types.js';

/** The `gated.format` of a checkpoint file. */
export const CHECKPOINT_FORMAT = 'gated.checkpoint';
/** The checkpoint version this code writes and reads. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** The `__metadata__` keys of a checkpoint: a model file's, plus the training state. */
const KEYS = { ...METADATA_KEYS, state: 'gated.checkpoint' } as const;

/** What {@link readCheckpoint} gives. */
export interface CheckpointInfo extends CheckpointPosition {
  /** The completed epochs (what `fit` resolves to when the run ends here). */
  readonly history: History;
  /** The optimizer's type and steps taken. */
  readonly optimizer: { readonly type: OptimizerType; readonly step: number };
  /** The model's description (as in a model file). */
  readonly model: ModelDescription;
}

// ---------------------------------------------------------------------------------------------
// what fit hands over and gets back (internal)

/** @internal The running sums of an epoch (fit.ts's Totals) and the seconds it has run. */
export interface EpochTotals {
  readonly lossSum: number;
  readonly count: number;
  readonly correct: number;
  readonly examples: number;
  readonly batches: number;
  readonly seconds: number;
}

/** @internal The options a resumed fit must share with the run that wrote the checkpoint. */
export interface FitConfig {
  readonly loss: LossName;
  readonly stateful: boolean;
  readonly shuffle: boolean;
  readonly seed: number;
  /** Early stopping's monitor, or null without early stopping. */
  readonly monitor: MonitorName | null;
}

/** @internal The states a stateful fit carries into its next batch, and that batch size. */
export interface CarriedStates {
  readonly batch: number;
  readonly states: ReadonlyMap<number, RecurrentState>;
}

/** @internal Everything fit saves besides the weights, the optimizer and the model's generator. */
export interface TrainingState extends CheckpointPosition {
  /** The length of the epoch's data when it is an array, else null. */
  readonly epochSize: number | null;
  readonly stoppedEarly: boolean;
  readonly fit: FitConfig;
  /** The shuffling generator as of the start of `epoch` (null without shuffle). */
  readonly shuffleRng: RngState | null;
  readonly totals: EpochTotals;
  readonly carry: CarriedStates | null;
  readonly history: readonly EpochLog[];
  readonly early: { readonly best: number; readonly wait: number } | null;
}

/** @internal `fit`'s checkpoint options, checked and with their defaults. */
export interface CheckpointPlan {
  readonly path: string;
  readonly everyBatches: number | null;
  readonly everyEpochs: number | null;
  readonly fsync: boolean;
  readonly onSaved: ((saved: SavedCheckpoint) => void | Promise<void>) | null;
}

/** @internal The History of completed epochs. */
export function historyOf(logs: readonly EpochLog[], stoppedEarly: boolean): History {
  return {
    epochs: logs,
    loss: logs.map((l) => l.loss),
    valLoss: logs.filter((l) => l.valLoss !== null).map((l) => l.valLoss as number),
    stoppedEarly,
  };
}

// ---------------------------------------------------------------------------------------------
// options

/** @internal Checks `options.checkpoint` (undefined: null). */
export function checkpointOptions(v: unknown): CheckpointPlan | null {
  if (v === undefined) return null;
  const at = 'options.checkpoint';
  if (!isObject(v)) throw new ValueError(`expected an object { path, everyBatches?, everyEpochs? }, got ${describe(v)}`, at);
  for (const k of Object.keys(v)) {
    if (!['path', 'everyBatches', 'everyEpochs', 'fsync', 'onSaved'].includes(k))
      throw new ValueError('unknown option (known: path, everyBatches, everyEpochs, fsync, onSaved)', `${at}.${k}`);
  }
  if (typeof v.path !== 'string' || v.path === '')
    throw new ValueError(`expected a non-empty file path, got ${describe(v.path)}`, `${at}.path`);
  const every = (k: string): number | null => {
    const n = v[k];
    if (n === undefined) return null;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
      throw new ValueError(`expected an integer >= 1, got ${describe(n)}`, `${at}.${k}`);
    return n;
  };
  const everyBatches = every('everyBatches');
  const everyEpochs = every('everyEpochs') ?? (everyBatches === null ? 1 : null);
  if (v.fsync !== undefined && typeof v.fsync !== 'boolean')
    throw new ValueError(`expected a boolean, got ${describe(v.fsync)}`, `${at}.fsync`);
  if (v.onSaved !== undefined && typeof v.onSaved !== 'function')
    throw new ValueError(`expected a function, got ${describe(v.onSaved)}`, `${at}.onSaved`);
  return {
    path: v.path,
    everyBatches,
    everyEpochs,
    fsync: (v.fsync as boolean | undefined) ?? true,
    onSaved: (v.onSaved as CheckpointPlan['onSaved'] | undefined) ?? null,
  };
}

/** @internal Checks `options.resumeFrom` (undefined: null). */
export function resumeOption(v: unknown): string | null {
  if (v === undefined) return null;
  if (typeof v !== 'string' || v === '') throw new ValueError(`expected a checkpoint file path, got ${describe(v)}`, 'options.resumeFrom');
  return v;
}

/**
 * @internal Fails before training when checkpoints cannot be written: the model has no description
 * (a ValueError naming `model`), or the directory is missing (a FileError naming the path).
 * Returns the description's JSON, written into every checkpoint.
 */
export async function prepareCheckpoints(plan: CheckpointPlan, model: AnyModel): Promise<string> {
  const description = JSON.stringify(describeModel(model));
  const dir = dirname(plan.path);
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (e) {
    throw toFileError(e, plan.path, `cannot write checkpoints: directory ${dir}`);
  }
  if (!isDir) throw new FileError(`cannot write checkpoints: ${dir} is not a directory`, plan.path);
  return description;
}

// ---------------------------------------------------------------------------------------------
// writing

/** JSON for a number: non-finite ones and -0 as strings (JSON has none of them). */
function num(x: number): number | string {
  return Number.isFinite(x) && !Object.is(x, -0) ? x : String(x === 0 ? '-0' : x);
}

function logJson(l: EpochLog): unknown {
  const rec = (r: Readonly<Record<string, number>>): Record<string, number | string> =>
    Object.fromEntries(Object.entries(r).map(([k, x]) => [k, num(x)]));
  return {
    epoch: l.epoch,
    batches: l.batches,
    loss: num(l.loss),
    metric: l.metric === null ? null : num(l.metric),
    metrics: rec(l.metrics),
    valLoss: l.valLoss === null ? null : num(l.valLoss),
    valMetrics: l.valMetrics === null ? null : rec(l.valMetrics),
    examplesPerSecond: num(l.examplesPerSecond),
  };
}

/**
 * @internal Writes a checkpoint of `model`, `optimizer` and `state` to `plan.path`, atomically. The
 * weights are written straight from the parameters' arrays: nothing may change them until it settles.
 */
export async function writeCheckpoint(
  plan: CheckpointPlan,
  description: string,
  model: AnyModel,
  optimizer: Optimizer,
  state: TrainingState,
): Promise<void> {
  const params = model.parameters();
  const tensors: Record<string, Tensor> = {};
  for (const p of params) tensors[`model.${p.name}`] = { dtype: 'F32', shape: [...p.shape], data: p.value };
  const o = optimizer.state();
  const slots = Object.keys(o.slots);
  for (const s of slots)
    o.slots[s].forEach((b, i) => (tensors[`optimizer.${s}.${i}`] = { dtype: 'F32', shape: [...params[i].shape], data: b }));
  const carried: { layer: number; c: boolean }[] = [];
  for (const [layer, st] of state.carry?.states ?? []) {
    tensors[`carry.${layer}.h`] = { dtype: 'F32', shape: [st.h.length], data: st.h };
    if (st.c) tensors[`carry.${layer}.c`] = { dtype: 'F32', shape: [st.c.length], data: st.c };
    carried.push({ layer, c: st.c !== null });
  }
  const t = state.totals;
  const json = {
    position: { epoch: state.epoch, batch: state.batch, steps: state.steps, epochSize: state.epochSize },
    stoppedEarly: state.stoppedEarly,
    fit: state.fit,
    optimizer: { type: o.type, step: o.step, epoch: o.epoch, slots },
    rng: { model: model.rng.state(), shuffle: state.shuffleRng },
    totals: {
      lossSum: num(t.lossSum),
      count: num(t.count),
      correct: t.correct,
      examples: t.examples,
      batches: t.batches,
      seconds: num(t.seconds),
    },
    carry: state.carry ? { batch: state.carry.batch, layers: carried } : null,
    history: state.history.map(logJson),
    early: state.early ? { best: num(state.early.best), wait: state.early.wait } : null,
  };
  const metadata = {
    [KEYS.format]: CHECKPOINT_FORMAT,
    [KEYS.version]: String(CHECKPOINT_FORMAT_VERSION),
    [KEYS.model]: description,
    [KEYS.state]: JSON.stringify(json),
  };
  await saveSafetensorsAsync(plan.path, tensors, metadata, { fsync: plan.fsync });
}

// ---------------------------------------------------------------------------------------------
// reading

/** @internal A checked checkpoint file. */
export interface ParsedCheckpoint {
  /** The model's description, read and in canonical form (lib/models/formats.ts). */
  readonly model: ReadModel;
  readonly params: ModelDescription['parameters'];
  readonly state: TrainingState;
  readonly optimizer: { readonly type: OptimizerType; readonly step: number; readonly epoch: number; readonly slots: readonly string[] };
  readonly modelRng: RngState | null;
  readonly tensors: Readonly<Record<string, Tensor>>;
  readonly fail: Fail;
}

const OPTIMIZER_TYPES: readonly string[] = ['sgd', 'adam', 'adamw', 'rmsprop'];
const LOSSES: readonly string[] = ['softmaxCrossEntropy', 'bceWithLogits', 'mse'];
const SPECIAL: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
  '-0': -0,
};

/** Field readers over the training state JSON: each throws a FormatError naming `checkpoint.<path>`. */
class Reader {
  constructor(private readonly fail: Fail) {}

  obj(v: unknown, at: string, fields: readonly string[]): Record<string, unknown> {
    if (!isObject(v)) throw this.fail(at, `expected an object, got ${describe(v)}`);
    for (const k of Object.keys(v)) if (!fields.includes(k)) throw this.fail(`${at}.${k}`, 'unknown field');
    for (const k of fields) if (!Object.hasOwn(v, k)) throw this.fail(`${at}.${k}`, 'missing');
    return v;
  }

  int(v: unknown, at: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw this.fail(at, `expected an integer >= 0, got ${describe(v)}`);
    return v;
  }

  num(v: unknown, at: string): number {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && Object.hasOwn(SPECIAL, v)) return SPECIAL[v];
    throw this.fail(at, `expected a number, got ${describe(v)}`);
  }

  bool(v: unknown, at: string): boolean {
    if (typeof v !== 'boolean') throw this.fail(at, `expected a boolean, got ${describe(v)}`);
    return v;
  }

  rng(v: unknown, at: string): RngState | null {
    if (v === null) return null;
    try {
      new Rng(0).setState(v as RngState);
    } catch (e) {
      throw this.fail(e instanceof GatedError && e.argument?.startsWith('state') ? `${at}${e.argument.slice(5)}` : at, bareMessage(e));
    }
    return v as RngState;
  }

  record(v: unknown, at: string): Record<string, number> {
    if (!isObject(v)) throw this.fail(at, `expected an object of numbers, got ${describe(v)}`);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.num(x, `${at}.${k}`)]));
  }

  log(v: unknown, at: string): EpochLog {
    const l = this.obj(v, at, ['epoch', 'batches', 'loss', 'metric', 'metrics', 'valLoss', 'valMetrics', 'examplesPerSecond']);
    return {
      epoch: this.int(l.epoch, `${at}.epoch`),
      batches: this.int(l.batches, `${at}.batches`),
      loss: this.num(l.loss, `${at}.loss`),
      metric: l.metric === null ? null : this.num(l.metric, `${at}.metric`),
      metrics: this.record(l.metrics, `${at}.metrics`),
      valLoss: l.valLoss === null ? null : this.num(l.valLoss, `${at}.valLoss`),
      valMetrics: l.valMetrics === null ? null : this.record(l.valMetrics, `${at}.valMetrics`),
      examplesPerSecond: this.num(l.examplesPerSecond, `${at}.examplesPerSecond`),
    };
  }
}

/** Checks a checkpoint file's metadata, training state and tensors (nothing about a model it may go into). */
export function parseCheckpoint(content: SafetensorsContent, source: string): ParsedCheckpoint {
  const fail = failIn(source);
  const meta = content.metadata;
  const metaArg = (k: string): string => `__metadata__[${JSON.stringify(k)}]`;
  const format = meta[KEYS.format];
  if (format !== CHECKPOINT_FORMAT) {
    throw fail(
      metaArg(KEYS.format),
      format === undefined
        ? 'missing: not a gated checkpoint'
        : meta[KEYS.model] !== undefined && meta[KEYS.state] === undefined
          ? `expected "${CHECKPOINT_FORMAT}", got ${JSON.stringify(format.slice(0, 100))}: a model file, not a checkpoint (load it with loadModel)`
          : `expected "${CHECKPOINT_FORMAT}", got ${JSON.stringify(format.slice(0, 100))}`,
    );
  }
  if (meta[KEYS.version] !== String(CHECKPOINT_FORMAT_VERSION)) {
    const got = meta[KEYS.version];
    throw fail(
      metaArg(KEYS.version),
      `expected "${CHECKPOINT_FORMAT_VERSION}" (the version this gated reads), got ${got === undefined ? 'none' : JSON.stringify(got.slice(0, 100))}`,
    );
  }
  const json = (key: string): Record<string, unknown> => {
    const text = meta[key];
    if (text === undefined) throw fail(metaArg(key), 'missing');
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw fail(metaArg(key), `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    if (!isObject(v)) throw fail(metaArg(key), `expected a JSON object, got ${describe(v)}`);
    return v;
  };

  // The model's description, checked in full (as a model file's) and in canonical form.
  const descriptionText = meta[KEYS.model];
  if (descriptionText === undefined) throw fail(metaArg(KEYS.model), 'missing');
  const model = readDescriptionText(descriptionText, fail, {});
  const params = model.description.parameters;

  // The training state.
  const r = new Reader(fail);
  const s = r.obj(json(KEYS.state), 'checkpoint', [
    'position',
    'stoppedEarly',
    'fit',
    'optimizer',
    'rng',
    'totals',
    'carry',
    'history',
    'early',
  ]);
  const pos = r.obj(s.position, 'checkpoint.position', ['epoch', 'batch', 'steps', 'epochSize']);
  const f = r.obj(s.fit, 'checkpoint.fit', ['loss', 'stateful', 'shuffle', 'seed', 'monitor']);
  if (typeof f.loss !== 'string' || !LOSSES.includes(f.loss))
    throw fail('checkpoint.fit.loss', `expected one of ${LOSSES.join(', ')}, got ${describe(f.loss)}`);
  if (f.monitor !== null && typeof f.monitor !== 'string')
    throw fail('checkpoint.fit.monitor', `expected a string or null, got ${describe(f.monitor)}`);
  const o = r.obj(s.optimizer, 'checkpoint.optimizer', ['type', 'step', 'epoch', 'slots']);
  if (typeof o.type !== 'string' || !OPTIMIZER_TYPES.includes(o.type))
    throw fail('checkpoint.optimizer.type', `expected one of ${OPTIMIZER_TYPES.join(', ')}, got ${describe(o.type)}`);
  if (
    !Array.isArray(o.slots) ||
    !o.slots.every((x) => typeof x === 'string' && /^[A-Za-z_]\w*$/.test(x)) ||
    new Set(o.slots).size !== o.slots.length
  ) {
    throw fail('checkpoint.optimizer.slots', 'expected an array of distinct slot names');
  }
  const rng = r.obj(s.rng, 'checkpoint.rng', ['model', 'shuffle']);
  const t = r.obj(s.totals, 'checkpoint.totals', ['lossSum', 'count', 'correct', 'examples', 'batches', 'seconds']);
  const totals: EpochTotals = {
    lossSum: r.num(t.lossSum, 'checkpoint.totals.lossSum'),
    count: r.num(t.count, 'checkpoint.totals.count'),
    correct: r.int(t.correct, 'checkpoint.totals.correct'),
    examples: r.int(t.examples, 'checkpoint.totals.examples'),
    batches: r.int(t.batches, 'checkpoint.totals.batches'),
    seconds: r.num(t.seconds, 'checkpoint.totals.seconds'),
  };
  if (!Array.isArray(s.history)) throw fail('checkpoint.history', `expected an array, got ${describe(s.history)}`);
  const history = s.history.map((l: unknown, k: number) => r.log(l, `checkpoint.history[${k}]`));
  let early: TrainingState['early'] = null;
  if (s.early !== null) {
    const e = r.obj(s.early, 'checkpoint.early', ['best', 'wait']);
    early = { best: r.num(e.best, 'checkpoint.early.best'), wait: r.int(e.wait, 'checkpoint.early.wait') };
  }
  const position = {
    epoch: r.int(pos.epoch, 'checkpoint.position.epoch'),
    batch: r.int(pos.batch, 'checkpoint.position.batch'),
    steps: r.int(pos.steps, 'checkpoint.position.steps'),
  };
  if (history.length !== position.epoch)
    throw fail('checkpoint.history', `expected ${position.epoch} epochs (position.epoch), got ${history.length}`);
  if (totals.batches !== position.batch)
    throw fail('checkpoint.totals.batches', `expected ${position.batch} (position.batch), got ${totals.batches}`);
  const optimizer = {
    type: o.type as OptimizerType,
    step: r.int(o.step, 'checkpoint.optimizer.step'),
    epoch: r.int(o.epoch, 'checkpoint.optimizer.epoch'),
    slots: o.slots as string[],
  };

  // The tensors: exactly model.*, optimizer.<slot>.<i> and carry.<layer>.h/c, with their shapes.
  const expected = new Map<string, readonly number[] | null>(); // null: any 1-D length
  for (const p of params) expected.set(`model.${p.name}`, p.shape);
  for (const slot of optimizer.slots) params.forEach((p, i) => expected.set(`optimizer.${slot}.${i}`, p.shape));
  let carry: CarriedStates | null = null;
  if (s.carry !== null) {
    const c = r.obj(s.carry, 'checkpoint.carry', ['batch', 'layers']);
    if (!Array.isArray(c.layers)) throw fail('checkpoint.carry.layers', `expected an array, got ${describe(c.layers)}`);
    const layers = c.layers.map((l: unknown, k: number) => {
      const e = r.obj(l, `checkpoint.carry.layers[${k}]`, ['layer', 'c']);
      return { layer: r.int(e.layer, `checkpoint.carry.layers[${k}].layer`), c: r.bool(e.c, `checkpoint.carry.layers[${k}].c`) };
    });
    for (const l of layers) {
      expected.set(`carry.${l.layer}.h`, null);
      if (l.c) expected.set(`carry.${l.layer}.c`, null);
    }
    carry = { batch: r.int(c.batch, 'checkpoint.carry.batch'), states: new Map() };
    const states = carry.states as Map<number, RecurrentState>;
    for (const l of layers) {
      states.set(l.layer, {
        h: tensorData(content, `carry.${l.layer}.h`, null, fail).slice(),
        c: l.c ? tensorData(content, `carry.${l.layer}.c`, null, fail).slice() : null,
      });
    }
  }
  for (const [name, shape] of expected) tensorData(content, name, shape, fail);
  for (const name of Object.keys(content.tensors)) {
    if (!expected.has(name))
      throw fail(
        `tensors[${JSON.stringify(name)}]`,
        'unexpected tensor: neither a parameter of the description, a slot of the optimizer nor a carried state',
      );
  }

  const state: TrainingState = {
    ...position,
    epochSize: pos.epochSize === null ? null : r.int(pos.epochSize, 'checkpoint.position.epochSize'),
    stoppedEarly: r.bool(s.stoppedEarly, 'checkpoint.stoppedEarly'),
    fit: {
      loss: f.loss as LossName,
      stateful: r.bool(f.stateful, 'checkpoint.fit.stateful'),
      shuffle: r.bool(f.shuffle, 'checkpoint.fit.shuffle'),
      seed: r.int(f.seed, 'checkpoint.fit.seed'),
      monitor: f.monitor as MonitorName | null,
    },
    shuffleRng: r.rng(rng.shuffle, 'checkpoint.rng.shuffle'),
    totals,
    carry,
    history,
    early,
  };
  return {
    model,
    params,
    state,
    optimizer,
    modelRng: r.rng(rng.model, 'checkpoint.rng.model'),
    tensors: content.tensors,
    fail,
  };
}

/** The F32 data of tensor `name` (a FormatError when it is missing or has another dtype or shape; `shape` null: any 1-D). */
function tensorData(content: SafetensorsContent, name: string, shape: readonly number[] | null, fail: Fail): Float32Array {
  const at = `tensors[${JSON.stringify(name)}]`;
  const t = Object.hasOwn(content.tensors, name) ? content.tensors[name] : undefined;
  if (t === undefined) throw fail(at, 'missing from the file (the checkpoint lists it)');
  if (t.dtype !== 'F32') throw fail(`${at}.dtype`, `expected F32, got ${t.dtype}`);
  if (shape === null ? t.shape.length !== 1 : shapeText(t.shape) !== shapeText(shape)) {
    throw fail(`${at}.shape`, `expected ${shape === null ? 'one dimension' : shapeText(shape)}, got ${shapeText(t.shape)}`);
  }
  return t.data;
}

/**
 * The first difference between the checkpoint's description and the model's (both canonical), as a
 * FormatError naming where (`layers[1].config.hiddenSize`, `parameters[2].shape`, `layers`).
 */
function compareModels(saved: ModelDescription, model: ModelDescription, fail: Fail): void {
  const differ = (at: string, a: unknown, b: unknown): FormatError =>
    fail(at, `the checkpoint's model has ${JSON.stringify(a) ?? 'none'}, this model ${JSON.stringify(b) ?? 'none'}`);
  const walk = (a: unknown, b: unknown, at: string): void => {
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) throw differ(at, `${a.length} entries`, `${b.length} entries`);
      a.forEach((v, k) => walk(v, b[k], `${at}[${k}]`));
    } else if (isObject(a) && isObject(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], at === '' ? k : `${at}.${k}`);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      throw differ(at, a, b);
    }
  };
  walk(
    { ...saved, parameters: saved.parameters.map((p) => ({ name: p.name, shape: p.shape })) },
    { ...model, parameters: model.parameters.map((p) => ({ name: p.name, shape: p.shape })) },
    '',
  );
}

/**
 * @internal Loads the checkpoint at `path` into `model` and `optimizer` for a resumed fit: checks that
 * it fits them (FormatError) and the fit's options and `epochs` (ValueError naming the option), then sets the
 * weights (under the weights lock), the optimizer's state and the model's generator. Nothing changes
 * when a check fails. Resolves to the rest of the state, for fit.
 */
export async function resumeCheckpoint(
  path: string,
  model: AnyModel,
  optimizer: Optimizer,
  config: FitConfig,
  epochs: number,
  lock: WeightsLock,
): Promise<TrainingState> {
  const c = parseCheckpoint(await loadSafetensorsAsync(path), path);
  const { state, fail } = c;
  if (!state.stoppedEarly && (state.epoch > epochs || (state.epoch === epochs && state.batch > 0))) {
    throw new ValueError(
      `the checkpoint ${path} is at epoch ${state.epoch}, batch ${state.batch}: past the end of a ${epochs}-epoch run (epochs is the run's total)`,
      'options.epochs',
    );
  }
  compareModels(c.model.description, describeModel(model), fail);
  if (c.optimizer.type !== optimizer.type) {
    throw fail('checkpoint.optimizer.type', `the checkpoint was written with ${c.optimizer.type}, options.optimizer is ${optimizer.type}`);
  }
  const saved = state.fit;
  const option = (name: string, a: unknown, b: unknown): ValueError =>
    new ValueError(
      `the checkpoint ${path} was written by a fit with ${name} ${JSON.stringify(a)}, got ${JSON.stringify(b)}: resuming needs the same to continue the same run`,
      `options.${name}`,
    );
  if (saved.loss !== config.loss) throw option('loss', saved.loss, config.loss);
  if (saved.stateful !== config.stateful) throw option('stateful', saved.stateful, config.stateful);
  if (saved.shuffle !== config.shuffle) throw option('shuffle', saved.shuffle, config.shuffle);
  if (saved.shuffle && saved.seed !== config.seed) throw option('seed', saved.seed, config.seed);
  if (saved.monitor !== config.monitor)
    throw option('earlyStopping.monitor', saved.monitor ?? 'none (no earlyStopping)', config.monitor ?? 'none (no earlyStopping)');
  if (state.early === null && config.monitor !== null) throw fail('checkpoint.early', 'missing: the fit had earlyStopping');
  // A stateful run in the middle of an epoch has carried states (the first batch wrote them): none
  // would silently restart the epoch's tracks from zero states.
  if (config.stateful && state.batch > 0 && state.carry === null)
    throw fail('checkpoint.carry', 'missing: a stateful run mid-epoch carries the states of its last batch');

  // The optimizer: loadState checks the slots it needs; afterwards its slot set must be the saved one
  // (sgd with momentum saved, one without given: the same type, other options). Undone on failure.
  const before = optimizer.state();
  const slots: Record<string, Float32Array[]> = {};
  for (const s of c.optimizer.slots) slots[s] = c.params.map((_, i) => c.tensors[`optimizer.${s}.${i}`].data as Float32Array);
  try {
    optimizer.loadState({ type: c.optimizer.type, step: c.optimizer.step, epoch: c.optimizer.epoch, slots });
    if (c.optimizer.step > 0) {
      const got = Object.keys(optimizer.state().slots).sort();
      const want = [...c.optimizer.slots].sort();
      if (got.join() !== want.join()) {
        throw fail(
          'checkpoint.optimizer.slots',
          `the checkpoint's ${c.optimizer.type} keeps ${want.join(', ') || 'no buffers'}, options.optimizer ${got.join(', ') || 'none'} (built with other options)`,
        );
      }
    }
  } catch (e) {
    optimizer.loadState(before);
    if (e instanceof FormatError) throw e;
    throw fail(
      e instanceof GatedError && e.argument !== undefined
        ? `checkpoint.optimizer.${e.argument.replace(/^state\./, '')}`
        : 'checkpoint.optimizer',
      bareMessage(e),
    );
  }
  const params = model.parameters();
  await lock.write(async () => {
    params.forEach((p) => p.value.set(c.tensors[`model.${p.name}`].data as Float32Array));
  });
  if (c.modelRng) model.rng.setState(c.modelRng);
  return state;
}

function infoOf(c: ParsedCheckpoint): CheckpointInfo {
  const s = c.state;
  return {
    epoch: s.epoch,
    batch: s.batch,
    steps: s.steps,
    history: historyOf(s.history, s.stoppedEarly),
    optimizer: { type: c.optimizer.type, step: c.optimizer.step },
    model: c.model.description,
  };
}

// ---------------------------------------------------------------------------------------------
// the public readers

/**
 * Where the run saved in a checkpoint stands (position, completed epochs, optimizer steps) and its
 * model's description; the whole file is checked as for a resume.
 * @throws {FileError} the file cannot be read.
 * @throws {FormatError} truncated or corrupt file, or not a checkpoint.
 */
export function readCheckpoint(path: string): CheckpointInfo {
  return infoOf(parseCheckpoint(loadSafetensors(path), path));
}

/** Async version of {@link readCheckpoint}. */
export async function readCheckpointAsync(path: string): Promise<CheckpointInfo> {
  return infoOf(parseCheckpoint(await loadSafetensorsAsync(path), path));
}

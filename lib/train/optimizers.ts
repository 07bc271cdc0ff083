/**
 * Optimizer objects: they hold their state (moment buffers, step count, epoch) over a model's
 * parameters and call the step kernels of lib/train/kernels.ts (native unless `backend: 'js'`), with
 * PyTorch's semantics and defaults (torch.optim.SGD, Adam, AdamW, RMSprop).
 *
 *   const opt = adam({ lr: stepDecay({ lr: 1e-3, stepSize: 10, gamma: 0.5 }), clipNorm: 1 });
 *   ... await backward ...; await opt.step(model.parameters()); model.zeroGrad();
 *
 * Each `step(params)` (1) evaluates the learning rate (a number, or a schedule called with the
 * current epoch and the number of steps taken so far), (2) clips the gradients in place (`clipValue`
 * first, then `clipNorm`: torch.nn.utils.clip_grad_value_ / clip_grad_norm_ over all the gradients
 * together), (3) runs one step kernel per parameter, in order. Buffers are allocated zeroed on the
 * first step. `state()` gives copies of everything (plain typed arrays and numbers); `loadState` on an
 * optimizer built with the same options continues bit-identically.
 *
 * `step` is async: it runs the clipping and step kernels through their async forms, so with the
 * native backend they run on a libuv worker thread and the event loop keeps serving during the
 * update (the results are bit-identical to the sync kernels'). Await each step before the next, and
 * do not touch the parameters, their gradients, `state()` or `loadState()` until it settles: a second
 * `step` while one is running rejects with a {@link BusyError} (and `loadState` throws one).
 */
import { type BackendName, backendName, boolOr, describe, finite, options as checkOptions, type Range } from '../check.js';
import { defaultBackendName } from '../backend/index.js';
import { BusyError, ShapeError, ValueError } from '../errors.js';
import type { Parameter } from '../layers/layer.js';
import { adamStep, adamwStep, clipGradNorm, clipGradValue, HYPER_RANGES, rmspropStep, sgdStep } from '../ops/train.js';

/** A learning rate as a function of the epoch (0-based) and the number of steps taken before this one (0-based). */
export type LrSchedule = (epoch: number, step: number) => number;

/** The kinds of optimizer. */
export type OptimizerType = 'sgd' | 'adam' | 'adamw' | 'rmsprop';

/** Everything an optimizer remembers, for checkpoints: plain numbers and Float32Array copies. */
export interface OptimizerState {
  /** Which optimizer wrote it. */
  readonly type: OptimizerType;
  /** Steps taken. */
  readonly step: number;
  /** The epoch last set with {@link Optimizer.setEpoch}. */
  readonly epoch: number;
  /** Buffers by slot name (`momentumBuffer`, `expAvg`, `expAvgSq`, `squareAvg`, `gradAvg`), one per parameter, in order. */
  readonly slots: Readonly<Record<string, readonly Float32Array[]>>;
}

/** Options of {@link Optimizer.step}. */
export interface StepOptions {
  /** Kernels to run. Default: the optimizer's `backend` option. */
  readonly backend?: BackendName;
}

/** What {@link Optimizer.step} did. */
export interface StepInfo {
  /** The learning rate used. */
  readonly lr: number;
  /** The global L2 norm of the gradients before `clipNorm` clipped them (null without `clipNorm`). */
  readonly gradNorm: number | null;
}

/** An optimizer over a fixed list of parameters (the same list, in the same order, at every step). */
export interface Optimizer {
  /** Which optimizer. */
  readonly type: OptimizerType;
  /** Steps taken so far. */
  readonly stepCount: number;
  /** Current epoch (0-based), read by learning-rate schedules; `fit` sets it. */
  readonly epoch: number;
  /** Sets the epoch the schedule sees. */
  setEpoch(epoch: number): void;
  /** The learning rate the next step will use. */
  currentLr(): number;
  /**
   * Clips the gradients (in place) and updates every parameter in place, off the main thread with the
   * native backend. Resolves once every parameter is updated; argument errors reject. Do not touch
   * the parameters or gradients until it settles.
   */
  step(params: readonly Parameter[], options?: StepOptions): Promise<StepInfo>;
  /** A copy of the state. */
  state(): OptimizerState;
  /** Restores a state from {@link state} (copied in). */
  loadState(state: OptimizerState): void;
}

/** Options shared by every optimizer. */
export interface CommonOptions {
  /**
   * Gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_: when the norm of all the
   * gradients together exceeds it, each is scaled by clipNorm / (norm + 1e-6)), > 0. Default: none.
   */
  readonly clipNorm?: number;
  /** Gradient clipping by value: every element clamped into [-clipValue, clipValue], > 0. Applied before clipNorm. Default: none. */
  readonly clipValue?: number;
  /** Kernels to run the steps on. Default: what `step` is told (fit passes the model's), else the process default. */
  readonly backend?: BackendName;
}

/** Options of {@link sgd} (torch.optim.SGD). */
export interface SgdOptions extends CommonOptions {
  /** Learning rate (>= 0) or schedule. Default: 1e-3 (PyTorch's). */
  readonly lr?: number | LrSchedule;
  /** Momentum factor, >= 0. Default: 0. */
  readonly momentum?: number;
  /** Dampening for momentum, >= 0. Default: 0. */
  readonly dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default: false. */
  readonly nesterov?: boolean;
  /** L2 penalty added to the gradient, >= 0. Default: 0. */
  readonly weightDecay?: number;
}

/** Options of {@link adam} (torch.optim.Adam) and {@link adamw} (torch.optim.AdamW). */
export interface AdamOptions extends CommonOptions {
  /** Learning rate (>= 0) or schedule. Default: 1e-3. */
  readonly lr?: number | LrSchedule;
  /** (beta1, beta2), each in [0, 1). Default: [0.9, 0.999]. */
  readonly betas?: readonly [number, number];
  /** Added to the denominator, >= 0. Default: 1e-8. */
  readonly eps?: number;
  /** Weight decay, >= 0: L2 added to the gradient for Adam, decoupled (param *= 1 - lr wd) for AdamW. Default: 0 (Adam), 1e-2 (AdamW). */
  readonly weightDecay?: number;
}

/** Options of {@link rmsprop} (torch.optim.RMSprop). */
export interface RmspropOptions extends CommonOptions {
  /** Learning rate (>= 0) or schedule. Default: 1e-2 (PyTorch's). */
  readonly lr?: number | LrSchedule;
  /** Smoothing constant in [0, 1]. Default: 0.99. */
  readonly alpha?: number;
  /** Added to the denominator, >= 0. Default: 1e-8. */
  readonly eps?: number;
  /** L2 penalty added to the gradient, >= 0. Default: 0. */
  readonly weightDecay?: number;
  /** Momentum factor, >= 0. Default: 0. */
  readonly momentum?: number;
  /** Normalize by the estimated variance. Default: false. */
  readonly centered?: boolean;
}

// ---------------------------------------------------------------------------------------------
// validation

type Obj = Readonly<Record<string, unknown>>;

/** `o[key]` as a finite number in `range`, `dflt` when undefined. */
function numOpt(o: Obj, key: string, dflt: number, range: Range): number {
  return finite(o[key], `options.${key}`, range, dflt);
}

function lrOpt(o: Obj, dflt: number): number | LrSchedule {
  if (typeof o.lr === 'function') return o.lr as LrSchedule;
  return numOpt(o, 'lr', dflt, HYPER_RANGES.lr);
}

const COMMON_KEYS = ['lr', 'clipNorm', 'clipValue', 'backend'];

function checkParams(params: unknown): readonly Parameter[] {
  if (!Array.isArray(params)) throw new ValueError(`expected an array of parameters, got ${describe(params)}`, 'params');
  (params as unknown[]).forEach((p, i) => {
    const q = p as Parameter | null;
    if (
      typeof q !== 'object' ||
      q === null ||
      !(q.value instanceof Float32Array) ||
      !(q.grad instanceof Float32Array) ||
      q.value.length !== q.grad.length
    ) {
      throw new ValueError('expected {value, grad}: Float32Arrays of the same length', `params[${i}]`);
    }
  });
  return params as readonly Parameter[];
}

// ---------------------------------------------------------------------------------------------
// the shared machinery

/** Updates every parameter, awaiting one step kernel after the other (in parameter order). */
type Kernel = (
  params: readonly Parameter[],
  slots: Record<string, Float32Array[]>,
  lr: number,
  step: number,
  backend: BackendName,
) => Promise<void>;

class BaseOptimizer implements Optimizer {
  readonly type: OptimizerType;
  private steps = 0;
  private ep = 0;
  private slots: Record<string, Float32Array[]> = {};
  private readonly slotNames: readonly string[];
  private readonly lr: number | LrSchedule;
  private readonly clipNorm: number | null;
  private readonly clipValue: number | null;
  private readonly backend: BackendName | null;
  private readonly kernel: Kernel;
  private running = false;

  constructor(type: OptimizerType, o: Obj, lr: number | LrSchedule, slotNames: readonly string[], kernel: Kernel) {
    this.type = type;
    this.lr = lr;
    this.slotNames = slotNames;
    this.kernel = kernel;
    this.clipNorm = o.clipNorm === undefined ? null : numOpt(o, 'clipNorm', 0, { lo: 0, loOpen: true });
    this.clipValue = o.clipValue === undefined ? null : numOpt(o, 'clipValue', 0, { lo: 0, hi: 3.4028234663852886e38, loOpen: true });
    this.backend = backendName(o.backend, 'options.backend');
  }

  get stepCount(): number {
    return this.steps;
  }

  get epoch(): number {
    return this.ep;
  }

  setEpoch(epoch: number): void {
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
      throw new ValueError(`expected an integer >= 0, got ${describe(epoch)}`, 'epoch');
    }
    this.ep = epoch;
  }

  currentLr(): number {
    if (typeof this.lr === 'number') return this.lr;
    const v = this.lr(this.ep, this.steps);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ValueError(`the schedule gave ${describe(v)} at epoch ${this.ep}, step ${this.steps}; expected a finite number >= 0`, 'lr');
    }
    return v;
  }

  async step(params: readonly Parameter[], options?: StepOptions): Promise<StepInfo> {
    if (this.running) throw new BusyError('a step is already running: await it before starting the next', 'optimizer');
    checkParams(params);
    const backend = backendName(options?.backend, 'options.backend', this.backend) ?? defaultBackendName();
    const lr = this.currentLr();
    const first = this.slotNames[0];
    if (first !== undefined && this.slots[first] === undefined) {
      for (const s of this.slotNames) this.slots[s] = params.map((p) => new Float32Array(p.value.length));
    }
    for (const s of this.slotNames) {
      const bufs = this.slots[s];
      if (bufs.length !== params.length)
        throw new ShapeError(
          `expected ${bufs.length} parameters (as at the first step or in the loaded state), got ${params.length}`,
          'params',
        );
      bufs.forEach((b, i) => {
        if (b.length !== params[i].value.length) {
          throw new ShapeError(`${s} buffer has length ${b.length}, the parameter ${params[i].value.length}`, `params[${i}]`);
        }
      });
    }
    const grads = params.map((p) => p.grad);
    this.running = true;
    try {
      if (this.clipValue !== null) await clipGradValue.async({ grads, clipValue: this.clipValue }, { backend });
      const gradNorm = this.clipNorm !== null ? await clipGradNorm.async({ grads, maxNorm: this.clipNorm }, { backend }) : null;
      await this.kernel(params, this.slots, lr, this.steps + 1, backend);
      this.steps++;
      return { lr, gradNorm };
    } finally {
      this.running = false;
    }
  }

  state(): OptimizerState {
    const slots: Record<string, Float32Array[]> = {};
    for (const [k, v] of Object.entries(this.slots)) slots[k] = v.map((b) => b.slice());
    return { type: this.type, step: this.steps, epoch: this.ep, slots };
  }

  loadState(state: OptimizerState): void {
    if (this.running) throw new BusyError('a step is running: await it before loading a state', 'optimizer');
    if (typeof state !== 'object' || state === null) throw new ValueError(`expected an object, got ${describe(state)}`, 'state');
    if (state.type !== this.type) throw new ValueError(`expected '${this.type}', got ${describe(state.type)}`, 'state.type');
    for (const k of ['step', 'epoch'] as const) {
      const v = state[k];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
        throw new ValueError(`expected an integer >= 0, got ${describe(v)}`, `state.${k}`);
    }
    const slots = state.slots as Readonly<Record<string, unknown>> | null;
    if (typeof slots !== 'object' || slots === null) throw new ValueError(`expected an object, got ${describe(slots)}`, 'state.slots');
    const out: Record<string, Float32Array[]> = {};
    if (state.step > 0 && this.slotNames.length > 0) {
      let count = -1;
      for (const s of this.slotNames) {
        const v = slots[s];
        if (!Array.isArray(v) || !(v as unknown[]).every((b) => b instanceof Float32Array)) {
          throw new ValueError(`expected an array of Float32Arrays, got ${describe(v)}`, `state.slots.${s}`);
        }
        const arr = v as Float32Array[];
        if (count >= 0 && arr.length !== count) throw new ShapeError(`expected ${count} buffers, got ${arr.length}`, `state.slots.${s}`);
        count = arr.length;
        out[s] = arr.map((b) => b.slice());
      }
    }
    this.slots = out;
    this.steps = state.step;
    this.ep = state.epoch;
  }
}

// ---------------------------------------------------------------------------------------------
// the optimizers

/** SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD). */
export function sgd(options: SgdOptions = {}): Optimizer {
  const o = checkOptions(options, [...COMMON_KEYS, 'momentum', 'dampening', 'nesterov', 'weightDecay']);
  const lr = lrOpt(o, 1e-3);
  const momentum = numOpt(o, 'momentum', 0, HYPER_RANGES.momentum);
  const dampening = numOpt(o, 'dampening', 0, HYPER_RANGES.dampening);
  const weightDecay = numOpt(o, 'weightDecay', 0, HYPER_RANGES.weightDecay);
  const nesterov = boolOr(o.nesterov, false, 'options.nesterov');
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new ValueError(`requires momentum > 0 and dampening = 0, got momentum ${momentum}, dampening ${dampening}`, 'options.nesterov');
  }
  const slots = momentum !== 0 ? ['momentumBuffer'] : [];
  return new BaseOptimizer('sgd', o, lr, slots, async (params, s, lrNow, step, backend) => {
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      await sgdStep.async(
        {
          param: p.value,
          grad: p.grad,
          momentumBuffer: momentum !== 0 ? s.momentumBuffer[i] : null,
          step,
          lr: lrNow,
          momentum,
          dampening,
          weightDecay,
          nesterov,
        },
        { backend },
      );
    }
  });
}

function adamLike(type: 'adam' | 'adamw', options: AdamOptions): Optimizer {
  const o = checkOptions(options, [...COMMON_KEYS, 'betas', 'eps', 'weightDecay']);
  const lr = lrOpt(o, 1e-3);
  let betas: [number, number] = [0.9, 0.999];
  if (o.betas !== undefined) {
    const b = o.betas;
    if (!Array.isArray(b) || b.length !== 2) throw new ValueError(`expected a pair [beta1, beta2], got ${describe(b)}`, 'options.betas');
    const pair = b as unknown[];
    betas = [0, 1].map((k) => finite(pair[k], `options.betas[${k}]`, HYPER_RANGES.beta)) as [number, number];
  }
  const eps = numOpt(o, 'eps', 1e-8, HYPER_RANGES.eps);
  const weightDecay = numOpt(o, 'weightDecay', type === 'adamw' ? 1e-2 : 0, HYPER_RANGES.weightDecay);
  const kernel = (type === 'adamw' ? adamwStep : adamStep).async;
  return new BaseOptimizer(type, o, lr, ['expAvg', 'expAvgSq'], async (params, s, lrNow, step, backend) => {
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      await kernel(
        {
          param: p.value,
          grad: p.grad,
          expAvg: s.expAvg[i],
          expAvgSq: s.expAvgSq[i],
          step,
          lr: lrNow,
          betas,
          eps,
          weightDecay,
        },
        { backend },
      );
    }
  });
}

/** Adam (torch.optim.Adam): L2 weight decay added to the gradient. */
export function adam(options: AdamOptions = {}): Optimizer {
  return adamLike('adam', options);
}

/** AdamW (torch.optim.AdamW): decoupled weight decay, default 1e-2. */
export function adamw(options: AdamOptions = {}): Optimizer {
  return adamLike('adamw', options);
}

/** RMSprop (torch.optim.RMSprop), optionally centered and with momentum. */
export function rmsprop(options: RmspropOptions = {}): Optimizer {
  const o = checkOptions(options, [...COMMON_KEYS, 'alpha', 'eps', 'weightDecay', 'momentum', 'centered']);
  const lr = lrOpt(o, 1e-2);
  const alpha = numOpt(o, 'alpha', 0.99, HYPER_RANGES.alpha);
  const eps = numOpt(o, 'eps', 1e-8, HYPER_RANGES.eps);
  const weightDecay = numOpt(o, 'weightDecay', 0, HYPER_RANGES.weightDecay);
  const momentum = numOpt(o, 'momentum', 0, HYPER_RANGES.momentum);
  const centered = boolOr(o.centered, false, 'options.centered');
  const slots = ['squareAvg', ...(centered ? ['gradAvg'] : []), ...(momentum > 0 ? ['momentumBuffer'] : [])];
  return new BaseOptimizer('rmsprop', o, lr, slots, async (params, s, lrNow, _step, backend) => {
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      await rmspropStep.async(
        {
          param: p.value,
          grad: p.grad,
          squareAvg: s.squareAvg[i],
          gradAvg: centered ? s.gradAvg[i] : null,
          momentumBuffer: momentum > 0 ? s.momentumBuffer[i] : null,
          lr: lrNow,
          alpha,
          eps,
          weightDecay,
          momentum,
          centered,
        },
        { backend },
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------
// learning-rate schedules (functions of the epoch, as PyTorch's epoch-stepped schedulers)

/** Options of {@link stepDecay} (torch.optim.lr_scheduler.StepLR). */
export interface StepDecayOptions {
  /** Initial learning rate, >= 0. Required. */
  readonly lr: number;
  /** Epochs between decays, an integer >= 1. Required. */
  readonly stepSize: number;
  /** Factor applied at each decay, >= 0. Default: 0.1 (PyTorch's). */
  readonly gamma?: number;
}

/** A schedule's argument: the epoch, an integer >= 0 (a ValueError naming `epoch` otherwise). */
function scheduleEpoch(epoch: unknown): number {
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
    throw new ValueError(`expected an integer >= 0, got ${describe(epoch)}`, 'epoch');
  }
  return epoch;
}

/** lr * gamma^floor(epoch / stepSize). */
export function stepDecay(options: StepDecayOptions): LrSchedule {
  const o = checkOptions(options, ['lr', 'stepSize', 'gamma']);
  const lr = finite(o.lr, 'options.lr', HYPER_RANGES.lr);
  const s = o.stepSize;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 1)
    throw new ValueError(`expected an integer >= 1, got ${describe(s)}`, 'options.stepSize');
  const gamma = numOpt(o, 'gamma', 0.1, { lo: 0 });
  return (epoch: number) => lr * gamma ** Math.floor(scheduleEpoch(epoch) / s);
}

/** Options of {@link exponentialDecay} (torch.optim.lr_scheduler.ExponentialLR). */
export interface ExponentialDecayOptions {
  /** Initial learning rate, >= 0. Required. */
  readonly lr: number;
  /** Factor per epoch, >= 0. Required. */
  readonly gamma: number;
}

/** lr * gamma^epoch. */
export function exponentialDecay(options: ExponentialDecayOptions): LrSchedule {
  const o = checkOptions(options, ['lr', 'gamma']);
  const lr = finite(o.lr, 'options.lr', HYPER_RANGES.lr);
  const gamma = finite(o.gamma, 'options.gamma', { lo: 0 });
  return (epoch: number) => lr * gamma ** scheduleEpoch(epoch);
}

/**
 * Streaming inference: a {@link Session} holds one client's recurrent state (every layer's) and
 * advances it as input arrives; a {@link SessionPool} advances many sessions of one model together.
 *
 *   const pool = new SessionPool(model, { maxBatch: 64 });
 *   const s = pool.open();
 *   const logits = await s.feed([12, 7, 3]);              // [3 * V]: one row per fed step
 *   for await (const id of s.generate({ maxTokens: 50, strategy: { temperature: 0.8 }, seed: 1 })) write(id);
 *   const saved = s.snapshot();                            // ... later: pool.open(saved) goes on from there
 *
 * Dynamic batching: `feed` queues its steps. The pool runs one batch at a time; when the model is
 * idle, a batch starts at the next macrotask (or after `maxDelayMs`, when set) with every step queued
 * by then, and steps arriving while a batch runs go together in the next one. Queued steps of equal
 * length (up to `maxBatch` sessions) share one `model.forward` call: their states are gathered into
 * the `[L, B, H]` initial states and scattered back after. So a step waits at most for the batch in
 * flight (plus `maxDelayMs`), and throughput grows with the number of clients. Each session's steps
 * run in the order they were fed, and results are those of running the session alone (batching
 * changes only the grouping of rows: every kernel computes each row on its own).
 *
 * A snapshot is plain data; {@link encodeSnapshot} / {@link decodeSnapshot} turn it into bytes and
 * back (a small safetensors file) to keep it in a file, a database or a cache between requests.
 *
 * Models: tokens or float sequences in. Recurrent layers must be unidirectional (a bidirectional
 * layer needs the whole sequence) and take a Sequence (not `stateInput`); other layers are taken to
 * act on each step alone. The output of a feed is the model's output for the fed steps: `[n * F]` for
 * a Sequence output, or `[F]` (the state after the last step) for a Vector output.
 */
import { describe, intOr, isDetached } from '../check.js';
import { checkChoice, decodeTokens, type Stepper, type TokenChoiceOptions } from '../decode/loop.js';
import { concatRows, selectRows, type StateBatch, zeroStates } from '../decode/states.js';
import { AbortError, FormatError, ShapeError, ValueError } from '../errors.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../io/safetensors.js';
import type { RecurrentState } from '../layers/layer.js';
import type { Kind, Value } from '../layers/values.js';
import { sequence, tokens } from '../layers/values.js';
import type { AnyModel, Model, StateSlot } from '../models/model.js';

/** What a session is fed: token ids (a tokens model) or `[n * features]` floats (a sequence model). */
export type StepInput<In extends Kind> = In extends 'tokens' ? Int32Array | readonly number[] : Float32Array;

/** Options of {@link SessionPool}. */
export interface SessionPoolOptions {
  /** Most sessions advanced by one call, an integer >= 1 (1: no batching). Default: 64. */
  readonly maxBatch?: number;
  /** How long an idle pool waits for more steps before it starts a batch, in ms (>= 0). Default: 0 (the next macrotask). */
  readonly maxDelayMs?: number;
}

/** A session's state: steps fed so far, every recurrent layer's state and the last output (copies). */
export interface SessionSnapshot {
  /** Steps fed so far. */
  readonly steps: number;
  /** One entry per recurrent layer: its position in the model, `h` `[K * H]` and (LSTM) `c` (K = numLayers). */
  readonly states: readonly { readonly layer: number; readonly h: Float32Array; readonly c: Float32Array | null }[];
  /** The output of the last step fed (`[F]`: for a language model, the next-token logits, so `generate` goes on without a prompt), or null. */
  readonly last?: Float32Array | null;
}

/** Options of {@link Session.generate}: those of the decode loop (strategy, seed or rng (default seed 0), stop tokens, banned tokens, repetition penalty) and these. */
export interface SessionGenerateOptions extends TokenChoiceOptions {
  /** Token ids fed first. Default: none (continue after what was fed; then at least one step must have been). */
  readonly prompt?: Int32Array | readonly number[];
  /** Most tokens to generate (a stop token counts), an integer >= 0. Required. */
  readonly maxTokens: number;
  /** Stops between tokens with an AbortError. */
  readonly signal?: AbortSignal;
}

/** Counters of a pool (what batching achieved). */
export interface PoolStats {
  /** Model calls made. */
  readonly batches: number;
  /** Session steps requests served (one per feed). */
  readonly requests: number;
  /** Mean sessions per call. */
  readonly meanBatch: number;
}

interface Request {
  readonly session: SessionImpl;
  readonly steps: number;
  readonly ids: Int32Array | null;
  readonly data: Float32Array | null;
  resolve(y: Float32Array): void;
  reject(e: unknown): void;
}

/** The model's state slots, checked for streaming (unidirectional, every state declared, none from a Vector). */
function slotsOf(model: AnyModel): readonly StateSlot[] {
  if (!model.causal) throw new ValueError('the model has a bidirectional part: it needs the whole sequence, so it cannot stream', 'model');
  if (!model.stepwise) throw new ValueError('the model has a part that does not declare its state: a session cannot carry it', 'model');
  const input = model.stateSlots.find((s) => s.spec.input);
  if (input)
    throw new ValueError(`layers[${input.key}] (${input.type}) takes its state from a Vector (stateInput): it cannot stream`, 'model');
  return model.stateSlots;
}

/** A set of sessions over one model whose steps are batched (see the module comment). */
export class SessionPool<In extends 'tokens' | 'sequence', Out extends Kind> {
  readonly model: Model<In, Out>;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly slots: readonly StateSlot[];
  private queue: Request[] = [];
  private running = false;
  private scheduled = false;
  private closed = false;
  private batches = 0;
  private requests = 0;

  constructor(model: Model<In, Out>, options: SessionPoolOptions = {}) {
    if (typeof model !== 'object' || model === null || typeof model.forward !== 'function' || !Array.isArray(model.stateSlots)) {
      throw new ValueError(`expected a model, got ${describe(model)}`, 'model');
    }
    if (model.inputKind !== 'tokens' && model.inputKind !== 'sequence') {
      throw new ValueError(`expected a model taking tokens or a sequence, got one taking a ${String(model.inputKind)}`, 'model');
    }
    if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
    for (const k of Object.keys(options))
      if (k !== 'maxBatch' && k !== 'maxDelayMs') throw new ValueError('unknown option (known: maxBatch, maxDelayMs)', `options.${k}`);
    const maxBatch = options.maxBatch ?? 64;
    if (typeof maxBatch !== 'number' || !Number.isSafeInteger(maxBatch) || maxBatch < 1)
      throw new ValueError(`expected an integer >= 1, got ${describe(maxBatch)}`, 'options.maxBatch');
    const maxDelayMs = options.maxDelayMs ?? 0;
    if (typeof maxDelayMs !== 'number' || !Number.isFinite(maxDelayMs) || maxDelayMs < 0)
      throw new ValueError(`expected a finite number >= 0, got ${describe(maxDelayMs)}`, 'options.maxDelayMs');
    this.model = model;
    this.maxBatch = maxBatch;
    this.maxDelayMs = maxDelayMs;
    this.slots = slotsOf(model as AnyModel);
  }

  /** A new session (zero states), or one going on from `snapshot`. */
  open(snapshot?: SessionSnapshot): Session<In, Out> {
    if (this.closed) throw new ValueError('the pool is closed', 'pool');
    const s = new SessionImpl(this as unknown as PoolAccess, zeroStates(this.slots, 1));
    if (snapshot !== undefined) s.restoreNow(snapshot);
    return s as unknown as Session<In, Out>;
  }

  /** What batching achieved so far. */
  get stats(): PoolStats {
    return { batches: this.batches, requests: this.requests, meanBatch: this.batches > 0 ? this.requests / this.batches : 0 };
  }

  /** Refuses new sessions and steps; steps queued but not started reject with an AbortError. */
  close(): void {
    this.closed = true;
    const q = this.queue;
    this.queue = [];
    for (const r of q) r.reject(new AbortError('the session pool was closed'));
  }

  // --- used by sessions -------------------------------------------------------------------

  /** @internal */
  get stateSlots(): readonly StateSlot[] {
    return this.slots;
  }

  /** @internal */
  checkSnapshotStates(states: unknown): StateBatch {
    if (!Array.isArray(states)) throw new ValueError(`expected an array, got ${describe(states)}`, 'snapshot.states');
    const out = new Map<number, RecurrentState>();
    if (states.length !== this.slots.length)
      throw new ShapeError(`expected ${this.slots.length} layer states (one per recurrent layer), got ${states.length}`, 'snapshot.states');
    this.slots.forEach((slot, i) => {
      const e = states[i] as { layer?: unknown; h?: unknown; c?: unknown } | null;
      const where = `snapshot.states[${i}]`;
      if (typeof e !== 'object' || e === null || e.layer !== slot.key)
        throw new ValueError(`expected the state of layers[${slot.key}], got ${describe(e?.layer ?? e)}`, `${where}.layer`);
      const n = slot.spec.rows * slot.spec.width;
      const arr = (v: unknown, name: string): Float32Array => {
        if (!(v instanceof Float32Array) || isDetached(v.buffer))
          throw new ValueError(`expected a Float32Array (not detached), got ${describe(v)}`, `${where}.${name}`);
        if (v.length !== n)
          throw new ShapeError(`expected length ${n} (numLayers*${slot.spec.width}), got ${v.length}`, `${where}.${name}`);
        for (let j = 0; j < v.length; j++) if (!Number.isFinite(v[j])) throw new ValueError(`${name}[${j}] is ${v[j]}`, `${where}.${name}`);
        return v.slice();
      };
      out.set(slot.key, { h: arr(e.h, 'h'), c: slot.spec.cell ? arr(e.c, 'c') : null });
    });
    return { batch: 1, states: out };
  }

  /** @internal */
  enqueue(r: Request): void {
    if (this.closed) {
      r.reject(new AbortError('the session pool was closed'));
      return;
    }
    this.queue.push(r);
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    const start = (): void => {
      this.scheduled = false;
      void this.drain();
    };
    if (this.maxDelayMs > 0) setTimeout(start, this.maxDelayMs);
    else setImmediate(start);
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        // Equal step counts share a call (no padding): the first request's count, in arrival order.
        const n = this.queue[0].steps;
        const group: Request[] = [];
        const rest: Request[] = [];
        for (const r of this.queue) (r.steps === n && group.length < this.maxBatch ? group : rest).push(r);
        this.queue = rest;
        await this.run(group);
      }
    } finally {
      this.running = false;
    }
  }

  private async run(group: Request[]): Promise<void> {
    const B = group.length;
    const T = group[0].steps;
    this.batches++;
    this.requests += B;
    try {
      let x: Value;
      if (this.model.inputKind === 'tokens') {
        const ids = new Int32Array(T * B);
        group.forEach((r, b) => {
          for (let t = 0; t < T; t++) ids[t * B + b] = (r.ids as Int32Array)[t];
        });
        x = tokens({ ids, seqLen: T, batch: B });
      } else {
        const F = this.model.input.features;
        const data = new Float32Array(T * B * F);
        group.forEach((r, b) => {
          for (let t = 0; t < T; t++) data.set((r.data as Float32Array).subarray(t * F, (t + 1) * F), (t * B + b) * F);
        });
        x = sequence({ data, seqLen: T, batch: B, features: F });
      }
      // Gather the sessions' states into one batch, run, and give each its row of the result.
      const initial = concatRows(
        group.map((r) => r.session.states),
        this.slots,
      );
      const step = await this.model.forward(x as never, {
        training: false,
        backward: false,
        keepStates: true,
        initialStates: initial.states,
      });
      const y = step.y as Value;
      if (y.kind === 'tokens') throw new ValueError('the model gives token ids, not floats', 'model');
      const F = y.features;
      const after: StateBatch = { batch: B, states: step.states };
      group.forEach((r, b) => {
        let out: Float32Array;
        if (y.kind === 'vector') {
          out = y.data.slice(b * F, (b + 1) * F);
        } else {
          out = new Float32Array(T * F);
          for (let t = 0; t < T; t++) out.set(y.data.subarray((t * B + b) * F, (t * B + b + 1) * F), t * F);
        }
        r.session.advance(selectRows(after, this.slots, Int32Array.of(b)), T, out.slice(out.length - F));
        r.resolve(out);
      });
    } catch (e) {
      for (const r of group) r.reject(e);
    }
  }
}

/** What a session needs of its pool. */
interface PoolAccess {
  readonly model: Model<'tokens' | 'sequence', Kind>;
  readonly stateSlots: readonly StateSlot[];
  checkSnapshotStates(states: unknown): StateBatch;
  enqueue(r: Request): void;
}

/** One client's stream through a model (create with {@link SessionPool.open}). `Out`: the model's output kind. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- `Out` types the session as its pool (Session<'tokens', 'sequence'> can generate)
export interface Session<In extends Kind, Out extends Kind> {
  /** Steps fed so far. */
  readonly steps: number;
  /**
   * Advances the state by the given steps (ids for a tokens model, `[n * features]` floats for a
   * sequence model); resolves to the outputs for them (`[n * F]`, or `[F]` for a Vector output). Steps
   * fed before the previous feed resolved run after it.
   */
  feed(input: StepInput<In>): Promise<Float32Array>;
  /**
   * Generates tokens (a tokens model whose output is a Sequence of next-token logits) through the
   * decode loop (lib/decode/loop.ts), yielding each as soon as it is chosen; every yielded token is
   * fed back, so the session goes on after it.
   */
  generate(this: Session<'tokens', 'sequence'>, options: SessionGenerateOptions): AsyncGenerator<number, void, undefined>;
  /** A copy of the state (what {@link SessionPool.open} and {@link Session.restore} take). */
  snapshot(): SessionSnapshot;
  /** Replaces the state with a snapshot of a session of the same model (after pending feeds). */
  restore(snapshot: SessionSnapshot): void;
}

class SessionImpl {
  states: StateBatch;
  steps = 0;
  /** The output of the last step fed (`[F]`), or null. */
  private last: Float32Array | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pool: PoolAccess,
    states: StateBatch,
  ) {
    this.states = states;
  }

  /** @internal Called by the pool with the state after `n` more steps and the last step's output. */
  advance(states: StateBatch, n: number, last: Float32Array): void {
    this.states = states;
    this.steps += n;
    this.last = last;
  }

  feed(input: unknown): Promise<Float32Array> {
    const m = this.pool.model;
    let ids: Int32Array | null = null;
    let data: Float32Array | null = null;
    let steps: number;
    if (m.inputKind === 'tokens') {
      if (!(input instanceof Int32Array) && !Array.isArray(input))
        return Promise.reject(new ValueError(`expected token ids (an Int32Array or an array), got ${describe(input)}`, 'input'));
      const src = input as ArrayLike<unknown>;
      const V = m.input.features;
      ids = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= V) {
          return Promise.reject(new ValueError(`expected a token id in [0, ${V}), got ${describe(v)}`, `input[${i}]`));
        }
        ids[i] = v;
      }
      steps = ids.length;
    } else {
      const F = m.input.features;
      if (!(input instanceof Float32Array))
        return Promise.reject(new ValueError(`expected a Float32Array of steps * ${F} features, got ${describe(input)}`, 'input'));
      if (isDetached(input.buffer)) return Promise.reject(new ValueError('its buffer is detached (transferred)', 'input'));
      if (input.length % F !== 0)
        return Promise.reject(new ShapeError(`expected a multiple of features = ${F}, got ${input.length}`, 'input'));
      for (let i = 0; i < input.length; i++)
        if (!Number.isFinite(input[i])) return Promise.reject(new ValueError(`input[${i}] is ${input[i]}`, 'input'));
      data = input.slice();
      steps = input.length / F;
    }
    if (steps === 0) return Promise.resolve(new Float32Array(0));
    const result = this.chain.then(
      () =>
        new Promise<Float32Array>((resolve, reject) => {
          this.pool.enqueue({ session: this, steps, ids, data, resolve, reject });
        }),
    );
    this.chain = result.catch(() => undefined);
    return result;
  }

  async *generate(options: SessionGenerateOptions): AsyncGenerator<number, void, undefined> {
    const m = this.pool.model;
    if (m.inputKind !== 'tokens' || m.outputKind !== 'sequence')
      throw new ValueError('generate needs a tokens model whose output is a Sequence of logits', 'session');
    if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
    const max = intOr(options.maxTokens, 'options.maxTokens', 0);
    const V = m.outputFeatures;
    if (V !== m.input.features)
      throw new ValueError(`the model's outputs (${V}) are not over its input vocabulary (${m.input.features})`, 'session');
    const choice = checkChoice(options, V, 'options.', options.rng === undefined ? (options.seed ?? 0) : undefined);
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw new ValueError(`expected an AbortSignal, got ${describe(signal)}`, 'options.signal');
    const prompt: unknown = options.prompt;
    if (prompt !== undefined && !(prompt instanceof Int32Array) && !Array.isArray(prompt))
      throw new ValueError(`expected token ids (an Int32Array or an array), got ${describe(prompt)}`, 'options.prompt');
    if (prompt !== undefined && prompt.length > 0) {
      await this.feed(options.prompt);
    } else {
      await this.chain;
      if (this.last === null || this.last.length !== V) throw new ValueError('nothing was fed yet: give a prompt', 'options.prompt');
    }
    // One row: the session itself (its feeds go through the pool's batching).
    let logits: Float32Array = (this.last as Float32Array).slice();
    const feed = (ids: number[]): Promise<Float32Array> => this.feed(ids);
    const stepper: Stepper = {
      vocabSize: V,
      rows: 1,
      get logits() {
        return logits;
      },
      async feed(t) {
        const y = await feed([t[0]]);
        logits = y.subarray(y.length - V);
      },
      keep() {},
    };
    // Every token is fed before it is yielded, the last too: the session goes on after it.
    for await (const g of decodeTokens(stepper, { maxTokens: max, choice, signal: signal ?? null, feedAll: true })) yield g.token;
  }

  snapshot(): SessionSnapshot {
    return {
      steps: this.steps,
      states: this.pool.stateSlots.map((s) => {
        const st = this.states.states.get(s.key) as RecurrentState;
        return { layer: s.key, h: st.h.slice(), c: st.c ? st.c.slice() : null };
      }),
      last: this.last ? this.last.slice() : null,
    };
  }

  restore(snapshot: SessionSnapshot): void {
    const apply = this.checked(snapshot);
    this.chain = this.chain.then(apply);
  }

  /** @internal For a session with nothing pending: applies at once. */
  restoreNow(snapshot: SessionSnapshot): void {
    this.checked(snapshot)();
  }

  private checked(snapshot: SessionSnapshot): () => void {
    if (typeof snapshot !== 'object' || snapshot === null)
      throw new ValueError(`expected a snapshot, got ${describe(snapshot)}`, 'snapshot');
    const steps = snapshot.steps;
    if (typeof steps !== 'number' || !Number.isSafeInteger(steps) || steps < 0)
      throw new ValueError(`expected an integer >= 0, got ${describe(steps)}`, 'snapshot.steps');
    const states = this.pool.checkSnapshotStates(snapshot.states);
    const last = snapshot.last ?? null;
    if (last !== null) {
      if (!(last instanceof Float32Array)) throw new ValueError(`expected a Float32Array or null, got ${describe(last)}`, 'snapshot.last');
      if (isDetached(last.buffer)) throw new ValueError('its buffer is detached (transferred)', 'snapshot.last');
      for (let j = 0; j < last.length; j++) if (Number.isNaN(last[j])) throw new ValueError(`last[${j}] is NaN`, 'snapshot.last');
    }
    // Copied now: the caller may change or transfer its arrays before a queued restore applies.
    const lastCopy = last ? last.slice() : null;
    return () => {
      this.states = states;
      this.steps = steps;
      this.last = lastCopy;
    };
  }
}

const SNAPSHOT_FORMAT = 'gated.session';

/**
 * A snapshot as bytes: a safetensors file with `<layer>.h` (and `<layer>.c`) F32 tensors `[K, H]`,
 * the last output as `last` (when there is one), and the step count in its metadata. {@link decodeSnapshot} reads it back.
 */
export function encodeSnapshot(snapshot: SessionSnapshot): Uint8Array {
  if (typeof snapshot !== 'object' || snapshot === null || !Array.isArray(snapshot.states)) {
    throw new ValueError(`expected a session snapshot, got ${describe(snapshot)}`, 'snapshot');
  }
  const { steps } = snapshot;
  if (typeof steps !== 'number' || !Number.isSafeInteger(steps) || steps < 0)
    throw new ValueError(`expected an integer >= 0, got ${describe(steps)}`, 'snapshot.steps');
  const tensors: Record<string, Tensor> = {};
  snapshot.states.forEach((e, i) => {
    const where = `snapshot.states[${i}]`;
    if (typeof e !== 'object' || e === null || !Number.isSafeInteger(e.layer) || e.layer < 0)
      throw new ValueError(`expected { layer, h, c }, got ${describe(e)}`, where);
    for (const [name, a] of [
      ['h', e.h],
      ['c', e.c],
    ] as const) {
      if (a === null && name === 'c') continue;
      if (!(a instanceof Float32Array)) throw new ValueError(`expected a Float32Array, got ${describe(a)}`, `${where}.${name}`);
      tensors[`${e.layer}.${name}`] = { dtype: 'F32', shape: [a.length], data: a };
    }
  });
  if (snapshot.last !== undefined && snapshot.last !== null) {
    if (!(snapshot.last instanceof Float32Array))
      throw new ValueError(`expected a Float32Array or null, got ${describe(snapshot.last)}`, 'snapshot.last');
    tensors.last = { dtype: 'F32', shape: [snapshot.last.length], data: snapshot.last };
  }
  return encodeSafetensors(tensors, { format: SNAPSHOT_FORMAT, steps: String(steps) });
}

/** Reads {@link encodeSnapshot}'s bytes (a FormatError when they are not a session snapshot). */
export function decodeSnapshot(bytes: Uint8Array): SessionSnapshot {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.format !== SNAPSHOT_FORMAT)
    throw new FormatError(`expected a ${SNAPSHOT_FORMAT} snapshot, got format ${describe(metadata.format)}`, 'bytes');
  const steps = Number(metadata.steps);
  if (!Number.isSafeInteger(steps) || steps < 0 || String(steps) !== metadata.steps)
    throw new FormatError(`expected a step count, got ${describe(metadata.steps)}`, 'bytes');
  const layers = new Map<number, { h: Float32Array | null; c: Float32Array | null }>();
  let last: Float32Array | null = null;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === 'last' && t.dtype === 'F32') {
      last = t.data.slice();
      continue;
    }
    const m = /^(0|[1-9]\d*)\.(h|c)$/.exec(name);
    if (!m || t.dtype !== 'F32') throw new FormatError(`unexpected tensor ${JSON.stringify(name)} (${t.dtype})`, 'bytes');
    const e = layers.get(Number(m[1])) ?? { h: null, c: null };
    e[m[2] as 'h' | 'c'] = t.data.slice();
    layers.set(Number(m[1]), e);
  }
  const states = [...layers.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([layer, e]) => {
      if (e.h === null) throw new FormatError(`layer ${layer} has a c but no h`, 'bytes');
      return { layer, h: e.h, c: e.c };
    });
  return { steps, states, last };
}

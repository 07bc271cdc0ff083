/**
 * The one token-generation loop, used by `generate` (lib/decode/generate.ts), streaming sessions
 * (`Session.generate`, lib/serve/sessions.ts) and the HTTP example: a {@link Stepper} holds the
 * next-token logits of B rows and advances them one token each; the loop applies the logits
 * processors (banned tokens, repetition penalty), chooses each row's token (the argmax, or a draw
 * shaped by temperature, top-k and top-p from a seeded generator, lib/decode/sample.ts), yields it,
 * drops rows that produced a stop token, and feeds the others.
 *
 * {@link modelStepper} is the stepper of a language model (tokens in, a Sequence of next-token
 * logits out): it runs the prompts once as one batch, then one step of B rows per token, carrying
 * every recurrent layer's state (O(1) work per token); `keep` reorders the states by row index
 * (lib/decode/states.ts), which is what beam search needs too. A model with a part that does not
 * declare its state (a user's own layer) is run in recompute mode instead: the whole prefix again for
 * every token, one row at a time.
 */
import { type BackendName, allFinite, describe, finite, intOr, optionalSignal, tokenId } from '../check.js';
import { AbortError, ValueError } from '../errors.js';
import { logSoftmaxRows } from '../js/common.js';
import type { RecurrentState } from '../layers/layer.js';
import { tokens as tokensValue } from '../layers/values.js';
import type { Model } from '../models/model.js';
import { defaultRng, Rng } from '../random.js';
import { checkSamplingOptions, greedy, logProbability, sample, type SampleOptions, type SamplingOptions } from './sample.js';
import { selectRows, type StateBatch } from './states.js';

/** B rows advanced one token at a time. */
export interface Stepper {
  /** Logits per row. */
  readonly vocabSize: number;
  /** Rows still running. */
  readonly rows: number;
  /** The next-token logits of every row, `[rows * vocabSize]`. */
  readonly logits: Float32Array;
  /** Feeds one token per row (`[rows]`) and computes the next logits. */
  feed(tokens: Int32Array): Promise<void>;
  /** Keeps rows `index` (in that order): finished rows leave, beams are reordered. */
  keep(index: Int32Array): void;
}

/** How the past is carried: see the module comment (`'auto'`: state carrying when the model allows it). */
export type DecodeMode = 'auto' | 'state' | 'recompute';

/** A language model: tokens in, a Sequence of next-token logits out. */
export type LanguageModel = Model<'tokens', 'sequence'>;

/** `model` as a language model that can generate (a ValueError naming `model` otherwise). */
export function checkLanguageModel(model: unknown): LanguageModel {
  const m = model as LanguageModel;
  if (typeof model !== 'object' || model === null || typeof m.forward !== 'function' || !Array.isArray(m.stateSlots)) {
    throw new ValueError(`expected a model, got ${describe(model)}`, 'model');
  }
  if (m.inputKind !== 'tokens' || m.outputKind !== 'sequence') {
    throw new ValueError(
      `expected a language model (tokens in, a sequence of logits out), got ${String(m.inputKind)} in, ${String(m.outputKind)} out`,
      'model',
    );
  }
  if (!m.causal) throw new ValueError('the model has a bidirectional part: it sees future tokens, so it cannot generate', 'model');
  const input = m.stateSlots.find((s) => s.spec.input);
  if (input)
    throw new ValueError(`layers[${input.key}] (${input.type}) takes its state from a Vector (stateInput): it cannot generate`, 'model');
  return m;
}

/** Ids `prompt` (an Int32Array or an array of ids in [0, V)), at least one. */
export function checkPrompt(prompt: unknown, V: number, name = 'prompt'): Int32Array {
  if (!(prompt instanceof Int32Array) && !Array.isArray(prompt)) {
    throw new ValueError(`expected an Int32Array or an array of token ids, got ${describe(prompt)}`, name);
  }
  const p = prompt as ArrayLike<unknown>;
  if (p.length === 0) throw new ValueError('expected at least one token (the model needs something to continue)', name);
  const out = new Int32Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = tokenId(p[i], V, `${name}[${i}]`);
  return out;
}

/** Runs `ids` (`[T*B]` time-major, each row its own length) from `initial`; the last valid step's logits per row and the final states. */
async function runPrompt(
  model: LanguageModel,
  ids: Int32Array,
  T: number,
  B: number,
  lengths: Int32Array | null,
  initial: StateBatch | null,
  backend: BackendName,
): Promise<{ logits: Float32Array; states: StateBatch }> {
  const x = tokensValue({ ids, seqLen: T, batch: B, lengths });
  const s = await model.forward(x, { training: false, backward: false, keepStates: true, initialStates: initial?.states, backend });
  const V = model.outputFeatures;
  const y = s.y.data;
  const logits = new Float32Array(B * V);
  for (let b = 0; b < B; b++) {
    const t = (lengths ? lengths[b] : T) - 1;
    logits.set(y.subarray((t * B + b) * V, (t * B + b + 1) * V), b * V);
  }
  return { logits, states: { batch: B, states: s.states as ReadonlyMap<number, RecurrentState> } };
}

/** Whether every stateful part of `model` declares its state, so that carrying states gives the same logits as re-running. */
function canCarry(model: LanguageModel): boolean {
  return model.stepwise !== false;
}

/**
 * The stepper of a language model over `prompts` (see the module comment). `mode` 'state' on a model
 * that cannot carry its states is a ValueError naming `mode`.
 */
export async function modelStepper(
  model: LanguageModel,
  prompts: readonly Int32Array[],
  options: { readonly backend: BackendName; readonly mode: DecodeMode },
): Promise<Stepper & { readonly mode: 'state' | 'recompute'; readonly history: readonly Int32Array[] }> {
  const V = model.outputFeatures;
  const mode = options.mode === 'recompute' || (options.mode === 'auto' && !canCarry(model)) ? 'recompute' : 'state';
  if (options.mode === 'state' && !canCarry(model)) {
    throw new ValueError(
      "the model has a part that does not give its state (a layer without a declared state): use mode 'recompute'",
      'mode',
    );
  }
  let history: number[][] = prompts.map((p) => Array.from(p));
  const recompute = mode === 'recompute';
  // Recompute: each row alone, its whole prefix every time.
  const rerun = async (): Promise<Float32Array> => {
    const out = new Float32Array(history.length * V);
    for (let b = 0; b < history.length; b++) {
      const h = Int32Array.from(history[b]);
      out.set((await runPrompt(model, h, h.length, 1, null, null, options.backend)).logits, b * V);
    }
    return out;
  };
  let logits: Float32Array;
  let states: StateBatch | null = null;
  if (recompute) {
    logits = await rerun();
  } else {
    // State carrying: the prompts as one padded batch with lengths, then one step of B rows per token.
    const B = prompts.length;
    const T = Math.max(...prompts.map((p) => p.length));
    const ids = new Int32Array(T * B);
    prompts.forEach((p, b) => p.forEach((id, t) => (ids[t * B + b] = id)));
    const lengths = prompts.every((p) => p.length === T) ? null : Int32Array.from(prompts, (p) => p.length);
    ({ logits, states } = await runPrompt(model, ids, T, B, lengths, null, options.backend));
  }
  return {
    mode,
    vocabSize: V,
    get rows() {
      return history.length;
    },
    get logits() {
      return logits;
    },
    get history() {
      return history.map((h) => Int32Array.from(h));
    },
    async feed(tokens) {
      history.forEach((h, b) => h.push(tokens[b]));
      if (recompute) logits = await rerun();
      else ({ logits, states } = await runPrompt(model, tokens.slice(), 1, tokens.length, null, states, options.backend));
    },
    keep(index) {
      if (states) states = selectRows(states, model.stateSlots, index);
      history = Array.from(index, (i) => history[i]);
      const next = new Float32Array(index.length * V);
      index.forEach((i, k) => next.set(logits.subarray(i * V, (i + 1) * V), k * V));
      logits = next;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// logits processors and the choice of a token

/** The strategy of a generation: the argmax, or a draw shaped by {@link SamplingOptions}. */
export type Strategy = 'greedy' | SamplingOptions;

/** What the loop needs to choose tokens (checked by {@link checkChoice}). */
export interface TokenChoice {
  readonly strategy: Strategy;
  readonly sampling: SampleOptions | null;
  /** Tokens never chosen (their logits are set to -Infinity). */
  readonly banned: readonly number[];
  /** > 1 makes tokens already in the row's history less likely (CTRL, Keskar et al. 2019): positive logits / p, negative * p. 1: off. */
  readonly repetitionPenalty: number;
  readonly stops: ReadonlySet<number>;
}

/** The generation options every generator takes (`generate`, `Session.generate`). */
export interface TokenChoiceOptions {
  /** `'greedy'` or `{ temperature?, topK?, topP? }` (see lib/decode/sample.ts). Default: `'greedy'`. */
  readonly strategy?: Strategy;
  /** Seed of a fresh {@link Rng} for the draws: the same seed gives the same tokens. Not with `rng`. Default: none (see `rng`). */
  readonly seed?: number;
  /** The generator of the draws (advanced by one uniform per sampled token). Not with `seed`. Default: {@link defaultRng} when `seed` is not given either. */
  readonly rng?: Rng;
  /** Token id(s) that end a row's generation; the stop token is included as its last token. Default: none. */
  readonly stopToken?: number | readonly number[];
  /** Token ids never generated (e.g. `<unk>`, padding). Default: none. */
  readonly banTokens?: readonly number[];
  /** Repetition penalty p >= 1 over the tokens already in a row (prompt included). Default: 1 (none). */
  readonly repetitionPenalty?: number;
}

function tokenList(v: unknown, V: number, name: string): number[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v.map((s, i) => tokenId(s, V, `${name}[${i}]`));
  return [tokenId(v, V, name)];
}

/** Checks the {@link TokenChoiceOptions} of `o` for a vocabulary of `V` (errors name `${prefix}<field>`). */
export function checkChoice(o: TokenChoiceOptions, V: number, prefix: string, defaultSeed?: number): TokenChoice {
  const strategy = o.strategy ?? 'greedy';
  if (strategy !== 'greedy' && (typeof strategy !== 'object' || strategy === null)) {
    throw new ValueError(`expected 'greedy' or { temperature?, topK?, topP? }, got ${describe(strategy)}`, `${prefix}strategy`);
  }
  const checked = strategy === 'greedy' ? null : checkSamplingOptions(strategy, `${prefix}strategy`);
  if (o.seed !== undefined && o.rng !== undefined) throw new ValueError('give seed or rng, not both', `${prefix}seed`);
  if (o.rng !== undefined && !(o.rng instanceof Rng)) throw new ValueError(`expected an Rng, got ${describe(o.rng)}`, `${prefix}rng`);
  const seed = o.seed ?? defaultSeed;
  const rng = seed !== undefined ? new Rng(seed) : (o.rng ?? defaultRng());
  const sampling = checked === null ? null : { temperature: checked.temperature, topK: checked.topK ?? undefined, topP: checked.topP, rng };
  if (o.banTokens !== undefined && !Array.isArray(o.banTokens))
    throw new ValueError(`expected an array of token ids, got ${describe(o.banTokens)}`, `${prefix}banTokens`);
  return {
    strategy,
    sampling,
    banned: tokenList(o.banTokens, V, `${prefix}banTokens`),
    repetitionPenalty: finite(o.repetitionPenalty, `${prefix}repetitionPenalty`, { lo: 1, hi: 1e6 }, 1),
    stops: new Set(tokenList(o.stopToken, V, `${prefix}stopToken`)),
  };
}

/** The processed logits of one row (a copy when anything changes them). */
function processed(row: Float32Array, history: Int32Array | null, c: TokenChoice): Float32Array {
  if (c.banned.length === 0 && c.repetitionPenalty === 1) return row;
  const out = row.slice();
  if (c.repetitionPenalty !== 1 && history) {
    const seen = new Set(history);
    for (const t of seen) out[t] = out[t] > 0 ? out[t] / c.repetitionPenalty : out[t] * c.repetitionPenalty;
  }
  for (const t of c.banned) out[t] = -Infinity;
  return out;
}

/** One generated token. */
export interface GeneratedToken {
  /** The row (prompt) it belongs to, in the order the prompts were given. */
  readonly row: number;
  readonly token: number;
  /** The model's log-probability of it (log-softmax of the raw logits, before any processing). */
  readonly logProb: number;
  /** Whether it ends its row (a stop token, or its row reached `maxTokens`). */
  readonly last: boolean;
  /** Why the row ended when `last`. */
  readonly finishReason: 'stop' | 'length' | null;
  /** The model's distribution over the vocabulary at this step (log-softmax of the raw logits), when asked for. */
  readonly logProbs: Float32Array | null;
}

/** Log-softmax of one row, float32. */
export function logSoftmax(row: Float32Array): Float32Array {
  allFinite(
    row.filter((v) => v !== -Infinity),
    'logits',
  );
  const out = new Float32Array(row.length);
  logSoftmaxRows(row, 1, row.length, out);
  return out;
}

/** Longest stretch (ms) the decode loop runs without letting the event loop run. */
const YIELD_MS = 10;

/**
 * The loop (see the module comment): up to `maxTokens` tokens per row from `stepper`, yielded as
 * they are chosen; rows end at a stop token or `maxTokens`. Checks `signal` between tokens.
 */
export async function* decodeTokens(
  stepper: Stepper,
  options: {
    readonly maxTokens: number;
    readonly choice: TokenChoice;
    readonly signal: AbortSignal | null;
    readonly history?: () => readonly Int32Array[];
    readonly distributions?: boolean;
    /** Feed every token, a row's last too, before yielding it (a session that goes on after it). Default: false (yield first). */
    readonly feedAll?: boolean;
  },
): AsyncGenerator<GeneratedToken, void, undefined> {
  const { maxTokens, choice, signal } = options;
  const V = stepper.vocabSize;
  let live = Int32Array.from({ length: stepper.rows }, (_, b) => b); // the original row of each live row
  let sliceStart = performance.now();
  for (let n = 0; n < maxTokens && live.length > 0; n++) {
    // On the JS backend every step settles in microtasks only: let the event loop run (timers, I/O,
    // an AbortSignal.timeout) every few milliseconds, so a long generation can be cancelled.
    if (performance.now() - sliceStart >= YIELD_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    if (signal?.aborted) throw new AbortError();
    const history = choice.repetitionPenalty !== 1 ? (options.history?.() ?? null) : null;
    const logits = stepper.logits;
    const chosen = new Int32Array(live.length);
    const keep: number[] = [];
    const out: GeneratedToken[] = [];
    for (let b = 0; b < live.length; b++) {
      const raw = logits.subarray(b * V, (b + 1) * V);
      const row = processed(raw, history ? history[b] : null, choice);
      const t = choice.sampling === null ? greedy(row) : sample(row, choice.sampling);
      chosen[b] = t;
      const stop = choice.stops.has(t);
      const last = stop || n + 1 === maxTokens;
      if (!last) keep.push(b);
      out.push({
        row: live[b],
        token: t,
        logProb: logProbability(raw, t),
        last,
        finishReason: stop ? 'stop' : last ? 'length' : null,
        logProbs: options.distributions ? logSoftmax(raw) : null,
      });
    }
    if (options.feedAll) {
      await stepper.feed(chosen);
      for (const g of out) yield g;
    } else {
      for (const g of out) yield g;
    }
    if (keep.length === 0) return;
    if (keep.length < live.length) {
      const index = Int32Array.from(keep);
      stepper.keep(index);
      live = Int32Array.from(keep, (b) => live[b]);
      if (!options.feedAll) await stepper.feed(Int32Array.from(keep, (b) => chosen[b]));
    } else if (!options.feedAll) {
      await stepper.feed(chosen);
    }
  }
}

/** `maxTokens`: an integer >= 0. */
export function checkMaxTokens(v: unknown, name: string): number {
  return intOr(v, name, 0);
}

export { optionalSignal as checkSignal };

/**
 * Text generation from a language model: a model built with `sequential(input.tokens(...))` whose
 * output is a Sequence of next-token logits (`[T, 1, V]`; e.g. embedding -> lstm -> dense).
 *
 *   const model = sequential(input.tokens({ vocabSize: V }))
 *     .add(embedding({ vocabSize: V, dim: 32 }))
 *     .add(lstm({ hiddenSize: 128 }))
 *     .add(dense({ units: V }))
 *     .build({ seed: 1 });
 *   const ids = await generate(model, { prompt, maxTokens: 200, strategy: { temperature: 0.8, topP: 0.9 }, seed: 7 });
 *
 * How it runs (inference only: no dropout, and no backward is ever taken):
 * - {@link decoder} runs the prompt through the model once (batch 1), then one token per step.
 * - **State carrying** (`mode: 'state'`, chosen by default whenever possible): the layers run with
 *   `keepState`, so the prompt's call gives every recurrent layer's final state (`LayerStep.state`),
 *   and each next step runs a one-step sequence from those states (`initialState`), O(1) work per
 *   token.
 * - **Recomputation** (`mode: 'recompute'`): re-runs the whole prefix for every new token, O(length)
 *   work per token. `mode: 'auto'` (the default) falls back to it only for a layer of the user's own
 *   that keeps state but does not give it (no `keepState` support); asking for `'state'` on such a
 *   model is a ValueError naming the layer.
 * Both give the same logits up to float rounding (tested).
 *
 * Layers run directly with their forward context (`backend` chosen per call, `training: false`),
 * not through `model.forward`, so that the `backend` option never changes the shared model object.
 * A bidirectional recurrent layer sees the future and is not a language model: ValueError.
 */
import type { BackendName } from '../backend/types.js';
import { AbortError, ValueError } from '../errors.js';
import type { ForwardContext, Layer, RecurrentState } from '../layers/layer.js';
import type { Tokens, Value } from '../layers/values.js';
import { weightsLock } from '../models/guard.js';
import type { Model } from '../models/sequential.js';
import { defaultRng, Rng } from '../random.js';
import { describe } from '../validate.js';
import { checkSamplingOptions, greedy, logProbability, sample, type SampleOptions, type SamplingOptions } from './sample.js';

/** The layer types that hold no state between steps: they act on each step on its own. */
const STATELESS = new Set(['embedding', 'oneHot', 'dense', 'dropout']);

/** How {@link decoder} carries the past: see the module comment. */
export type DecodeMode = 'auto' | 'state' | 'recompute';

/** Options of {@link decoder}. */
export interface DecoderOptions {
  /** Which kernels run the layers. Default: the model's `backend`. */
  readonly backend?: BackendName;
  /** `'state'`: carry the recurrent states; `'recompute'`: re-run the prefix; `'auto'`: state when every recurrent layer returns it. Default: `'auto'`. */
  readonly mode?: DecodeMode;
}

/** A running decode of one sequence. */
export interface Decoder {
  /** How the past is carried (`'auto'` resolved). */
  readonly mode: 'state' | 'recompute';
  /** The tokens so far: the prompt, then every fed token. */
  readonly tokens: Int32Array;
  /** Logits `[V]` for the next token (after the last token so far). A fresh array after each call to {@link feed}. */
  readonly logits: Float32Array;
  /** Appends `token` and computes the next logits (also returned). */
  feed(token: number): Promise<Float32Array>;
}

/** The strategy of {@link generate}: the argmax, or a draw shaped by {@link SamplingOptions}. */
export type Strategy = 'greedy' | SamplingOptions;

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** The prompt: at least one token id, each in [0, V) (V: the model's output features). Required. */
  readonly prompt: Int32Array | readonly number[];
  /** The most tokens to generate, an integer >= 0 (the stop token counts). Required. */
  readonly maxTokens: number;
  /** `'greedy'` or `{ temperature?, topK?, topP? }` (see lib/decode/sample.ts). Default: `'greedy'`. */
  readonly strategy?: Strategy;
  /** Seed of a fresh {@link Rng} for the draws: the same seed gives the same tokens. Not with `rng`. Default: none (see `rng`). */
  readonly seed?: number;
  /** The generator of the draws (advanced by one uniform per sampled token). Not with `seed`. Default: {@link defaultRng} when `seed` is not given either. */
  readonly rng?: Rng;
  /** Token id(s) that end generation; the stop token is included as the last generated token. Default: none. */
  readonly stopToken?: number | readonly number[];
  /** Which kernels run the layers. Default: the model's `backend`. */
  readonly backend?: BackendName;
  /** See {@link DecoderOptions.mode}. Default: `'auto'`. */
  readonly mode?: DecodeMode;
  /** Stops between tokens with an AbortError. Default: none. */
  readonly signal?: AbortSignal;
}

/** What {@link generateWithLogProbs} gives. */
export interface Generation {
  /** The generated ids (not the prompt). */
  readonly tokens: Int32Array;
  /**
   * `logProbs[i]`: the model's log-probability of `tokens[i]` (log-softmax of the raw logits at
   * temperature 1, before any top-k/top-p filtering), whatever the strategy.
   */
  readonly logProbs: Float64Array;
  /** `'stop'` when the last token is a stop token, `'length'` when `maxTokens` were generated. */
  readonly finishReason: 'stop' | 'length';
}

function checkModel(model: unknown): Model<'tokens', 'sequence'> {
  const m = model as Model<'tokens', 'sequence'>;
  if (typeof model !== 'object' || model === null || !Array.isArray(m.layers) || typeof m.forward !== 'function') {
    throw new ValueError(`expected a model, got ${describe(model)}`, 'model');
  }
  if (m.inputKind !== 'tokens' || m.outputKind !== 'sequence') {
    throw new ValueError(`expected a language model (tokens in, a sequence of logits out), got ${String(m.inputKind)} in, ${String(m.outputKind)} out`, 'model');
  }
  (m.layers as readonly Layer[]).forEach((l, i) => {
    if (l.parameters().some((p) => p.name.endsWith('_reverse'))) {
      throw new ValueError(`layers[${i}] (${l.type}) is bidirectional: it sees future tokens, so it cannot generate`, 'model');
    }
  });
  return m;
}

function checkBackend(b: unknown, model: Model<'tokens', 'sequence'>): BackendName {
  if (b === undefined) return model.backend;
  if (b !== 'native' && b !== 'js') throw new ValueError(`expected 'native' or 'js', got ${describe(b)}`, 'backend');
  return b;
}

function checkMode(mode: unknown): DecodeMode {
  if (mode === undefined) return 'auto';
  if (mode !== 'auto' && mode !== 'state' && mode !== 'recompute') {
    throw new ValueError(`expected 'auto', 'state' or 'recompute', got ${describe(mode)}`, 'mode');
  }
  return mode;
}

function checkToken(t: unknown, V: number, name: string): number {
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= V) {
    throw new ValueError(`expected a token id, an integer in [0, ${V}), got ${describe(t)}`, name);
  }
  return t;
}

function checkPrompt(prompt: unknown, V: number): Int32Array {
  if (!(prompt instanceof Int32Array) && !Array.isArray(prompt)) {
    throw new ValueError(`expected an Int32Array or an array of token ids, got ${describe(prompt)}`, 'prompt');
  }
  const p = prompt as ArrayLike<unknown>;
  if (p.length === 0) throw new ValueError('expected at least one token (the model needs something to continue)', 'prompt');
  const out = new Int32Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = checkToken(p[i], V, `prompt[${i}]`);
  return out;
}

/**
 * Runs every layer of `model` on `ids` (batch 1) from `initial` states, under the model's weights lock
 * (as `model.forward` does: a fit in progress never updates the weights meanwhile); gives the last
 * step's logits and the final states.
 */
async function run(
  model: Model<'tokens', 'sequence'>, ids: Int32Array, ctx: ForwardContext, initial: ReadonlyMap<number, RecurrentState> | null,
): Promise<{ logits: Float32Array; states: Map<number, RecurrentState>; stateless: boolean[] }> {
  const layers = model.layers;
  let v = ({ kind: 'tokens', ids, seqLen: ids.length, batch: 1, lengths: null } satisfies Tokens) as Value;
  const states = new Map<number, RecurrentState>();
  const stateless: boolean[] = [];
  await weightsLock(model).read(async () => {
    for (let i = 0; i < layers.length; i++) {
      const s = await layers[i].forward(v, ctx, initial?.get(i) ?? null);
      if (s.state) states.set(i, s.state);
      stateless.push(s.state === null && STATELESS.has(layers[i].type));
      v = s.y;
    }
  });
  if (v.kind !== 'sequence') throw new ValueError(`expected the model to give a sequence, got a ${v.kind}`, 'model');
  const V = v.features;
  return { logits: v.data.slice(v.data.length - V), states, stateless };
}

/**
 * Starts decoding: runs `prompt` through `model` and gives a {@link Decoder} holding the next-token
 * logits; `feed(token)` appends one token. See the module comment for the two modes.
 */
export async function decoder(
  model: Model<'tokens', 'sequence'>, prompt: Int32Array | readonly number[], options: DecoderOptions = {},
): Promise<Decoder> {
  const m = checkModel(model);
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const V = m.outputFeatures;
  const ids = checkPrompt(prompt, V);
  const backend = checkBackend(options.backend, m);
  const want = checkMode(options.mode);
  // Eval mode draws no dropout mask; the generator is only there because the context needs one.
  const ctx: ForwardContext = { training: false, rng: new Rng(0), backend, keepState: true };
  const layers = m.layers;
  const first = await run(m, ids, ctx, null);
  const missing = first.stateless.findIndex((s, i) => !s && !first.states.has(i));
  if (want === 'state' && missing >= 0) {
    throw new ValueError(`layers[${missing}] (${layers[missing].type}) does not give its state (no keepState support): use mode 'recompute'`, 'mode');
  }
  const mode: 'state' | 'recompute' = want === 'recompute' || missing >= 0 ? 'recompute' : 'state';
  let tokens = ids;
  let logits = first.logits;
  let states = first.states;
  return {
    mode,
    get tokens() { return tokens.slice(); },
    get logits() { return logits; },
    async feed(token: number): Promise<Float32Array> {
      const t = checkToken(token, V, 'token');
      const next = new Int32Array(tokens.length + 1);
      next.set(tokens);
      next[tokens.length] = t;
      const r = mode === 'state' ? await run(m, Int32Array.of(t), ctx, states) : await run(m, next, ctx, null);
      tokens = next;
      logits = r.logits;
      states = r.states;
      return logits;
    },
  };
}

function checkStops(stop: unknown, V: number): Set<number> {
  if (stop === undefined) return new Set();
  if (Array.isArray(stop)) return new Set(stop.map((s, i) => checkToken(s, V, `stopToken[${i}]`)));
  return new Set([checkToken(stop, V, 'stopToken')]);
}

/**
 * Generates up to `maxTokens` tokens after `prompt`, with their log-probabilities (see
 * {@link Generation}). Seeded: the same model, options and seed give the same tokens.
 */
export async function generateWithLogProbs(model: Model<'tokens', 'sequence'>, options: GenerateOptions): Promise<Generation> {
  const m = checkModel(model);
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const V = m.outputFeatures;
  checkPrompt(options.prompt, V);
  const maxTokens = options.maxTokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new ValueError(`expected an integer >= 0, got ${describe(maxTokens)}`, 'maxTokens');
  }
  const strategy = options.strategy ?? 'greedy';
  if (strategy !== 'greedy' && (typeof strategy !== 'object' || strategy === null)) {
    throw new ValueError(`expected 'greedy' or { temperature?, topK?, topP? }, got ${describe(strategy)}`, 'strategy');
  }
  const checked = strategy === 'greedy' ? null : checkSamplingOptions(strategy, 'strategy');
  if (options.seed !== undefined && options.rng !== undefined) throw new ValueError('give seed or rng, not both', 'seed');
  if (options.rng !== undefined && !(options.rng instanceof Rng)) throw new ValueError(`expected an Rng, got ${describe(options.rng)}`, 'rng');
  const rng = options.seed !== undefined ? new Rng(options.seed) : options.rng ?? defaultRng();
  const sampling: SampleOptions | null = checked === null
    ? null
    : { temperature: checked.temperature, topK: checked.topK ?? undefined, topP: checked.topP, rng };
  const stops = checkStops(options.stopToken, V);
  checkBackend(options.backend, m);
  checkMode(options.mode);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ValueError(`expected an AbortSignal, got ${describe(signal)}`, 'signal');

  const out = new Int32Array(maxTokens);
  const logProbs = new Float64Array(maxTokens);
  if (signal?.aborted) throw new AbortError();
  if (maxTokens === 0) return { tokens: out, logProbs, finishReason: 'length' };
  const dec = await decoder(m, options.prompt, { backend: options.backend, mode: options.mode });
  let logits = dec.logits;
  for (let n = 0; n < maxTokens; n++) {
    if (signal?.aborted) throw new AbortError();
    const t = sampling === null ? greedy(logits) : sample(logits, sampling);
    out[n] = t;
    logProbs[n] = logProbability(logits, t);
    if (stops.has(t)) return { tokens: out.slice(0, n + 1), logProbs: logProbs.slice(0, n + 1), finishReason: 'stop' };
    if (n + 1 < maxTokens) logits = await dec.feed(t);
  }
  return { tokens: out, logProbs, finishReason: 'length' };
}

/**
 * Generates up to `maxTokens` token ids after `prompt` (the prompt is not included; a stop token
 * is, as the last id). Greedy, or sampling with temperature, top-k and top-p from a seeded
 * generator: the same seed gives the same ids. {@link generateWithLogProbs} also gives each
 * token's log-probability.
 */
export async function generate(model: Model<'tokens', 'sequence'>, options: GenerateOptions): Promise<Int32Array> {
  return (await generateWithLogProbs(model, options)).tokens;
}

/**
 * Text generation from a language model: a model built with `sequential(input.tokens(...))` whose
 * output is a Sequence of next-token logits (e.g. embedding -> lstm -> dense).
 *
 *   const model = sequential(input.tokens({ vocabSize: V }))
 *     .add(embedding({ vocabSize: V, dim: 32 }))
 *     .add(lstm({ hiddenSize: 128 }))
 *     .add(dense({ units: V }))
 *     .build({ seed: 1 });
 *   const ids = await generate(model, { prompt, maxTokens: 200, strategy: { temperature: 0.8, topP: 0.9 }, seed: 7 });
 *   const batch = await generate(model, { prompts: [p1, p2, p3], maxTokens: 50 });   // Int32Array[]
 *   for await (const { token } of generateTokens(model, { prompt, maxTokens: 200 })) write(token);
 *
 * All of them run the one decode loop (lib/decode/loop.ts): inference only (no dropout, no caches),
 * the prompts as one batch, then one step of B rows per token carrying every recurrent layer's state
 * (`mode: 'state'`, chosen by default whenever possible), or re-running the prefix for a model with a
 * part that does not declare its state (`mode: 'recompute'`). Both give the same logits up to float
 * rounding (tested). `backend` chooses the kernels per call without changing the model. A model with
 * a bidirectional part sees the future and is not a language model: ValueError.
 */
import { type BackendName, backendName, describe, objectArgs, oneOf, optionalSignal, tokenId } from '../check.js';
import { AbortError, ValueError } from '../errors.js';
import {
  checkChoice,
  checkLanguageModel,
  checkPrompt,
  decodeTokens,
  type DecodeMode,
  type GeneratedToken,
  type LanguageModel,
  modelStepper,
  type TokenChoiceOptions,
} from './loop.js';

export type { DecodeMode, GeneratedToken, Strategy, TokenChoiceOptions } from './loop.js';

/** Options of {@link decoder}. */
export interface DecoderOptions {
  /** Which kernels run the layers. Default: the model's `backend`. */
  readonly backend?: BackendName;
  /** `'state'`: carry the recurrent states; `'recompute'`: re-run the prefix; `'auto'`: state whenever the model allows it. Default: `'auto'`. */
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

/** Options of {@link generate}, {@link generateWithLogProbs} and {@link generateTokens}. */
export interface GenerateOptions extends TokenChoiceOptions {
  /** The prompt: at least one token id, each in [0, V) (V: the model's output features). Required unless `prompts` is given. */
  readonly prompt?: Int32Array | readonly number[];
  /** Several prompts generated together as one batch (not with `prompt`); the results come in their order. */
  readonly prompts?: readonly (Int32Array | readonly number[])[];
  /** The most tokens to generate per prompt, an integer >= 0 (the stop token counts). Required. */
  readonly maxTokens: number;
  /** Which kernels run the layers. Default: the model's `backend`. */
  readonly backend?: BackendName;
  /** See {@link DecoderOptions.mode}. Default: `'auto'`. */
  readonly mode?: DecodeMode;
  /** Stops between tokens with an AbortError. Default: none. */
  readonly signal?: AbortSignal;
  /** Also give, per generated token, the model's whole distribution (`Generation.distributions`). Default: false. */
  readonly returnDistributions?: boolean;
}

/** What {@link generateWithLogProbs} gives (per prompt). */
export interface Generation {
  /** The generated ids (not the prompt). */
  readonly tokens: Int32Array;
  /**
   * `logProbs[i]`: the model's log-probability of `tokens[i]` (log-softmax of the raw logits at
   * temperature 1, before any processing or top-k/top-p filtering), whatever the strategy.
   */
  readonly logProbs: Float64Array;
  /** `'stop'` when the last token is a stop token, `'length'` when `maxTokens` were generated. */
  readonly finishReason: 'stop' | 'length';
  /** With `returnDistributions`: the model's log-softmax over the vocabulary before each token (`[V]` each); else null. */
  readonly distributions: readonly Float32Array[] | null;
}

const KEYS = [
  'prompt',
  'prompts',
  'maxTokens',
  'strategy',
  'seed',
  'rng',
  'stopToken',
  'banTokens',
  'repetitionPenalty',
  'backend',
  'mode',
  'signal',
  'returnDistributions',
];

/** Checks `options`; gives the prompts, whether there was one (`prompt`) or several, and the rest. */
function checked(model: unknown, options: unknown) {
  const m = checkLanguageModel(model);
  const o = objectArgs(options, 'options') as unknown as GenerateOptions;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) throw new ValueError(`unknown option (known: ${KEYS.join(', ')})`, `options.${k}`);
  const V = m.outputFeatures;
  if (o.prompt !== undefined && o.prompts !== undefined) throw new ValueError('give prompt or prompts, not both', 'prompts');
  const single = o.prompts === undefined;
  if (!single && (!Array.isArray(o.prompts) || o.prompts.length === 0))
    throw new ValueError(`expected a non-empty array of prompts, got ${describe(o.prompts)}`, 'prompts');
  const prompts = single ? [checkPrompt(o.prompt, V)] : (o.prompts as readonly unknown[]).map((p, i) => checkPrompt(p, V, `prompts[${i}]`));
  const maxTokens = o.maxTokens;
  if (typeof maxTokens !== 'number' || !Number.isSafeInteger(maxTokens) || maxTokens < 0)
    throw new ValueError(`expected an integer >= 0, got ${describe(maxTokens)}`, 'maxTokens');
  const choice = checkChoice(o, V, '');
  const backend = backendName(o.backend, 'backend', m.backend);
  const mode = oneOf(o.mode, ['auto', 'state', 'recompute'] as const, 'auto', 'mode');
  const signal = optionalSignal(o.signal, 'signal');
  if (o.returnDistributions !== undefined && typeof o.returnDistributions !== 'boolean')
    throw new ValueError(`expected a boolean, got ${describe(o.returnDistributions)}`, 'returnDistributions');
  return { m, single, prompts, maxTokens, choice, backend, mode, signal, distributions: o.returnDistributions ?? false };
}

/**
 * Yields every generated token as soon as it is chosen ({@link GeneratedToken}: its row, id and
 * log-probability, whether it ends its row). With several `prompts`, the rows of one step come
 * together, in row order.
 */
export async function* generateTokens(model: LanguageModel, options: GenerateOptions): AsyncGenerator<GeneratedToken, void, undefined> {
  const c = checked(model, options);
  if (c.signal?.aborted) throw new AbortError();
  if (c.maxTokens === 0) return;
  const stepper = await modelStepper(c.m, c.prompts, { backend: c.backend, mode: c.mode });
  yield* decodeTokens(stepper, {
    maxTokens: c.maxTokens,
    choice: c.choice,
    signal: c.signal,
    history: () => stepper.history,
    distributions: c.distributions,
  });
}

/**
 * Generates up to `maxTokens` tokens after `prompt` (or each of `prompts`), with their
 * log-probabilities (see {@link Generation}). Seeded: the same model, options and seed give the same
 * tokens.
 */
export async function generateWithLogProbs(
  model: LanguageModel,
  options: GenerateOptions & { readonly prompts: readonly (Int32Array | readonly number[])[] },
): Promise<Generation[]>;
export async function generateWithLogProbs(model: LanguageModel, options: GenerateOptions): Promise<Generation>;
export async function generateWithLogProbs(model: LanguageModel, options: GenerateOptions): Promise<Generation | Generation[]> {
  const c = checked(model, options);
  const rows = c.prompts.map(() => ({
    tokens: [] as number[],
    logProbs: [] as number[],
    finish: 'length' as 'stop' | 'length',
    dists: [] as Float32Array[],
  }));
  for await (const g of generateTokens(model, options)) {
    const r = rows[g.row];
    r.tokens.push(g.token);
    r.logProbs.push(g.logProb);
    if (g.logProbs) r.dists.push(g.logProbs);
    if (g.finishReason) r.finish = g.finishReason;
  }
  const out = rows.map((r) => ({
    tokens: Int32Array.from(r.tokens),
    logProbs: Float64Array.from(r.logProbs),
    finishReason: r.finish,
    distributions: c.distributions ? r.dists : null,
  }));
  return c.single ? out[0] : out;
}

/**
 * Generates up to `maxTokens` token ids after `prompt` (the prompt is not included; a stop token
 * is, as the last id), or after each of `prompts` (an array of results). Greedy, or sampling with
 * temperature, top-k and top-p from a seeded generator: the same seed gives the same ids.
 * {@link generateWithLogProbs} also gives each token's log-probability.
 */
export async function generate(
  model: LanguageModel,
  options: GenerateOptions & { readonly prompts: readonly (Int32Array | readonly number[])[] },
): Promise<Int32Array[]>;
export async function generate(model: LanguageModel, options: GenerateOptions): Promise<Int32Array>;
export async function generate(model: LanguageModel, options: GenerateOptions): Promise<Int32Array | Int32Array[]> {
  const g = await generateWithLogProbs(model, options);
  return Array.isArray(g) ? g.map((r) => r.tokens) : g.tokens;
}

/**
 * Starts decoding: runs `prompt` through `model` and gives a {@link Decoder} holding the next-token
 * logits; `feed(token)` appends one token (the one-row stepper of the decode loop).
 */
export async function decoder(
  model: LanguageModel,
  prompt: Int32Array | readonly number[],
  options: DecoderOptions = {},
): Promise<Decoder> {
  const m = checkLanguageModel(model);
  const o = objectArgs(options, 'options');
  for (const k of Object.keys(o))
    if (k !== 'backend' && k !== 'mode') throw new ValueError('unknown option (known: backend, mode)', `options.${k}`);
  const V = m.outputFeatures;
  const ids = checkPrompt(prompt, V);
  const stepper = await modelStepper(m, [ids], {
    backend: backendName(o.backend, 'backend', m.backend),
    mode: oneOf(o.mode, ['auto', 'state', 'recompute'] as const, 'auto', 'mode'),
  });
  return {
    mode: stepper.mode,
    get tokens() {
      return stepper.history[0];
    },
    get logits() {
      return stepper.logits;
    },
    async feed(token: number): Promise<Float32Array> {
      await stepper.feed(Int32Array.of(tokenId(token, V, 'token')));
      return stepper.logits;
    },
  };
}

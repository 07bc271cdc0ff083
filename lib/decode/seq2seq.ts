/**
 * Search over an encoder-decoder: {@link greedySearch}, {@link sampleSearch} and {@link beamSearch}
 * drive a {@link Seq2SeqStepper} (the model side: lib/models/seq2seq.ts implements it) one target
 * token at a time, every live row of every sentence advancing through ONE `stepper.step` per token;
 * rows of finished sentences leave the batch through `stepper.reorder`. Each resolves to one list of
 * {@link Hypothesis} per source sentence, best first.
 *
 * Rows. Greedy and sampling start one row per sentence (`start(1)`). Beam search starts one row per
 * sentence too and grows each sentence to up to `beamSize` rows through `reorder`: an index may
 * repeat a row (two beams continuing one parent) and may be longer than the current rows (at most
 * `sentences * beamSize`), never pointing outside them.
 *
 * Lengths. A hypothesis has at most `maxLength` tokens (the eos not counted; a forced prefix
 * counted): `maxLength` is a number or `{ a, b }`, meaning `floor(a * sourceLength + b)` for each
 * sentence (default `{ a: 2, b: 10 }`). One that reaches it without eos stops there, `finished:
 * false`, its logProb without an eos. eos is banned while a hypothesis has fewer than `minLength`
 * tokens. A row whose every token is banned (bans, minLength, no-repeat) ends as it is, unfinished.
 *
 * Scores. `logProb` sums the stepper's float32 log-probabilities of the tokens (prefix included) and
 * of the eos when finished, in float64, in step order. Beam search ranks its live beams by that sum
 * (at one step all live beams of a sentence have the same length, so a length penalty would not
 * change their order) and applies the penalties to hypotheses that end (eos or maxLength), as
 * OpenNMT-py does without its stepwise penalty: `score = logProb / lp(len) + cp`, with `len` the
 * number of scored tokens (tokens, plus 1 for the eos when finished) and
 * - `lengthPenalty` (see {@link lengthPenaltyFactor}): `'none'` lp = 1, `'average'` lp = len,
 *   `{ gnmt: alpha }` lp = ((5 + len) / 6)^alpha (Wu et al. 2016, "Google's Neural Machine
 *   Translation System", https://arxiv.org/abs/1609.08144, eq. 14);
 * - `coveragePenalty: { beta }` (see {@link coveragePenalty}): cp = beta * sum_j log(min(sum_t a_tj, 1))
 *   over the sentence's own source positions j, t over the hypothesis' steps (eos step included).
 * Greedy and sampling have no penalties: their score is the logProb.
 *
 * Beam step (fairseq / CTranslate2 style). For each sentence, the candidates are every live beam
 * extended by every allowed token, ranked by logProb (ties: the earlier beam, then the larger token
 * log-probability, then the lower id). Walking down that ranking until `beamSize` live beams are
 * chosen, every eos candidate met ends as a finished hypothesis and every other candidate is a next
 * live beam (one reaching maxLength ends there, unfinished); the rest are dropped. A sentence keeps
 * its best `nBest` ended hypotheses.
 *
 * Early stopping. A sentence stops when it has no live beam, or when it holds `nBest` ended
 * hypotheses and its best live beam cannot beat the `nBest`-th of them: a live beam of logProb L
 * (<= 0) can at best end with score L / lp(maxLength) (later tokens only lower L, lp grows with the
 * length, cp <= 0). Why this rule and not the cheaper "the top candidate was an eos" (OpenNMT-py
 * without a length ratio) or a fixed count of finished hypotheses (fairseq): it never drops a
 * hypothesis that could still win, so the result is the n-best of everything the beam explored
 * (with a beam as wide as all prefixes: of every sequence, which the tests check by exhaustive
 * enumeration), and it does not depend on when other sentences of the batch finish. Its cost: with
 * lengthPenalty 'none' (and nBest 1) it stops as soon as the top candidate is an eos, like
 * OpenNMT-py; with a length penalty the bound is looser (L / lp(maxLength)), so a sentence may run
 * on towards maxLength while its ended hypotheses are poor.
 *
 * With beamSize 1, nBest 1 and no penalties, beam search is greedy search exactly (the same tokens
 * and logProb); with a penalty it may go past the first eos looking for a better-scored
 * hypothesis, which greedy never does.
 *
 * Other options (greedy, sampling and beam alike): `bannedTokens` (never generated),
 * `noRepeatNgramSize` n (a token that would repeat an n-gram of the hypothesis' tokens, prefix
 * included, is banned; fairseq's `--no-repeat-ngram-size`), `prefix` (forced first target tokens,
 * one Int32Array for every sentence or one per sentence; forced whatever the bans say, their
 * log-probabilities counted), `returnAttention` (each hypothesis' attention rows, `[steps,
 * sourceLength_n]`, one per scored token).
 */
import { types } from 'node:util';

import { boolOr, checkInt, describe, finite, intOr, options as knownOptions, tokenId, type Fields } from '../check.js';
import { GatedError, ShapeError, ValueError } from '../errors.js';
import { defaultRng, Rng } from '../random.js';
import { checkSamplingOptions, greedy, sample, type SamplingOptions } from './sample.js';

/** What a search needs of an encoder-decoder over N source sentences (the encoder already ran). */
export interface Seq2SeqStepper {
  /** Target vocabulary V. */
  readonly vocabSize: number;
  /** Source sentences N. */
  readonly sentences: number;
  /** Source lengths [N] (attention rows have the batch's longest, S = max, zero beyond a sentence's length). */
  readonly sourceLengths: Int32Array;
  /** The longest source S (attention row width). */
  readonly srcLen: number;
  /** Target ids the search starts from and ends at. */
  readonly bos: number;
  readonly eos: number;
  /** Current decoder rows. start(k) makes N*k rows, row n*k + i = hypothesis i of sentence n, all from the encoder's state. */
  start(k: number): void;
  readonly rows: number;
  /** Advances every current row by one token tokens[r] (length rows): resolves to log-probabilities [rows, V]
   *  (log-softmax of the logits, float32) and, when withAttention, the attention of that step [rows, S] (else null).
   *  The arrays are the stepper's own and valid until the next step (copy what you keep). */
  step(tokens: Int32Array, withAttention: boolean): Promise<{ logProbs: Float32Array; attention: Float32Array | null }>;
  /** Reorders / selects rows: new row r continues old row index[r] (index.length may be < rows: dropping rows,
   *  e.g. of finished sentences; each entry in [0, rows)). After it, rows = index.length. */
  reorder(index: Int32Array): void;
}

/** One output of a search. */
export interface Hypothesis {
  /** The target tokens, without bos and without eos (a forced prefix included). */
  readonly tokens: Int32Array;
  /** Sum of the tokens' log-probabilities, the eos' included when finished. */
  readonly logProb: number;
  /** After length and coverage penalty: what beam search ranks by (greedy, sampling: the logProb). */
  readonly score: number;
  /** Whether it ended with eos (else it hit maxLength, or every token was banned). */
  readonly finished: boolean;
  /** With `returnAttention`: `[tokens.length (+1 for the eos), sourceLength_n]` row-major, the sentence's own source length; else null. */
  readonly attention: Float32Array | null;
}

/** How a hypothesis' score is normalized by its length (see the module comment). */
export type LengthPenalty = 'none' | 'average' | { readonly gnmt: number };

/** The GNMT coverage penalty's weight (see {@link coveragePenalty}). */
export interface CoveragePenalty {
  /** beta >= 0 (0: off). */
  readonly beta: number;
}

/** The longest output: a number of tokens, or `floor(a * sourceLength + b)` per sentence. */
export type MaxLength = number | { readonly a: number; readonly b: number };

/** Length options shared by beam search and {@link beamErrorAnalysis}-style callers. */
export interface LengthOptions {
  /** eos is banned while a hypothesis has fewer tokens. An integer >= 0. Default: 0. */
  readonly minLength?: number;
  /** The most tokens of a hypothesis (eos not counted): an integer >= 1, or `{ a >= 0, b }` for `floor(a * sourceLength + b)` (>= 1 for every sentence). Default: `{ a: 2, b: 10 }`. */
  readonly maxLength?: MaxLength;
  /** `'none'`, `'average'` or `{ gnmt: alpha >= 0 }`. Default: `'none'`. */
  readonly lengthPenalty?: LengthPenalty;
}

/** Options of every search. */
export interface SearchOptions {
  /** See {@link LengthOptions.minLength}. Default: 0. */
  readonly minLength?: number;
  /** See {@link LengthOptions.maxLength}. Default: `{ a: 2, b: 10 }`. */
  readonly maxLength?: MaxLength;
  /** Token ids never generated (ids in [0, V)). Default: none. */
  readonly bannedTokens?: readonly number[];
  /** Ban tokens that would repeat an n-gram of this size (an integer >= 0; 0: off). Default: 0. */
  readonly noRepeatNgramSize?: number;
  /** Forced first target tokens: one Int32Array for every sentence, or an array of one per sentence (no eos in them). Default: none. */
  readonly prefix?: Int32Array | readonly Int32Array[];
  /** Return each hypothesis' attention rows. Default: false. */
  readonly returnAttention?: boolean;
}

/** Options of {@link greedySearch}. */
export type GreedySearchOptions = SearchOptions;

/** Options of {@link sampleSearch}: {@link SamplingOptions} (temperature, topK, topP; lib/decode/sample.ts) and the generator. */
export interface SampleSearchOptions extends SearchOptions, SamplingOptions {
  /** Seed of a fresh {@link Rng}: the same seed gives the same outputs. Not with `rng`. Default: none (see `rng`). */
  readonly seed?: number;
  /** The generator (one uniform per sampled token, rows in order). Not with `seed`. Default: {@link defaultRng} when no seed. */
  readonly rng?: Rng;
}

/** Options of {@link beamSearch}. */
export interface BeamSearchOptions extends SearchOptions, LengthOptions {
  /** Live beams per sentence, an integer >= 1. Default: 5. */
  readonly beamSize?: number;
  /** Hypotheses returned per sentence, in [1, beamSize]. Default: 1. */
  readonly nBest?: number;
  /** Default: none. Needs the stepper's attention. */
  readonly coveragePenalty?: CoveragePenalty;
}

// ---------------------------------------------------------------------------------------------
// penalties

function factor(penalty: LengthPenalty, length: number): number {
  if (penalty === 'none') return 1;
  if (penalty === 'average') return Math.max(length, 1);
  return Math.pow((5 + length) / 6, penalty.gnmt);
}

function score(logProb: number, length: number, penalty: LengthPenalty): number {
  return logProb / factor(penalty, length);
}

function coverageOf(coverage: ArrayLike<number>, beta: number): number {
  if (beta === 0) return 0;
  let s = 0;
  for (let j = 0; j < coverage.length; j++) s += Math.log(Math.min(coverage[j], 1));
  return beta * s;
}

function checkLength(length: unknown): number {
  return checkInt(length, 'length', 0, 2 ** 31 - 1);
}

/** `length`'s length-penalty divisor: 'none' 1, 'average' max(length, 1), `{ gnmt: alpha }` ((5 + length) / 6)^alpha. */
export function lengthPenaltyFactor(penalty: LengthPenalty, length: number): number {
  return factor(checkLengthPenalty(penalty, 'penalty'), checkLength(length));
}

/**
 * `logProb / lengthPenaltyFactor(penalty, length)`: the length-normalized score of a hypothesis of
 * `length` scored tokens (what beam search ranks ended hypotheses by, before the coverage penalty).
 */
export function normalizedScore(logProb: number, length: number, penalty: LengthPenalty): number {
  if (typeof logProb !== 'number' || Number.isNaN(logProb) || logProb === Infinity) {
    throw new ValueError(`expected a finite number or -Infinity, got ${describe(logProb)}`, 'logProb');
  }
  return score(logProb, checkLength(length), checkLengthPenalty(penalty, 'penalty'));
}

/** GNMT's coverage penalty `beta * sum_j log(min(coverage_j, 1))` (<= 0), `coverage_j` the summed attention on source position j. */
export function coveragePenalty(coverage: ArrayLike<number>, beta: number): number {
  const b = finite(beta, 'beta', { lo: 0 });
  if (typeof coverage !== 'object' || coverage === null || typeof coverage.length !== 'number') {
    throw new ValueError(`expected an array of numbers, got ${describe(coverage)}`, 'coverage');
  }
  for (let j = 0; j < coverage.length; j++) {
    if (typeof coverage[j] !== 'number' || !(coverage[j] >= 0))
      throw new ValueError(`coverage[${j}] is ${describe(coverage[j])}: expected a number >= 0`, 'coverage');
  }
  return coverageOf(coverage, b);
}

/** Checks a {@link LengthPenalty} (undefined: 'none'); errors name `name`. */
export function checkLengthPenalty(v: unknown, name: string): LengthPenalty {
  if (v === undefined || v === 'none' || v === 'average') return v ?? 'none';
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const f = knownOptions(v, ['gnmt'], name);
    if (f.gnmt === undefined) throw new ValueError("expected { gnmt: alpha }, got an object without 'gnmt'", name);
    return { gnmt: finite(f.gnmt, `${name}.gnmt`, { lo: 0, hi: 100 }) };
  }
  throw new ValueError(`expected 'none', 'average' or { gnmt: alpha }, got ${describe(v)}`, name);
}

// ---------------------------------------------------------------------------------------------
// checks

/** The validated stepper fields and the options every search shares. */
interface Common {
  readonly stepper: Seq2SeqStepper;
  readonly V: number;
  readonly N: number;
  readonly S: number;
  readonly bos: number;
  readonly eos: number;
  readonly srcLens: Int32Array;
  readonly minLength: number;
  readonly maxLen: Int32Array;
  /** 1 for a banned id. */
  readonly banned: Uint8Array;
  readonly noRepeat: number;
  /** Per sentence (empty when none). */
  readonly prefix: readonly Int32Array[];
  readonly returnAttention: boolean;
}

const COMMON_KEYS = ['minLength', 'maxLength', 'bannedTokens', 'noRepeatNgramSize', 'prefix', 'returnAttention'] as const;

function checkStepper(s: unknown): Seq2SeqStepper {
  const st = s as Seq2SeqStepper;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof st.start !== 'function' ||
    typeof st.step !== 'function' ||
    typeof st.reorder !== 'function'
  ) {
    throw new ValueError(`expected a Seq2SeqStepper (start, step, reorder), got ${describe(s)}`, 'stepper');
  }
  const V = checkInt(st.vocabSize, 'stepper.vocabSize', 1, 2 ** 31 - 1);
  const N = checkInt(st.sentences, 'stepper.sentences', 0, 2 ** 31 - 1);
  const S = checkInt(st.srcLen, 'stepper.srcLen', 0, 2 ** 31 - 1);
  if (!types.isInt32Array(st.sourceLengths))
    throw new ValueError(`expected an Int32Array, got ${describe(st.sourceLengths)}`, 'stepper.sourceLengths');
  if (st.sourceLengths.length !== N)
    throw new ShapeError(`expected length ${N} (sentences), got ${st.sourceLengths.length}`, 'stepper.sourceLengths');
  st.sourceLengths.forEach((l, n) => {
    if (l < 0 || l > S) throw new ValueError(`stepper.sourceLengths[${n}] = ${l} is outside [0, srcLen = ${S}]`, 'stepper.sourceLengths');
  });
  tokenId(st.bos, V, 'stepper.bos');
  tokenId(st.eos, V, 'stepper.eos');
  return st;
}

function checkMaxLength(v: unknown, srcLens: Int32Array): Int32Array {
  const name = 'options.maxLength';
  let a = 2;
  let b = 10;
  if (typeof v === 'number') {
    return new Int32Array(srcLens.length).fill(checkInt(v, name, 1, 2 ** 31 - 1));
  } else if (v !== undefined) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new ValueError(`expected an integer >= 1 or { a, b } (a * sourceLength + b), got ${describe(v)}`, name);
    }
    const f = knownOptions(v, ['a', 'b'], name);
    a = finite(f.a, `${name}.a`, { lo: 0, hi: 1e6 });
    b = finite(f.b, `${name}.b`, { lo: -1e9, hi: 1e9 });
  }
  return Int32Array.from(srcLens, (l, n) => {
    const m = Math.floor(a * l + b);
    if (m < 1 || m > 2 ** 31 - 1) {
      throw new ValueError(`floor(${a} * sourceLength + ${b}) = ${m} for sentence ${n} (sourceLength ${l}): expected >= 1`, name);
    }
    return m;
  });
}

function checkPrefix(v: unknown, c: { V: number; N: number; eos: number; maxLen: Int32Array }): Int32Array[] {
  const name = 'options.prefix';
  const empty = new Int32Array(0);
  if (v === undefined) return Array.from({ length: c.N }, () => empty);
  let per: Int32Array[];
  if (types.isInt32Array(v)) per = Array.from({ length: c.N }, () => v);
  else if (Array.isArray(v) && v.every((p) => types.isInt32Array(p))) {
    if (v.length !== c.N) throw new ShapeError(`expected one prefix per sentence (${c.N}), got ${v.length}`, name);
    per = v as Int32Array[];
  } else throw new ValueError(`expected an Int32Array or an array of one Int32Array per sentence, got ${describe(v)}`, name);
  per.forEach((p, n) => {
    const at = types.isInt32Array(v) ? name : `${name}[${n}]`;
    p.forEach((t, i) => {
      tokenId(t, c.V, `${at}[${i}]`);
      if (t === c.eos) throw new ValueError(`is the eos id ${c.eos}: a prefix cannot end the output`, `${at}[${i}]`);
    });
    if (p.length > c.maxLen[n]) throw new ValueError(`has ${p.length} tokens, more than maxLength ${c.maxLen[n]} of sentence ${n}`, at);
  });
  return per.map((p) => p.slice());
}

function checkCommon(stepper: unknown, f: Fields): Common {
  const st = checkStepper(stepper);
  const V = st.vocabSize;
  const N = st.sentences;
  const srcLens = st.sourceLengths.slice();
  const maxLen = checkMaxLength(f.maxLength, srcLens);
  const minLength = intOr(f.minLength, 'options.minLength', 0, 0);
  const banned = new Uint8Array(V);
  if (f.bannedTokens !== undefined) {
    const b = f.bannedTokens;
    if (!Array.isArray(b) && !types.isInt32Array(b))
      throw new ValueError(`expected an array of token ids, got ${describe(b)}`, 'options.bannedTokens');
    Array.from(b as ArrayLike<unknown>).forEach((t, i) => (banned[tokenId(t, V, `options.bannedTokens[${i}]`)] = 1));
  }
  const noRepeat = intOr(f.noRepeatNgramSize, 'options.noRepeatNgramSize', 0, 0);
  const prefix = checkPrefix(f.prefix, { V, N, eos: st.eos, maxLen });
  const returnAttention = boolOr(f.returnAttention, false, 'options.returnAttention');
  return {
    stepper: st,
    V,
    N,
    S: st.srcLen,
    bos: st.bos,
    eos: st.eos,
    srcLens,
    minLength,
    maxLen,
    banned,
    noRepeat,
    prefix,
    returnAttention,
  };
}

/** Runs `fn`, renaming a gated error's argument `x` to `options.x`. */
function prefixed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof GatedError && e.argument !== undefined && !e.argument.startsWith('options')) {
      const message = e.message.slice(e.argument.length + 2);
      throw new (e.constructor as typeof GatedError)(message, `options.${e.argument}`);
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// the stepper's calls

/** One checked step: log-probs `[rows, V]` (no NaN or +Infinity) and the attention `[rows, S]` when asked for. */
async function checkedStep(
  c: Common,
  tokens: Int32Array,
  withAttention: boolean,
): Promise<{ logProbs: Float32Array; attention: Float32Array | null }> {
  const rows = tokens.length;
  const r = await c.stepper.step(tokens, withAttention);
  if (typeof r !== 'object' || r === null)
    throw new ValueError(`step resolved to ${describe(r)}, expected { logProbs, attention }`, 'stepper');
  const lp = r.logProbs;
  if (!types.isFloat32Array(lp)) throw new ValueError(`step gave logProbs ${describe(lp)}, expected a Float32Array`, 'stepper');
  if (lp.length !== rows * c.V) throw new ShapeError(`step gave ${lp.length} logProbs, expected rows*V = ${rows}*${c.V}`, 'stepper');
  for (let i = 0; i < lp.length; i++) {
    const x = lp[i];
    if (Number.isNaN(x) || x === Infinity) {
      throw new ValueError(
        `step gave logProbs[${Math.floor(i / c.V)}, ${i % c.V}] = ${x}: expected finite numbers or -Infinity`,
        'stepper',
      );
    }
  }
  let attention: Float32Array | null = null;
  if (withAttention) {
    attention = r.attention;
    if (!types.isFloat32Array(attention)) {
      throw new ValueError(
        `step gave attention ${describe(attention)}, expected a Float32Array (returnAttention / coveragePenalty need it)`,
        'stepper',
      );
    }
    if (attention.length !== rows * c.S)
      throw new ShapeError(`step gave ${attention.length} attention values, expected rows*S = ${rows}*${c.S}`, 'stepper');
  }
  return { logProbs: lp, attention };
}

function start(c: Common, k: number): void {
  c.stepper.start(k);
  if (c.stepper.rows !== c.N * k)
    throw new ShapeError(`start(${k}) made ${describe(c.stepper.rows)} rows, expected sentences*k = ${c.N}*${k}`, 'stepper.rows');
}

/** The ids banned for a hypothesis of `tokens` beyond the fixed bans: eos before minLength, no-repeat n-grams. */
function dynamicBans(c: Common, tokens: ArrayLike<number>): number[] {
  const out: number[] = [];
  const L = tokens.length;
  if (L < c.minLength) out.push(c.eos);
  const n = c.noRepeat;
  if (n > 0 && L >= n - 1) {
    // Every earlier n-gram whose first n-1 tokens equal the last n-1 tokens bans its last token.
    for (let i = 0; i + n - 1 < L; i++) {
      let same = true;
      for (let j = 0; j < n - 1 && same; j++) same = tokens[i + j] === tokens[L - n + 1 + j];
      if (same) out.push(tokens[i + n - 1]);
    }
  }
  return out;
}

/** Joins attention rows into one `[rows.length, width]` array. */
function joinRows(rows: readonly Float32Array[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, t) => out.set(r, t * width));
  return out;
}

// ---------------------------------------------------------------------------------------------
// greedy and sampling: one row per sentence

interface Row {
  readonly sentence: number;
  readonly tokens: number[];
  logProb: number;
  readonly attention: Float32Array[];
  finished: boolean;
}

/**
 * The row-wise loop of greedy search and sampling: `choose(row)` gets the row's log-probs with the
 * banned ids at -Infinity (at least one finite) and returns the token.
 */
async function rowSearch(c: Common, choose: (masked: Float32Array) => number): Promise<Hypothesis[][]> {
  const { V, N, S, eos } = c;
  if (N === 0) return [];
  start(c, 1);
  let live: Row[] = Array.from({ length: N }, (_, n) => ({ sentence: n, tokens: [], logProb: 0, attention: [], finished: false }));
  const ended: (Row | null)[] = new Array<Row | null>(N).fill(null);
  let input = new Int32Array(N).fill(c.bos);
  while (live.length > 0) {
    const { logProbs, attention } = await checkedStep(c, input, c.returnAttention);
    const keep: number[] = [];
    live.forEach((row, r) => {
      const n = row.sentence;
      const lp = logProbs.subarray(r * V, (r + 1) * V);
      const pre = c.prefix[n];
      let t: number;
      if (row.tokens.length < pre.length) t = pre[row.tokens.length];
      else {
        const masked = lp.slice();
        for (let v = 0; v < V; v++) if (c.banned[v]) masked[v] = -Infinity;
        for (const v of dynamicBans(c, row.tokens)) masked[v] = -Infinity;
        if (!masked.some((x) => x > -Infinity)) {
          ended[n] = row; // every token banned: it ends as it is
          return;
        }
        t = choose(masked);
      }
      row.logProb += lp[t];
      if (attention) row.attention.push(attention.slice(r * S, r * S + c.srcLens[n]));
      if (t === eos) row.finished = true;
      else row.tokens.push(t);
      if (row.finished || row.tokens.length >= c.maxLen[n]) ended[n] = row;
      else keep.push(r);
    });
    if (keep.length === 0) break;
    if (keep.length < live.length) c.stepper.reorder(Int32Array.from(keep));
    live = keep.map((r) => live[r]);
    input = Int32Array.from(live, (row) => row.tokens[row.tokens.length - 1]);
  }
  return ended.map((row, n) => {
    const r = row as Row;
    return [
      {
        tokens: Int32Array.from(r.tokens),
        logProb: r.logProb,
        score: r.logProb,
        finished: r.finished,
        attention: c.returnAttention ? joinRows(r.attention, c.srcLens[n]) : null,
      },
    ];
  });
}

/**
 * Greedy search: each sentence's most probable next token at every step (the lowest id on ties),
 * until eos or maxLength; one hypothesis per sentence (score = logProb). Options: see
 * {@link SearchOptions} and the module comment; every bad one is a ValueError naming it
 * (`options.minLength`), an unknown key too.
 */
export async function greedySearch(stepper: Seq2SeqStepper, options?: GreedySearchOptions): Promise<Hypothesis[][]> {
  const c = checkCommon(stepper, knownOptions(options, COMMON_KEYS));
  return rowSearch(c, (masked) => greedy(masked));
}

/**
 * Sampling: each next token drawn from the model's distribution shaped by temperature, top-k and
 * top-p (exactly as lib/decode/sample.ts's `sample`, over the allowed tokens), one uniform draw per
 * sampled token, rows in sentence order: a seed gives the same outputs. One hypothesis per sentence
 * (score = logProb, the model's own log-probabilities, not the shaped ones).
 */
export async function sampleSearch(stepper: Seq2SeqStepper, options?: SampleSearchOptions): Promise<Hypothesis[][]> {
  const f = knownOptions(options, [...COMMON_KEYS, 'temperature', 'topK', 'topP', 'seed', 'rng']);
  const c = checkCommon(stepper, f);
  const shaped = prefixed(() => checkSamplingOptions({ temperature: f.temperature, topK: f.topK, topP: f.topP }));
  if (f.seed !== undefined && f.rng !== undefined) throw new ValueError('give seed or rng, not both', 'options.seed');
  if (f.rng !== undefined && !(f.rng instanceof Rng)) throw new ValueError(`expected an Rng, got ${describe(f.rng)}`, 'options.rng');
  const rng = f.seed !== undefined ? prefixed(() => new Rng(f.seed as number)) : ((f.rng as Rng | undefined) ?? defaultRng());
  const draw = { temperature: shaped.temperature, topK: shaped.topK ?? undefined, topP: shaped.topP, rng };
  return rowSearch(c, (masked) => sample(masked, draw));
}

// ---------------------------------------------------------------------------------------------
// beam search

interface Beam {
  readonly tokens: Int32Array;
  readonly logProb: number;
  /** Attention rows so far (when kept). */
  readonly attention: readonly Float32Array[] | null;
  /** Summed attention per source position (with a coverage penalty). */
  readonly coverage: Float64Array | null;
}

interface Sentence {
  live: Beam[];
  /** Ended hypotheses, best first, at most nBest. */
  readonly pool: Hypothesis[];
  done: boolean;
}

/**
 * Beam search (see the module comment for the step, the scores and when a sentence stops): up to
 * `nBest` hypotheses per sentence, best score first. Every bad option is a ValueError naming it
 * (`options.beamSize: expected an integer >= 1, got 0`), an unknown key too.
 */
export async function beamSearch(stepper: Seq2SeqStepper, options?: BeamSearchOptions): Promise<Hypothesis[][]> {
  const f = knownOptions(options, [...COMMON_KEYS, 'beamSize', 'nBest', 'lengthPenalty', 'coveragePenalty']);
  const c = checkCommon(stepper, f);
  const k = checkInt(f.beamSize ?? 5, 'options.beamSize', 1, 1 << 20);
  const nBest = f.nBest === undefined ? 1 : checkInt(f.nBest, 'options.nBest', 1, k);
  const penalty = checkLengthPenalty(f.lengthPenalty, 'options.lengthPenalty');
  let beta = 0;
  if (f.coveragePenalty !== undefined) {
    const cp = knownOptions(f.coveragePenalty, ['beta'], 'options.coveragePenalty');
    beta = finite(cp.beta, 'options.coveragePenalty.beta', { lo: 0, hi: 1e6 });
  }
  const { V, N, S, eos } = c;
  if (N === 0) return [];
  const withAttention = c.returnAttention || beta > 0;
  start(c, 1);
  const sentences: Sentence[] = Array.from({ length: N }, (_, n) => ({
    live: [
      {
        tokens: new Int32Array(0),
        logProb: 0,
        attention: c.returnAttention ? [] : null,
        coverage: beta > 0 ? new Float64Array(c.srcLens[n]) : null,
      },
    ],
    pool: [],
    done: false,
  }));

  const addEnded = (sent: Sentence, n: number, beam: Beam, finished: boolean): void => {
    const len = beam.tokens.length + (finished ? 1 : 0);
    const sc = score(beam.logProb, len, penalty) + (beam.coverage ? coverageOf(beam.coverage, beta) : 0);
    const pool = sent.pool;
    if (pool.length >= nBest && !(sc > pool[nBest - 1].score)) return;
    let at = pool.length;
    while (at > 0 && pool[at - 1].score < sc) at--;
    const attention = beam.attention ? joinRows(beam.attention, c.srcLens[n]) : null;
    pool.splice(at, 0, { tokens: beam.tokens, logProb: beam.logProb, score: sc, finished, attention });
    if (pool.length > nBest) pool.pop();
  };
  // The best score a live beam of logProb L can still end with (see the module comment).
  const bound = (L: number, n: number, len: number): number => score(L, L <= 0 ? c.maxLen[n] : len, penalty);

  // Candidates of one sentence, best first (capacity 2k: at most k are eos, one per beam, so k others are among them).
  const cap = 2 * k;
  const cScore = new Float64Array(cap);
  const cLp = new Float64Array(cap);
  const cBeam = new Int32Array(cap);
  const cTok = new Int32Array(cap);
  const mask = new Uint8Array(V);

  let rowsOf: number[] = Array.from({ length: N }, (_, n) => n); // first row of each sentence in the current batch
  let input = new Int32Array(N).fill(c.bos);
  for (;;) {
    const { logProbs, attention } = await checkedStep(c, input, withAttention);
    const index: number[] = [];
    const nextInput: number[] = [];
    const nextRows: number[] = new Array<number>(N).fill(-1);
    for (let n = 0; n < N; n++) {
      const sent = sentences[n];
      if (sent.done) continue;
      const base = rowsOf[n];
      const live = sent.live;
      const pre = c.prefix[n];
      const forced = live[0].tokens.length < pre.length; // all live beams of a sentence have one length
      let size = 0;
      const push = (score: number, lp: number, b: number, t: number): void => {
        if (size === cap && !(score > cScore[size - 1] || (score === cScore[size - 1] && b === cBeam[size - 1] && lp > cLp[size - 1])))
          return;
        let at = size === cap ? size - 1 : size;
        while (at > 0 && (cScore[at - 1] < score || (cScore[at - 1] === score && cBeam[at - 1] === b && cLp[at - 1] < lp))) {
          cScore[at] = cScore[at - 1];
          cLp[at] = cLp[at - 1];
          cBeam[at] = cBeam[at - 1];
          cTok[at] = cTok[at - 1];
          at--;
        }
        cScore[at] = score;
        cLp[at] = lp;
        cBeam[at] = b;
        cTok[at] = t;
        if (size < cap) size++;
      };
      const dead: number[] = [];
      for (let b = 0; b < live.length; b++) {
        const beam = live[b];
        const off = (base + b) * V;
        if (forced) {
          const t = pre[beam.tokens.length];
          push(beam.logProb + logProbs[off + t], logProbs[off + t], b, t);
          continue;
        }
        mask.set(c.banned);
        for (const t of dynamicBans(c, beam.tokens)) mask[t] = 1;
        let any = false;
        const L = beam.logProb;
        for (let t = 0; t < V; t++) {
          const lp = logProbs[off + t];
          if (mask[t] || lp === -Infinity) continue;
          any = true;
          const sc = L + lp;
          // Strictly below the worst kept candidate: it cannot enter (the common case, kept inline).
          if (size === cap && sc < cScore[cap - 1]) continue;
          push(sc, lp, b, t);
        }
        if (!any) dead.push(b);
      }
      for (const b of dead) addEnded(sent, n, live[b], false);
      const next: Beam[] = [];
      const parents: number[] = [];
      for (let j = 0; j < size && next.length < k; j++) {
        const b = cBeam[j];
        const t = cTok[j];
        const parent = live[b];
        const row = base + b;
        const att = attention ? attention.subarray(row * S, row * S + c.srcLens[n]) : null;
        let coverage: Float64Array | null = null;
        if (parent.coverage && att) {
          coverage = parent.coverage.slice();
          for (let i = 0; i < coverage.length; i++) coverage[i] += att[i];
        }
        const atts = parent.attention && att ? [...parent.attention, att.slice()] : null;
        if (t === eos) {
          addEnded(sent, n, { tokens: parent.tokens, logProb: cScore[j], attention: atts, coverage }, true);
          continue;
        }
        const tokens = new Int32Array(parent.tokens.length + 1);
        tokens.set(parent.tokens);
        tokens[parent.tokens.length] = t;
        const beam: Beam = { tokens, logProb: cScore[j], attention: atts, coverage };
        if (tokens.length >= c.maxLen[n]) addEnded(sent, n, beam, false);
        else {
          next.push(beam);
          parents.push(row);
        }
      }
      sent.live = next;
      if (next.length === 0) sent.done = true;
      else if (sent.pool.length >= nBest && !(bound(next[0].logProb, n, next[0].tokens.length + 1) > sent.pool[nBest - 1].score)) {
        sent.done = true;
      }
      if (sent.done) {
        sent.live = [];
        continue;
      }
      nextRows[n] = index.length;
      for (let i = 0; i < next.length; i++) {
        index.push(parents[i]);
        nextInput.push(next[i].tokens[next[i].tokens.length - 1]);
      }
    }
    if (index.length === 0) break;
    if (index.length !== input.length || index.some((r, i) => r !== i)) c.stepper.reorder(Int32Array.from(index));
    rowsOf = nextRows;
    input = Int32Array.from(nextInput);
  }
  return sentences.map((s) => s.pool);
}

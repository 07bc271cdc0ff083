/**
 * Scores of decoded outputs against references: {@link editDistance} (Levenshtein),
 * {@link errorRate} (the summed edit distances over the summed reference lengths: PER over
 * phonemes, WER over words, CER over characters), {@link sentenceErrorRate} (the share of outputs
 * that are not exactly their reference) and {@link corpusBleu}, corpus BLEU as sacreBLEU computes it
 * by default (Post 2018, "A Call for Clarity in Reporting BLEU Scores",
 * https://aclanthology.org/W18-6319; signature `nrefs:N|case:mixed|eff:no|tok:13a|smooth:exp`).
 *
 * BLEU (Papineni et al. 2002), as sacreBLEU 2.x:
 * - each line is lowercased (only with `lowercase`), stripped of trailing whitespace, tokenized
 *   ({@link tokenize13a}, or `'none'`: as it is) and split on whitespace;
 * - n-grams n = 1..4: a hypothesis' n-gram counts are clipped by the largest count of that n-gram
 *   in any of its references; matches and totals are summed over the corpus;
 * - the reference length of a sentence is the length of its reference closest to the hypothesis'
 *   (the shorter on a tie); brevity penalty BP = 1 when sysLen >= refLen, else exp(1 - refLen / sysLen)
 *   (0 when sysLen = 0);
 * - no match at any order: score 0; else precisions p_n = 100 * matches_n / total_n, with the
 *   smoothing for a p_n whose matches are 0 (`'exp'`, the default: the k-th such order gets
 *   100 / (2^k * total_n), mteval-v13a's; `'floor'`: 100 * value / total_n; `'add-k'`: value added
 *   to matches and totals of orders >= 2; `'none'`: 0); an order with no n-gram at all (total 0)
 *   ends the loop, leaving it and the higher orders at 0 (unless `effectiveOrder`, which then
 *   averages over the orders before it);
 * - score = BP * exp(mean over orders of log p_n) (log 0 taken as -9999999999, so the score is 0),
 *   on a 0-100 scale.
 */
import { boolOr, describe, finite, oneOf, options as knownOptions } from '../check.js';
import { ShapeError, ValueError } from '../errors.js';

/** The Levenshtein distance of two sequences (tokens, ids, characters): the fewest insertions, deletions and substitutions (each 1; elements compared with ===). */
export function editDistance<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  checkSequence(a, 'a');
  checkSequence(b, 'b');
  const m = b.length;
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  let cur = new Array<number>(m + 1);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    const ai = a[i - 1];
    for (let j = 1; j <= m; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ai === b[j - 1] ? 0 : 1));
    }
    [prev, cur] = [cur, prev];
  }
  return prev[m];
}

function checkSequence(v: unknown, name: string): void {
  if (typeof v === 'string' || Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) return;
  throw new ValueError(`expected an array, a typed array or a string, got ${describe(v)}`, name);
}

function checkPairs<T>(hyps: readonly ArrayLike<T>[], refs: readonly ArrayLike<T>[]): void {
  if (!Array.isArray(hyps)) throw new ValueError(`expected an array of sequences, got ${describe(hyps)}`, 'hyps');
  if (!Array.isArray(refs)) throw new ValueError(`expected an array of sequences, got ${describe(refs)}`, 'refs');
  if (hyps.length !== refs.length)
    throw new ShapeError(`expected ${hyps.length} references (one per hypothesis), got ${refs.length}`, 'refs');
  hyps.forEach((h, i) => checkSequence(h, `hyps[${i}]`));
  refs.forEach((r, i) => checkSequence(r, `refs[${i}]`));
}

/**
 * The corpus error rate: sum of {@link editDistance}(hyps[i], refs[i]) over the sum of the
 * references' lengths (PER over phoneme sequences, WER over word arrays). It can exceed 1 (many
 * insertions). Every reference empty is a ValueError naming `refs` (the rate is undefined).
 */
export function errorRate<T>(hyps: readonly ArrayLike<T>[], refs: readonly ArrayLike<T>[]): number {
  checkPairs(hyps, refs);
  let errors = 0;
  let length = 0;
  for (let i = 0; i < hyps.length; i++) {
    errors += editDistance(hyps[i], refs[i]);
    length += refs[i].length;
  }
  if (length === 0) throw new ValueError('every reference is empty: the error rate is undefined', 'refs');
  return errors / length;
}

/** The share of hypotheses that are not exactly their reference (the sentence error rate); no pairs at all is a ValueError naming `hyps`. */
export function sentenceErrorRate<T>(hyps: readonly ArrayLike<T>[], refs: readonly ArrayLike<T>[]): number {
  checkPairs(hyps, refs);
  if (hyps.length === 0) throw new ValueError('expected at least one hypothesis', 'hyps');
  let wrong = 0;
  for (let i = 0; i < hyps.length; i++) {
    const h = hyps[i];
    const r = refs[i];
    let same = h.length === r.length;
    for (let j = 0; same && j < h.length; j++) same = h[j] === r[j];
    if (!same) wrong++;
  }
  return wrong / hyps.length;
}

// ---------------------------------------------------------------------------------------------
// BLEU

/** Options of {@link corpusBleu}. */
export interface BleuOptions {
  /** `'13a'` ({@link tokenize13a}, sacreBLEU's default) or `'none'` (already tokenized: split on whitespace). Default: `'13a'`. */
  readonly tokenize?: '13a' | 'none';
  /** Lowercase hypotheses and references first. Default: false (case-sensitive, sacreBLEU's default). */
  readonly lowercase?: boolean;
  /** Smoothing of a zero-match precision (see the module comment). Default: `'exp'`. */
  readonly smooth?: 'exp' | 'none' | 'floor' | 'add-k';
  /** The value of `'floor'` (default 0.1) and `'add-k'` (default 1), as sacreBLEU's. */
  readonly smoothValue?: number;
  /** Average over the orders up to the last with any n-gram (sacreBLEU's `effective_order`). Default: false. */
  readonly effectiveOrder?: boolean;
}

/** {@link corpusBleu}'s result. */
export interface BleuScore {
  /** BLEU, 0-100. */
  readonly score: number;
  /** The four n-gram precisions, 0-100 (after smoothing). */
  readonly precisions: readonly number[];
  /** Brevity penalty. */
  readonly bp: number;
  /** Tokens of the hypotheses. */
  readonly sysLen: number;
  /** Summed closest-reference lengths. */
  readonly refLen: number;
  /** Clipped n-gram matches per order (before smoothing). */
  readonly counts: readonly number[];
  /** Hypothesis n-grams per order. */
  readonly totals: readonly number[];
}

// mteval-v13a's punctuation class: { | } ~, [ \ ] ^ _ `, space ! " # $ % &, ( ) * +, : ; < = > ? @, and /.
const PUNCT = /([{-~[-` -&(-+:-@/])/g;
const PERIOD_COMMA_AFTER = /([^0-9])([.,])/g;
const PERIOD_COMMA_BEFORE = /([.,])([^0-9])/g;
const DASH_AFTER_DIGIT = /([0-9])(-)/g;

/**
 * The mteval-v13a tokenization, as sacreBLEU's `13a`: drop `<skipped>`, join hyphenated line ends
 * (`-\n`) and lines, unescape `&quot; &amp; &lt; &gt;`; then split off the punctuation
 * `{|}~[\]^_\`!"#$%&()*+:;<=>?@/` everywhere, a period or comma unless it is between digits (not
 * split when preceded by a digit, nor when followed by one), a dash after a digit; one space
 * between tokens, none at the ends. Case is kept.
 */
export function tokenize13a(line: string): string {
  if (typeof line !== 'string') throw new ValueError(`expected a string, got ${describe(line)}`, 'line');
  let s = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  s = s.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  s = ` ${s} `;
  s = s.replace(PUNCT, ' $1 ');
  s = s.replace(PERIOD_COMMA_AFTER, '$1 $2 ');
  s = s.replace(PERIOD_COMMA_BEFORE, ' $1 $2');
  s = s.replace(DASH_AFTER_DIGIT, '$1 $2 ');
  return s.trim().split(/\s+/).filter(Boolean).join(' ');
}

function words(line: string, o: { tokenize: '13a' | 'none'; lowercase: boolean }): string[] {
  let s = o.lowercase ? line.toLowerCase() : line;
  s = s.trimEnd();
  if (o.tokenize === '13a') s = tokenize13a(s);
  return s.split(/\s+/).filter(Boolean);
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const g = tokens.slice(i, i + n).join(' ');
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

const ORDER = 4;

/**
 * Corpus BLEU of `hyps` against `refs`, sacreBLEU-compatible (see the module comment): `refs` is
 * one reference per hypothesis (`string[]`) or, as sacreBLEU's `corpus_bleu(hyps, refs)`, a list
 * of reference streams, each parallel to `hyps` (`refs[k][i]` = the k-th reference of hypothesis i).
 */
export function corpusBleu(
  hyps: readonly string[],
  refs: readonly string[] | readonly (readonly string[])[],
  options?: BleuOptions,
): BleuScore {
  if (!Array.isArray(hyps)) throw new ValueError(`expected an array of strings, got ${describe(hyps)}`, 'hyps');
  hyps.forEach((h, i) => {
    if (typeof h !== 'string') throw new ValueError(`expected a string, got ${describe(h)}`, `hyps[${i}]`);
  });
  if (!Array.isArray(refs)) throw new ValueError(`expected an array of strings or of reference streams, got ${describe(refs)}`, 'refs');
  const streams: (readonly string[])[] = refs.length > 0 && refs.every((r) => Array.isArray(r)) ? (refs as string[][]) : [refs as string[]];
  if (streams.length === 0) throw new ValueError('expected at least one reference stream', 'refs');
  streams.forEach((s, k) => {
    const name = streams.length === 1 && !Array.isArray(refs[0]) ? 'refs' : `refs[${k}]`;
    if (s.length !== hyps.length) throw new ShapeError(`expected ${hyps.length} references (one per hypothesis), got ${s.length}`, name);
    s.forEach((r, i) => {
      if (typeof r !== 'string') throw new ValueError(`expected a string, got ${describe(r)}`, `${name}[${i}]`);
    });
  });
  const o = knownOptions(options, ['tokenize', 'lowercase', 'smooth', 'smoothValue', 'effectiveOrder']);
  const tokenize = oneOf(o.tokenize, ['13a', 'none'], '13a', 'options.tokenize');
  const lowercase = boolOr(o.lowercase, false, 'options.lowercase');
  const smooth = oneOf(o.smooth, ['exp', 'none', 'floor', 'add-k'], 'exp', 'options.smooth');
  const smoothValue = finite(o.smoothValue, 'options.smoothValue', { lo: 0 }, smooth === 'add-k' ? 1 : 0.1);
  const effectiveOrder = boolOr(o.effectiveOrder, false, 'options.effectiveOrder');
  const t = { tokenize, lowercase } as const;

  const counts = new Array<number>(ORDER).fill(0);
  const totals = new Array<number>(ORDER).fill(0);
  let sysLen = 0;
  let refLen = 0;
  hyps.forEach((h, i) => {
    const hw = words(h, t);
    const rws = streams.map((s) => words(s[i], t));
    sysLen += hw.length;
    // The closest reference length, the shorter on a tie.
    let best = -1;
    for (const r of rws) {
      const d = Math.abs(r.length - hw.length);
      const bd = Math.abs(best - hw.length);
      if (best < 0 || d < bd || (d === bd && r.length < best)) best = r.length;
    }
    refLen += best;
    for (let n = 1; n <= ORDER; n++) {
      const maxRef = new Map<string, number>();
      for (const r of rws) for (const [g, c] of ngramCounts(r, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, c));
      for (const [g, c] of ngramCounts(hw, n)) {
        counts[n - 1] += Math.min(c, maxRef.get(g) ?? 0);
        totals[n - 1] += c;
      }
    }
  });
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  const precisions = new Array<number>(ORDER).fill(0);
  const result = (score: number): BleuScore => ({ score, precisions, bp, sysLen, refLen, counts, totals });
  if (counts.every((c) => c === 0)) return result(0);
  let smoothMteval = 1;
  let order = ORDER;
  for (let n = 1; n <= ORDER; n++) {
    let correct = counts[n - 1];
    let total = totals[n - 1];
    if (smooth === 'add-k' && n > 1) {
      correct += smoothValue;
      total += smoothValue;
    }
    if (total === 0) break;
    if (effectiveOrder) order = n;
    if (correct === 0) {
      if (smooth === 'exp') {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * total);
      } else if (smooth === 'floor') precisions[n - 1] = (100 * smoothValue) / total;
    } else precisions[n - 1] = (100 * correct) / total;
  }
  let logSum = 0;
  for (let n = 0; n < order; n++) logSum += precisions[n] > 0 ? Math.log(precisions[n]) : -9999999999;
  return result(bp * Math.exp(logSum / order));
}

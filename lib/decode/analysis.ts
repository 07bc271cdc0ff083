/**
 * Beam error analysis: for each beam size, how many outputs are wrong (not the reference), and of
 * those how many are search errors (the model scores the reference higher than the output: the
 * search missed a better hypothesis, a wider beam might find it) and how many are model errors (the
 * model prefers its wrong output: no search can fix it). The split of Stahlberg & Byrne 2019 ("On
 * NMT Search Errors and Model Errors: Cat Got Your Tongue?", https://aclanthology.org/D19-1331).
 *
 * Both sides are compared under the search's own length normalization:
 * {@link normalizedScore}(logProb, length, lengthPenalty) from lib/decode/seq2seq.ts, the output's
 * length its tokens plus 1 for a finished one's eos, the reference's its tokens plus 1 (scored
 * with its eos). A coverage penalty is not part of it (the reference's attention is not known).
 * A tie counts as a model error (the search found a hypothesis as good as the reference).
 */
import { types } from 'node:util';

import { checkInt, describe, options as knownOptions } from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import { checkLengthPenalty, normalizedScore, type Hypothesis, type LengthOptions, type LengthPenalty } from './seq2seq.js';

/** What the analysis needs of a model: its search and its scores of given targets. */
export interface BeamScorer {
  /** Beam search over `sources` (e.g. {@link beamSearch} on the model's stepper): per source, hypotheses best first. */
  decode(sources: Int32Array[], options: { beamSize: number } & LengthOptions): Promise<Hypothesis[][]>;
  /** Per pair, sum log P(target + eos | source) under the model (teacher forcing). */
  score(sources: Int32Array[], targets: Int32Array[]): Promise<Float64Array>;
}

/** One source and its reference target (no bos, no eos). */
export interface BeamErrorExample {
  readonly source: Int32Array;
  readonly target: Int32Array;
}

/** Options of {@link beamErrorAnalysis}. */
export interface BeamErrorOptions extends LengthOptions {
  /** The beam sizes to compare, integers >= 1. Default: [1, 3, 10]. */
  readonly beamSizes?: readonly number[];
}

/** The analysis at one beam size. */
export interface BeamSizeErrors {
  readonly beamSize: number;
  /** The best hypothesis per example. */
  readonly outputs: readonly Hypothesis[];
  /** Their normalized scores (without coverage). */
  readonly outputScores: Float64Array;
  /** Outputs that are not their reference. */
  readonly errors: number;
  /** Errors whose reference scores higher than the output. */
  readonly searchErrors: number;
  /** The other errors. */
  readonly modelErrors: number;
  /** errors / examples. */
  readonly errorRate: number;
  /** searchErrors / examples. */
  readonly searchErrorRate: number;
  /** modelErrors / examples. */
  readonly modelErrorRate: number;
  /** searchErrors / errors (0 without errors). */
  readonly searchShare: number;
  /** Per example: 'correct', 'search' or 'model'. */
  readonly kinds: readonly ('correct' | 'search' | 'model')[];
}

/** {@link beamErrorAnalysis}'s result. */
export interface BeamErrorAnalysis {
  readonly examples: number;
  readonly lengthPenalty: LengthPenalty;
  /** sum log P(reference + eos | source) per example. */
  readonly referenceLogProbs: Float64Array;
  /** Their normalized scores. */
  readonly referenceScores: Float64Array;
  /** One entry per beam size, in the order given. */
  readonly beams: readonly BeamSizeErrors[];
}

function sameTokens(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Decodes `data` at each beam size with `scorer.decode` (the length options passed through) and
 * classifies each output as correct, a search error or a model error (see the module comment).
 */
export async function beamErrorAnalysis(
  scorer: BeamScorer,
  data: readonly BeamErrorExample[],
  options?: BeamErrorOptions,
): Promise<BeamErrorAnalysis> {
  if (typeof scorer !== 'object' || scorer === null || typeof scorer.decode !== 'function' || typeof scorer.score !== 'function') {
    throw new ValueError(`expected { decode, score }, got ${describe(scorer)}`, 'scorer');
  }
  if (!Array.isArray(data) || data.length === 0)
    throw new ValueError(`expected a non-empty array of { source, target }, got ${describe(data)}`, 'data');
  data.forEach((d, i) => {
    if (typeof d !== 'object' || d === null) throw new ValueError(`expected { source, target }, got ${describe(d)}`, `data[${i}]`);
    if (!types.isInt32Array(d.source)) throw new ValueError(`expected an Int32Array, got ${describe(d.source)}`, `data[${i}].source`);
    if (!types.isInt32Array(d.target)) throw new ValueError(`expected an Int32Array, got ${describe(d.target)}`, `data[${i}].target`);
  });
  const f = knownOptions(options, ['beamSizes', 'lengthPenalty', 'minLength', 'maxLength']);
  const sizes = f.beamSizes ?? [1, 3, 10];
  if (!Array.isArray(sizes) || sizes.length === 0)
    throw new ValueError(`expected a non-empty array of beam sizes, got ${describe(sizes)}`, 'options.beamSizes');
  sizes.forEach((k, i) => checkInt(k, `options.beamSizes[${i}]`, 1, 1 << 20));
  const lengthPenalty = checkLengthPenalty(f.lengthPenalty, 'options.lengthPenalty');
  const pass: LengthOptions = {
    lengthPenalty,
    ...(f.minLength !== undefined ? { minLength: f.minLength as number } : {}),
    ...(f.maxLength !== undefined ? { maxLength: f.maxLength as LengthOptions['maxLength'] } : {}),
  };

  const n = data.length;
  const sources = data.map((d) => d.source);
  const targets = data.map((d) => d.target);
  const referenceLogProbs = await scorer.score(sources, targets);
  if (!types.isFloat64Array(referenceLogProbs) || referenceLogProbs.length !== n) {
    throw new ShapeError(
      `score resolved to ${describe(referenceLogProbs)}, expected a Float64Array of ${n} log-probabilities`,
      'scorer.score',
    );
  }
  const referenceScores = Float64Array.from(referenceLogProbs, (lp, i) => normalizedScore(lp, targets[i].length + 1, lengthPenalty));

  const beams: BeamSizeErrors[] = [];
  for (const beamSize of sizes as number[]) {
    const decoded = await scorer.decode(sources, { beamSize, ...pass });
    if (!Array.isArray(decoded) || decoded.length !== n) {
      throw new ShapeError(`decode resolved to ${describe(decoded)}, expected ${n} lists of hypotheses`, 'scorer.decode');
    }
    const outputs = decoded.map((hs, i) => {
      const h = Array.isArray(hs) ? hs[0] : undefined;
      if (!h || !types.isInt32Array(h.tokens) || typeof h.logProb !== 'number') {
        throw new ValueError(`decode gave no hypothesis (tokens, logProb) for example ${i}`, 'scorer.decode');
      }
      return h;
    });
    const outputScores = Float64Array.from(outputs, (h) =>
      normalizedScore(h.logProb, h.tokens.length + (h.finished ? 1 : 0), lengthPenalty),
    );
    const kinds = outputs.map((h, i) =>
      sameTokens(h.tokens, targets[i])
        ? ('correct' as const)
        : referenceScores[i] > outputScores[i]
          ? ('search' as const)
          : ('model' as const),
    );
    const errors = kinds.filter((k) => k !== 'correct').length;
    const searchErrors = kinds.filter((k) => k === 'search').length;
    const modelErrors = errors - searchErrors;
    beams.push({
      beamSize,
      outputs,
      outputScores,
      errors,
      searchErrors,
      modelErrors,
      errorRate: errors / n,
      searchErrorRate: searchErrors / n,
      modelErrorRate: modelErrors / n,
      searchShare: errors === 0 ? 0 : searchErrors / errors,
      kinds,
    });
  }
  return { examples: n, lengthPenalty, referenceLogProbs, referenceScores, beams };
}

/**
 * A small text table of a {@link beamErrorAnalysis} result, one line per beam size:
 * ```
 * beam errors over 4 examples (lengthPenalty none)
 * beam  errors  search  model  search/errors
 *    1   75.0%   50.0%  25.0%          66.7%
 * ```
 */
export function formatBeamErrorReport(result: BeamErrorAnalysis): string {
  const r = result as Partial<BeamErrorAnalysis> | null;
  if (typeof r !== 'object' || r === null || typeof r.examples !== 'number' || !Array.isArray(r.beams)) {
    throw new ValueError(`expected a beamErrorAnalysis result, got ${describe(result)}`, 'result');
  }
  const penalty = checkLengthPenalty(r.lengthPenalty, 'result.lengthPenalty');
  r.beams.forEach((b: Partial<BeamSizeErrors> | null, i) => {
    const fields = ['beamSize', 'errorRate', 'searchErrorRate', 'modelErrorRate', 'searchShare'] as const;
    if (typeof b !== 'object' || b === null || fields.some((f) => typeof b[f] !== 'number')) {
      throw new ValueError(`expected { ${fields.join(', ')} }, got ${describe(b)}`, `result.beams[${i}]`);
    }
  });
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lp = typeof penalty === 'string' ? penalty : `gnmt ${penalty.gnmt}`;
  const head = ['beam', 'errors', 'search', 'model', 'search/errors'];
  const rows = result.beams.map((b) => [
    String(b.beamSize),
    pct(b.errorRate),
    pct(b.searchErrorRate),
    pct(b.modelErrorRate),
    pct(b.searchShare),
  ]);
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (cells: string[]) => cells.map((c, j) => c.padStart(widths[j])).join('  ');
  return [`beam errors over ${result.examples} examples (lengthPenalty ${lp})`, line(head), ...rows.map(line)].join('\n') + '\n';
}

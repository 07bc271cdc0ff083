/**
 * lib/decode/analysis.ts: search vs model errors on hand-made fake models (where greedy misses the
 * best sequence and where the model prefers a wrong one), the length penalty changing the verdict,
 * the report table, a random model cross-checked against beam search and exhaustive scores, errors.
 */
import { describe, expect, it } from 'vitest';

import { beamErrorAnalysis, formatBeamErrorReport, type BeamScorer } from '../../lib/decode/analysis.js';
import { beamSearch } from '../../lib/decode/seq2seq.js';
import { ShapeError, ValueError } from '../../lib/errors.js';
import { FakeStepper, randomModel, tableModel, type FakeModel } from '../helpers/seq2seq.js';

/** A scorer over a fake model: a source's first id is its sentence id, its length the source length. */
function scorer(model: FakeModel): BeamScorer & { decodes: number } {
  const s = {
    decodes: 0,
    async decode(sources: Int32Array[], options: Parameters<BeamScorer['decode']>[1]) {
      s.decodes++;
      const stepper = new FakeStepper(
        model,
        sources.map((x) => x[0]),
        sources.map((x) => x.length),
      );
      return beamSearch(stepper, options);
    },
    async score(sources: Int32Array[], targets: Int32Array[]) {
      return Float64Array.from(sources, (src, i) => {
        const t = [...targets[i], model.eos];
        let lp = 0;
        t.forEach((tok, j) => (lp += model.logProbs(src[0], t.slice(0, j))[tok]));
        return lp;
      });
    },
  };
  return s;
}

const f32 = Math.fround;
const ln = (p: number) => f32(Math.log(p));

describe('beamErrorAnalysis by hand', () => {
  // eos = 0, a = 1, b = 2: greedy gives [a] (P = 0.5 * 0.4 = 0.2), beam 2 gives [b] (P = 0.4 * 0.9 = 0.36).
  const model = tableModel(3, { '': [0.1, 0.5, 0.4], '1': [0.4, 0.3, 0.3], '2': [0.9, 0.05, 0.05] }, { fallback: [1, 1e-9, 1e-9] });
  const data = [
    { source: Int32Array.of(0, 0), target: Int32Array.of(2) },
    { source: Int32Array.of(1, 0), target: Int32Array.of(1) },
  ];

  it('reference [b]: a search error at beam 1, correct at 2; reference [a]: correct at 1, a model error at 2', async () => {
    const s = scorer(model);
    const r = await beamErrorAnalysis(s, data, { beamSizes: [1, 2], maxLength: 3 });
    expect(s.decodes).toBe(2);
    expect(r.examples).toBe(2);
    expect([...r.referenceLogProbs]).toEqual([ln(0.4) + ln(0.9), ln(0.5) + ln(0.4)]);
    const [one, two] = r.beams;
    expect(one.kinds).toEqual(['search', 'correct']); // beam 1 outputs [a]: ln 0.2 < ln 0.36, the reference's
    expect(two.kinds).toEqual(['correct', 'model']); // beam 2 outputs [b]: ln 0.36 > ln 0.2, the reference's
    expect([one.errors, one.searchErrors, one.modelErrors, one.errorRate, one.searchErrorRate, one.searchShare]).toEqual([
      1, 1, 0, 0.5, 0.5, 1,
    ]);
    expect([two.errors, two.searchErrors, two.modelErrors, two.modelErrorRate, two.searchShare]).toEqual([1, 0, 1, 0.5, 0]);
    expect([...one.outputs[0].tokens]).toEqual([1]);
    expect(one.outputScores[0]).toBe(ln(0.5) + ln(0.4));
    expect(formatBeamErrorReport(r)).toBe(
      [
        'beam errors over 2 examples (lengthPenalty none)',
        'beam  errors  search  model  search/errors',
        '   1   50.0%   50.0%   0.0%         100.0%',
        '   2   50.0%    0.0%  50.0%           0.0%',
        '',
      ].join('\n'),
    );
  });

  it('the length penalty is the search own: it can turn a model error into a correct output', async () => {
    // P(eos) = 0.7 first; after a (0.29), a a eos at 0.998 each. Reference [a a a]:
    // none: the output [] scores ln 0.7 = -0.357 > ln 0.29 + 3 ln 0.998 = -1.244: a model error;
    // average: the reference scores -1.244 / 4 = -0.311 > -0.357 / 1, and beam 1 finds it: correct.
    const long = tableModel(
      3,
      { '': [0.7, 0.29, 0.01], '1': [0.001, 0.998, 0.001], '1,1': [0.001, 0.998, 0.001], '1,1,1': [0.998, 0.001, 0.001] },
      { fallback: [0.5, 0.25, 0.25] },
    );
    const d = [{ source: Int32Array.of(0, 0), target: Int32Array.of(1, 1, 1) }];
    const none = await beamErrorAnalysis(scorer(long), d, { beamSizes: [1], maxLength: 5 });
    expect(none.beams[0].kinds).toEqual(['model']);
    const avg = await beamErrorAnalysis(scorer(long), d, { beamSizes: [1], maxLength: 5, lengthPenalty: 'average' });
    expect(avg.beams[0].kinds).toEqual(['correct']);
    expect(avg.referenceScores[0]).toBeCloseTo(-0.3109701, 6);
    expect(formatBeamErrorReport(avg).split('\n')[0]).toBe('beam errors over 1 examples (lengthPenalty average)');
  });
});

describe('beamErrorAnalysis on a random model', () => {
  it('matches a direct classification; the default beam sizes are 1, 3, 10', async () => {
    const model = randomModel(5, 17, { eosBias: 0.4 });
    const rng = (i: number) => (i * 7 + 3) % 4;
    const data = Array.from({ length: 12 }, (_, i) => ({
      source: Int32Array.from({ length: 1 + (i % 4) }, (_, j) => (j === 0 ? i : 0)),
      target: Int32Array.from({ length: rng(i) }, (_, j) => 1 + ((i + j) % 4)),
    }));
    const s = scorer(model);
    const r = await beamErrorAnalysis(s, data, { lengthPenalty: { gnmt: 0.6 } });
    expect(r.beams.map((b) => b.beamSize)).toEqual([1, 3, 10]);
    const refs = await s.score(
      data.map((d) => d.source),
      data.map((d) => d.target),
    );
    for (const b of r.beams) {
      const out = await s.decode(
        data.map((d) => d.source),
        { beamSize: b.beamSize, lengthPenalty: { gnmt: 0.6 } },
      );
      const kinds = out.map(([h], i) => {
        if (h.tokens.join() === data[i].target.join()) return 'correct';
        const ref = refs[i] / Math.pow((5 + data[i].target.length + 1) / 6, 0.6);
        // no coverage penalty: the output's score is its normalized logProb
        return ref > h.score ? 'search' : 'model';
      });
      expect(b.kinds).toEqual(kinds);
      expect(b.errors).toBe(kinds.filter((k) => k !== 'correct').length);
      expect(b.searchErrors + b.modelErrors).toBe(b.errors);
    }
    expect(r.beams.some((b) => b.errors > 0)).toBe(true);
  });
});

describe('beamErrorAnalysis errors', () => {
  const model = randomModel(4, 2);
  const data = [{ source: Int32Array.of(0), target: Int32Array.of(1) }];
  const cases: [string, () => Promise<unknown>, string, typeof ValueError][] = [
    ['scorer', () => beamErrorAnalysis({} as never, data), 'scorer', ValueError],
    ['data', () => beamErrorAnalysis(scorer(model), []), 'data', ValueError],
    ['target', () => beamErrorAnalysis(scorer(model), [{ source: Int32Array.of(0), target: [1] as never }]), 'data[0].target', ValueError],
    ['beamSizes', () => beamErrorAnalysis(scorer(model), data, { beamSizes: [1, 0] }), 'options.beamSizes[1]', ValueError],
    ['lengthPenalty', () => beamErrorAnalysis(scorer(model), data, { lengthPenalty: 'avg' as never }), 'options.lengthPenalty', ValueError],
    ['unknown', () => beamErrorAnalysis(scorer(model), data, { beamSize: 3 } as never), 'options.beamSize', ValueError],
    ['score', () => beamErrorAnalysis({ ...scorer(model), score: async () => new Float64Array(2) }, data), 'scorer.score', ShapeError],
    ['decode', () => beamErrorAnalysis({ ...scorer(model), decode: async () => [[]] }, data), 'scorer.decode', ValueError],
  ];
  it('formatBeamErrorReport checks its argument', () => {
    expect(() => formatBeamErrorReport({} as never)).toThrow(/^result: /);
    expect(() => formatBeamErrorReport({ examples: 1, lengthPenalty: 'none', beams: [{}] } as never)).toThrow(/^result\.beams\[0\]: /);
  });

  for (const [name, fn, arg, type] of cases) {
    it(name, async () => {
      const e = await fn().then(
        () => null,
        (err: unknown) => err as Error & { argument?: string },
      );
      expect(e).toBeInstanceOf(type);
      expect(e!.argument).toBe(arg);
    });
  }
});

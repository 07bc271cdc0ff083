/**
 * lib/decode/seq2seq.ts against a fake stepper whose log-probabilities are a fixed function of
 * (sentence, prefix): beam search as wide as every prefix equals an exhaustive enumeration of every
 * sequence (best and n-best, each length penalty, coverage, bans, minLength, no-repeat, prefix);
 * beam 1 == greedy; a hand-made table where beam beats greedy; penalties against hand values;
 * batched == alone; sampling deterministic per seed and inside top-k; the options' effects; errors.
 */
import { describe, expect, it } from 'vitest';

import {
  beamSearch,
  coveragePenalty,
  greedySearch,
  lengthPenaltyFactor,
  normalizedScore,
  sampleSearch,
  type BeamSearchOptions,
  type Hypothesis,
  type LengthPenalty,
} from '../../lib/decode/seq2seq.js';
import { probabilities } from '../../lib/decode/sample.js';
import { ShapeError, ValueError } from '../../lib/errors.js';
import { Rng } from '../../lib/random.js';
import { errorOf } from '../helpers/index.js';
import { FakeStepper, randomModel, tableModel, type FakeModel } from '../helpers/seq2seq.js';

const f32 = Math.fround;

/** The rules of the searches, replayed over every sequence (see the module comment of seq2seq.ts). */
interface Rules {
  readonly maxLength: number;
  readonly minLength?: number;
  readonly banned?: readonly number[];
  readonly noRepeat?: number;
  readonly prefix?: readonly number[];
  readonly penalty?: LengthPenalty;
  readonly beta?: number;
}

/** Every hypothesis a search could end with for sentence `id`, scored, best first (stable on ties). */
function enumerate(model: FakeModel, id: number, srcLen: number, r: Rules): Hypothesis[] {
  const out: Hypothesis[] = [];
  const prefix = r.prefix ?? [];
  const score = (logProb: number, len: number, cov: Float64Array) =>
    normalizedScore(logProb, len, r.penalty ?? 'none') + (r.beta ? coveragePenalty(cov, r.beta) : 0);
  const end = (tokens: number[], logProb: number, finished: boolean, cov: Float64Array) =>
    out.push({
      tokens: Int32Array.from(tokens),
      logProb,
      score: score(logProb, tokens.length + (finished ? 1 : 0), cov),
      finished,
      attention: null,
    });
  const walk = (h: number[], logProb: number, cov: Float64Array): void => {
    const lp = model.logProbs(id, h);
    const att = model.attention(id, h, srcLen);
    const covNext = Float64Array.from(cov, (c, j) => c + att[j]);
    let allowed: number[];
    if (h.length < prefix.length) allowed = [prefix[h.length]];
    else {
      const bans = new Set(r.banned ?? []);
      if (h.length < (r.minLength ?? 0)) bans.add(model.eos);
      const n = r.noRepeat ?? 0;
      if (n > 0) {
        for (let i = 0; i + n - 1 < h.length; i++) {
          if (h.slice(i, i + n - 1).join(',') === h.slice(h.length - n + 1).join(',') || n === 1) bans.add(h[i + n - 1]);
        }
      }
      allowed = Array.from({ length: model.V }, (_, v) => v).filter((v) => !bans.has(v));
    }
    if (allowed.length === 0) return void end(h, logProb, false, cov);
    for (const t of allowed) {
      const l = logProb + lp[t];
      if (t === model.eos) end(h, l, true, covNext);
      else if (h.length + 1 >= r.maxLength) end([...h, t], l, false, covNext);
      else walk([...h, t], l, covNext);
    }
  };
  walk([], 0, new Float64Array(srcLen));
  return out.sort((a, b) => b.score - a.score);
}

const strip = (hs: readonly Hypothesis[]) =>
  hs.map((h) => ({ tokens: [...h.tokens], logProb: h.logProb, score: h.score, finished: h.finished }));

function rulesOf(o: BeamSearchOptions, maxLength: number): Rules {
  return {
    maxLength,
    minLength: o.minLength,
    banned: o.bannedTokens,
    noRepeat: o.noRepeatNgramSize,
    prefix: o.prefix instanceof Int32Array ? [...o.prefix] : undefined,
    penalty: o.lengthPenalty,
    beta: o.coveragePenalty?.beta,
  };
}

describe('penalties (hand values)', () => {
  it('length penalty factors', () => {
    expect(lengthPenaltyFactor('none', 7)).toBe(1);
    expect(lengthPenaltyFactor('average', 4)).toBe(4);
    expect(lengthPenaltyFactor('average', 0)).toBe(1); // an empty unfinished hypothesis keeps its logProb
    // GNMT: ((5 + 3) / 6)^0.6 = (4/3)^0.6 = exp(0.6 * 0.2876821) = exp(0.1726092) = 1.1884016
    expect(lengthPenaltyFactor({ gnmt: 0.6 }, 3)).toBeCloseTo(1.1884016, 6);
    // ((5 + 1) / 6)^alpha = 1 for any alpha: a one-token hypothesis is not penalized
    expect(lengthPenaltyFactor({ gnmt: 2 }, 1)).toBe(1);
    // -6 / ((5 + 7) / 6)^1 = -6 / 2 = -3
    expect(normalizedScore(-6, 7, { gnmt: 1 })).toBe(-3);
    expect(normalizedScore(-6, 3, 'average')).toBe(-2);
  });

  it('coverage penalty: beta * sum_j log(min(coverage_j, 1))', () => {
    // 0.2 * (ln 0.5 + ln 1 + ln 1) = 0.2 * -0.6931472 = -0.1386294 (1.5 is capped at 1)
    expect(coveragePenalty([0.5, 1.5, 1], 0.2)).toBeCloseTo(-0.1386294, 6);
    // 1 * (ln 0.25 + ln 0.5) = ln 0.125 = -2.0794415
    expect(coveragePenalty([0.25, 0.5], 1)).toBeCloseTo(-2.0794415, 6);
    expect(coveragePenalty([0.1], 0)).toBe(0);
  });

  it('their arguments are checked', () => {
    expect(errorOf(() => lengthPenaltyFactor('avg' as never, 1)).argument).toBe('penalty');
    expect(errorOf(() => lengthPenaltyFactor({ gnmt: -1 }, 1)).argument).toBe('penalty.gnmt');
    expect(errorOf(() => lengthPenaltyFactor('none', -1)).argument).toBe('length');
    expect(errorOf(() => normalizedScore(NaN, 1, 'none')).argument).toBe('logProb');
    expect(normalizedScore(-Infinity, 2, 'average')).toBe(-Infinity);
    expect(errorOf(() => coveragePenalty([0.5, -1], 1)).argument).toBe('coverage');
    expect(errorOf(() => coveragePenalty([0.5], -1)).argument).toBe('beta');
  });
});

describe('beam search vs exhaustive enumeration (V = 4, sequences up to 4 tokens)', () => {
  const model = randomModel(4, 11, { eosBias: 0.3 });
  // 3 non-eos tokens: at most 3^3 = 27 live prefixes, 108 candidates at a step: beam 128 keeps them all.
  const wide = 128;
  const cases: [string, BeamSearchOptions][] = [
    ['none', {}],
    ['average', { lengthPenalty: 'average' }],
    ['gnmt 0.6', { lengthPenalty: { gnmt: 0.6 } }],
    ['gnmt 2', { lengthPenalty: { gnmt: 2 } }],
    ['coverage', { coveragePenalty: { beta: 0.4 } }],
    ['average + coverage', { lengthPenalty: 'average', coveragePenalty: { beta: 1 } }],
    ['minLength 2', { minLength: 2, lengthPenalty: 'average' }],
    ['banned', { bannedTokens: [2], lengthPenalty: { gnmt: 1 } }],
    ['noRepeat 1', { noRepeatNgramSize: 1 }],
    ['noRepeat 2 + average', { noRepeatNgramSize: 2, lengthPenalty: 'average' }],
    ['noRepeat 1 + minLength 4 (dead ends)', { noRepeatNgramSize: 1, minLength: 4 }],
    ['prefix', { prefix: Int32Array.of(3, 3), lengthPenalty: 'average' }],
  ];
  for (const [name, o] of cases) {
    it(`the best and the 6-best are exactly the enumeration's (${name})`, async () => {
      for (const [id, srcLen] of [
        [0, 3],
        [1, 1],
        [2, 5],
      ]) {
        const all = enumerate(model, id, srcLen, rulesOf(o, 4));
        const stepper = new FakeStepper(model, [id], [srcLen]);
        const [best] = await beamSearch(stepper, { ...o, beamSize: wide, nBest: 6, maxLength: 4 });
        expect(strip(best)).toEqual(strip(all.slice(0, 6)));
        const [one] = await beamSearch(new FakeStepper(model, [id], [srcLen]), { ...o, beamSize: wide, maxLength: 4 });
        expect(strip(one)).toEqual(strip(all.slice(0, 1)));
      }
    });
  }

  it('a narrow beam never scores above the exhaustive best, and widening it never hurts here', async () => {
    let prev = -Infinity;
    for (const k of [1, 2, 4, 8, 16, 128]) {
      const [[h]] = await beamSearch(new FakeStepper(model, [0], [3]), { beamSize: k, maxLength: 4, lengthPenalty: 'average' });
      expect(h.score).toBeLessThanOrEqual(enumerate(model, 0, 3, { maxLength: 4, penalty: 'average' })[0].score);
      expect(h.score).toBeGreaterThanOrEqual(prev);
      prev = h.score;
    }
  });
});

describe('beam search by hand', () => {
  // eos = 0, a = 1, b = 2. P(a) = 0.5, P(b) = 0.4 first; after a: eos 0.4; after b: eos 0.9.
  const table = {
    '': [0.1, 0.5, 0.4],
    '1': [0.4, 0.3, 0.3],
    '2': [0.9, 0.05, 0.05],
    '1,1': [1, 1e-9, 1e-9],
    '1,2': [1, 1e-9, 1e-9],
    '2,1': [1, 1e-9, 1e-9],
    '2,2': [1, 1e-9, 1e-9],
  };
  const model = tableModel(3, table);
  const ln = (p: number) => f32(Math.log(p));

  it('greedy takes a then eos (P = 0.5 * 0.4 = 0.2); beam 2 finds b eos (P = 0.4 * 0.9 = 0.36)', async () => {
    const [[g]] = await greedySearch(new FakeStepper(model, [0], [2]), { maxLength: 3 });
    expect([...g.tokens]).toEqual([1]);
    expect(g.finished).toBe(true);
    expect(g.logProb).toBe(ln(0.5) + ln(0.4));
    // Step 2 candidates: b eos ln 0.36 (eos, rank 0: ends), a eos ln 0.2 (rank 1: ends), a a and a b ln 0.15 (live).
    // Best live ln 0.15 < ln 0.36 with lengthPenalty 'none': the sentence stops after 2 steps.
    const stepper = new FakeStepper(model, [0], [2]);
    const [beams] = await beamSearch(stepper, { beamSize: 2, nBest: 2, maxLength: 3 });
    expect(beams.map((h) => [...h.tokens])).toEqual([[2], [1]]);
    expect(beams[0].logProb).toBe(ln(0.4) + ln(0.9));
    expect(beams[1].logProb).toBe(ln(0.5) + ln(0.4));
    expect(beams[0].score).toBe(beams[0].logProb);
    expect(stepper.stepRows).toEqual([1, 2]);
  });

  it("'average' divides by the scored tokens, eos included", async () => {
    const [beams] = await beamSearch(new FakeStepper(model, [0], [2]), { beamSize: 2, nBest: 2, maxLength: 3, lengthPenalty: 'average' });
    // [b] eos: (ln 0.4 + ln 0.9) / 2 = (-0.9162907 - 0.1053605) / 2 = -0.5108256
    expect(beams[0].score).toBeCloseTo(-0.5108256, 6);
    expect(beams[0].score).toBe((ln(0.4) + ln(0.9)) / 2);
  });

  it('beamSize 1 is greedy', async () => {
    const [[b]] = await beamSearch(new FakeStepper(model, [0], [2]), { beamSize: 1, maxLength: 3 });
    expect([...b.tokens]).toEqual([1]);
    expect(b.logProb).toBe(ln(0.5) + ln(0.4));
  });

  it("'average' goes past the first eos while a live beam could still win (beam 1 too, unlike greedy)", async () => {
    // P(eos) = 0.7 first, then a a a eos at 0.998 each after a (P(a) = 0.29):
    //   []      : ln 0.7 / 1 = -0.3566749
    //   [a a a] : (ln 0.29 + 3 ln 0.998) / 4 = (-1.2378744 - 0.0060060) / 4 = -0.3109701 (the best average)
    // After step 1 the best live beam [a] has L = ln 0.29 = -1.2378744; it can still reach
    // L / maxLength = -1.2378744 / 5 = -0.2475749 > -0.3566749, so the search goes on (stopping on
    // L / 2 = -0.6189372, the average it would have with an eos next, would return []).
    const long = tableModel(
      3,
      { '': [0.7, 0.29, 0.01], '1': [0.001, 0.998, 0.001], '1,1': [0.001, 0.998, 0.001], '1,1,1': [0.998, 0.001, 0.001] },
      { fallback: [0.5, 0.25, 0.25] },
    );
    const o = { maxLength: 5, lengthPenalty: 'average' } as const;
    for (const k of [1, 2, 4]) {
      const [[h]] = await beamSearch(new FakeStepper(long, [0], [2]), { ...o, beamSize: k });
      expect([...h.tokens]).toEqual([1, 1, 1]);
      expect(h.score).toBeCloseTo(-0.3109701, 6);
    }
    const [[g]] = await greedySearch(new FakeStepper(long, [0], [2]), { maxLength: 5 });
    expect([...g.tokens]).toEqual([]);
    // With no length penalty, the live beam's L = -1.2378744 <= -0.3566749 already: one step only.
    const st = new FakeStepper(long, [0], [2]);
    const [[n]] = await beamSearch(st, { maxLength: 5, beamSize: 2 });
    expect([...n.tokens]).toEqual([]);
    expect(n.score).toBeCloseTo(-0.3566749, 6);
    expect(st.stepRows).toEqual([1]);
  });

  it('maxLength ends hypotheses unfinished, without an eos log-prob', async () => {
    const [[g]] = await greedySearch(new FakeStepper(model, [0], [2]), { maxLength: 1 });
    expect([...g.tokens]).toEqual([1]);
    expect(g.finished).toBe(false);
    expect(g.logProb).toBe(ln(0.5));
  });
});

describe('beamSize 1 == greedy', () => {
  const model = randomModel(6, 5, { eosBias: -0.5 });
  const variants: BeamSearchOptions[] = [
    {},
    { minLength: 3 },
    { bannedTokens: [2, 4] },
    { noRepeatNgramSize: 2 },
    { prefix: Int32Array.of(5, 2) },
    { maxLength: { a: 1, b: 2 } },
    { returnAttention: true },
  ];
  it('tokens, logProb, finished and attention are the same, sentence by sentence and batched', async () => {
    const ids = [0, 1, 2, 3, 4, 5, 6, 7];
    const lengths = [3, 1, 4, 2, 5, 3, 2, 6];
    for (const o of variants) {
      const g = await greedySearch(new FakeStepper(model, ids, lengths), o);
      const b = await beamSearch(new FakeStepper(model, ids, lengths), { ...o, beamSize: 1 });
      expect(b.map((h) => h.length)).toEqual(ids.map(() => 1));
      expect(b.map((h) => ({ ...strip(h)[0], attention: h[0].attention }))).toEqual(
        g.map((h) => ({ ...strip(h)[0], attention: h[0].attention })),
      );
    }
  });
});

describe('batched == each sentence alone', () => {
  const model = randomModel(5, 23, { eosBias: 0.2 });
  const ids = [0, 1, 2, 3];
  const lengths = [3, 1, 6, 4];
  const opts: BeamSearchOptions[] = [
    { beamSize: 3, nBest: 2, returnAttention: true, coveragePenalty: { beta: 0.3 }, lengthPenalty: 'average' },
    { beamSize: 4, nBest: 4, maxLength: { a: 1, b: 1 }, lengthPenalty: { gnmt: 0.8 } },
    { beamSize: 2, prefix: [Int32Array.of(1), Int32Array.of(), Int32Array.of(2, 3), Int32Array.of(4)], noRepeatNgramSize: 1 },
  ];
  it('beam: the same hypotheses (tokens, scores, attention); one step per token for the whole batch', async () => {
    for (const o of opts) {
      const batch = new FakeStepper(model, ids, lengths);
      const together = await beamSearch(batch, o);
      let steps = 0;
      for (let n = 0; n < ids.length; n++) {
        const alone = new FakeStepper(model, [ids[n]], [lengths[n]]);
        const prefix = Array.isArray(o.prefix) ? o.prefix[n] : undefined;
        const [hyps] = await beamSearch(alone, { ...o, prefix });
        expect(together[n]).toEqual(hyps);
        steps = Math.max(steps, alone.stepRows.length);
        if (o.returnAttention)
          for (const h of hyps) expect(h.attention!.length).toBe((h.tokens.length + (h.finished ? 1 : 0)) * lengths[n]);
      }
      expect(batch.stepRows.length).toBe(steps);
      // The batch shrinks as sentences finish, and never holds more than sentences * beamSize rows.
      expect(batch.stepRows[batch.stepRows.length - 1]).toBeLessThan(Math.max(...batch.stepRows));
      expect(batch.maxRows).toBeLessThanOrEqual(ids.length * (o.beamSize ?? 5));
    }
  });

  it('greedy: the same, and finished rows leave the batch', async () => {
    const batch = new FakeStepper(model, ids, lengths);
    const together = await greedySearch(batch, { returnAttention: true });
    for (let n = 0; n < ids.length; n++)
      expect([together[n]]).toEqual(await greedySearch(new FakeStepper(model, [ids[n]], [lengths[n]]), { returnAttention: true }));
    expect(batch.stepRows[0]).toBe(4);
    expect(batch.stepRows.every((r, i) => i === 0 || r <= batch.stepRows[i - 1])).toBe(true);
    expect(batch.stepRows[batch.stepRows.length - 1]).toBe(1);
  });
});

describe('options', () => {
  const model = randomModel(6, 3, { eosBias: 0.5 });
  const ids = [0, 1, 2, 3, 4, 5];
  const lengths = [2, 5, 1, 3, 4, 2];
  const run = (o: BeamSearchOptions) => beamSearch(new FakeStepper(model, ids, lengths), { beamSize: 3, nBest: 3, ...o });

  it('minLength: no finished hypothesis is shorter', async () => {
    const plain = await greedySearch(new FakeStepper(model, ids, lengths));
    expect(plain.some(([h]) => h.tokens.length < 3)).toBe(true); // the option has something to do
    for (const hs of await run({ minLength: 3 })) for (const h of hs) expect(h.tokens.length).toBeGreaterThanOrEqual(3);
    for (const [h] of await greedySearch(new FakeStepper(model, ids, lengths), { minLength: 3 }))
      expect(h.tokens.length).toBeGreaterThanOrEqual(3);
  });

  it('maxLength { a, b } is floor(a * sourceLength + b) per sentence', async () => {
    // minLength 50 bans eos throughout: every output hits its own maxLength = floor(1.5 * l + 1).
    for (const hs of [
      await run({ minLength: 50, maxLength: { a: 1.5, b: 1 } }),
      await greedySearch(new FakeStepper(model, ids, lengths), { minLength: 50, maxLength: { a: 1.5, b: 1 } }),
    ]) {
      hs.forEach((h, n) => {
        for (const x of h) {
          expect(x.finished).toBe(false);
          expect(x.tokens.length).toBe(Math.floor(1.5 * lengths[n] + 1));
        }
      });
    }
    // the default { a: 2, b: 10 }
    const [[h]] = await greedySearch(new FakeStepper(model, [0], [2]), { minLength: 50 });
    expect(h.tokens.length).toBe(14);
  });

  it('bannedTokens never appear', async () => {
    const plain = (await run({})).flat();
    expect(plain.some((h) => h.tokens.includes(3))).toBe(true);
    for (const h of (await run({ bannedTokens: [3, 4] })).flat()) expect([...h.tokens].some((t) => t === 3 || t === 4)).toBe(false);
  });

  it('noRepeatNgramSize: no n-gram twice', async () => {
    const grams = (t: Int32Array, n: number) =>
      Array.from({ length: Math.max(0, t.length - n + 1) }, (_, i) => [...t.slice(i, i + n)].join(','));
    const hasRepeat = (t: Int32Array, n: number) => new Set(grams(t, n)).size < grams(t, n).length;
    const plain = (await run({ minLength: 8 })).flat();
    expect(plain.some((h) => hasRepeat(h.tokens, 2))).toBe(true);
    for (const h of (await run({ minLength: 8, noRepeatNgramSize: 2 })).flat()) expect(hasRepeat(h.tokens, 2)).toBe(false);
    for (const [h] of await greedySearch(new FakeStepper(model, ids, lengths), { minLength: 8, noRepeatNgramSize: 3 }))
      expect(hasRepeat(h.tokens, 3)).toBe(false);
  });

  it('prefix: forced, its log-probs counted', async () => {
    const prefix = Int32Array.of(4, 4, 2);
    for (const hs of [
      await run({ prefix }),
      await greedySearch(new FakeStepper(model, ids, lengths), { prefix }),
      await sampleSearch(new FakeStepper(model, ids, lengths), { prefix, seed: 1 }),
    ]) {
      hs.forEach((h, n) => {
        for (const x of h) {
          expect([...x.tokens.slice(0, 3)]).toEqual([4, 4, 2]);
          // The logProb is the sum over every step, the forced ones included.
          let lp = 0;
          const all = [...x.tokens, ...(x.finished ? [model.eos] : [])];
          all.forEach((t, i) => (lp += model.logProbs(ids[n], [...x.tokens.slice(0, i)])[t]));
          expect(x.logProb).toBe(lp);
        }
      });
    }
  });

  it('returnAttention: the rows of the sentence own source length, one per scored token', async () => {
    const [[h]] = await greedySearch(new FakeStepper(model, [1, 2], [5, 2]), { returnAttention: true });
    expect(h.attention!.length).toBe((h.tokens.length + (h.finished ? 1 : 0)) * 5);
    expect(Array.from(h.attention!.subarray(0, 5))).toEqual(Array.from(model.attention(1, [], 5)));
    const [[g]] = await greedySearch(new FakeStepper(model, [1], [5]));
    expect(g.attention).toBeNull();
  });
});

describe('sampling', () => {
  const model = randomModel(8, 9, { eosBias: -1 });
  const ids = [0, 1, 2, 3, 4, 5];
  const lengths = [3, 2, 4, 1, 5, 2];
  const tokens = (hs: Hypothesis[][]) => hs.map(([h]) => [...h.tokens]);

  it('is deterministic for a seed, and differs across seeds', async () => {
    const a = await sampleSearch(new FakeStepper(model, ids, lengths), { seed: 4, temperature: 1.5 });
    const b = await sampleSearch(new FakeStepper(model, ids, lengths), { seed: 4, temperature: 1.5 });
    const c = await sampleSearch(new FakeStepper(model, ids, lengths), { seed: 5, temperature: 1.5 });
    expect(a).toEqual(b);
    expect(tokens(a)).not.toEqual(tokens(c));
    const d = await sampleSearch(new FakeStepper(model, ids, lengths), { rng: new Rng(4), temperature: 1.5 });
    expect(d).toEqual(a);
  });

  it('topK 1 is greedy; topK 2 only draws among each step top 2', async () => {
    const g = await greedySearch(new FakeStepper(model, ids, lengths));
    expect(await sampleSearch(new FakeStepper(model, ids, lengths), { topK: 1, seed: 3 })).toEqual(g);
    for (let seed = 0; seed < 5; seed++) {
      const s = await sampleSearch(new FakeStepper(model, ids, lengths), { topK: 2, temperature: 3, seed });
      s.forEach(([h], n) => {
        const all = [...h.tokens, ...(h.finished ? [model.eos] : [])];
        all.forEach((t, i) => {
          const lp = model.logProbs(ids[n], [...h.tokens.slice(0, i)]);
          const second = [...lp].sort((x, y) => y - x)[1];
          expect(lp[t]).toBeGreaterThanOrEqual(second);
        });
      });
    }
  });

  it('draws from the tempered, top-p filtered distribution (frequencies of 4000 first tokens)', async () => {
    const n = 4000;
    const options = { temperature: 0.7, topP: 0.9 };
    const hs = await sampleSearch(new FakeStepper(model, new Array<number>(n).fill(3), new Array<number>(n).fill(2)), {
      ...options,
      seed: 8,
      maxLength: 1,
    });
    const p = probabilities(model.logProbs(3, []), options);
    const freq = new Array<number>(model.V).fill(0);
    for (const [h] of hs) freq[h.finished ? model.eos : h.tokens[0]]++;
    p.forEach((pi, v) => {
      if (pi === 0) expect(freq[v]).toBe(0);
      else expect(Math.abs(freq[v] / n - pi)).toBeLessThan(4 * Math.sqrt((pi * (1 - pi)) / n)); // within 4 standard errors
    });
    expect(p.filter((x) => x === 0).length).toBeGreaterThan(0); // top-p removed something
  });

  it('the logProb is the model one (not the tempered one)', async () => {
    const [[h]] = await sampleSearch(new FakeStepper(model, [2], [3]), { temperature: 0.3, seed: 2 });
    let lp = 0;
    [...h.tokens, ...(h.finished ? [model.eos] : [])].forEach((t, i) => (lp += model.logProbs(2, [...h.tokens.slice(0, i)])[t]));
    expect(h.logProb).toBe(lp);
    expect(h.score).toBe(h.logProb);
  });
});

describe('errors name the option', () => {
  const model = randomModel(4, 1);
  const st = () => new FakeStepper(model, [0, 1], [2, 3]);
  const cases: [string, () => Promise<unknown>, string, typeof ValueError][] = [
    ['beamSize 0', () => beamSearch(st(), { beamSize: 0 }), 'options.beamSize', ValueError],
    ['beamSize 1.5', () => beamSearch(st(), { beamSize: 1.5 }), 'options.beamSize', ValueError],
    ['nBest > beamSize', () => beamSearch(st(), { beamSize: 2, nBest: 3 }), 'options.nBest', ValueError],
    ['lengthPenalty', () => beamSearch(st(), { lengthPenalty: 'avg' as 'average' }), 'options.lengthPenalty', ValueError],
    ['gnmt < 0', () => beamSearch(st(), { lengthPenalty: { gnmt: -1 } }), 'options.lengthPenalty.gnmt', ValueError],
    ['gnmt key', () => beamSearch(st(), { lengthPenalty: { alpha: 1 } as never }), 'options.lengthPenalty.alpha', ValueError],
    ['beta', () => beamSearch(st(), { coveragePenalty: { beta: NaN } }), 'options.coveragePenalty.beta', ValueError],
    ['maxLength 0', () => greedySearch(st(), { maxLength: 0 }), 'options.maxLength', ValueError],
    ['maxLength a', () => greedySearch(st(), { maxLength: { a: -1, b: 3 } }), 'options.maxLength.a', ValueError],
    ['maxLength < 1', () => greedySearch(st(), { maxLength: { a: 0, b: 0.5 } }), 'options.maxLength', ValueError],
    ['minLength', () => greedySearch(st(), { minLength: -1 }), 'options.minLength', ValueError],
    ['banned id', () => beamSearch(st(), { bannedTokens: [1, 4] }), 'options.bannedTokens[1]', ValueError],
    ['noRepeat', () => sampleSearch(st(), { noRepeatNgramSize: 1.5 }), 'options.noRepeatNgramSize', ValueError],
    ['prefix eos', () => greedySearch(st(), { prefix: Int32Array.of(2, 0) }), 'options.prefix[1]', ValueError],
    ['prefix id', () => greedySearch(st(), { prefix: [Int32Array.of(1), Int32Array.of(7)] }), 'options.prefix[1][0]', ValueError],
    ['prefix count', () => greedySearch(st(), { prefix: [Int32Array.of(1)] }), 'options.prefix', ShapeError],
    ['prefix too long', () => greedySearch(st(), { prefix: Int32Array.of(1, 2, 3), maxLength: 2 }), 'options.prefix', ValueError],
    ['prefix numbers', () => greedySearch(st(), { prefix: [1, 2] as never }), 'options.prefix', ValueError],
    ['returnAttention', () => greedySearch(st(), { returnAttention: 1 as never }), 'options.returnAttention', ValueError],
    ['unknown key', () => beamSearch(st(), { beamsize: 3 } as never), 'options.beamsize', ValueError],
    ['greedy takes no beamSize', () => greedySearch(st(), { beamSize: 3 } as never), 'options.beamSize', ValueError],
    ['temperature 0', () => sampleSearch(st(), { temperature: 0 }), 'options.temperature', ValueError],
    ['topK 0', () => sampleSearch(st(), { topK: 0 }), 'options.topK', ValueError],
    ['topP 2', () => sampleSearch(st(), { topP: 2 }), 'options.topP', ValueError],
    ['seed -1', () => sampleSearch(st(), { seed: -1 }), 'options.seed', ValueError],
    ['seed and rng', () => sampleSearch(st(), { seed: 1, rng: new Rng(1) }), 'options.seed', ValueError],
    ['rng', () => sampleSearch(st(), { rng: {} as Rng }), 'options.rng', ValueError],
    ['options', () => beamSearch(st(), 3 as never), 'options', ValueError],
    ['stepper', () => beamSearch({} as never), 'stepper', ValueError],
    ['stepper.eos', () => greedySearch(Object.assign(st(), { eos: 9 })), 'stepper.eos', ValueError],
    [
      'no attention',
      () => beamSearch(new FakeStepper(model, [0], [2], { giveAttention: false }), { coveragePenalty: { beta: 1 } }),
      'stepper',
      ValueError,
    ],
  ];
  for (const [name, fn, arg, type] of cases) {
    it(name, async () => {
      const e = await fn().then(
        () => null,
        (err: unknown) => err as Error & { argument?: string },
      );
      expect(e).toBeInstanceOf(type);
      expect(e!.argument).toBe(arg);
      expect(e!.message.startsWith(`${arg}: `)).toBe(true);
    });
  }

  it('a NaN log-probability from the stepper is an error naming the stepper', async () => {
    const bad = st();
    const step = bad.step.bind(bad);
    bad.step = async (t, a) => {
      const r = await step(t, a);
      r.logProbs[1] = NaN;
      return r;
    };
    await expect(greedySearch(bad)).rejects.toThrow(/^stepper: step gave logProbs\[0, 1\] = NaN/);
  });

  it('no sentences: no output, no step', async () => {
    const empty = new FakeStepper(model, [], []);
    expect(await beamSearch(empty)).toEqual([]);
    expect(await greedySearch(empty)).toEqual([]);
    expect(empty.stepRows).toEqual([]);
  });
});

/**
 * lib/decode/sample.ts: goldens derived by hand, kept sets of top-k / top-p (ties, p = 1, k then
 * p), empirical frequencies of seeded draws, determinism, validation.
 */
import { describe, expect, it } from 'vitest';

import { greedy, greedyBatch, probabilities, sample, sampleBatch, logProbability } from '../../lib/decode/index.js';
import { ShapeError, ValueError } from '../../lib/errors.js';
import { Rng } from '../../lib/random.js';
import { errorOf, expectClose } from '../helpers/index.js';

const f32 = (a: readonly number[]) => Float32Array.from(a);
/** Logits whose softmax at temperature 1 is proportional to `w` (w > 0). */
const fromWeights = (w: readonly number[]) => f32(w.map(Math.log));
/** Indices with a non-zero probability. */
const kept = (p: Float64Array) => [...p].flatMap((v, i) => (v > 0 ? [i] : []));

describe('greedy', () => {
  it('is the argmax, the lowest index on ties; -Infinity is allowed', () => {
    expect(greedy(f32([0.1, 2, -3, 1.9]))).toBe(1);
    expect(greedy(f32([1, 3, 2, 3]))).toBe(1);
    expect(greedy(f32([-Infinity, -5, -Infinity]))).toBe(1);
    expect(greedy(f32([7]))).toBe(0);
  });

  it('greedyBatch takes the argmax of every row', () => {
    expect([...greedyBatch(f32([0, 1, 2, 5, 4, 3, 1, 1, 0]), 3)]).toEqual([2, 0, 0]);
  });
});

describe('probabilities: temperature (goldens)', () => {
  it('temperature 1 is the softmax; 0.5 squares the weights; 2 takes their square root', () => {
    // logits = ln [1, 2, 4]: softmax = [1, 2, 4] / 7.
    const l = fromWeights([1, 2, 4]);
    expectClose(probabilities(l), [1 / 7, 2 / 7, 4 / 7], { atol: 1e-7 }, 'T=1');
    // T = 0.5: exp(2 ln w) = w^2 = [1, 4, 16], so [1, 4, 16] / 21 (sharper: 0.571 -> 0.762 on the top).
    expectClose(probabilities(l, { temperature: 0.5 }), [1 / 21, 4 / 21, 16 / 21], { atol: 1e-7 }, 'T=0.5');
    // T = 2: exp(ln w / 2) = sqrt(w) = [1, sqrt 2, 2], so [1, 1.41421, 2] / 4.41421.
    const s = 1 + Math.SQRT2 + 2;
    expectClose(probabilities(l, { temperature: 2 }), [1 / s, Math.SQRT2 / s, 2 / s], { atol: 1e-7 }, 'T=2');
  });

  it('is stable: huge logits, tiny temperatures, -Infinity', () => {
    expectClose(probabilities(f32([1e30, 1e30 - 1e24, -1e30])), [1, 0, 0], { atol: 0 }, 'huge');
    const p = probabilities(f32([1, 1.5, -Infinity, 1.4999]), { temperature: 1e-300 });
    expect([...p]).toEqual([0, 1, 0, 0]);
    expectClose(probabilities(f32([0, -Infinity])), [1, 0], { atol: 0 }, '-inf');
  });

  it('logProbability is log-softmax at temperature 1', () => {
    expect(logProbability(fromWeights([1, 2, 4]), 2)).toBeCloseTo(Math.log(4 / 7), 6);
  });
});

describe('top-k and top-p kept sets', () => {
  it('top-k keeps the k largest logits; ties at the boundary are all kept (transformers TopKLogitsWarper)', () => {
    const l = f32([1, 3, 2, 3, 0]);
    expect(kept(probabilities(l, { topK: 1 }))).toEqual([1, 3]); // the k-th largest is 3, shared by two
    expect(kept(probabilities(l, { topK: 2 }))).toEqual([1, 3]);
    expect(kept(probabilities(l, { topK: 3 }))).toEqual([1, 2, 3]);
    expect(kept(probabilities(l, { topK: 5 }))).toEqual([0, 1, 2, 3, 4]);
    expect(kept(probabilities(l, { topK: 99 }))).toEqual([0, 1, 2, 3, 4]); // k >= V: no filtering
    // Renormalized over the kept set: weights [4, 3, 2, 1], k = 2 -> [4, 3] / 7.
    expectClose(probabilities(fromWeights([4, 3, 2, 1]), { topK: 2 }), [4 / 7, 3 / 7, 0, 0], { atol: 1e-7 }, 'k=2');
  });

  it('top-p keeps the smallest most-probable set reaching p (at least one token); p = 1 keeps all', () => {
    const l = fromWeights([4, 3, 2, 1]); // p = [0.4, 0.3, 0.2, 0.1]
    expectClose(probabilities(l, { topP: 0.35 }), [1, 0, 0, 0], { atol: 1e-7 }, 'p=0.35');
    expectClose(probabilities(l, { topP: 0.5 }), [4 / 7, 3 / 7, 0, 0], { atol: 1e-7 }, 'p=0.5'); // 0.4 < 0.5 <= 0.7
    expectClose(probabilities(l, { topP: 0.75 }), [4 / 9, 3 / 9, 2 / 9, 0], { atol: 1e-7 }, 'p=0.75');
    expectClose(probabilities(l, { topP: 1 }), [0.4, 0.3, 0.2, 0.1], { atol: 1e-7 }, 'p=1');
    expectClose(probabilities(l, { topP: 1e-9 }), [1, 0, 0, 0], { atol: 0 }, 'tiny p: the top token');
    // Order in the vocabulary does not matter: the same weights shuffled give the same set.
    expect(kept(probabilities(fromWeights([2, 1, 4, 3]), { topP: 0.5 }))).toEqual([2, 3]);
  });

  it('top-p keeps every token tied at the boundary', () => {
    const l = fromWeights([2, 2, 1]); // [0.4, 0.4, 0.2]: the first 0.4 reaches p = 0.3, its twin is kept too
    expectClose(probabilities(l, { topP: 0.3 }), [0.5, 0.5, 0], { atol: 1e-7 }, 'tie');
    expectClose(probabilities(fromWeights([1, 1, 1, 1]), { topP: 0.1 }), [0.25, 0.25, 0.25, 0.25], { atol: 1e-7 }, 'uniform');
  });

  it('k first, then p on the renormalized top-k distribution (transformers order)', () => {
    const l = fromWeights([4, 3, 2, 1]);
    // Top-2: [4/7, 3/7]; 4/7 = 0.571 >= 0.55, so p keeps only token 0. (p alone would keep {0, 1}: 0.4 < 0.55.)
    expectClose(probabilities(l, { topK: 2, topP: 0.55 }), [1, 0, 0, 0], { atol: 0 }, 'k then p');
    expect(kept(probabilities(l, { topP: 0.55 }))).toEqual([0, 1]);
    // Temperature comes first and changes the nucleus: T = 0.5 gives [16, 9, 4, 1] / 30; 16/30 >= 0.5.
    expect(kept(probabilities(l, { temperature: 0.5, topP: 0.5 }))).toEqual([0]);
  });
});

describe('sample: empirical frequencies and determinism', () => {
  it('20,000 seeded draws match the renormalized probabilities within 4 standard errors', () => {
    const logits = f32([0.5, -1, 2, 0, 1.3, -Infinity]);
    const opts = { temperature: 0.8, topK: 4, topP: 0.9 } as const;
    // Expected by hand: top-4 logits are 2, 1.3, 0.5, 0 (tokens 2, 4, 0, 3); weights exp(l / 0.8).
    const w = [0.5, 0, 2, 0, 1.3, 0].map((l, i) => ([0, 2, 3, 4].includes(i) ? Math.exp(l / 0.8) : 0));
    const total = w.reduce((a, b) => a + b, 0);
    const q = w.map((x) => x / total); // [0.1485, 0, 0.9.., ...]: nucleus 0.9 over tokens sorted 2, 4, 0, 3
    const order = [2, 4, 0, 3];
    let cum = 0;
    const nucleus: number[] = [];
    for (const i of order) {
      nucleus.push(i);
      cum += q[i];
      if (cum >= 0.9) break;
    }
    const z = nucleus.reduce((a, i) => a + q[i], 0);
    const expected = q.map((x, i) => (nucleus.includes(i) ? x / z : 0));
    expectClose(probabilities(logits, opts), expected, { atol: 1e-6 }, 'distribution');
    expect(nucleus).toEqual([2, 4, 0]); // token 3 (logit 0) falls outside the 0.9 nucleus

    const N = 20_000;
    const rng = new Rng(2024);
    const counts = new Array<number>(logits.length).fill(0);
    for (let n = 0; n < N; n++) counts[sample(logits, { ...opts, rng })]++;
    for (let i = 0; i < logits.length; i++) {
      const p = expected[i];
      if (p === 0) {
        expect(counts[i], `token ${i} is outside the kept set`).toBe(0);
        continue;
      }
      const se = Math.sqrt((p * (1 - p)) / N);
      expect(Math.abs(counts[i] / N - p), `token ${i}: freq ${counts[i] / N} vs ${p}`).toBeLessThan(4 * se);
    }
  });

  it('the same seed gives the same draws; another seed other draws', () => {
    const logits = f32([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 64 }, () => sample(logits, { rng, temperature: 1.5 }));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('sampleBatch draws row by row from one generator, like sample in a loop', () => {
    const rows = f32([0, 1, 2, 2, 1, 0, 1, 1, 1]);
    const a = sampleBatch(rows, 3, { rng: new Rng(5), topP: 0.9 });
    const rng = new Rng(5);
    const b = [0, 1, 2].map((r) => sample(rows.subarray(r * 3, r * 3 + 3), { rng, topP: 0.9 }));
    expect([...a]).toEqual(b);
  });
});

describe('validation names the argument', () => {
  const l = f32([0, 1, 2]);
  const rng = new Rng(0);
  const cases: [string, () => unknown, string, typeof ValueError][] = [
    ['NaN logit', () => sample(f32([0, NaN]), { rng }), 'logits', ValueError],
    ['+Infinity logit', () => greedy(f32([0, Infinity])), 'logits', ValueError],
    ['all -Infinity', () => sample(f32([-Infinity, -Infinity]), { rng }), 'logits', ValueError],
    ['not a Float32Array', () => greedy([1, 2] as unknown as Float32Array), 'logits', ValueError],
    ['empty', () => greedy(new Float32Array(0)), 'logits', ShapeError],
    ['temperature 0', () => sample(l, { rng, temperature: 0 }), 'temperature', ValueError],
    ['temperature < 0', () => sample(l, { rng, temperature: -1 }), 'temperature', ValueError],
    ['temperature NaN', () => probabilities(l, { temperature: NaN }), 'temperature', ValueError],
    ['temperature Infinity', () => probabilities(l, { temperature: Infinity }), 'temperature', ValueError],
    ['topK 0', () => sample(l, { rng, topK: 0 }), 'topK', ValueError],
    ['topK 1.5', () => sample(l, { rng, topK: 1.5 }), 'topK', ValueError],
    ['topP 0', () => sample(l, { rng, topP: 0 }), 'topP', ValueError],
    ['topP 1.1', () => sample(l, { rng, topP: 1.1 }), 'topP', ValueError],
    ['topP NaN', () => sample(l, { rng, topP: NaN }), 'topP', ValueError],
    ['rng', () => sample(l, { rng: {} as Rng }), 'rng', ValueError],
    ['vocabSize', () => sampleBatch(l, 0, { rng }), 'vocabSize', ValueError],
    ['rows', () => greedyBatch(f32([1, 2, 3, 4]), 3), 'logits', ShapeError],
    ['a bad row', () => sampleBatch(f32([0, 1, NaN, 0]), 2, { rng }), 'logits', ValueError],
  ];
  it.each(cases)('%s', (_label, fn, argument, type) => {
    const e = errorOf(fn);
    expect(e).toBeInstanceOf(type);
    expect(e.argument).toBe(argument);
  });

  it('a bad row in sampleBatch leaves the generator untouched', () => {
    const r = new Rng(3);
    const before = r.state();
    errorOf(() => sampleBatch(f32([0, 1, NaN, 0]), 2, { rng: r }));
    expect(r.state()).toEqual(before);
  });
});

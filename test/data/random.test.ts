import { describe, expect, it } from 'vitest';

import { ValueError } from '../../lib/errors.js';
import { DEFAULT_SEED, Rng, defaultRng, setSeed, type RngState } from '../../lib/random.js';

/** The error `fn` throws (fails the test if it throws nothing). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

function expectValueError(fn: () => unknown, argument: string): void {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(ValueError);
  expect((e as ValueError).argument).toBe(argument);
}

describe('Rng: golden streams', () => {
  // These raw outputs were checked against the reference C code of xoshiro128** 1.1
  // (prng.di.unimi.it/xoshiro128starstar.c) compiled with gcc, seeded by the same splitmix32
  // expansion that Rng.seed documents (a C transcription of it, not this TypeScript).
  it('seed 42 gives the reference xoshiro128** outputs', () => {
    const rng = new Rng(42);
    const raw = Array.from({ length: 6 }, () => rng.nextUint32());
    expect(raw).toEqual([3333746810, 4180422215, 1801358841, 3689772557, 1355421511, 1546691411]);
  });

  it('seed 0 and the largest safe seed give the reference outputs', () => {
    const a = new Rng(0);
    expect(Array.from({ length: 3 }, () => a.nextUint32())).toEqual([2158913862, 2268315085, 4293224894]);
    const b = new Rng(Number.MAX_SAFE_INTEGER);
    expect(Array.from({ length: 3 }, () => b.nextUint32())).toEqual([3246351614, 1851325784, 3547262533]);
  });

  it('uniform() is the raw output / 2^32', () => {
    const rng = new Rng(42);
    expect(rng.uniform()).toBe(3333746810 / 4294967296);
    expect(rng.uniform()).toBe(4180422215 / 4294967296);
  });

  it('normal() golden values (polar method; the first pair is rejected, r >= 1)', () => {
    const rng = new Rng(42);
    const z = Array.from({ length: 4 }, () => rng.normal());
    expect(z[0]).toBeCloseTo(-0.24244522743053473, 14);
    expect(z[1]).toBeCloseTo(1.080305652019031, 14);
    expect(z[2]).toBeCloseTo(-1.3984158684476944, 14);
    expect(z[3]).toBeCloseTo(-1.0607215755106698, 14);
  });

  it('permutation() golden', () => {
    expect(Array.from(new Rng(42).permutation(8))).toEqual([0, 1, 6, 5, 7, 3, 4, 2]);
  });

  it('same seed, same stream; different seeds, different streams', () => {
    const a = new Rng(123);
    const b = new Rng(123);
    const c = new Rng(124);
    const xa = a.uniformArray(1000);
    expect(b.uniformArray(1000)).toEqual(xa);
    expect(c.uniformArray(1000)).not.toEqual(xa);
  });

  it('seeds that differ only in the high 32 bits give different streams from the first draw', () => {
    // Reference values for seeds 5 and 2^32 + 5 (same C program).
    expect(new Rng(5).nextUint32()).toBe(2452964173);
    expect(new Rng(2 ** 32 + 5).nextUint32()).toBe(2937169992);
  });
});

describe('Rng: state', () => {
  it('state()/setState() resumes exactly, cached normal deviate included, through JSON', () => {
    const rng = new Rng(7);
    rng.uniformArray(13);
    rng.normal(); // leaves a spare cached
    const saved = JSON.parse(JSON.stringify(rng.state())) as RngState;
    expect(saved.spare).not.toBeNull();
    const expected = [rng.normal(), rng.uniform(), rng.int(1000), rng.normal(), rng.normal()];
    const resumed = new Rng(999);
    resumed.setState(saved);
    expect([resumed.normal(), resumed.uniform(), resumed.int(1000), resumed.normal(), resumed.normal()]).toEqual(expected);
  });

  it('setState rejects a corrupt state, naming the field', () => {
    const rng = new Rng(1);
    const good = rng.state();
    expectValueError(() => rng.setState({ ...good, s: [1, 2, -3, 4] }), 'state.s[2]');
    expectValueError(() => rng.setState({ ...good, s: [0, 0, 0, 0] }), 'state.s');
    expectValueError(() => rng.setState({ ...good, spare: Number.NaN }), 'state.spare');
    expectValueError(() => rng.setState({ ...good, algorithm: 'pcg32' as 'xoshiro128**' }), 'state.algorithm');
    // A failed setState leaves the generator untouched.
    expect(rng.state()).toEqual(good);
  });

  it('split() gives the parent the 2^64-jumped stream (reference jump()) and the child the old one', () => {
    const parent = new Rng(42);
    const child = parent.split();
    expect(child.nextUint32()).toBe(3333746810);
    expect(Array.from({ length: 4 }, () => parent.nextUint32())).toEqual([3702022648, 1424986709, 1154155611, 4239733765]);
    const again = new Rng(42).fork();
    expect(again.nextUint32()).toBe(3333746810);
  });

  it('setSeed reseeds the process-wide generator in place', () => {
    const shared = defaultRng();
    setSeed(2024);
    const a = shared.uniformArray(5);
    setSeed(2024);
    expect(defaultRng()).toBe(shared);
    expect(defaultRng().uniformArray(5)).toEqual(a);
    expect(new Rng(2024).uniformArray(5)).toEqual(a);
    setSeed(DEFAULT_SEED);
  });
});

describe('Rng: distributions (1e5 draws, fixed seed; bounds are 5 standard errors)', () => {
  const N = 100_000;

  it('uniform(): mean 1/2, variance 1/12, range [0, 1)', () => {
    const rng = new Rng(11);
    let sum = 0;
    let sumSq = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < N; i++) {
      const u = rng.uniform();
      sum += u;
      sumSq += u * u;
      min = Math.min(min, u);
      max = Math.max(max, u);
    }
    const mean = sum / N;
    const variance = sumSq / N - mean * mean;
    // SE(mean) = sqrt(1/12 / N) = 0.00091; SE(var) = sqrt((1/80 - 1/144) / N) = 0.00024.
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * 0.00091);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(5 * 0.00024);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
  });

  it('normalArray(n, 2, 3): mean 2, std 3', () => {
    const x = new Rng(12).normalArray(N, 2, 3);
    let sum = 0;
    for (const v of x) sum += v;
    const mean = sum / N;
    let ss = 0;
    for (const v of x) ss += (v - mean) ** 2;
    const std = Math.sqrt(ss / (N - 1));
    // SE(mean) = 3 / sqrt(N) = 0.0095; SE(std) ~ 3 / sqrt(2N) = 0.0067.
    expect(Math.abs(mean - 2)).toBeLessThan(5 * 0.0095);
    expect(Math.abs(std - 3)).toBeLessThan(5 * 0.0067);
  });

  it('uniformArray(n, lo, hi) stays in range', () => {
    const x = new Rng(13).uniformArray(10_000, -0.25, 0.25);
    expect(Math.min(...x)).toBeGreaterThanOrEqual(-0.25);
    expect(Math.max(...x)).toBeLessThanOrEqual(0.25);
  });

  it('int(n) covers [0, n) uniformly: chi-square below the p = 0.001 critical value', () => {
    // Critical values of chi-square at p = 0.001: df 9 -> 27.88, df 6 -> 22.46.
    for (const [n, critical] of [
      [10, 27.88],
      [7, 22.46],
    ] as const) {
      const rng = new Rng(100 + n);
      const counts = new Array<number>(n).fill(0);
      for (let i = 0; i < N; i++) counts[rng.int(n)]++;
      const expected = N / n;
      const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
      expect(counts.every((c) => c > 0)).toBe(true);
      expect(chi2).toBeLessThan(critical);
    }
  });

  it('int(n) for n near 2^32 stays in range (rejection path)', () => {
    const rng = new Rng(5);
    const n = 3_000_000_000;
    for (let i = 0; i < 1000; i++) {
      const k = rng.int(n);
      expect(Number.isInteger(k) && k >= 0 && k < n).toBe(true);
    }
    expect(rng.int(1)).toBe(0);
  });

  it('categorical(weights) follows the weights (chi-square, df 3, critical 16.27 at p = 0.001)', () => {
    const rng = new Rng(21);
    const w = [1, 2, 0, 5, 2];
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < N; i++) counts[rng.categorical(w)]++;
    expect(counts[2]).toBe(0);
    let chi2 = 0;
    for (let i = 0; i < w.length; i++) {
      if (w[i] === 0) continue;
      const expected = (N * w[i]) / 10;
      chi2 += (counts[i] - expected) ** 2 / expected;
    }
    expect(chi2).toBeLessThan(16.27);
  });

  it('shuffle() is a permutation, works on typed arrays, and is not the identity', () => {
    const rng = new Rng(3);
    const a = Array.from({ length: 100 }, (_, i) => i);
    const same = rng.shuffle(a);
    expect(same).toBe(a);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    const t = rng.shuffle(Float32Array.from([1, 2, 3, 4, 5]));
    expect(Array.from(t).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(rng.shuffle([])).toEqual([]);
  });
});

describe('Rng: argument validation', () => {
  it('throws ValueError naming the argument', () => {
    expectValueError(() => new Rng(-1), 'seed');
    expectValueError(() => new Rng(1.5), 'seed');
    expectValueError(() => new Rng(Number.NaN), 'seed');
    expectValueError(() => setSeed(2 ** 53), 'seed');
    const rng = new Rng(0);
    expectValueError(() => rng.int(0), 'n');
    expectValueError(() => rng.int(2.5), 'n');
    expectValueError(() => rng.int(Number.NaN), 'n');
    expectValueError(() => rng.int(2 ** 32 + 1), 'n');
    expectValueError(() => rng.normal(0, -1), 'std');
    expectValueError(() => rng.normal(Number.NaN), 'mean');
    expectValueError(() => rng.uniformArray(-1), 'n');
    expectValueError(() => rng.uniformArray(3, 1, 0), 'hi');
    expectValueError(() => rng.normalArray(2.5), 'n');
    expectValueError(() => rng.permutation(-2), 'n');
    expectValueError(() => rng.categorical([1, -1]), 'weights[1]');
    expectValueError(() => rng.categorical([0, 0]), 'weights');
  });

  it('error messages start with the argument name', () => {
    expect(() => new Rng(-1)).toThrow(/^seed: /);
  });
});

import { describe, expect, it } from 'vitest';

import { ShapeError, ValueError } from '../../lib/errors.js';
import { Rng } from '../../lib/random.js';
import { batches, bucketByLength, mask, padBatch, padFeatureBatch, slidingWindows, streamWindows } from '../../lib/data/index.js';
import { errorOf } from '../helpers/index.js';

function expectError(fn: () => unknown, type: typeof ValueError | typeof ShapeError, argument: string): void {
  const e = errorOf(fn);
  expect(e).toBeInstanceOf(type);
  expect(e.argument).toBe(argument);
}

describe('padBatch', () => {
  const seqs = [[5, 6, 7], [8], [9, 10]];

  it('time-major layout: ids[t*B + b]', () => {
    const r = padBatch(seqs);
    expect(r.seqLen).toBe(3);
    expect(r.batch).toBe(3);
    expect(Array.from(r.lengths)).toEqual([3, 1, 2]);
    // t=0: 5 8 9 | t=1: 6 pad 10 | t=2: 7 pad pad
    expect(Array.from(r.ids)).toEqual([5, 8, 9, 6, 0, 10, 7, 0, 0]);
    for (let b = 0; b < 3; b++) {
      for (let t = 0; t < r.lengths[b]; t++) expect(r.ids[t * r.batch + b]).toBe(seqs[b][t]);
    }
  });

  it('batch-major layout, padId, maxLen cut, Int32Array input, empty sequences', () => {
    const r = padBatch([Int32Array.from([5, 6, 7]), new Int32Array(0)], { padId: -1, timeMajor: false });
    expect(Array.from(r.ids)).toEqual([5, 6, 7, -1, -1, -1]);
    expect(r.timeMajor).toBe(false);
    const cut = padBatch(seqs, { maxLen: 2 });
    expect(cut.seqLen).toBe(2);
    expect(Array.from(cut.lengths)).toEqual([2, 1, 2]);
    expect(Array.from(cut.ids)).toEqual([5, 8, 9, 6, 0, 10]);
  });

  it('typed errors naming the argument', () => {
    expectError(() => padBatch([]), ValueError, 'seqs');
    expectError(() => padBatch([[1, 2.5]]), ValueError, 'seqs[0][1]');
    expectError(() => padBatch([[1], [2 ** 31]]), ValueError, 'seqs[1][0]');
    expectError(() => padBatch([[1]], { padId: Number.NaN }), ValueError, 'options.padId');
    expectError(() => padBatch([[1]], { maxLen: -1 }), ValueError, 'options.maxLen');
    expectError(() => padBatch([[1], 'ab' as unknown as number[]]), ValueError, 'seqs[1]');
  });
});

describe('padFeatureBatch', () => {
  it('[T, B, F] layout: x[(t*B + b)*F + f]', () => {
    const r = padFeatureBatch([Float32Array.from([1, 2, 3, 4]), Float32Array.from([5, 6])], 2);
    expect([r.seqLen, r.batch, r.features]).toEqual([2, 2, 2]);
    expect(Array.from(r.lengths)).toEqual([2, 1]);
    expect(Array.from(r.x)).toEqual([1, 2, 5, 6, 3, 4, 0, 0]);
  });

  it('batch-major, padValue and maxLen', () => {
    const r = padFeatureBatch([Float32Array.from([1, 2, 3]), Float32Array.from([4])], 1, {
      timeMajor: false,
      padValue: 9,
      maxLen: 2,
    });
    expect(Array.from(r.x)).toEqual([1, 2, 4, 9]);
  });

  it('typed errors naming the argument', () => {
    expectError(() => padFeatureBatch([Float32Array.from([1, 2, 3])], 2), ShapeError, 'seqs[0]');
    expectError(() => padFeatureBatch([Float32Array.from([1])], 0), ValueError, 'features');
    expectError(() => padFeatureBatch([[1] as unknown as Float32Array], 1), ValueError, 'seqs[0]');
    expectError(() => padFeatureBatch([], 1), ValueError, 'seqs');
  });
});

describe('mask', () => {
  it('is 1 exactly where t < lengths[b], time-major', () => {
    expect(Array.from(mask([3, 1, 0], 3))).toEqual([1, 1, 0, 1, 0, 0, 1, 0, 0]);
    expect(Array.from(mask(Int32Array.from([2, 2]), 2))).toEqual([1, 1, 1, 1]);
    expect(mask([], 4).length).toBe(0);
  });

  it('matches padBatch lengths', () => {
    const r = padBatch([[1, 2, 3], [4], [5, 6]]);
    const m = mask(r.lengths, r.seqLen);
    for (let i = 0; i < r.ids.length; i++) expect(m[i] === 1).toBe(r.ids[i] !== 0);
  });

  it('typed errors', () => {
    expectError(() => mask([1, 4], 3), ShapeError, 'lengths[1]');
    expectError(() => mask([1, -1], 3), ValueError, 'lengths[1]');
    expectError(() => mask([1], 1.5), ValueError, 'seqLen');
  });
});

describe('batches', () => {
  it('in order by default, last batch short unless dropLast', () => {
    const all = [...batches(10, 4)].map((b) => Array.from(b));
    expect(all).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect([...batches(10, 4, { dropLast: true })].length).toBe(2);
    expect([...batches(0, 4)]).toEqual([]);
  });

  it('shuffled: a seeded permutation of all indices', () => {
    const a = [...batches(103, 10, { shuffle: true, rng: new Rng(8) })];
    const b = [...batches(103, 10, { shuffle: true, rng: new Rng(8) })];
    expect(a).toEqual(b);
    expect(a.length).toBe(11);
    const flat = a.flatMap((x) => Array.from(x));
    expect(flat).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect([...flat].sort((x, y) => x - y)).toEqual(Array.from({ length: 103 }, (_, i) => i));
  });

  it('validates eagerly (at the call, not at the first next())', () => {
    expectError(() => batches(10, 0), ValueError, 'batchSize');
    expectError(() => batches(-1, 2), ValueError, 'n');
    expectError(() => batches(5, 2, { shuffle: true, rng: {} as Rng }), ValueError, 'options.rng');
  });
});

describe('bucketByLength', () => {
  /** Padding cells a set of batches costs: sum over batches of (max length * size - total length). */
  function paddingCells(groups: readonly Int32Array[], lengths: ArrayLike<number>): number {
    let pad = 0;
    for (const g of groups) {
      let max = 0;
      let sum = 0;
      for (const i of g) {
        max = Math.max(max, lengths[i]);
        sum += lengths[i];
      }
      pad += max * g.length - sum;
    }
    return pad;
  }

  const rng = new Rng(77);
  // Lengths spread like sentences: 1..100 tokens.
  const lengths = Array.from({ length: 1000 }, () => 1 + rng.int(100));
  const total = lengths.reduce((a, b) => a + b, 0);

  it('covers every index once and cuts padding far below random batching', () => {
    const groups = bucketByLength(lengths, 32, new Rng(1));
    expect(groups.length).toBe(32);
    const flat = groups.flatMap((g) => Array.from(g)).sort((a, b) => a - b);
    expect(flat).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const random = [...batches(1000, 32, { shuffle: true, rng: new Rng(1) })];
    const bucketPad = paddingCells(groups, lengths);
    const randomPad = paddingCells(random, lengths);
    // Measured with these seeds: 50,824 real tokens; random batches of 32 pad to about the max of
    // 32 draws (~97), costing 46,456 padding cells (91%); sorted buckets pad only within a band of
    // ~3 lengths: 1,560 cells (3.1%), 30x less.
    expect(total).toBe(50824);
    expect(randomPad).toBe(46456);
    expect(bucketPad).toBe(1560);
    expect(bucketPad).toBeLessThan(randomPad / 20);
  });

  it('is seeded: same rng state, same batches; batch order is shuffled', () => {
    const a = bucketByLength(lengths, 32, new Rng(5));
    expect(bucketByLength(lengths, 32, new Rng(5))).toEqual(a);
    const firstLengths = a.map((g) => lengths[g[0]]);
    const sorted = [...firstLengths].sort((x, y) => x - y);
    expect(firstLengths).not.toEqual(sorted);
  });

  it('dropLast removes the one short batch; errors name the argument', () => {
    expect(bucketByLength(lengths, 32, new Rng(5), { dropLast: true }).every((g) => g.length === 32)).toBe(true);
    expect(bucketByLength(lengths, 32, new Rng(5), { dropLast: true }).length).toBe(31);
    expectError(() => bucketByLength([1, -2], 2, new Rng(1)), ValueError, 'lengths[1]');
    expectError(() => bucketByLength([1, 2], 0, new Rng(1)), ValueError, 'batchSize');
  });
});

describe('streamWindows', () => {
  // A stream whose ids are their own positions makes the checks readable.
  const N = 103;
  const ids = Int32Array.from({ length: N }, (_, i) => i);
  const B = 4;
  const W = 5;
  const L = Math.floor(N / B); // 25 per track; the 3 trailing ids are dropped

  it('window shapes and the first window exactly', () => {
    const ws = [...streamWindows(ids, { batch: B, window: W })];
    expect(ws.map((w) => w.seqLen)).toEqual([5, 5, 5, 5, 4]); // L - 1 = 24 predictable positions
    expect(ws.map((w) => w.offset)).toEqual([0, 5, 10, 15, 20]);
    const w0 = ws[0];
    for (let t = 0; t < W; t++) {
      for (let b = 0; b < B; b++) {
        expect(w0.inputs[t * B + b]).toBe(b * L + t);
        expect(w0.targets[t * B + b]).toBe(b * L + t + 1);
      }
    }
  });

  it('continuity: the last target of window k is the first input of window k+1, on every track', () => {
    const ws = [...streamWindows(ids, { batch: B, window: W })];
    for (let k = 0; k + 1 < ws.length; k++) {
      const last = ws[k].seqLen - 1;
      for (let b = 0; b < B; b++) expect(ws[k].targets[last * B + b]).toBe(ws[k + 1].inputs[b]);
    }
  });

  it('coverage: each track position except the last is an input exactly once, targets are the next ids', () => {
    const seen = new Int32Array(N);
    for (const w of streamWindows(ids, { batch: B, window: W })) {
      for (let i = 0; i < w.inputs.length; i++) {
        seen[w.inputs[i]]++;
        expect(w.targets[i]).toBe(ids[w.inputs[i] + 1]);
      }
    }
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < L; p++) expect(seen[b * L + p]).toBe(p < L - 1 ? 1 : 0);
    }
    for (let i = B * L; i < N; i++) expect(seen[i]).toBe(0);
  });

  it('window longer than the track: one window of L - 1 steps', () => {
    const ws = [...streamWindows(ids, { batch: 2, window: 1000 })];
    expect(ws.length).toBe(1);
    expect(ws[0].seqLen).toBe(50);
  });

  it('typed errors', () => {
    expectError(() => streamWindows(Int32Array.from([1, 2, 3]), { batch: 2, window: 2 }), ShapeError, 'ids');
    expectError(() => streamWindows(ids, { batch: 0, window: 2 }), ValueError, 'options.batch');
    expectError(() => streamWindows(ids, { batch: 2, window: 1.5 }), ValueError, 'options.window');
    expectError(() => streamWindows([1, 2, 3] as unknown as Int32Array, { batch: 1, window: 1 }), ValueError, 'ids');
  });
});

describe('slidingWindows', () => {
  const series = Float32Array.from({ length: 10 }, (_, i) => i);

  it('values with input 3, horizon 2, stride 2', () => {
    const w = slidingWindows(series, { input: 3, horizon: 2, stride: 2 });
    expect(w.count).toBe(3); // starts 0, 2, 4; start 6 would need index 10
    expect(Array.from(w.inputs)).toEqual([0, 1, 2, 2, 3, 4, 4, 5, 6]);
    expect(Array.from(w.targets)).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it('defaults horizon 1, stride 1: every possible window', () => {
    const w = slidingWindows(series, { input: 4 });
    expect(w.count).toBe(6);
    expect(Array.from(w.targets)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(Array.from(w.inputs.subarray(20, 24))).toEqual([5, 6, 7, 8]);
  });

  it('typed errors', () => {
    expectError(() => slidingWindows(series, { input: 9, horizon: 2 }), ShapeError, 'series');
    expectError(() => slidingWindows(series, { input: 0 }), ValueError, 'options.input');
    expectError(() => slidingWindows(series, { input: 2, stride: -1 }), ValueError, 'options.stride');
    expectError(() => slidingWindows([1, 2] as unknown as Float32Array, { input: 1 }), ValueError, 'series');
  });
});

/**
 * The orthogonal initialization (blocked Gram–Schmidt, lib/layers/init.ts) and the async,
 * cancellable build (`SequentialBuilder.buildAsync`): orthogonality of square and non-square blocks,
 * the same Q as the plain row-by-row Gram–Schmidt, determinism, build == buildAsync bit for bit,
 * abort, and an event loop that keeps running during buildAsync.
 */
import { describe, expect, it } from 'vitest';

import { AbortError, ValueError, dense, embedding, gru, input, lstm, rnn, sequential } from '../../lib/index.js';
import { orthogonal, orthogonalSteps } from '../../lib/layers/init.js';
import { Rng } from '../../lib/random.js';

/** max |W W^T - I| (rows <= cols) or max |W^T W - I| (rows > cols), accumulated in float64. */
function orthogonalityError(w: Float32Array, rows: number, cols: number): number {
  const tall = rows > cols;
  const r = tall ? cols : rows;
  const at = (i: number, k: number) => (tall ? w[k * cols + i] : w[i * cols + k]);
  const n = tall ? rows : cols;
  let worst = 0;
  for (let i = 0; i < r; i++) {
    for (let j = 0; j <= i; j++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += at(i, k) * at(j, k);
      worst = Math.max(worst, Math.abs(dot - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

/** The reference: the same draws, plain modified Gram–Schmidt row by row (the previous implementation). */
function referenceRows(seed: number, rows: number, cols: number): Float64Array {
  const rng = new Rng(seed);
  const m = new Float64Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = rng.normal();
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let k = 0; k < cols; k++) dot += m[i * cols + k] * m[j * cols + k];
      for (let k = 0; k < cols; k++) m[i * cols + k] -= dot * m[j * cols + k];
    }
    let norm = 0;
    for (let k = 0; k < cols; k++) norm += m[i * cols + k] ** 2;
    for (let k = 0; k < cols; k++) m[i * cols + k] /= Math.sqrt(norm);
  }
  return m;
}

describe('orthogonal', () => {
  // 33 and 97 cross the 32-row blocks; 300 projects in several 128-row chunks.
  it.each([
    [1, 1],
    [7, 7],
    [33, 33],
    [97, 97],
    [300, 300],
    [40, 100],
    [1, 5],
    [100, 40],
    [5, 1],
    [130, 64],
  ])('[%i, %i] is orthogonal within 1e-5 and equals the row-by-row Gram-Schmidt Q', (rows, cols) => {
    const w = new Float32Array(rows * cols + 3).fill(7);
    orthogonal(new Rng(11), w, 2, rows, cols);
    expect(w[0]).toBe(7);
    expect(w[1]).toBe(7);
    expect(w[rows * cols + 2]).toBe(7);
    const block = w.subarray(2, 2 + rows * cols);
    expect(orthogonalityError(block, rows, cols)).toBeLessThan(1e-5);
    if (rows <= cols) {
      const ref = referenceRows(11, rows, cols);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - block[i]));
      expect(worst).toBeLessThan(1e-6);
    }
  });

  it('is deterministic for a seed, differs across seeds, and the steps give the same bits', () => {
    const a = new Float32Array(70 * 70);
    const b = new Float32Array(70 * 70);
    const c = new Float32Array(70 * 70);
    orthogonal(new Rng(3), a, 0, 70);
    orthogonal(new Rng(3), b, 0, 70);
    orthogonal(new Rng(4), c, 0, 70);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    const d = new Float32Array(70 * 70);
    let yields = 0;
    for (const _ of orthogonalSteps(new Rng(3), d, 0, 70)) yields++;
    expect(yields).toBeGreaterThan(1);
    expect(d).toEqual(a);
  });

  it('stopped midway writes nothing', () => {
    const w = new Float32Array(200 * 200);
    const steps = orthogonalSteps(new Rng(1), w, 0, 200);
    for (let i = 0; i < 5; i++) steps.next();
    steps.return();
    expect(w.every((v) => v === 0)).toBe(true);
  });
});

const builder = () =>
  sequential(input.tokens({ vocabSize: 30 }))
    .add(embedding({ vocabSize: 30, dim: 12 }))
    .add(lstm({ hiddenSize: 40, numLayers: 2, bidirectional: true }))
    .add(gru({ hiddenSize: 36 }))
    .add(rnn({ hiddenSize: 20, returnSequences: false }))
    .add(dense({ units: 3 }));

const weights = (m: { parameters(): readonly { name: string; value: Float32Array }[] }) =>
  m.parameters().map((p) => [p.name, Array.from(p.value)] as const);

describe('buildAsync', () => {
  it('gives the same weights as build, bit for bit, and the same seed the same weights', async () => {
    const sync = builder().build({ seed: 5, backend: 'js' });
    const async1 = await builder().buildAsync({ seed: 5, backend: 'js' });
    expect(weights(async1)).toEqual(weights(sync));
    const other = await builder().buildAsync({ seed: 6 });
    expect(weights(other)).not.toEqual(weights(sync));
    // Orthogonal recurrent blocks after the async path too.
    const whh = async1.parameters().find((p) => p.name === '1.weight_hh_l1_reverse')!;
    for (let g = 0; g < 4; g++) expect(orthogonalityError(whh.value.subarray(g * 1600, (g + 1) * 1600), 40, 40)).toBeLessThan(1e-5);
  });

  it('rejects with an AbortError when aborted and leaves no layer built: the same layers build again as new', async () => {
    const b = sequential(input.sequence({ features: 16 }))
      .add(dense({ units: 24 }))
      .add(lstm({ hiddenSize: 256, numLayers: 2 }))
      .add(dense({ units: 2 }));
    const controller = new AbortController();
    const started = performance.now();
    const pending = b.buildAsync({ seed: 2, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    // Cancelled long before the whole build (several hundred ms on this machine) ran.
    expect(performance.now() - started).toBeLessThan(2000);
    const again = await b.buildAsync({ seed: 2 });
    const fresh = sequential(input.sequence({ features: 16 }))
      .add(dense({ units: 24 }))
      .add(lstm({ hiddenSize: 256, numLayers: 2 }))
      .add(dense({ units: 2 }))
      .build({ seed: 2 });
    expect(weights(again)).toEqual(weights(fresh));
  });

  it('an already-aborted signal rejects before any work; bad options are ValueErrors', async () => {
    const controller = new AbortController();
    controller.abort();
    const layer = lstm({ hiddenSize: 8 });
    const b = sequential(input.sequence({ features: 4 })).add(layer);
    await expect(b.buildAsync({ signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
    expect(layer.parameters()).toEqual([]);
    await expect(b.buildAsync({ signal: 5 as unknown as AbortSignal })).rejects.toThrow(ValueError);
    await expect(b.buildAsync({ signal: 5 as unknown as AbortSignal })).rejects.toThrow(/options\.signal/);
    await expect(b.buildAsync({ sed: 1 } as never)).rejects.toThrow(/options\.sed: unknown option/);
    await expect(b.buildAsync({ backend: 'cuda' as never })).rejects.toThrow(ValueError);
  });

  it('keeps the event loop running: a setInterval ticks during buildAsync, never during build', async () => {
    const b = () => sequential(input.sequence({ features: 8 })).add(lstm({ hiddenSize: 384 }));
    let ticks = 0;
    let last = performance.now();
    let worstGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 2);
    try {
      b().build({ seed: 1 });
      const syncTicks = ticks;
      expect(syncTicks).toBe(0);
      last = performance.now();
      worstGap = 0;
      const started = performance.now();
      await b().buildAsync({ seed: 1 });
      const took = performance.now() - started;
      expect(ticks).toBeGreaterThan(5);
      // Slices are ~8 ms; allow for a loaded machine, but far below the whole build.
      expect(worstGap).toBeLessThan(Math.max(100, took / 3));
    } finally {
      clearInterval(timer);
    }
  });
});

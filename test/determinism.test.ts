/**
 * Results do not depend on the thread count: every op's outputs and gradients, and sgemm, are
 * bit-identical with 1, 2 and 3 threads (the kernels split work into disjoint output slices and
 * reduce every element in one fixed order; see native/pool.h and native/gemm.h).
 */
import { afterAll, describe, expect, it } from 'vitest';

import { nativeBackend } from './helpers/backends.js';
import { getThreads, setThreads } from '../lib/index.js';
import { loadAddon } from '../lib/backend/addon.js';
import { Rng } from './helpers/index.js';

const initialThreads = getThreads();
afterAll(() => setThreads(initialThreads));

function bytes(a: Float32Array | null): Buffer {
  return a === null ? Buffer.alloc(0) : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Every output of a forward + backward pass of each cell, on shapes whose splits leave remainders. */
function everything(): Record<string, Float32Array | null> {
  const T = 7,
    B = 5,
    D = 33,
    H = 257;
  const out: Record<string, Float32Array | null> = {};
  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    const G = cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
    const rng = new Rng(7);
    const common = {
      seqLen: T,
      batch: B,
      inputSize: D,
      hiddenSize: H,
      x: rng.randn(T * B * D),
      weightIh: rng.uniform(G * H * D, -0.1, 0.1),
      weightHh: rng.uniform(G * H * H, -0.1, 0.1),
      biasIh: rng.uniform(G * H, -0.1, 0.1),
      biasHh: rng.uniform(G * H, -0.1, 0.1),
      h0: rng.randn(B * H, 0.5),
      lengths: [7, 3, 0, 6, 7],
    };
    const dy = rng.randn(T * B * H);
    const dhN = rng.randn(B * H);
    for (const reverse of [false, true]) {
      const key = `${cell}${reverse ? ' reverse' : ''}`;
      let results: object;
      if (cell === 'rnn') {
        const args = { ...common, reverse };
        const f = nativeBackend.rnnForward(args);
        results = { ...f, ...nativeBackend.rnnBackward({ ...args, cache: f.cache, dy, dhN }) };
      } else if (cell === 'lstm') {
        const args = { ...common, reverse, c0: rng.randn(B * H, 0.5), weightPeephole: rng.uniform(3 * H, -0.3, 0.3) };
        const f = nativeBackend.lstmForward(args);
        results = { ...f, ...nativeBackend.lstmBackward({ ...args, cache: f.cache, dy, dhN, dcN: rng.randn(B * H) }) };
      } else {
        const out2: object[] = [];
        for (const resetAfter of [true, false]) {
          const args = { ...common, reverse, resetAfter };
          const f = nativeBackend.gruForward(args);
          out2.push(
            Object.fromEntries(
              Object.entries({ ...f, ...nativeBackend.gruBackward({ ...args, cache: f.cache, dy, dhN }) }).map(([k, v]) => [
                `${k}${resetAfter ? '' : ' (reset-before)'}`,
                v,
              ]),
            ),
          );
        }
        results = Object.assign({}, ...out2);
      }
      for (const [name, value] of Object.entries(results)) out[`${key} ${name}`] = value as Float32Array | null;
    }
  }
  return out;
}

describe('thread count does not change results', () => {
  it('every op, forward and backward: 1 vs 2 vs 3 threads are bit-identical', () => {
    setThreads(1);
    const one = everything();
    for (const n of [2, 3]) {
      setThreads(n);
      const other = everything();
      for (const key of Object.keys(one)) {
        expect(bytes(other[key]).equals(bytes(one[key])), `${key} with ${n} threads`).toBe(true);
      }
    }
  });

  it('sgemm: 1 vs 2 threads are bit-identical on a product large enough to be split', () => {
    const { internals } = loadAddon();
    const rng = new Rng(3);
    const M = 203,
      N = 517,
      K = 301;
    const A = rng.randn(M * K),
      Bm = rng.randn(K * N);
    const results: Buffer[] = [];
    for (const n of [1, 2]) {
      setThreads(n);
      const C = new Float32Array(M * N);
      internals.sgemm(false, false, M, N, K, A, K, Bm, N, C, N, false);
      results.push(bytes(C));
    }
    expect(results[1].equals(results[0])).toBe(true);
  });
});

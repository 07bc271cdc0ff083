/**
 * Batch invariance of inference (issue 10, item 6): a row's result must not depend on the rows
 * beside it. For every cell (RNN tanh / relu, LSTM with and without peepholes, GRU reset-after and
 * reset-before) and the dense layer, under every instruction set this machine runs: 64 rows, each
 * run alone (B = 1), then batches of every size B = 1..64 cut from them at shifting offsets, so each
 * row is seen at many positions and batch sizes; y, hN and cN of every row must have exactly the bits
 * of the row alone. Sizes leave SIMD tails (D = 33, H = 40, 37 outputs) and lengths vary per row (some
 * 0), so masking is covered too.
 * The kernels guarantee it by construction (native/gemm.h: one reduction order over K for every row
 * in every product path); before that, batches of 7 or more rows went through another GEMM path than
 * a row alone, and values differed by up to ~5e-7.
 */
import { describe, expect, it } from 'vitest';

import { ops } from '../lib/index.js';
import type { GruForwardArgs, LstmForwardArgs, RnnForwardArgs } from '../lib/ops/cells.js';
import { nativeBackend } from './helpers/backends.js';
import { availableIsas, reportIsas, useIsa } from './helpers/isa.js';
import { Rng } from './helpers/index.js';

const T = 3,
  D = 33,
  H = 40,
  POOL = 64;

type Variant =
  | { cell: 'rnn'; label: string; nonlinearity: 'tanh' | 'relu' }
  | { cell: 'lstm'; label: string; peephole: boolean }
  | { cell: 'gru'; label: string; resetAfter: boolean };

const variants: Variant[] = [
  { cell: 'rnn', label: 'rnn tanh', nonlinearity: 'tanh' },
  { cell: 'rnn', label: 'rnn relu', nonlinearity: 'relu' },
  { cell: 'lstm', label: 'lstm', peephole: false },
  { cell: 'lstm', label: 'lstm peephole', peephole: true },
  { cell: 'gru', label: 'gru reset-after', resetAfter: true },
  { cell: 'gru', label: 'gru reset-before', resetAfter: false },
];

interface Rows {
  x: Float32Array; // [T, POOL, D]
  h0: Float32Array; // [POOL, H]
  c0: Float32Array;
  lengths: Int32Array; // [POOL]
}

const rng = new Rng(20261125);
const pool: Rows = {
  x: rng.randn(T * POOL * D),
  h0: rng.randn(POOL * H, 0.5),
  c0: rng.randn(POOL * H, 0.5),
  lengths: Int32Array.from({ length: POOL }, (_, i) => (i % 5 === 0 ? T : rng.int(0, T))),
};

/** Rows [start, start + B) of the pool as a batch. */
function slice(start: number, B: number): Rows {
  const x = new Float32Array(T * B * D);
  for (let t = 0; t < T; t++) x.set(pool.x.subarray((t * POOL + start) * D, (t * POOL + start + B) * D), t * B * D);
  return {
    x,
    h0: pool.h0.slice(start * H, (start + B) * H),
    c0: pool.c0.slice(start * H, (start + B) * H),
    lengths: pool.lengths.slice(start, start + B),
  };
}

function weights(v: Variant) {
  const G = v.cell === 'lstm' ? 4 : v.cell === 'gru' ? 3 : 1;
  const r = new Rng(7),
    k = 1 / Math.sqrt(H);
  return {
    weightIh: r.uniform(G * H * D, -k, k),
    weightHh: r.uniform(G * H * H, -k, k),
    biasIh: r.uniform(G * H, -k, k),
    biasHh: r.uniform(G * H, -k, k),
    weightPeephole: r.uniform(3 * H, -0.5, 0.5),
  };
}

/** Inference forward of one batch: y [T, B, H], hN, cN [B, H]. */
function forward(v: Variant, rows: Rows, B: number): { y: Float32Array; hN: Float32Array; cN: Float32Array | null } {
  const w = weights(v);
  const common = {
    seqLen: T,
    batch: B,
    inputSize: D,
    hiddenSize: H,
    x: rows.x,
    weightIh: w.weightIh,
    weightHh: w.weightHh,
    biasIh: w.biasIh,
    biasHh: w.biasHh,
    h0: rows.h0,
    lengths: rows.lengths,
    keepCache: false,
  };
  if (v.cell === 'rnn') return { ...nativeBackend.rnnForward({ ...common, nonlinearity: v.nonlinearity } as RnnForwardArgs), cN: null };
  if (v.cell === 'lstm') {
    return nativeBackend.lstmForward({ ...common, c0: rows.c0, weightPeephole: v.peephole ? w.weightPeephole : null } as LstmForwardArgs);
  }
  return { ...nativeBackend.gruForward({ ...common, resetAfter: v.resetAfter } as GruForwardArgs), cN: null };
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Index of the first element where a and b differ (as bits), or -1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  const x = bits(a),
    y = bits(b);
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Start of the batch of size B: shifts with B so that each pool row lands at many positions. */
const startOf = (B: number) => (B * 13) % (POOL - B + 1);

describe.skipIf(availableIsas().length === 0)('batch invariance', () => {
  it('reports the instruction sets', () => {
    reportIsas('batch-invariance');
    expect(availableIsas().length).toBeGreaterThan(0);
  });

  describe.each(availableIsas())('%s', (isa) => {
    useIsa(isa);

    it.each(variants)('$label: each row of every batch B = 1..64 has the bits of the row alone', (v) => {
      const alone = Array.from({ length: POOL }, (_, i) => forward(v, slice(i, 1), 1));
      for (let B = 1; B <= POOL; B++) {
        const s = startOf(B);
        const got = forward(v, slice(s, B), B);
        for (let b = 0; b < B; b++) {
          const one = alone[s + b];
          const where = `${v.label} B=${B} row ${b} (pool row ${s + b})`;
          for (let t = 0; t < T; t++) {
            expect(
              firstDiff(got.y.subarray((t * B + b) * H, (t * B + b + 1) * H), one.y.subarray(t * H, (t + 1) * H)),
              `${where} y[t=${t}]`,
            ).toBe(-1);
          }
          expect(firstDiff(got.hN.subarray(b * H, (b + 1) * H), one.hN), `${where} hN`).toBe(-1);
          if (got.cN && one.cN) expect(firstDiff(got.cN.subarray(b * H, (b + 1) * H), one.cN), `${where} cN`).toBe(-1);
        }
      }
    });

    it('dense (linear) layer: each row of every batch B = 1..64 has the bits of the row alone', () => {
      const r = new Rng(3),
        IN = 33,
        OUT = 37;
      const x = r.randn(POOL * IN),
        weight = r.uniform(OUT * IN, -0.2, 0.2),
        bias = r.uniform(OUT, -0.1, 0.1);
      const linear = (start: number, rows: number) => {
        return ops.linearForward(
          { rows, inFeatures: IN, outFeatures: OUT, x: x.subarray(start * IN, (start + rows) * IN), weight, bias },
          { backend: 'native' },
        );
      };
      const alone = Array.from({ length: POOL }, (_, i) => linear(i, 1));
      for (let B = 1; B <= POOL; B++) {
        const s = startOf(B);
        const y = linear(s, B);
        for (let b = 0; b < B; b++) expect(firstDiff(y.subarray(b * OUT, (b + 1) * OUT), alone[s + b]), `dense B=${B} row ${b}`).toBe(-1);
      }
    });
  });
});

/**
 * Native vs pure-JS parity: every op, forward (y, hN, cN and the cache) and backward (every
 * gradient), on random shape sets that include size 1, odd sizes and SIMD tails, with and without
 * lengths, reverse, biases, initial states and peepholes, both GRU forms, both RNN activations.
 * The whole suite runs once per instruction set this machine runs (AVX-512, AVX2 or NEON, and the
 * scalar build; it prints which), so the vectorized kernels and their scalar twins are all held to
 * the reference.
 *
 * Tolerance. The JS reference computes each element in float64 and rounds it to float32 when
 * stored; the native kernels accumulate in float32 with fused multiply-adds in a different order.
 * Each dot product of length K then differs by about K * 2^-24 * (sum |a_k b_k|), and the recurrence
 * carries that through T steps. With K <= 4*257 and T <= 9 here, 1e-4 of the tensor's own scale
 * (its largest magnitude, at least 1) bounds that with room to spare while still catching any real
 * error (a wrong gate, mask or index shows up at the 1e-1 level).
 */
import { describe, expect, it } from 'vitest';

import { jsBackend } from './helpers/backends.js';
import { nativeBackend } from './helpers/backends.js';
import type { GruForwardArgs, LstmForwardArgs, RnnForwardArgs } from '../lib/ops/cells.js';
import type { Backend } from './helpers/backends.js';
import { expectClose, Rng } from './helpers/index.js';
import { availableIsas, reportIsas, useIsa } from './helpers/isa.js';

const isas = availableIsas();
reportIsas('parity');

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

interface ShapeSet {
  T: number;
  B: number;
  D: number;
  H: number;
  lengths: boolean;
  reverse: boolean;
  bias: boolean;
  initialState: boolean;
  /** Which output gradients backward receives. */
  grads: 'dy' | 'final' | 'both';
}

// Fixed corner cases first, then seeded random draws from the sizes the issue names.
const shapeSets: ShapeSet[] = [
  { T: 1, B: 1, D: 1, H: 1, lengths: false, reverse: false, bias: true, initialState: false, grads: 'both' },
  { T: 5, B: 3, D: 33, H: 257, lengths: true, reverse: true, bias: true, initialState: true, grads: 'both' },
  { T: 5, B: 3, D: 7, H: 9, lengths: true, reverse: false, bias: false, initialState: true, grads: 'dy' },
  { T: 1, B: 3, D: 7, H: 257, lengths: false, reverse: true, bias: true, initialState: false, grads: 'final' },
  { T: 5, B: 1, D: 1, H: 9, lengths: true, reverse: true, bias: false, initialState: false, grads: 'both' },
];
{
  const rng = new Rng(20261123);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]; // int() is inclusive
  while (shapeSets.length < 24) {
    shapeSets.push({
      T: pick([1, 2, 5, 9]),
      B: pick([1, 3, 4]),
      D: pick([1, 7, 16, 33]),
      H: pick([1, 8, 9, 17, 257]),
      lengths: rng.float() < 0.5,
      reverse: rng.float() < 0.5,
      bias: rng.float() < 0.75,
      initialState: rng.float() < 0.5,
      grads: pick(['dy', 'final', 'both'] as const),
    });
  }
}

function describeSet(s: ShapeSet): string {
  const flags = [s.lengths && 'lengths', s.reverse && 'reverse', !s.bias && 'no-bias', s.initialState && 'h0', s.grads]
    .filter(Boolean)
    .join(',');
  return `T=${s.T} B=${s.B} D=${s.D} H=${s.H} ${flags}`;
}

/** |a - e| <= scale * 1e-4 with scale = max(1, max |e|): see the tolerance note at the top. */
function expectParity(actual: ArrayLike<number> | null, expected: ArrayLike<number> | null, label: string): void {
  expect(actual === null, `${label}: presence`).toBe(expected === null);
  if (actual === null || expected === null) return;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  expectClose(actual, expected, { atol: 1e-4 * scale }, label);
}

function buildArgs(v: Variant, s: ShapeSet, seed: number) {
  const rng = new Rng(seed);
  const G = v.cell === 'lstm' ? 4 : v.cell === 'gru' ? 3 : 1;
  const k = 1 / Math.sqrt(Math.max(s.H, 1));
  const lengths = s.lengths ? Int32Array.from({ length: s.B }, (_, b) => (b === 0 ? s.T : b === 1 ? 0 : rng.int(0, s.T))) : null;
  const common = {
    seqLen: s.T,
    batch: s.B,
    inputSize: s.D,
    hiddenSize: s.H,
    x: rng.randn(s.T * s.B * s.D),
    weightIh: rng.uniform(G * s.H * s.D, -2 * k, 2 * k),
    weightHh: rng.uniform(G * s.H * s.H, -2 * k, 2 * k),
    biasIh: s.bias ? rng.uniform(G * s.H, -k, k) : null,
    biasHh: s.bias ? rng.uniform(G * s.H, -k, k) : null,
    h0: s.initialState ? rng.randn(s.B * s.H, 0.5) : null,
    lengths,
    reverse: s.reverse,
  };
  const outGrads = {
    dy: s.grads !== 'final' ? rng.randn(s.T * s.B * s.H) : null,
    dhN: s.grads !== 'dy' ? rng.randn(s.B * s.H) : null,
    dcN: s.grads !== 'dy' ? rng.randn(s.B * s.H) : null,
  };
  const c0 = s.initialState ? rng.randn(s.B * s.H, 0.5) : null;
  const weightPeephole = rng.uniform(3 * s.H, -0.5, 0.5);
  return { common, outGrads, c0, weightPeephole };
}

/** Runs one variant on one backend: forward outputs and backward gradients, keyed by name. */
function run(backend: Backend, v: Variant, s: ShapeSet, seed: number): Record<string, Float32Array | null> {
  const { common, outGrads, c0, weightPeephole } = buildArgs(v, s, seed);
  if (v.cell === 'rnn') {
    const args: RnnForwardArgs = { ...common, nonlinearity: v.nonlinearity };
    const f = backend.rnnForward(args);
    const g = backend.rnnBackward({ ...args, cache: f.cache, dy: outGrads.dy, dhN: outGrads.dhN });
    return { ...f, ...g };
  }
  if (v.cell === 'lstm') {
    const args: LstmForwardArgs = { ...common, c0, weightPeephole: v.peephole ? weightPeephole : null };
    const f = backend.lstmForward(args);
    const g = backend.lstmBackward({ ...args, cache: f.cache, ...outGrads });
    return { ...f, ...g };
  }
  const args: GruForwardArgs = { ...common, resetAfter: v.resetAfter };
  const f = backend.gruForward(args);
  const g = backend.gruBackward({ ...args, cache: f.cache, dy: outGrads.dy, dhN: outGrads.dhN });
  return { ...f, ...g };
}

/** Forward outputs (y, hN, cN) with `keepCache` as given; the cache must be null exactly when false. */
function runForward(backend: Backend, v: Variant, s: ShapeSet, seed: number, keepCache: boolean): Record<string, Float32Array | null> {
  const { common, c0, weightPeephole } = buildArgs(v, s, seed);
  const f =
    v.cell === 'rnn'
      ? backend.rnnForward({ ...common, nonlinearity: v.nonlinearity, keepCache })
      : v.cell === 'lstm'
        ? backend.lstmForward({ ...common, c0, weightPeephole: v.peephole ? weightPeephole : null, keepCache })
        : backend.gruForward({ ...common, resetAfter: v.resetAfter, keepCache });
  expect(f.cache === null, `${backend.name} ${v.label} cache presence`).toBe(!keepCache);
  return { y: f.y, hN: f.hN, cN: 'cN' in f ? (f.cN as Float32Array) : null };
}

function expectBits(actual: Float32Array | null, expected: Float32Array | null, label: string): void {
  expect(actual === null, `${label}: presence`).toBe(expected === null);
  if (actual === null || expected === null) return;
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  let first = -1;
  for (let i = 0; i < e.length && first < 0; i++) if (a[i] !== e[i]) first = i;
  expect(first, `${label}: first differing element`).toBe(-1);
}

describe.each(isas)('native (%s) vs pure-JS', (isa) => {
  useIsa(isa);

  describe.each(variants)('$label', (v) => {
    it.each(shapeSets.map((s, i) => [describeSet(s), s, i] as const))('%s', (_name, s, i) => {
      const expected = run(jsBackend, v, s, 1000 + i);
      const actual = run(nativeBackend, v, s, 1000 + i);
      expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
      for (const key of Object.keys(expected)) expectParity(actual[key], expected[key], `${v.label} ${key}`);
    });
  });
});

// Inference (keepCache: false): the native kernels run without a cache (workspace from the thread's
// arena) and must give exactly the bits of the cached forward; the JS backend skips the cache too.
describe.each(isas)('keepCache: false (%s)', (isa) => {
  useIsa(isa);

  describe.each(variants)('$label', (v) => {
    it.each(shapeSets.map((s, i) => [describeSet(s), s, i] as const))('%s', (_name, s, i) => {
      const kept = runForward(nativeBackend, v, s, 1000 + i, true);
      const none = runForward(nativeBackend, v, s, 1000 + i, false);
      for (const key of Object.keys(kept)) expectBits(none[key], kept[key], `${v.label} ${key} native keepCache false vs true`);
      const js = runForward(jsBackend, v, s, 1000 + i, false);
      for (const key of Object.keys(kept)) expectParity(none[key], js[key], `${v.label} ${key} vs JS`);
    });
  });
});

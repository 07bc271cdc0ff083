/**
 * Finite-difference gradient checks of every gradient of every cell of the pure-JS backend.
 *
 * The JS kernels (lib/js/, wrapped by lib/backend/js.ts) are generic over the float array type and
 * compute in the type of `x`: called here with Float64Arrays, they run entirely in float64.
 *
 * Loss: L = sum(dy ⊙ y) + sum(dhN ⊙ hN) (+ sum(dcN ⊙ cN) for the LSTM) for random fixed dy, dhN, dcN,
 * so backward(dy, dhN, dcN) must return exactly dL/d(every input). An absent dy/dhN/dcN drops its term.
 * Every element of every input is perturbed: central difference (L(p+ε) - L(p-ε)) / 2ε, ε = 1e-6.
 *
 * Tolerance |analytic - numeric| <= 1e-8 + 1e-6 |numeric|. In float64, the truncation error of the
 * central difference is ~ε²·|L'''| ≈ 1e-12 and the rounding error ~ u·|L|/ε ≈ 1e-16 · 10 / 1e-6 ≈ 1e-9,
 * so a correct gradient is off by ~1e-9 at most, while any wrong term (a missing path through c, a
 * swapped gate, a dropped bias) is off by 1e-3 or more.
 *
 * ReLU: the loss has kinks where a pre-activation is 0. With these seeded random inputs no
 * pre-activation lies within ε of 0, so the central difference sees a smooth function.
 */
import { describe, expect, it } from 'vitest';
import type { FloatArray } from '../lib/js/common.js';
import { rnnBackward, rnnForward } from '../lib/js/rnn.js';
import { lstmBackward, lstmForward } from '../lib/js/lstm.js';
import { gruBackward, gruForward } from '../lib/js/gru.js';
import { Rng, expectClose } from './helpers/index.js';

const EPS = 1e-6;
const TOL = { atol: 1e-8, rtol: 1e-6 } as const;

type Cell = 'rnn-tanh' | 'rnn-relu' | 'lstm' | 'lstm-peephole' | 'gru-reset-after' | 'gru-reset-before';
const gatesOf = (cell: Cell): number => (cell.startsWith('rnn') ? 1 : cell.startsWith('lstm') ? 4 : 3);
const isLstm = (cell: Cell): boolean => cell.startsWith('lstm');

interface Case {
  readonly name: string;
  readonly T: number;
  readonly B: number;
  readonly D: number;
  readonly H: number;
  readonly lengths?: Int32Array | readonly number[];
  readonly reverse?: boolean;
  /** Pass biasIh/biasHh (default true). */
  readonly bias?: boolean;
  /** Pass h0 (and c0) (default true). Absent, dh0/dc0 are checked against an explicit zero state. */
  readonly initialState?: boolean;
  /** Which loss terms exist (default all); an absent one is passed to backward as null. */
  readonly dy?: boolean;
  readonly dhN?: boolean;
  readonly dcN?: boolean;
}

const cases: readonly Case[] = [
  { name: 'T=4 B=3 D=5 H=6', T: 4, B: 3, D: 5, H: 6 },
  { name: 'lengths [4, 0, 2] (number[])', T: 4, B: 3, D: 5, H: 6, lengths: [4, 0, 2] },
  { name: 'lengths [1, 4, 0] (Int32Array), reverse', T: 4, B: 3, D: 5, H: 6, lengths: new Int32Array([1, 4, 0]), reverse: true },
  { name: 'reverse, no lengths', T: 4, B: 3, D: 5, H: 6, reverse: true },
  { name: 'no biases, no h0/c0', T: 4, B: 3, D: 5, H: 6, bias: false, initialState: false },
  { name: 'dy absent, lengths [3, 4, 0]', T: 4, B: 3, D: 5, H: 6, lengths: [3, 4, 0], dy: false },
  { name: 'dhN and dcN absent, reverse', T: 4, B: 3, D: 5, H: 6, reverse: true, dhN: false, dcN: false },
  { name: 'T=1 B=1 D=1 H=1', T: 1, B: 1, D: 1, H: 1 },
];

const cells: readonly Cell[] = ['rnn-tanh', 'rnn-relu', 'lstm', 'lstm-peephole', 'gru-reset-after', 'gru-reset-before'];

/** The differentiable inputs, always all present (zeros stand in for an absent h0/c0). */
interface Params {
  x: Float64Array;
  h0: Float64Array;
  c0: Float64Array;
  weightIh: Float64Array;
  weightHh: Float64Array;
  biasIh: Float64Array;
  biasHh: Float64Array;
  weightPeephole: Float64Array;
}
type ParamName = keyof Params;
const gradName = {
  x: 'dx',
  h0: 'dh0',
  c0: 'dc0',
  weightIh: 'dWeightIh',
  weightHh: 'dWeightHh',
  biasIh: 'dBiasIh',
  biasHh: 'dBiasHh',
  weightPeephole: 'dWeightPeephole',
} as const;
type Grads = Partial<Record<(typeof gradName)[ParamName], Float64Array | null>>;

interface Seeds {
  dy: Float64Array | null;
  dhN: Float64Array | null;
  dcN: Float64Array | null;
}

/** The forward arguments for `cell`: optional inputs are left out as the case says. */
function forwardArgs(cell: Cell, c: Case, p: Params, withOptional: boolean) {
  const bias = c.bias ?? true;
  const state = withOptional || (c.initialState ?? true);
  return {
    seqLen: c.T,
    batch: c.B,
    inputSize: c.D,
    hiddenSize: c.H,
    x: p.x,
    weightIh: p.weightIh,
    weightHh: p.weightHh,
    biasIh: bias ? p.biasIh : null,
    biasHh: bias ? p.biasHh : null,
    h0: state ? p.h0 : null,
    c0: state ? p.c0 : null,
    weightPeephole: cell === 'lstm-peephole' ? p.weightPeephole : null,
    lengths: c.lengths ?? null,
    reverse: c.reverse ?? false,
    nonlinearity: cell === 'rnn-relu' ? ('relu' as const) : ('tanh' as const),
    resetAfter: cell !== 'gru-reset-before',
  };
}

function forward(cell: Cell, args: ReturnType<typeof forwardArgs>) {
  if (cell.startsWith('rnn')) return { ...rnnForward(args), cN: null };
  if (isLstm(cell)) return lstmForward(args);
  return { ...gruForward(args), cN: null };
}

function dot(a: FloatArray, b: FloatArray | null): number {
  if (!b) return 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** L = sum(dy ⊙ y) + sum(dhN ⊙ hN) + sum(dcN ⊙ cN), with the case's optional inputs present as zeros. */
function loss(cell: Cell, c: Case, p: Params, s: Seeds): number {
  const out = forward(cell, forwardArgs(cell, c, p, true));
  return dot(out.y, s.dy) + dot(out.hN, s.dhN) + (out.cN ? dot(out.cN, s.dcN) : 0);
}

/** The analytic gradients, from backward called with the case's optional inputs left out. */
function analytic(cell: Cell, c: Case, p: Params, s: Seeds): Grads {
  const args = forwardArgs(cell, c, p, false);
  const { cache } = forward(cell, args);
  const extra = { cache, dy: s.dy, dhN: s.dhN };
  if (cell.startsWith('rnn')) return rnnBackward({ ...args, ...extra });
  if (isLstm(cell)) return lstmBackward({ ...args, ...extra, dcN: s.dcN });
  return gruBackward({ ...args, ...extra });
}

/** dL/dp[i] for every i, by central differences (p is restored afterwards). */
function numeric(cell: Cell, c: Case, params: Params, name: ParamName, s: Seeds): Float64Array {
  const p = params[name];
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    p[i] = v + EPS;
    const up = loss(cell, c, params, s);
    p[i] = v - EPS;
    const down = loss(cell, c, params, s);
    p[i] = v;
    out[i] = (up - down) / (2 * EPS);
  }
  return out;
}

function makeParams(cell: Cell, c: Case, rng: Rng): Params {
  const G = gatesOf(cell);
  const { T, B, D, H } = c;
  const u = (n: number, scale: number) => rng.uniform(n, -scale, scale, Float64Array);
  return {
    x: rng.randn(T * B * D, 1, Float64Array),
    h0: (c.initialState ?? true) ? u(B * H, 0.8) : new Float64Array(B * H),
    c0: (c.initialState ?? true) ? u(B * H, 0.8) : new Float64Array(B * H),
    weightIh: u(G * H * D, 0.6),
    weightHh: u(G * H * H, 0.6),
    biasIh: u(G * H, 0.3),
    biasHh: u(G * H, 0.3),
    weightPeephole: u(3 * H, 0.6),
  };
}

describe.each(cells)('gradient check (float64, central differences): %s', (cell) => {
  it.each(cases)('$name', (c) => {
    const rng = new Rng(1234 + cells.indexOf(cell) * 100 + cases.indexOf(c));
    const params = makeParams(cell, c, rng);
    const { T, B, H } = c;
    const seeds: Seeds = {
      dy: (c.dy ?? true) ? rng.randn(T * B * H, 1, Float64Array) : null,
      dhN: (c.dhN ?? true) ? rng.randn(B * H, 1, Float64Array) : null,
      dcN: isLstm(cell) && (c.dcN ?? true) ? rng.randn(B * H, 1, Float64Array) : null,
    };
    const grads = analytic(cell, c, params, seeds);

    const checked: ParamName[] = ['x', 'h0', 'weightIh', 'weightHh'];
    if (isLstm(cell)) checked.push('c0');
    if (cell === 'lstm-peephole') checked.push('weightPeephole');
    if (c.bias ?? true) {
      checked.push('biasIh', 'biasHh');
    } else {
      expect(grads.dBiasIh, 'dBiasIh without biasIh').toBeNull();
      expect(grads.dBiasHh, 'dBiasHh without biasHh').toBeNull();
    }
    if (cell === 'lstm') expect(grads.dWeightPeephole, 'dWeightPeephole without peepholes').toBeNull();

    for (const name of checked) {
      const got = grads[gradName[name]];
      expect(got, gradName[name]).toBeInstanceOf(Float64Array); // computed in float64 throughout
      expectClose(got as Float64Array, numeric(cell, c, params, name, seeds), TOL, `${cell} ${c.name}: ${gradName[name]}`);
    }
  });
});

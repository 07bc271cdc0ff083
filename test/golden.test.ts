/**
 * Golden values: tiny cells (T=2, B=1, D=1, H=2) with hand-picked weights whose outputs are derived
 * step by step in the comments, written as literal numbers (9 significant digits, from the scalar
 * formulas shown). Each gate block has its own weights and biases, so a backend that swaps two gates,
 * transposes W_hh, puts the GRU reset in the other place or reads the peepholes in another order
 * fails by far more than the tolerance. The cache is checked too: it pins the layout of native/cells.h.
 *
 * Then semantics every backend must share: variable lengths and reverse, against per-sequence runs.
 *
 * Runs against every backend in test/helpers/backends.ts (the JS one, and the native one once built).
 *
 * Tolerance for goldens: atol 1e-5. Values are O(1) in float32 (eps 6e-8) after a handful of ops, so an
 * exact-libm backend is within ~1e-7; the slack is for vectorized exp/tanh approximations. Any of
 * the mistakes above moves some output by more than 1e-2.
 */
import { describe, expect, it } from 'vitest';
import type { GruForwardArgs, LstmForwardArgs, RnnForwardArgs } from '../lib/ops/cells.js';
import type { Backend } from './helpers/backends.js';
import { backends } from './helpers/backends.js';
import { Rng, expectClose } from './helpers/index.js';

const GOLD = { atol: 1e-5 } as const;
const f32 = (v: readonly number[]) => new Float32Array(v);

// ---------------------------------------------------------------------------------------------
// RNN: W_ih = [0.5, -0.3] ([2, 1]), W_hh = [[0.1, 0.2], [-0.4, 0.3]], b_ih = [0.1, 0], b_hh = [0, 0.2],
// h0 = [0.2, -0.1], x = [1, -2].
//   t=0: pre = [0.5*1 + 0.1 + (0.1*0.2 + 0.2*-0.1) + 0,  -0.3*1 + 0 + (-0.4*0.2 + 0.3*-0.1) + 0.2]
//            = [0.6, -0.21]
//   t=1: pre = [0.5*-2 + 0.1 + 0.1*h1[0] + 0.2*h1[1],  -0.3*-2 + -0.4*h1[0] + 0.3*h1[1] + 0.2]
//            = [-0.9 + 0.1*h1[0] + 0.2*h1[1],  0.8 - 0.4*h1[0] + 0.3*h1[1]]
const rnnArgs: RnnForwardArgs = {
  seqLen: 2,
  batch: 1,
  inputSize: 1,
  hiddenSize: 2,
  x: f32([1, -2]),
  weightIh: f32([0.5, -0.3]),
  weightHh: f32([0.1, 0.2, -0.4, 0.3]),
  biasIh: f32([0.1, 0]),
  biasHh: f32([0, 0.2]),
  h0: f32([0.2, -0.1]),
};
// tanh: h1 = tanh([0.6, -0.21]); t=1 pre = [-0.887688343, 0.523090223], h2 = tanh(pre).
const rnnTanh = {
  h1: [0.537049567, -0.2069665],
  h2: [-0.710250082, 0.480081532],
};
// relu: h1 = relu([0.6, -0.21]) = [0.6, 0]; t=1 pre = [-0.9 + 0.06, 0.8 - 0.24] = [-0.84, 0.56],
// h2 = [0, 0.56]. (A transposed W_hh would give pre[1] = 0.8 + 0.2*0.6 = 0.92.)
const rnnRelu = {
  h1: [0.6, 0],
  h2: [0, 0.56],
};

// ---------------------------------------------------------------------------------------------
// LSTM, gates (i, f, g, o), x = [1, -1], h0 absent (zeros), c0 = [0.5, -0.5].
//   W_ih rows:  i [0.5, -0.4]   f [0.9, 0.3]    g [-0.6, 0.8]   o [0.2, -0.7]
//   b_ih:       i [0.1, 0]      f [0.2, 0]      g [0, -0.1]     o [0, 0.3]
//   b_hh:       i [0, 0.1]      f [0, 0.3]      g [0.05, 0]     o [-0.2, 0]
//   W_hh:       i [[0.1, -0.2], [0.3, 0.05]]    f [[-0.3, 0.2], [0.1, 0.4]]
//               g [[0.6, -0.1], [-0.2, 0.5]]    o [[0.25, 0.15], [-0.35, 0.45]]
//   peepholes (ONNX order): p_i [0.1, 0.2], p_o [-0.3, 0.4], p_f [0.5, -0.6]
const lstmArgs: LstmForwardArgs = {
  seqLen: 2,
  batch: 1,
  inputSize: 1,
  hiddenSize: 2,
  x: f32([1, -1]),
  weightIh: f32([0.5, -0.4, 0.9, 0.3, -0.6, 0.8, 0.2, -0.7]),
  weightHh: f32([0.1, -0.2, 0.3, 0.05, -0.3, 0.2, 0.1, 0.4, 0.6, -0.1, -0.2, 0.5, 0.25, 0.15, -0.35, 0.45]),
  biasIh: f32([0.1, 0, 0.2, 0, 0, -0.1, 0, 0.3]),
  biasHh: f32([0, 0.1, 0, 0.3, 0.05, 0, -0.2, 0]),
  c0: f32([0.5, -0.5]),
};
const peepholes = f32([0.1, 0.2, -0.3, 0.4, 0.5, -0.6]);

interface LstmStep {
  i: number[];
  f: number[];
  g: number[];
  o: number[];
  c: number[];
  tanhC: number[];
  h: number[];
}
// Without peepholes.
//   t=0 (h = 0, c = c0): a_i = [0.5 + 0.1, -0.4 + 0.1] = [0.6, -0.3]   a_f = [0.9 + 0.2, 0.3 + 0.3] = [1.1, 0.6]
//        a_g = [-0.6 + 0.05, 0.8 - 0.1] = [-0.55, 0.7]                 a_o = [0.2 - 0.2, -0.7 + 0.3] = [0, -0.4]
//        c1 = σ(a_f) ⊙ c0 + σ(a_i) ⊙ tanh(a_g),  h1 = σ(a_o) ⊙ tanh(c1)
//   t=1 (x = -1): a_* = -W_i* + b_i* + W_h* h1 + b_h*
//        = a_i [-0.392143566, 0.506472777]  a_f [-0.713048363, -0.00792497352]
//          a_g [0.668206023, -0.918343102]  a_o [-0.39745544, 0.979078068]
const lstmPlain: [LstmStep, LstmStep] = [
  {
    i: [0.645656306, 0.425557483],
    f: [0.750260106, 0.645656306],
    g: [-0.500520211, 0.604367777],
    o: [0.5, 0.40131234],
    c: [0.051966022, -0.065634923],
    tanhC: [0.051919295, -0.0655408346],
    h: [0.0259596475, -0.0263023457],
  },
  {
    i: [0.403201387, 0.623979248],
    f: [0.328925614, 0.498018767],
    g: [0.583798569, -0.725112638],
    o: [0.401923851, 0.726925247],
    c: [0.252481349, -0.485142662],
    tanhC: [0.247249746, -0.45035273],
    h: [0.0993755699, -0.32737277],
  },
];
// With peepholes: a_i += p_i ⊙ c_prev, a_f += p_f ⊙ c_prev, a_o += p_o ⊙ c (the new c).
//   t=0: a_i = [0.6 + 0.1*0.5, -0.3 + 0.2*-0.5] = [0.65, -0.4]   a_f = [1.1 + 0.5*0.5, 0.6 + -0.6*-0.5] = [1.35, 0.9]
//        a_g = [-0.55, 0.7]   a_o = [0 - 0.3*c1[0], -0.4 + 0.4*c1[1]] = [-0.0204653396, -0.445173802]
//   t=1: a_i [-0.381024383, 0.485329614]  a_f [-0.684786461, 0.0535653122]
//        a_g [0.674616107, -0.928699213]  a_o [-0.476618458, 0.764502343]
// (Reading the peepholes as (p_i, p_f, p_o) would change a_f at t=0 to [1.1 - 0.15, 0.6 - 0.2].)
const lstmPeep: [LstmStep, LstmStep] = [
  {
    i: [0.657010463, 0.40131234],
    f: [0.794129628, 0.710949503],
    g: [-0.500520211, 0.604367777],
    o: [0.494883844, 0.390508849],
    c: [0.0682177986, -0.112934505],
    tanhC: [0.0681121742, -0.112456812],
    h: [0.0337076146, -0.04391538],
  },
  {
    i: [0.405879852, 0.619005593],
    f: [0.335193853, 0.513388127],
    g: [0.588008152, -0.72998685],
    o: [0.383050944, 0.682330442],
    c: [0.261526849, -0.509845177],
    tanhC: [0.25572309, -0.46982456],
    h: [0.0979549713, -0.320575599],
  },
];

// ---------------------------------------------------------------------------------------------
// GRU, gates (r, z, n), x = [1, -1], h0 = [0.5, -0.5].
//   W_ih rows:  r [0.4, -0.6]   z [0.7, 0.2]    n [-0.5, 0.9]
//   b_ih:       r [0.1, 0]      z [0, -0.2]     n [0.3, 0]
//   b_hh:       r [0, 0.1]      z [0.2, 0]      n [0.5, -0.4]
//   W_hh:       r [[0.2, -0.1], [0.3, 0.4]]   z [[-0.5, 0.1], [0.2, 0.3]]   n [[0.6, -0.4], [0.1, 0.8]]
//   t=0: a_r = [0.4 + 0.1 + (0.1 + 0.05) + 0, -0.6 + (0.15 - 0.2) + 0.1] = [0.65, -0.55]
//        a_z = [0.7 + (-0.25 - 0.05) + 0.2, 0.2 - 0.2 + (0.1 - 0.15)] = [0.6, -0.05]
//        x_n = [-0.5 + 0.3, 0.9] = [-0.2, 0.9];   h = (1 - z) ⊙ n + z ⊙ h_prev
const gruArgs: GruForwardArgs = {
  seqLen: 2,
  batch: 1,
  inputSize: 1,
  hiddenSize: 2,
  x: f32([1, -1]),
  weightIh: f32([0.4, -0.6, 0.7, 0.2, -0.5, 0.9]),
  weightHh: f32([0.2, -0.1, 0.3, 0.4, -0.5, 0.1, 0.2, 0.3, 0.6, -0.4, 0.1, 0.8]),
  biasIh: f32([0.1, 0, 0, -0.2, 0.3, 0]),
  biasHh: f32([0, 0.1, 0.2, 0, 0.5, -0.4]),
  h0: f32([0.5, -0.5]),
};
interface GruStep {
  r: number[];
  z: number[];
  n: number[];
  hn: number[];
  h: number[];
}
// Reset after: hn = W_hn h_prev + b_hn, n = tanh(x_n + r ⊙ hn).
//   t=0: hn = [0.6*0.5 - 0.4*-0.5 + 0.5, 0.1*0.5 + 0.8*-0.5 - 0.4] = [1, -0.75]
//        a_n = [-0.2 + σ(0.65)*1, 0.9 + σ(-0.55)*-0.75] = [0.457010463, 0.625601693]
//   t=1: a_r [-0.209197047, 0.858585612]  a_z [-0.733111341, -0.292919823]  x_n = [0.8, -0.9]
//        a_n = x_n + r ⊙ hn = [1.14413209, -1.12476344]
const gruAfter: [GruStep, GruStep] = [
  {
    r: [0.657010463, 0.365864409],
    z: [0.645656306, 0.487502604],
    n: [0.427644526, 0.555016207],
    hn: [1, -0.75],
    h: [0.474361294, 0.0406930595],
  },
  {
    r: [0.44789064, 0.702365063],
    z: [0.324512337, 0.427289197],
    n: [0.815800818, -0.809219433],
    hn: [0.768339553, -0.320009423],
    h: [0.70499948, -0.446061007],
  },
];
// Reset before: hn = r ⊙ h_prev, n = tanh(x_n + W_hn hn + b_hn).
//   t=0: hn = [σ(0.65)*0.5, σ(-0.55)*-0.5] = [0.328505231, -0.182932204]
//        a_n = [-0.2 + 0.6*hn[0] - 0.4*hn[1] + 0.5, 0.9 + 0.1*hn[0] + 0.8*hn[1] - 0.4] = [0.570276021, 0.38650476]
//        (reset after gave [0.457010463, 0.625601693] for the same weights)
//   t=1: a_r [-0.193399502, 0.829663717]  a_z [-0.758254783, -0.315390069]  a_n [1.45234657, -1.3077842]
const gruBefore: [GruStep, GruStep] = [
  {
    r: [0.657010463, 0.365864409],
    z: [0.645656306, 0.487502604],
    n: [0.51556196, 0.368343107],
    hn: [0.328505231, -0.182932204],
    h: [0.505514282, -0.0549764186],
  },
  {
    r: [0.451800267, 0.69628382],
    z: [0.319025292, 0.421799632],
    n: [0.896155897, -0.86371368],
    hn: [0.228391488, -0.0382791908],
    h: [0.771531342, -0.5225886],
  },
];

// ---------------------------------------------------------------------------------------------

describe.each(backends.map((b) => [b.name, b] as const))('golden values, %s backend', (_name, backend) => {
  it('RNN tanh (the default): y, hN and cache [hPrev | hNew]', () => {
    const { h1, h2 } = rnnTanh;
    for (const args of [rnnArgs, { ...rnnArgs, nonlinearity: 'tanh' as const }]) {
      const out = backend.rnnForward(args);
      expectClose(out.y, [...h1, ...h2], GOLD, 'y');
      expectClose(out.hN, h2, GOLD, 'hN');
      expectClose(out.cache, [0.2, -0.1, ...h1, /* | */ ...h1, ...h2], GOLD, 'cache');
    }
  });

  it('RNN relu', () => {
    const { h1, h2 } = rnnRelu;
    const out = backend.rnnForward({ ...rnnArgs, nonlinearity: 'relu' });
    expectClose(out.y, [...h1, ...h2], GOLD, 'y');
    expectClose(out.hN, h2, GOLD, 'hN');
    expectClose(out.cache, [0.2, -0.1, ...h1, /* | */ ...h1, ...h2], GOLD, 'cache');
  });

  const lstmCache = ([s0, s1]: [LstmStep, LstmStep]) => [
    ...s0.i,
    ...s0.f,
    ...s0.g,
    ...s0.o,
    ...s1.i,
    ...s1.f,
    ...s1.g,
    ...s1.o, // gates [T*B, 4H]
    0,
    0,
    ...s0.h, // hPrev
    0.5,
    -0.5,
    ...s0.c, // cPrev
    ...s0.c,
    ...s1.c, // c
    ...s0.tanhC,
    ...s1.tanhC, // tanh(c)
  ];

  it('LSTM gate order (i, f, g, o): y, hN, cN and cache', () => {
    const out = backend.lstmForward(lstmArgs);
    const [s0, s1] = lstmPlain;
    expectClose(out.y, [...s0.h, ...s1.h], GOLD, 'y');
    expectClose(out.hN, s1.h, GOLD, 'hN');
    expectClose(out.cN, s1.c, GOLD, 'cN');
    expectClose(out.cache, lstmCache(lstmPlain), GOLD, 'cache');
  });

  it('LSTM peephole order (p_i, p_o, p_f)', () => {
    const out = backend.lstmForward({ ...lstmArgs, weightPeephole: peepholes });
    const [s0, s1] = lstmPeep;
    expectClose(out.y, [...s0.h, ...s1.h], GOLD, 'y');
    expectClose(out.hN, s1.h, GOLD, 'hN');
    expectClose(out.cN, s1.c, GOLD, 'cN');
    expectClose(out.cache, lstmCache(lstmPeep), GOLD, 'cache');
  });

  const gruCache = ([s0, s1]: [GruStep, GruStep]) => [
    ...s0.r,
    ...s0.z,
    ...s0.n,
    ...s1.r,
    ...s1.z,
    ...s1.n, // gates [T*B, 3H]
    0.5,
    -0.5,
    ...s0.h, // hPrev
    ...s0.hn,
    ...s1.hn, // hn
  ];

  it('GRU gate order (r, z, n), reset after (the default)', () => {
    const [s0, s1] = gruAfter;
    for (const args of [gruArgs, { ...gruArgs, resetAfter: true }]) {
      const out = backend.gruForward(args);
      expectClose(out.y, [...s0.h, ...s1.h], GOLD, 'y');
      expectClose(out.hN, s1.h, GOLD, 'hN');
      expectClose(out.cache, gruCache(gruAfter), GOLD, 'cache');
    }
  });

  it('GRU reset before', () => {
    const [s0, s1] = gruBefore;
    const out = backend.gruForward({ ...gruArgs, resetAfter: false });
    expectClose(out.y, [...s0.h, ...s1.h], GOLD, 'y');
    expectClose(out.hN, s1.h, GOLD, 'hN');
    expectClose(out.cache, gruCache(gruBefore), GOLD, 'cache');
  });

  it('the async variants give the same results', async () => {
    const out = await backend.gruForwardAsync(gruArgs);
    expectClose(out.y, [...gruAfter[0].h, ...gruAfter[1].h], GOLD, 'y');
    const lstm = await backend.lstmForwardAsync(lstmArgs);
    expectClose(lstm.cN, lstmPlain[1].c, GOLD, 'cN');
    const rnn = await backend.rnnForwardAsync({ ...rnnArgs, nonlinearity: 'relu' });
    expectClose(rnn.hN, rnnRelu.h2, GOLD, 'hN');
  });
});

// ---------------------------------------------------------------------------------------------
// Variable lengths and reverse, against separate runs of each sequence alone.
//
// Sequence b with lengths[b] = L must behave exactly as a B=1, T=L run on its first L steps (for
// reverse: a forward run on those steps in reversed time order, outputs reversed back): same y on
// t < L, zero y and zero cache rows on t >= L, same hN (cN), and the same gradients (dx zero on
// t >= L, weight gradients summed over the batch). A length-0 sequence keeps h0 and passes dhN to dh0.
// Tolerance atol 1e-5 + rtol 1e-4: float32, and the batched run may sum in a different order.

type Cell = 'rnn' | 'lstm' | 'gru-after' | 'gru-before';
const SEM = { atol: 1e-5, rtol: 1e-4 } as const;

interface Problem {
  T: number;
  B: number;
  D: number;
  H: number;
  G: number;
  x: Float32Array;
  wIh: Float32Array;
  wHh: Float32Array;
  bIh: Float32Array;
  bHh: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
  peep: Float32Array;
  dy: Float32Array;
  dhN: Float32Array;
  dcN: Float32Array;
}

function makeProblem(cell: Cell, seed: number): Problem {
  const rng = new Rng(seed);
  const T = 5,
    B = 3,
    D = 3,
    H = 4;
  const G = cell === 'rnn' ? 1 : cell === 'lstm' ? 4 : 3;
  return {
    T,
    B,
    D,
    H,
    G,
    x: rng.randn(T * B * D),
    wIh: rng.uniform(G * H * D, -0.5, 0.5),
    wHh: rng.uniform(G * H * H, -0.5, 0.5),
    bIh: rng.uniform(G * H, -0.3, 0.3),
    bHh: rng.uniform(G * H, -0.3, 0.3),
    h0: rng.uniform(B * H, -0.5, 0.5),
    c0: rng.uniform(B * H, -0.5, 0.5),
    peep: rng.uniform(3 * H, -0.5, 0.5),
    dy: rng.randn(T * B * H),
    dhN: rng.randn(B * H),
    dcN: rng.randn(B * H),
  };
}

interface RunResult {
  y: Float32Array;
  hN: Float32Array;
  cN: Float32Array | null;
  cache: Float32Array;
  dx: Float32Array;
  dh0: Float32Array;
  dc0: Float32Array | null;
  dWeightIh: Float32Array;
  dWeightHh: Float32Array;
  dBiasIh: Float32Array | null;
  dBiasHh: Float32Array | null;
  dWeightPeephole: Float32Array | null;
}

/** One forward + backward of `cell` on the given data. */
function run(
  backend: Backend,
  cell: Cell,
  p: Problem,
  data: {
    T: number;
    B: number;
    x: Float32Array;
    h0: Float32Array;
    c0: Float32Array;
    dy: Float32Array;
    dhN: Float32Array;
    dcN: Float32Array;
  },
  lengths: Int32Array | null,
  reverse: boolean,
): RunResult {
  const common = {
    seqLen: data.T,
    batch: data.B,
    inputSize: p.D,
    hiddenSize: p.H,
    x: data.x,
    weightIh: p.wIh,
    weightHh: p.wHh,
    biasIh: p.bIh,
    biasHh: p.bHh,
    h0: data.h0,
    lengths,
    reverse,
  };
  const extra = { dy: data.dy, dhN: data.dhN };
  if (cell === 'rnn') {
    const fwd = backend.rnnForward(common);
    const g = backend.rnnBackward({ ...common, ...extra, cache: fwd.cache });
    return { ...fwd, cN: null, ...g, dc0: null, dWeightPeephole: null };
  }
  if (cell === 'lstm') {
    const args = { ...common, c0: data.c0, weightPeephole: p.peep };
    const fwd = backend.lstmForward(args);
    const g = backend.lstmBackward({ ...args, ...extra, dcN: data.dcN, cache: fwd.cache });
    return { ...fwd, ...g };
  }
  const args = { ...common, resetAfter: cell === 'gru-after' };
  const fwd = backend.gruForward(args);
  const g = backend.gruBackward({ ...args, ...extra, cache: fwd.cache });
  return { ...fwd, cN: null, ...g, dc0: null, dWeightPeephole: null };
}

/** Rows [t, b, :] of a [T, B, W] array, for t in `times`, as a [times.length, 1, W] array. */
function pickRows(a: Float32Array, B: number, W: number, b: number, times: readonly number[]): Float32Array {
  const out = new Float32Array(times.length * W);
  times.forEach((t, k) => out.set(a.subarray((t * B + b) * W, (t * B + b + 1) * W), k * W));
  return out;
}

const cells: readonly Cell[] = ['rnn', 'lstm', 'gru-after', 'gru-before'];
/** Widths (in units of H) of the cache blocks, in order (native/cells.h). */
const cacheBlocks: Record<Cell, readonly number[]> = {
  rnn: [1, 1], // hPrev | hNew
  lstm: [4, 1, 1, 1, 1], // gates | hPrev | cPrev | c | tanh(c)
  'gru-after': [3, 1, 1], // gates | hPrev | hn
  'gru-before': [3, 1, 1],
};

describe.each(backends.map((b) => [b.name, b] as const))('lengths and reverse, %s backend', (_name, backend) => {
  for (const cell of cells) {
    for (const reverse of [false, true]) {
      it(`${cell}${reverse ? ' reverse' : ''}: lengths [5, 0, 3] match per-sequence runs`, () => {
        const p = makeProblem(cell, 7);
        const { T, B, D, H } = p;
        const lengths = new Int32Array([5, 0, 3]);
        const all = run(backend, cell, p, p, lengths, reverse);

        const sum = {
          dWeightIh: new Float64Array(all.dWeightIh.length),
          dWeightHh: new Float64Array(all.dWeightHh.length),
          dBiasIh: new Float64Array(p.bIh.length),
          dBiasHh: new Float64Array(p.bHh.length),
          dWeightPeephole: new Float64Array(3 * H),
        };
        for (let b = 0; b < B; b++) {
          const L = lengths[b];
          const row = (a: Float32Array, W: number) => a.subarray(b * W, (b + 1) * W);
          // Masked steps: zero output, zero cache rows, zero dx.
          const masked = Array.from({ length: T - L }, (_, k) => L + k);
          expect(
            Array.from(pickRows(all.y, B, H, b, masked)).every((v) => v === 0),
            `y masked, b=${b}`,
          ).toBe(true);
          expect(
            Array.from(pickRows(all.dx, B, D, b, masked)).every((v) => v === 0),
            `dx masked, b=${b}`,
          ).toBe(true);
          let blockStart = 0;
          for (const width of cacheBlocks[cell]) {
            // Each cache block is [T*B, width*H], rows indexed by time.
            const block = all.cache.subarray(blockStart, blockStart + T * B * width * H);
            const rows = Array.from(pickRows(block, B, width * H, b, masked));
            expect(
              rows.every((v) => v === 0),
              `cache masked, b=${b}`,
            ).toBe(true);
            blockStart += T * B * width * H;
          }
          expect(blockStart).toBe(all.cache.length);
          if (L === 0) {
            expectClose(row(all.hN, H), row(p.h0, H), SEM, `hN = h0, b=${b}`);
            expectClose(row(all.dh0, H), row(p.dhN, H), SEM, `dh0 = dhN, b=${b}`);
            if (all.cN && all.dc0) {
              expectClose(row(all.cN, H), row(p.c0, H), SEM, `cN = c0, b=${b}`);
              expectClose(row(all.dc0, H), row(p.dcN, H), SEM, `dc0 = dcN, b=${b}`);
            }
            continue;
          }
          // The time steps of sequence b in the order the single run sees them.
          const steps = Array.from({ length: L }, (_, k) => (reverse ? L - 1 - k : k));
          const one = run(
            backend,
            cell,
            p,
            {
              T: L,
              B: 1,
              x: pickRows(p.x, B, D, b, steps),
              h0: row(p.h0, H),
              c0: row(p.c0, H),
              dy: pickRows(p.dy, B, H, b, steps),
              dhN: row(p.dhN, H),
              dcN: row(p.dcN, H),
            },
            null,
            false,
          );
          expectClose(pickRows(all.y, B, H, b, steps), one.y, SEM, `y, b=${b}`);
          expectClose(row(all.hN, H), one.hN, SEM, `hN, b=${b}`);
          expectClose(pickRows(all.dx, B, D, b, steps), one.dx, SEM, `dx, b=${b}`);
          expectClose(row(all.dh0, H), one.dh0, SEM, `dh0, b=${b}`);
          if (all.cN && one.cN && all.dc0 && one.dc0) {
            expectClose(row(all.cN, H), one.cN, SEM, `cN, b=${b}`);
            expectClose(row(all.dc0, H), one.dc0, SEM, `dc0, b=${b}`);
          }
          const add = (acc: Float64Array, g: Float32Array | null) =>
            g?.forEach((v, i) => {
              acc[i] += v;
            });
          add(sum.dWeightIh, one.dWeightIh);
          add(sum.dWeightHh, one.dWeightHh);
          add(sum.dBiasIh, one.dBiasIh);
          add(sum.dBiasHh, one.dBiasHh);
          add(sum.dWeightPeephole, one.dWeightPeephole);
        }
        expectClose(all.dWeightIh, sum.dWeightIh, SEM, 'dWeightIh');
        expectClose(all.dWeightHh, sum.dWeightHh, SEM, 'dWeightHh');
        expectClose(all.dBiasIh ?? [], sum.dBiasIh, SEM, 'dBiasIh');
        expectClose(all.dBiasHh ?? [], sum.dBiasHh, SEM, 'dBiasHh');
        if (cell === 'lstm') expectClose(all.dWeightPeephole ?? [], sum.dWeightPeephole, SEM, 'dWeightPeephole');
      });
    }
  }
});

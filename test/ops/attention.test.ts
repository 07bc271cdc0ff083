/**
 * The fused attention decoder (lib/ops/attention.ts, twin lib/js/attention.ts): finite-difference
 * gradient checks of every variant x input feeding x cell x depth with source masks (float64 through
 * the twin); masked positions get alpha exactly 0; a T=1 step with carried state equals the whole
 * sequence; the op's argument errors; PyTorch's values and gradients
 * (test/fixtures/torch-attention.safetensors, written by scripts/attention-fixture.py).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { loadAddon, nativeAvailable } from '../../lib/backend/addon.js';
import { ShapeError, ValueError } from '../../lib/errors.js';
import { loadSafetensors } from '../../lib/io/safetensors.js';
import { type JsAttnDecoderForwardArgs, type JsAttnLayer, attnDecoderBackward, attnDecoderForward } from '../../lib/js/attention.js';
import { type FloatArray } from '../../lib/js/common.js';
import { attnDecoderCacheOffsets, attnDecoderCacheSize, type AttnDecoderForwardArgs } from '../../lib/ops/attention.js';
import { ops } from '../../lib/ops/index.js';
import { type AttentionKind } from '../../lib/ops/layout.js';
import { type Config, type Ctor, f32Args, makeArgs } from '../helpers/attention.js';
import { expectClose, Rng } from '../helpers/index.js';
import { errorOf } from '../helpers/errors.js';

/** Loss weights: sum(y Ry) + sum(hN Rh) + sum(cN Rc) + sum(y[T-1] Rf). */
function lossWeights(a: JsAttnDecoderForwardArgs<Float64Array>, seed = 9) {
  const rng = new Rng(seed);
  const { seqLen: T, batch: B, hiddenSize: H, numLayers: L } = a;
  return {
    dy: rng.uniform(T * B * H, -1, 1, Float64Array),
    dhN: rng.uniform(L * B * H, -1, 1, Float64Array),
    dcN: a.cell === 'lstm' ? rng.uniform(L * B * H, -1, 1, Float64Array) : null,
    dFeedN: rng.uniform(B * H, -1, 1, Float64Array),
  };
}

function loss(a: JsAttnDecoderForwardArgs<Float64Array>, w: ReturnType<typeof lossWeights>): number {
  const r = attnDecoderForward<Float64Array>({ ...a, keepCache: false, returnAttention: false });
  const { seqLen: T, batch: B, hiddenSize: H } = a;
  let s = 0;
  for (let i = 0; i < r.y.length; i++) s += r.y[i] * w.dy[i];
  for (let i = 0; i < r.hN.length; i++) s += r.hN[i] * w.dhN[i];
  if (r.cN && w.dcN) for (let i = 0; i < r.cN.length; i++) s += r.cN[i] * w.dcN[i];
  for (let i = 0; i < B * H; i++) s += r.y[(T - 1) * B * H + i] * w.dFeedN[i];
  return s;
}

/** Central differences of `loss` over every element of `p`, compared with `analytic`. */
function checkGrad(name: string, p: Float64Array, analytic: ArrayLike<number>, f: () => number): void {
  expect(analytic.length, name).toBe(p.length);
  const eps = 1e-6;
  const num = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const old = p[i];
    p[i] = old + eps;
    const up = f();
    p[i] = old - eps;
    const down = f();
    p[i] = old;
    num[i] = (up - down) / (2 * eps);
  }
  expectClose(analytic, num, { atol: 1e-7, rtol: 1e-6 }, name);
}

function gradCheck(cfg: Config): void {
  const a = makeArgs<Float64Array>(cfg, Float64Array);
  const w = lossWeights(a);
  const fwd = attnDecoderForward<Float64Array>(a);
  const g = attnDecoderBackward<Float64Array>({ ...a, cache: fwd.cache!, ...w });
  const f = () => loss(a, w);
  checkGrad('x', a.x, g.dx, f);
  checkGrad('memory', a.memory, g.dMemory, f);
  checkGrad('h0', a.h0!, g.dh0, f);
  if (a.c0) checkGrad('c0', a.c0, g.dc0!, f);
  else expect(g.dc0).toBeNull();
  checkGrad('feed0', a.feed0!, g.dFeed0, f);
  if (!cfg.inputFeed) expect(Array.from(g.dFeed0).every((v) => v === 0)).toBe(true);
  a.layers.forEach((layer, l) => {
    const d = g.dLayers[l];
    checkGrad(`layers[${l}].weightIh`, layer.weightIh, d.dWeightIh, f);
    checkGrad(`layers[${l}].weightHh`, layer.weightHh, d.dWeightHh, f);
    if (layer.biasIh) checkGrad(`layers[${l}].biasIh`, layer.biasIh, d.dBiasIh!, f);
    else expect(d.dBiasIh).toBeNull();
    if (layer.biasHh) checkGrad(`layers[${l}].biasHh`, layer.biasHh, d.dBiasHh!, f);
    else expect(d.dBiasHh).toBeNull();
  });
  const at = a.attn;
  const d = g.dAttn;
  checkGrad('attn.outWeight', at.outWeight, d.dOutWeight, f);
  const pairs = [
    ['weight', 'dWeight'],
    ['queryWeight', 'dQueryWeight'],
    ['queryBias', 'dQueryBias'],
    ['keyWeight', 'dKeyWeight'],
    ['v', 'dV'],
  ] as const;
  for (const [k, dk] of pairs) {
    const p = at[k];
    if (p) checkGrad(`attn.${k}`, p, d[dk]!, f);
    else expect(d[dk]).toBeUndefined();
  }
}

const CELLS = [{ cell: 'lstm' }, { cell: 'gru', resetAfter: true }, { cell: 'gru', resetAfter: false }, { cell: 'rnn' }] as const;
const KINDS: readonly AttentionKind[] = ['dot', 'general', 'concat', 'additive'];

describe('attnDecoder gradients by finite differences (float64 twin, srcLengths [4, 1, 2])', () => {
  for (const attention of KINDS) {
    for (const inputFeed of [true, false]) {
      for (const c of CELLS) {
        for (const numLayers of [1, 2]) {
          const label = `${attention}, ${inputFeed ? 'input feeding' : 'no feeding'}, ${c.cell}${c.cell === 'gru' ? (c.resetAfter ? ' (reset after)' : ' (reset before)') : ''}, L=${numLayers}`;
          it(label, () => gradCheck({ ...c, attention, inputFeed, numLayers }));
        }
      }
    }
  }
});

describe('attnDecoder forward', () => {
  for (const attention of KINDS) {
    it(`${attention}: masked positions get alpha exactly 0, each row sums to 1`, () => {
      const a = f32Args({ cell: 'lstm', attention, inputFeed: true, numLayers: 2 });
      const r = ops.attnDecoderForward(a, { backend: 'js' });
      const { seqLen: T, batch: B, srcLen: S } = a;
      const lens = a.srcLengths as Int32Array;
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < B; b++) {
          let sum = 0;
          for (let j = 0; j < S; j++) {
            const al = r.attention![(t * B + b) * S + j];
            if (j >= lens[b]) expect(al).toBe(0);
            else expect(al).toBeGreaterThan(0);
            sum += al;
          }
          expect(sum).toBeCloseTo(1, 6);
        }
      }
      // a row of length 1 attends to its one position only: ctx = m_0, so y is tanh(Wc [m_0; q])
      const off = attnDecoderCacheOffsets(a);
      const E = a.memorySize;
      for (let e = 0; e < E; e++) expect(r.cache![off.ctx + 1 * E + e]).toBeCloseTo(a.memory[(0 * B + 1) * E + e], 6);
    });
  }

  it('the op (js backend, float32) equals the float64 twin; keepCache/returnAttention false change nothing else', async () => {
    for (const attention of KINDS) {
      for (const c of CELLS) {
        const cfg = { ...c, attention, inputFeed: true, numLayers: 2 };
        const a = f32Args(cfg);
        const r = ops.attnDecoderForward(a, { backend: 'js' });
        const ref = attnDecoderForward<Float64Array>(makeArgs<Float64Array>(cfg, Float64Array));
        expectClose(r.y, ref.y, { atol: 1e-5, rtol: 1e-5 }, 'y');
        expectClose(r.hN, ref.hN, { atol: 1e-5, rtol: 1e-5 }, 'hN');
        expectClose(r.attention!, ref.attention!, { atol: 1e-5, rtol: 1e-5 }, 'attention');
        expect(r.cache!.length).toBe(attnDecoderCacheSize(a));
        expectClose(r.cache!, ref.cache!, { atol: 1e-5, rtol: 1e-5 }, 'cache');
        const lean = await ops.attnDecoderForwardAsync({ ...a, keepCache: false, returnAttention: false }, { backend: 'js' });
        expect(lean.cache).toBeNull();
        expect(lean.attention).toBeNull();
        expect(Array.from(lean.y)).toEqual(Array.from(r.y));
        expect(Array.from(lean.hN)).toEqual(Array.from(r.hN));
        if (c.cell === 'lstm') expect(Array.from(lean.cN!)).toEqual(Array.from(r.cN!));
        else expect(lean.cN).toBeNull();
        if (attention === 'dot') expect(r.keys).toBeNull();
        else expect(r.keys!.length).toBe(a.srcLen * a.batch * (attention === 'general' ? a.hiddenSize : a.attentionSize!));
      }
    }
  });

  for (const attention of KINDS) {
    for (const c of CELLS) {
      it(`${attention}, ${c.cell}${c.cell === 'gru' && !c.resetAfter ? ' (reset before)' : ''}: T=1 steps with carried state (outputs in place, keys reused) equal the whole sequence`, () => {
        const cfg = { ...c, attention, inputFeed: true, numLayers: 2, seqLen: 4 };
        const a = f32Args(cfg);
        const whole = ops.attnDecoderForward(a, { backend: 'js' });
        const { seqLen: T, batch: B, inputSize: D, hiddenSize: H, srcLen: S, numLayers: L } = a;
        const h = Float32Array.from(a.h0!);
        const cState = a.c0 ? Float32Array.from(a.c0) : null;
        const feed = Float32Array.from(a.feed0!);
        const yStep = new Float32Array(B * H);
        const attnStep = new Float32Array(B * S);
        const keys = whole.keys;
        for (let t = 0; t < T; t++) {
          const r = ops.attnDecoderForward(
            {
              ...a,
              seqLen: 1,
              x: a.x.subarray(t * B * D, (t + 1) * B * D),
              h0: h,
              c0: cState,
              feed0: feed,
              keys,
              keepCache: false,
              hOut: h,
              cOut: cState,
              yOut: yStep,
              attentionOut: attnStep,
            },
            { backend: 'js' },
          );
          expect(r.y).toBe(yStep);
          expect(r.hN).toBe(h);
          expectClose(yStep, whole.y.subarray(t * B * H, (t + 1) * B * H), { atol: 1e-6, rtol: 1e-6 }, `y[${t}]`);
          expectClose(attnStep, whole.attention!.subarray(t * B * S, (t + 1) * B * S), { atol: 1e-6, rtol: 1e-6 }, `attention[${t}]`);
          feed.set(yStep);
        }
        expectClose(h, whole.hN, { atol: 1e-6, rtol: 1e-6 }, 'hN');
        if (cState) expectClose(cState, whole.cN!, { atol: 1e-6, rtol: 1e-6 }, 'cN');
        expect(h.length).toBe(L * B * H);
      });
    }
  }
});

describe('attnDecoder backward through the op', () => {
  it('js backend (float32) matches the float64 twin, sync and async', async () => {
    for (const attention of KINDS) {
      const cfg = { cell: 'gru' as const, resetAfter: true, attention, inputFeed: true, numLayers: 2 };
      const a = f32Args(cfg);
      const a64 = makeArgs<Float64Array>(cfg, Float64Array);
      const w = lossWeights(a64);
      const f = ops.attnDecoderForward(a, { backend: 'js' });
      const g = await ops.attnDecoderBackwardAsync(
        { ...a, cache: f.cache!, dy: Float32Array.from(w.dy), dhN: Float32Array.from(w.dhN), dFeedN: Float32Array.from(w.dFeedN) },
        { backend: 'js' },
      );
      const ref = attnDecoderBackward<Float64Array>({ ...a64, cache: attnDecoderForward<Float64Array>(a64).cache!, ...w });
      const tol = { atol: 1e-5, rtol: 1e-4 };
      expectClose(g.dx, ref.dx, tol, 'dx');
      expectClose(g.dMemory, ref.dMemory, tol, 'dMemory');
      expectClose(g.dh0, ref.dh0, tol, 'dh0');
      expectClose(g.dFeed0, ref.dFeed0, tol, 'dFeed0');
      expectClose(g.dLayers[1].dWeightHh, ref.dLayers[1].dWeightHh, tol, 'dWeightHh');
      expectClose(g.dAttn.dOutWeight, ref.dAttn.dOutWeight, tol, 'dOutWeight');
      expect(Object.keys(g.dAttn).sort()).toEqual(Object.keys(ref.dAttn).sort());
      const sync = ops.attnDecoderBackward({ ...a, cache: f.cache!, dy: Float32Array.from(w.dy) }, { backend: 'js' });
      expect(sync.dc0).toBeNull();
    }
  });
});

describe('attnDecoder argument errors', () => {
  const base = () => f32Args({ cell: 'lstm', attention: 'additive', inputFeed: true, numLayers: 2 });
  const fwd = (over: Record<string, unknown>) =>
    errorOf(() => ops.attnDecoderForward({ ...base(), ...over } as AttnDecoderForwardArgs, { backend: 'js' }));
  const expectErr = (e: Error & { argument?: string }, Type: typeof ShapeError | typeof ValueError, argument: string) => {
    expect(e).toBeInstanceOf(Type);
    expect(e.argument).toBe(argument);
  };

  it('sizes', () => {
    expectErr(fwd({ seqLen: 0 }), ValueError, 'seqLen');
    expectErr(fwd({ batch: 1.5 }), ValueError, 'batch');
    expectErr(fwd({ srcLen: 0 }), ValueError, 'srcLen');
    expectErr(fwd({ memorySize: -1 }), ValueError, 'memorySize');
    expectErr(fwd({ hiddenSize: 0 }), ValueError, 'hiddenSize');
    expectErr(fwd({ numLayers: 0 }), ValueError, 'numLayers');
    expectErr(fwd({ attentionSize: undefined }), ValueError, 'attentionSize');
    expectErr(fwd({ cell: 'lsmt' }), ValueError, 'cell');
    expectErr(fwd({ attention: 'luong' }), ValueError, 'attention');
    expectErr(fwd({ inputFeed: 1 }), ValueError, 'inputFeed');
    const dot = f32Args({ cell: 'rnn', attention: 'dot', inputFeed: false, numLayers: 1 });
    expectErr(
      errorOf(() =>
        ops.attnDecoderForward({ ...dot, memorySize: 5, memory: new Float32Array(5 * dot.srcLen * dot.batch) }, { backend: 'js' }),
      ),
      ShapeError,
      'memorySize',
    );
    expectErr(
      errorOf(() => ops.attnDecoderForward({ ...dot, keys: new Float32Array(1) }, { backend: 'js' })),
      ValueError,
      'keys',
    );
  });

  it('arrays and lengths', () => {
    const a = base();
    expectErr(fwd({ x: new Float32Array(a.x.length - 1) }), ShapeError, 'x');
    expectErr(fwd({ x: new Float64Array(a.x.length) }), ValueError, 'x');
    expectErr(fwd({ memory: new Float32Array(1) }), ShapeError, 'memory');
    expectErr(fwd({ srcLengths: Int32Array.from([4, 0, 2]) }), ValueError, 'srcLengths');
    expectErr(fwd({ srcLengths: Int32Array.from([4, 5, 2]) }), ValueError, 'srcLengths');
    expectErr(fwd({ srcLengths: [4, 1] }), ShapeError, 'srcLengths');
    expectErr(fwd({ h0: new Float32Array(3) }), ShapeError, 'h0');
    expectErr(fwd({ c0: new Float32Array(3) }), ShapeError, 'c0');
    expectErr(fwd({ feed0: new Float32Array(3) }), ShapeError, 'feed0');
    expectErr(fwd({ keys: new Float32Array(3) }), ShapeError, 'keys');
    expectErr(fwd({ yOut: new Float32Array(3) }), ShapeError, 'yOut');
    expectErr(fwd({ hOut: new Float32Array(3) }), ShapeError, 'hOut');
    expectErr(fwd({ cOut: new Float32Array(3) }), ShapeError, 'cOut');
    expectErr(fwd({ attentionOut: new Float32Array(3) }), ShapeError, 'attentionOut');
    expectErr(fwd({ returnAttention: false, attentionOut: new Float32Array(a.seqLen * a.batch * a.srcLen) }), ValueError, 'attentionOut');
    expectErr(fwd({ keepCache: 'yes' }), ValueError, 'keepCache');
    const gru = f32Args({ cell: 'gru', attention: 'dot', inputFeed: false, numLayers: 1 });
    expectErr(
      errorOf(() => ops.attnDecoderForward({ ...gru, c0: new Float32Array(9) }, { backend: 'js' })),
      ValueError,
      'c0',
    );
    expectErr(
      errorOf(() => ops.attnDecoderForward({ ...gru, nonlinearity: 'relu' }, { backend: 'js' })),
      ValueError,
      'nonlinearity',
    );
  });

  it('layers and attention weights', () => {
    const a = base();
    expectErr(fwd({ layers: a.layers.slice(0, 1) }), ShapeError, 'layers');
    expectErr(fwd({ layers: 'x' }), ValueError, 'layers');
    const bad = (l: number, over: Record<string, unknown>) => a.layers.map((x, i) => (i === l ? { ...x, ...over } : x));
    // layer 0 takes D + H inputs with input feeding: the D-wide weight of a decoder without it is refused
    expectErr(fwd({ layers: bad(0, { weightIh: new Float32Array(4 * a.hiddenSize * a.inputSize) }) }), ShapeError, 'layers[0].weightIh');
    expectErr(fwd({ layers: bad(1, { weightHh: new Float32Array(2) }) }), ShapeError, 'layers[1].weightHh');
    expectErr(fwd({ layers: bad(1, { biasIh: new Float32Array(2) }) }), ShapeError, 'layers[1].biasIh');
    expectErr(fwd({ layers: bad(0, { weightPeephole: new Float32Array(9) }) }), ValueError, 'layers[0].weightPeephole');
    expectErr(fwd({ attn: { ...a.attn, v: new Float32Array(2) } }), ShapeError, 'attn.v');
    expectErr(fwd({ attn: { ...a.attn, keyWeight: undefined } }), ValueError, 'attn.keyWeight');
    expectErr(fwd({ attn: { ...a.attn, weight: new Float32Array(4) } }), ValueError, 'attn.weight');
    expectErr(fwd({ attn: { ...a.attn, wieght: new Float32Array(4) } }), ValueError, 'attn.wieght');
    expectErr(fwd({ attn: { ...a.attn, outWeight: new Float32Array(4) } }), ShapeError, 'attn.outWeight');
    const dot = f32Args({ cell: 'rnn', attention: 'dot', inputFeed: false, numLayers: 1 });
    expectErr(
      errorOf(() => ops.attnDecoderForward({ ...dot, attn: { ...dot.attn, v: new Float32Array(4) } }, { backend: 'js' })),
      ValueError,
      'attn.v',
    );
  });

  it('backward extras', () => {
    const a = base();
    const f = ops.attnDecoderForward(a, { backend: 'js' });
    const bwd = (over: Record<string, unknown>) =>
      errorOf(() => ops.attnDecoderBackward({ ...a, cache: f.cache!, ...over }, { backend: 'js' }));
    expectErr(bwd({ cache: new Float32Array(f.cache!.length - 1) }), ShapeError, 'cache');
    expectErr(bwd({ cache: undefined }), ValueError, 'cache');
    expectErr(bwd({ dy: new Float32Array(2) }), ShapeError, 'dy');
    expectErr(bwd({ dhN: new Float32Array(2) }), ShapeError, 'dhN');
    expectErr(bwd({ dcN: new Float32Array(2) }), ShapeError, 'dcN');
    expectErr(bwd({ dFeedN: new Float32Array(2) }), ShapeError, 'dFeedN');
  });

  it('the cache layout', () => {
    const a = base();
    const o = attnDecoderCacheOffsets(a);
    const { seqLen: T, batch: B, srcLen: S, inputSize: D, memorySize: E, hiddenSize: H, attentionSize: Aw } = a;
    const R = T * B;
    expect(o.layers[0]).toEqual({
      input: 0,
      inputWidth: D + H,
      cell: { gates: R * (D + H), hPrev: R * (D + H + 4 * H), cPrev: R * (D + 6 * H), c: R * (D + 7 * H), tanhC: R * (D + 8 * H) },
    });
    expect(o.layers[1].input).toBe(R * (D + 9 * H));
    expect(o.hTop).toBe(R * (D + 9 * H + 9 * H));
    expect(o.query).toBe(o.hTop + R * H);
    expect(o.alpha).toBe(o.query + R * Aw!);
    expect(o.ctx).toBe(o.alpha + R * S);
    expect(o.y).toBe(o.ctx + R * E);
    expect(o.keys).toBe(o.y + R * H);
    expect(o.size).toBe(o.keys + S * B * Aw!);
    expect(attnDecoderCacheSize(a)).toBe(o.size);
    expectErr(
      errorOf(() => attnDecoderCacheSize({ ...a, srcLen: 0 })),
      ValueError,
      'srcLen',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// PyTorch

const fixture = loadSafetensors(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch-attention.safetensors'));
/** The cases of scripts/attention-fixture.py: (cell, attention, inputFeed). */
const TORCH_CASES = [
  ['lstm', 'dot', true],
  ['gru', 'general', true],
  ['rnn', 'concat', false],
  ['lstm', 'additive', true],
  ['gru', 'additive', false],
  ['lstm', 'concat', true],
  ['rnn', 'general', true],
] as const;
const ATTN_NAMES = ['weight', 'queryWeight', 'queryBias', 'keyWeight', 'v', 'outWeight'] as const;
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

/** The fixture's arguments of case `k`, as `C` arrays. */
function torchArgs<A extends FloatArray>(
  k: number,
  C: Ctor,
): { args: JsAttnDecoderForwardArgs<A>; t: (name: string) => Float32Array | null } {
  const t = (name: string): Float32Array | null => (fixture.tensors[`${k}.${name}`]?.data as Float32Array | undefined) ?? null;
  const as = (name: string): A | null => {
    const v = t(name);
    return v ? (C.from(v) as A) : null;
  };
  const [cell, attention, inputFeed] = TORCH_CASES[k];
  const [T, B, S, D, H, Aw, L] = [5, 3, 7, 4, 5, 9, 2];
  const E = attention === 'dot' ? H : 6;
  const layers: JsAttnLayer<A>[] = [0, 1].map((l) => ({
    weightIh: as(`layers.${l}.weightIh`)!,
    weightHh: as(`layers.${l}.weightHh`)!,
    biasIh: as(`layers.${l}.biasIh`),
    biasHh: as(`layers.${l}.biasHh`),
  }));
  const attn = Object.fromEntries(
    ATTN_NAMES.filter((n) => t(`attn.${n}`)).map((n) => [n, as(`attn.${n}`)]),
  ) as unknown as JsAttnDecoderForwardArgs<A>['attn'];
  const args: JsAttnDecoderForwardArgs<A> = {
    cell,
    attention,
    inputFeed,
    seqLen: T,
    batch: B,
    srcLen: S,
    inputSize: D,
    memorySize: E,
    hiddenSize: H,
    attentionSize: Aw,
    numLayers: L,
    x: as('x')!,
    memory: as('memory')!,
    srcLengths: fixture.tensors[`${k}.srcLengths`].data as Int32Array,
    h0: as('h0'),
    c0: as('c0'),
    feed0: as('feed0'),
    layers,
    attn,
  };
  return { args, t };
}

describe('attnDecoder against PyTorch (scripts/attention-fixture.py)', () => {
  TORCH_CASES.forEach(([cell, attention, inputFeed], k) => {
    for (const precision of ['float64 twin', 'float32 op (js backend)'] as const) {
      it(`${cell}, ${attention}, ${inputFeed ? 'input feeding' : 'no feeding'}: ${precision}`, () => {
        const f64 = precision === 'float64 twin';
        const { args, t } = torchArgs<FloatArray>(k, f64 ? Float64Array : Float32Array);
        const tol = f64 ? { atol: 1e-5, rtol: 1e-5 } : { atol: 5e-5, rtol: 1e-4 };
        const fwd = f64 ? attnDecoderForward(args) : ops.attnDecoderForward(args as AttnDecoderForwardArgs, { backend: 'js' });
        expectClose(fwd.y, t('y')!, tol, 'y');
        expectClose(fwd.attention!, t('attention')!, tol, 'attention');
        expectClose(fwd.hN, t('hN')!, tol, 'hN');
        if (cell === 'lstm') expectClose(fwd.cN!, t('cN')!, tol, 'cN');
        const C = f64 ? Float64Array : Float32Array;
        const extra = { cache: fwd.cache!, dy: C.from(t('dy')!), dhN: C.from(t('dhN')!), dcN: cell === 'lstm' ? C.from(t('dcN')!) : null };
        const g = f64
          ? attnDecoderBackward({ ...args, ...extra } as Parameters<typeof attnDecoderBackward<Float64Array>>[0])
          : ops.attnDecoderBackward({ ...(args as AttnDecoderForwardArgs), ...(extra as { cache: Float32Array }) }, { backend: 'js' });
        expectClose(g.dx, t('dx')!, tol, 'dx');
        expectClose(g.dMemory, t('dMemory')!, tol, 'dMemory');
        expectClose(g.dh0, t('dh0')!, tol, 'dh0');
        if (cell === 'lstm') expectClose(g.dc0!, t('dc0')!, tol, 'dc0');
        expectClose(g.dFeed0, t('dFeed0')!, tol, 'dFeed0');
        for (let l = 0; l < 2; l++) {
          for (const n of ['WeightIh', 'WeightHh', 'BiasIh', 'BiasHh'] as const) {
            expectClose(g.dLayers[l][`d${n}`]!, t(`dLayers.${l}.d${n}`)!, tol, `dLayers[${l}].d${n}`);
          }
        }
        const keys = Object.keys(g.dAttn).sort();
        expect(keys).toEqual(
          ATTN_NAMES.filter((n) => t(`attn.${n}`))
            .map((n) => `d${cap(n)}`)
            .sort(),
        );
        for (const key of keys) expectClose(g.dAttn[key as keyof typeof g.dAttn]!, t(`dAttn.${key}`)!, tol, `dAttn.${key}`);
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// native vs js (only where the addon has the op)

const hasNative = nativeAvailable() && typeof loadAddon().attnDecoderForward === 'function';

describe.runIf(hasNative)('attnDecoder native vs js', () => {
  it('the addon computes the same cache size', () => {
    for (const attention of KINDS) {
      for (const c of CELLS) {
        for (const inputFeed of [true, false]) {
          const a = f32Args({ ...c, attention, inputFeed, numLayers: 2 });
          const { x: _x, memory: _m, srcLengths: _s, h0: _h, c0: _c, feed0: _f, layers: _l, attn: _a, ...sizes } = a;
          const native = (loadAddon().attnDecoderCacheSize as (o: object) => number)(sizes);
          expect(native).toBe(attnDecoderCacheSize(a));
        }
      }
    }
  });

  for (const attention of KINDS) {
    for (const c of CELLS) {
      for (const inputFeed of [true, false]) {
        const label = `${attention}, ${c.cell}${c.cell === 'gru' && !c.resetAfter ? ' (reset before)' : ''}, ${inputFeed ? 'feeding' : 'no feeding'}`;
        it(label, async () => {
          const cfg = { ...c, attention, inputFeed, numLayers: 2, seqLen: 4 };
          const a = f32Args(cfg);
          const tol = { atol: 2e-5, rtol: 1e-4 };
          const js = ops.attnDecoderForward(a, { backend: 'js' });
          const nat = ops.attnDecoderForward(a, { backend: 'native' });
          expectClose(nat.y, js.y, tol, 'y');
          expectClose(nat.attention!, js.attention!, tol, 'attention');
          expectClose(nat.hN, js.hN, tol, 'hN');
          if (js.cN) expectClose(nat.cN!, js.cN, tol, 'cN');
          if (js.keys) expectClose(nat.keys!, js.keys, tol, 'keys');
          expectClose(nat.cache!, js.cache!, tol, 'cache');
          const w = lossWeights(makeArgs<Float64Array>(cfg, Float64Array));
          const extra = {
            dy: Float32Array.from(w.dy),
            dhN: Float32Array.from(w.dhN),
            dcN: w.dcN ? Float32Array.from(w.dcN) : null,
            dFeedN: Float32Array.from(w.dFeedN),
          };
          const gj = ops.attnDecoderBackward({ ...a, cache: js.cache!, ...extra }, { backend: 'js' });
          const gn = await ops.attnDecoderBackwardAsync({ ...a, cache: nat.cache!, ...extra }, { backend: 'native' });
          for (const k of ['dx', 'dMemory', 'dh0', 'dc0', 'dFeed0'] as const) {
            if (gj[k]) expectClose(gn[k]!, gj[k], tol, k);
            else expect(gn[k]).toBeNull();
          }
          gj.dLayers.forEach((d, l) => {
            for (const k of ['dWeightIh', 'dWeightHh', 'dBiasIh', 'dBiasHh'] as const) {
              if (d[k]) expectClose(gn.dLayers[l][k]!, d[k], tol, `dLayers[${l}].${k}`);
              else expect(gn.dLayers[l][k]).toBeNull();
            }
          });
          expect(Object.keys(gn.dAttn).sort()).toEqual(Object.keys(gj.dAttn).sort());
          for (const [k, v] of Object.entries(gj.dAttn)) expectClose(gn.dAttn[k as keyof typeof gn.dAttn]!, v, tol, `dAttn.${k}`);
        });
      }
    }
  }
});

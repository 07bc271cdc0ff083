/**
 * The Jordan network (native/jordan.h, lib/js/jordan.ts, lib/nn/jordan.ts, lib/layers/jordan.ts):
 * float64 finite differences of every gradient of the JS kernel, a hand-derived golden case that
 * pins the OUTPUT (not h) as what is fed back, native vs JS parity, thread-count determinism, the
 * layer's gradient check, a small task it learns, and typed argument errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ShapeError, ValueError } from '../lib/errors.js';
import * as js from '../lib/js/jordan.js';
import { jordan } from '../lib/layers/index.js';
import { sequence } from '../lib/layers/values.js';
import { loadAddon } from '../lib/backend/addon.js';
import { nativeAvailable as nativeJordanAvailable, type NativeOpFn } from '../lib/backend/addon.js';
import { jordanBackward, jordanForward } from '../lib/ops/jordan.js';
import { Rng } from '../lib/random.js';
import { availableIsas } from './helpers/isa.js';
import { gradCheck } from './layers/check.js';

type Acts = { activation: js.JordanActivation; outputActivation: js.JordanOutputActivation };

function randF64(rng: Rng, n: number, scale = 0.5): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * scale;
  return out;
}

interface Case extends Acts {
  T: number;
  B: number;
  D: number;
  H: number;
  O: number;
  lengths: number[] | null;
  reverse: boolean;
  y0: boolean;
}

function f64Args(c: Case, rng: Rng) {
  return {
    seqLen: c.T,
    batch: c.B,
    inputSize: c.D,
    hiddenSize: c.H,
    outputSize: c.O,
    x: randF64(rng, c.T * c.B * c.D, 1),
    weightIh: randF64(rng, c.H * c.D, 0.7),
    weightHy: randF64(rng, c.H * c.O, 0.9),
    weightHo: randF64(rng, c.O * c.H, 0.7),
    biasIh: randF64(rng, c.H),
    biasHh: randF64(rng, c.H),
    biasHo: randF64(rng, c.O),
    y0: c.y0 ? randF64(rng, c.B * c.O) : null,
    lengths: c.lengths,
    reverse: c.reverse,
    activation: c.activation,
    outputActivation: c.outputActivation,
  };
}

describe('jordan JS kernel: float64 finite differences', () => {
  const cases: Case[] = [];
  for (const activation of ['tanh', 'relu'] as const) {
    for (const outputActivation of ['tanh', 'sigmoid', 'linear'] as const) {
      cases.push({ T: 4, B: 3, D: 2, H: 3, O: 2, lengths: [4, 2, 0], reverse: false, y0: true, activation, outputActivation });
    }
  }
  cases.push({ T: 5, B: 2, D: 3, H: 4, O: 3, lengths: [3, 5], reverse: true, y0: true, activation: 'tanh', outputActivation: 'tanh' });
  cases.push({ T: 3, B: 1, D: 1, H: 1, O: 1, lengths: null, reverse: false, y0: false, activation: 'tanh', outputActivation: 'sigmoid' });
  cases.push({ T: 4, B: 2, D: 2, H: 2, O: 3, lengths: null, reverse: true, y0: true, activation: 'relu', outputActivation: 'linear' });
  // The reverse direction of a bidirectional layer: each sequence from its own last step, one of them empty.
  cases.push({
    T: 5,
    B: 3,
    D: 2,
    H: 3,
    O: 2,
    lengths: [2, 0, 5],
    reverse: true,
    y0: true,
    activation: 'tanh',
    outputActivation: 'sigmoid',
  });

  for (const c of cases) {
    it(`T${c.T} B${c.B} D${c.D} H${c.H} O${c.O} ${c.activation}/${c.outputActivation} lengths=${c.lengths} reverse=${c.reverse}`, () => {
      const rng = new Rng(7);
      const args = f64Args(c, rng);
      const ry = randF64(rng, c.T * c.B * c.O, 1);
      const ryN = randF64(rng, c.B * c.O, 1);
      const loss = (): number => {
        const f = js.jordanForward({ ...args, keepCache: false });
        let s = 0;
        for (let i = 0; i < f.y.length; i++) s += ry[i] * f.y[i];
        for (let i = 0; i < f.yN.length; i++) s += ryN[i] * f.yN[i];
        return s;
      };
      const f = js.jordanForward(args);
      const g = js.jordanBackward({ ...args, cache: f.cache as Float64Array, dy: ry, dyN: ryN });
      const targets: [string, Float64Array, Float64Array][] = [
        ['x', args.x, g.dx],
        ['weightIh', args.weightIh, g.dWeightIh],
        ['weightHy', args.weightHy, g.dWeightHy],
        ['weightHo', args.weightHo, g.dWeightHo],
        ['biasIh', args.biasIh, g.dBiasIh],
        ['biasHh', args.biasHh, g.dBiasHh],
        ['biasHo', args.biasHo, g.dBiasHo],
      ];
      if (args.y0) targets.push(['y0', args.y0, g.dy0]);
      const eps = 1e-6;
      for (const [name, v, gv] of targets) {
        for (let i = 0; i < v.length; i++) {
          const saved = v[i];
          v[i] = saved + eps;
          const up = loss();
          v[i] = saved - eps;
          const down = loss();
          v[i] = saved;
          const num = (up - down) / (2 * eps);
          expect(Math.abs(num - gv[i]), `${name}[${i}] analytic ${gv[i]} numeric ${num}`).toBeLessThan(1e-6 + 1e-5 * Math.abs(num));
        }
      }
      // yN is the output after each sequence's own last step; y0 for an empty sequence.
      for (let b = 0; b < c.B; b++) {
        const len = c.lengths ? c.lengths[b] : c.T;
        for (let k = 0; k < c.O; k++) {
          const want = len === 0 ? (args.y0 ? args.y0[b * c.O + k] : 0) : f.y[((c.reverse ? 0 : len - 1) * c.B + b) * c.O + k];
          expect(f.yN[b * c.O + k]).toBe(want);
        }
      }
    });
  }
});

describe('jordan golden case (T=2, D=H=O=1)', () => {
  it('feeds the previous OUTPUT back, not the hidden state', () => {
    // W_ih = 1, W_hy = 2, W_ho = 3, b_ih = 0.1, b_hh = 0.2, b_ho = -0.5, linear output, tanh hidden,
    // x = [0.3, -0.4], y0 = 0.25.
    // h0 = tanh(0.3 + 0.1 + 2*0.25 + 0.2) = tanh(1.1);   y_0 = 3*h0 - 0.5
    // h1 = tanh(-0.4 + 0.1 + 2*y_0 + 0.2);                y_1 = 3*h1 - 0.5
    const h0 = Math.tanh(1.1);
    const y0v = 3 * h0 - 0.5;
    const h1 = Math.tanh(-0.4 + 0.1 + 2 * y0v + 0.2);
    const y1v = 3 * h1 - 0.5;
    const f32 = (v: number[]) => new Float32Array(v);
    const args = {
      seqLen: 2,
      batch: 1,
      inputSize: 1,
      hiddenSize: 1,
      outputSize: 1,
      x: f32([0.3, -0.4]),
      weightIh: f32([1]),
      weightHy: f32([2]),
      weightHo: f32([3]),
      biasIh: f32([0.1]),
      biasHh: f32([0.2]),
      biasHo: f32([-0.5]),
      y0: f32([0.25]),
      outputActivation: 'linear' as const,
      returnHidden: true,
    };
    const backends = nativeJordanAvailable() ? (['js', 'native'] as const) : (['js'] as const);
    for (const backend of backends) {
      const r = jordanForward(args, { backend });
      expect(r.h?.[0]).toBeCloseTo(h0, 6);
      expect(r.y[0]).toBeCloseTo(y0v, 5);
      expect(r.h?.[1]).toBeCloseTo(h1, 5);
      expect(r.y[1]).toBeCloseTo(y1v, 5);
      expect(r.yN[0]).toBe(r.y[1]);
      // Had h been fed back (Elman), h1 would be tanh(-0.1 + 2*h0): clearly different.
      expect(Math.abs((r.h?.[1] ?? 0) - Math.tanh(-0.1 + 2 * h0))).toBeGreaterThan(0.05);
      // dL/dy0 for L = y_1: 3 (1-h1^2) * 2 * 3 (1-h0^2) * 2.
      const g = jordanBackward({ ...args, cache: r.cache as Float32Array, dy: f32([0, 1]) }, { backend });
      expect(g.dy0[0]).toBeCloseTo(3 * (1 - h1 * h1) * 2 * 3 * (1 - h0 * h0) * 2, 4);
    }
  });
});

// Every instruction set this addon runs here (the scalar kernels and the vector ones).
const isas = nativeJordanAvailable() ? availableIsas() : ['none'];

describe.skipIf(!nativeJordanAvailable()).each(isas)('jordan native (%s) vs JS', (isa) => {
  beforeAll(() => {
    expect(loadAddon().internals.setIsa(isa)).toBe(true);
  });
  afterAll(() => {
    loadAddon().internals.setIsa(loadAddon().internals.bestIsa());
  });

  const shapes = [
    { T: 1, B: 1, D: 1, H: 1, O: 1 },
    { T: 7, B: 3, D: 9, H: 33, O: 7 },
    { T: 5, B: 9, D: 1, H: 7, O: 1 },
    { T: 12, B: 17, D: 5, H: 20, O: 9 },
    { T: 0, B: 2, D: 3, H: 4, O: 2 },
    { T: 3, B: 1, D: 2, H: 257, O: 3 },
  ];
  const rng = new Rng(3);
  let k = 0;
  for (const s of shapes) {
    for (const acts of [
      { activation: 'tanh', outputActivation: 'tanh' },
      { activation: 'relu', outputActivation: 'sigmoid' },
      { activation: 'tanh', outputActivation: 'linear' },
    ] as const) {
      const reverse = k % 2 === 1;
      const useLengths = k % 3 !== 0 && s.B > 1;
      k++;
      it(`T${s.T} B${s.B} D${s.D} H${s.H} O${s.O} ${acts.activation}/${acts.outputActivation} reverse=${reverse} lengths=${useLengths}`, () => {
        const lengths = useLengths ? Array.from({ length: s.B }, (_, b) => (b === 0 ? s.T : rng.int(s.T + 1))) : null;
        const args = {
          seqLen: s.T,
          batch: s.B,
          inputSize: s.D,
          hiddenSize: s.H,
          outputSize: s.O,
          x: rng.uniformArray(s.T * s.B * s.D, -1, 1),
          weightIh: rng.uniformArray(s.H * s.D, -0.4, 0.4),
          weightHy: rng.uniformArray(s.H * s.O, -0.4, 0.4),
          weightHo: rng.uniformArray(s.O * s.H, -0.3, 0.3),
          biasIh: rng.uniformArray(s.H, -0.2, 0.2),
          biasHh: rng.uniformArray(s.H, -0.2, 0.2),
          biasHo: rng.uniformArray(s.O, -0.2, 0.2),
          lengths,
          reverse,
          ...acts,
        };
        const y0 = rng.uniformArray(s.B * s.O, -0.5, 0.5);
        const dy = rng.uniformArray(s.T * s.B * s.O, -1, 1);
        const dyN = rng.uniformArray(s.B * s.O, -1, 1);
        const fj = jordanForward({ ...args, y0, returnHidden: true }, { backend: 'js' });
        const fn = jordanForward({ ...args, y0, returnHidden: true }, { backend: 'native' });
        const close = (a: Float32Array | null, b: Float32Array | null, tol: number, what: string) => {
          expect(a?.length, what).toBe(b?.length);
          for (let i = 0; i < (a?.length ?? 0); i++)
            expect(Math.abs((a as Float32Array)[i] - (b as Float32Array)[i]), `${what}[${i}]`).toBeLessThan(tol);
        };
        close(fn.y, fj.y, 1e-5, 'y');
        close(fn.yN, fj.yN, 1e-5, 'yN');
        close(fn.h, fj.h, 1e-5, 'h');
        close(fn.cache, fj.cache, 1e-5, 'cache');
        // Inference gives the same bits as a forward that keeps its cache.
        const fi = jordanForward({ ...args, y0, keepCache: false }, { backend: 'native' });
        expect(fi.y).toEqual(fn.y);
        expect(fi.yN).toEqual(fn.yN);
        const gj = jordanBackward({ ...args, cache: fj.cache as Float32Array, dy, dyN }, { backend: 'js' });
        const gn = jordanBackward({ ...args, cache: fn.cache as Float32Array, dy, dyN }, { backend: 'native' });
        for (const key of ['dx', 'dy0', 'dWeightIh', 'dWeightHy', 'dWeightHo', 'dBiasIh', 'dBiasHh', 'dBiasHo'] as const) {
          let scale = 0;
          for (const v of gj[key]) scale = Math.max(scale, Math.abs(v));
          close(gn[key], gj[key], 1e-4 * (1 + scale), key);
        }
      });
    }
  }

  it('gives bit-identical results for 1 and 2 threads', () => {
    const addon = loadAddon();
    const before = addon.getThreads();
    const s = { T: 9, B: 33, D: 40, H: 96, O: 17 };
    const r = new Rng(11);
    const args = {
      seqLen: s.T,
      batch: s.B,
      inputSize: s.D,
      hiddenSize: s.H,
      outputSize: s.O,
      x: r.uniformArray(s.T * s.B * s.D, -1, 1),
      weightIh: r.uniformArray(s.H * s.D, -0.3, 0.3),
      weightHy: r.uniformArray(s.H * s.O, -0.3, 0.3),
      weightHo: r.uniformArray(s.O * s.H, -0.3, 0.3),
      biasIh: r.uniformArray(s.H),
      biasHh: r.uniformArray(s.H),
      biasHo: r.uniformArray(s.O),
      lengths: Array.from({ length: s.B }, (_, b) => (b * 5) % (s.T + 1)),
      reverse: true,
    };
    const dy = r.uniformArray(s.T * s.B * s.O, -1, 1);
    const run = (threads: number) => {
      addon.setThreads(threads);
      const f = jordanForward(args);
      const g = jordanBackward({ ...args, cache: f.cache as Float32Array, dy, dyN: f.yN });
      return { ...f, ...g };
    };
    try {
      const a = run(1);
      const b = run(2);
      for (const key of [
        'y',
        'yN',
        'cache',
        'dx',
        'dy0',
        'dWeightIh',
        'dWeightHy',
        'dWeightHo',
        'dBiasIh',
        'dBiasHh',
        'dBiasHo',
      ] as const) {
        expect(Buffer.from((b[key] as Float32Array).buffer).equals(Buffer.from((a[key] as Float32Array).buffer)), key).toBe(true);
      }
    } finally {
      addon.setThreads(before);
    }
  });
});

describe('jordan layer', () => {
  const backends = nativeJordanAvailable() ? (['js', 'native'] as const) : (['js'] as const);
  for (const backend of backends) {
    it(`passes a gradient check (${backend})`, async () => {
      const layer = jordan({ hiddenSize: 5, outputSize: 3, outputActivation: 'sigmoid' });
      const rng = new Rng(5);
      layer.build(4, rng);
      expect(layer.parameters().map((p) => p.name)).toEqual(['weight_ih', 'weight_hy', 'weight_ho', 'bias_ih', 'bias_hh', 'bias_ho']);
      expect(layer.plan?.(4).parameters.map((p) => p.shape)).toEqual([[5, 4], [5, 3], [3, 5], [5], [5], [3]]);
      expect(layer.config).toEqual({
        hiddenSize: 5,
        outputSize: 3,
        activation: 'tanh',
        outputActivation: 'sigmoid',
        numLayers: 1,
        dropout: 0,
        bidirectional: false,
        mergeMode: 'concat',
        returnSequences: true,
        returnState: false,
        stateInput: null,
      });
      for (const p of layer.parameters()) if (p.shape.length === 1) p.value.set(rng.uniformArray(p.value.length, -0.3, 0.3));
      const data = rng.uniformArray(4 * 3 * 4, -1, 1);
      const x = sequence({ data, seqLen: 4, batch: 3, features: 4, lengths: new Int32Array([4, 2, 3]) });
      const ctx = { training: true, rng: new Rng(1), backend } as const;
      await gradCheck(`jordan ${backend}`, layer.parameters(), [data], async () => {
        const step = await layer.forward(x, ctx);
        return {
          outs: [(step.y as { data: Float32Array }).data],
          backward: async ([dy]) => [await step.backward(dy)],
        };
      });
    });
  }

  it('learns to imitate a teacher Jordan network', async () => {
    const backend = backends[backends.length - 1];
    const T = 8,
      B = 16,
      D = 3;
    const rng = new Rng(21);
    const teacher = jordan({ hiddenSize: 6, outputSize: 2 });
    teacher.build(D, new Rng(4));
    for (const p of teacher.parameters()) for (let i = 0; i < p.value.length; i++) p.value[i] *= 1.5;
    const student = jordan({ hiddenSize: 12, outputSize: 2 });
    student.build(D, new Rng(9));
    const ctx = { training: true, rng: new Rng(1), backend } as const;
    const batchOf = () => sequence({ data: rng.uniformArray(T * B * D, -1, 1), seqLen: T, batch: B, features: D, lengths: null });
    const lossAt = async (x: ReturnType<typeof batchOf>) => {
      const target = ((await teacher.forward(x, ctx)).y as { data: Float32Array }).data;
      const step = await student.forward(x, ctx);
      const y = (step.y as { data: Float32Array }).data;
      let loss = 0;
      const dy = new Float32Array(y.length);
      for (let i = 0; i < y.length; i++) {
        loss += (y[i] - target[i]) ** 2 / y.length;
        dy[i] = (2 * (y[i] - target[i])) / y.length;
      }
      return { loss, step, dy };
    };
    const evalX = batchOf();
    const initial = (await lossAt(evalX)).loss;
    for (let it = 0; it < 300; it++) {
      const { step, dy } = await lossAt(batchOf());
      student.zeroGrad();
      await step.backward(dy);
      for (const p of student.parameters()) for (let i = 0; i < p.value.length; i++) p.value[i] -= 0.5 * p.grad[i];
    }
    const final = (await lossAt(evalX)).loss;
    expect(final).toBeLessThan(0.2 * initial);
  });
});

describe('jordan argument errors', () => {
  const ok = () => ({
    seqLen: 2,
    batch: 1,
    inputSize: 2,
    hiddenSize: 3,
    outputSize: 2,
    x: new Float32Array(4),
    weightIh: new Float32Array(6),
    weightHy: new Float32Array(6),
    weightHo: new Float32Array(6),
  });
  const backends = nativeJordanAvailable() ? (['js', 'native'] as const) : (['js'] as const);
  for (const backend of backends) {
    it(`names the argument at fault (${backend})`, () => {
      const expectErr = (fn: () => unknown, cls: typeof ShapeError | typeof ValueError, arg: string) => {
        try {
          fn();
        } catch (e) {
          expect(e).toBeInstanceOf(cls);
          expect((e as ShapeError).argument).toBe(arg);
          return;
        }
        throw new Error(`expected a ${cls.name} naming ${arg}`);
      };
      const o = { backend };
      expectErr(() => jordanForward({ ...ok(), weightHy: new Float32Array(5) }, o), ShapeError, 'weightHy');
      expectErr(() => jordanForward({ ...ok(), weightHo: new Float64Array(6) as unknown as Float32Array }, o), ValueError, 'weightHo');
      expectErr(() => jordanForward({ ...ok(), y0: new Float32Array(3) }, o), ShapeError, 'y0');
      expectErr(() => jordanForward({ ...ok(), outputSize: -1 }, o), ValueError, 'outputSize');
      expectErr(() => jordanForward({ ...ok(), lengths: [3] }, o), ValueError, 'lengths');
      expectErr(() => jordanForward({ ...ok(), activation: 'sigmoid' as 'tanh' }, o), ValueError, 'activation');
      expectErr(() => jordanForward({ ...ok(), outputActivation: 'relu' as 'tanh' }, o), ValueError, 'outputActivation');
      const f = jordanForward(ok(), o);
      expectErr(() => jordanBackward({ ...ok(), cache: new Float32Array(3) }, o), ShapeError, 'cache');
      expectErr(() => jordanBackward({ ...ok(), cache: f.cache as Float32Array, dy: new Float32Array(1) }, o), ShapeError, 'dy');
      expectErr(() => jordanForward(ok(), { backend: 'gpu' as 'js' }), ValueError, 'options.backend');
    });
  }

  it.skipIf(!nativeJordanAvailable())('the addon checks every argument itself', () => {
    const addon = loadAddon();
    const ops = { forward: addon.jordanForward as NativeOpFn, backward: addon.jordanBackward as NativeOpFn };
    const base = { ...ok(), y: new Float32Array(4), yN: new Float32Array(2) };
    expect(() => ops.forward(base)).not.toThrow();
    const codeOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        return `${(e as { code?: string }).code} ${(e as Error).message.split(':')[0]}`;
      }
      return 'none';
    };
    expect(codeOf(() => ops.forward({ ...base, weightIh: new Float32Array(5) }))).toBe('ERR_GATED_SHAPE weightIh');
    expect(codeOf(() => ops.forward({ ...base, y: undefined }))).toBe('ERR_GATED_VALUE y');
    expect(codeOf(() => ops.forward({ ...base, lengths: new Int32Array([5]) }))).toBe('ERR_GATED_VALUE lengths');
    expect(codeOf(() => ops.forward({ ...base, activation: 'gelu' }))).toBe('ERR_GATED_VALUE activation');
    expect(codeOf(() => ops.forward({ ...base, seqLen: 1.5 }))).toBe('ERR_GATED_VALUE seqLen');
    expect(
      codeOf(() =>
        ops.backward({
          ...base,
          cache: new Float32Array(1),
          dx: new Float32Array(4),
          dy0: new Float32Array(2),
          dWeightIh: new Float32Array(6),
          dWeightHy: new Float32Array(6),
          dWeightHo: new Float32Array(6),
        }),
      ),
    ).toBe('ERR_GATED_SHAPE cache');
    expect(
      codeOf(() =>
        ops.backward({
          ...base,
          cache: new Float32Array(14),
          dx: new Float32Array(4),
          dy0: new Float32Array(2),
          dWeightIh: new Float32Array(6),
          dWeightHy: new Float32Array(6),
        }),
      ),
    ).toBe('ERR_GATED_VALUE dWeightHo');
  });
});

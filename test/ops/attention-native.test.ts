/**
 * The native fused attention decoder (native/attention.h, native/binding/attention_binding.cc) through
 * the addon, under every ISA the machine has, for every cell x attention variant x inputFeed on awkward
 * shapes (B 1, 7, 9, 33; H 7, 9, 33 off the SIMD widths; S 1, 5, 17): sync == async bit for bit
 * (forward outputs, cache, every gradient); each row of a batched call == the row alone bit for bit
 * (outputs and the per-row gradients); the decode step (T = 1, no cache, hN aliasing h0, keys reused)
 * == the training call's first step; gradients through the binding's nested fields against central
 * finite differences; typed errors naming the argument; and native == the pure-TS twin (lib/js/attention.ts)
 * to float32 tolerance on the same grid: forward outputs, the whole cache, every gradient.
 */
import { describe, expect, it } from 'vitest';

import { loadAddon, nativeAvailable } from '../../lib/backend/addon.js';
import { attnDecoderBackward as jsBackward, attnDecoderForward as jsForward } from '../../lib/js/attention.js';
import { expectClose } from '../helpers/close.js';
import { forEachIsa, reportIsas } from '../helpers/isa.js';

type Cell = 'lstm' | 'gru' | 'rnn';
type Kind = 'dot' | 'general' | 'concat' | 'additive';
interface Sizes {
  seqLen: number;
  batch: number;
  srcLen: number;
  inputSize: number;
  memorySize: number;
  hiddenSize: number;
  attentionSize: number;
  numLayers: number;
  cell: Cell;
  attention: Kind;
  inputFeed: boolean;
  resetAfter?: boolean;
  nonlinearity?: 'tanh' | 'relu';
}
type F32 = Float32Array;
type Obj = Record<string, F32 | null>;
interface Problem {
  s: Sizes;
  x: F32;
  memory: F32;
  srcLengths: Int32Array;
  h0: F32;
  c0: F32 | null;
  feed0: F32 | null;
  layers: Obj[];
  attn: Obj;
  dy: F32;
  dhN: F32;
  dcN: F32 | null;
  dFeedN: F32;
}

const addon = nativeAvailable() ? loadAddon() : null;
const call = (name: string, args: Record<string, unknown>): unknown =>
  (addon as unknown as Record<string, (a: unknown) => unknown>)[name](args);

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}
const rand = (r: () => number, n: number, scale: number): F32 => Float32Array.from({ length: n }, () => scale * r());
const gates = (c: Cell): number => (c === 'lstm' ? 4 : c === 'gru' ? 3 : 1);
const keyWidth = (s: Sizes): number => (s.attention === 'dot' ? 0 : s.attention === 'general' ? s.hiddenSize : s.attentionSize);
const inWidth = (s: Sizes, l: number): number => (l === 0 ? s.inputSize + (s.inputFeed ? s.hiddenSize : 0) : s.hiddenSize);

function makeProblem(s: Sizes, seed: number): Problem {
  const r = rng(seed);
  const { seqLen: T, batch: B, srcLen: S, inputSize: D, memorySize: E, hiddenSize: H, attentionSize: A, numLayers: L } = s;
  const G = gates(s.cell);
  const ws = 1 / Math.sqrt(H);
  const layers: Obj[] = [];
  for (let l = 0; l < L; l++)
    layers.push({
      weightIh: rand(r, G * H * inWidth(s, l), ws),
      weightHh: rand(r, G * H * H, ws),
      biasIh: rand(r, G * H, 0.2),
      biasHh: l === 0 ? rand(r, G * H, 0.2) : null,
    });
  const attn: Obj = { outWeight: rand(r, H * (E + H), 1 / Math.sqrt(E + H)) };
  if (s.attention === 'general') attn.weight = rand(r, H * E, 1 / Math.sqrt(E));
  if (s.attention === 'concat') attn.weight = rand(r, A * (H + E), 1 / Math.sqrt(H + E));
  if (s.attention === 'additive') {
    attn.queryWeight = rand(r, A * H, ws);
    attn.queryBias = rand(r, A, 0.2);
    attn.keyWeight = rand(r, A * E, 1 / Math.sqrt(E));
  }
  if (s.attention === 'concat' || s.attention === 'additive') attn.v = rand(r, A, 1);
  return {
    s,
    x: rand(r, T * B * D, 1),
    memory: rand(r, S * B * E, 1),
    srcLengths: Int32Array.from({ length: B }, (_, b) => S - (b % S)),
    h0: rand(r, L * B * H, 0.5),
    c0: s.cell === 'lstm' ? rand(r, L * B * H, 0.5) : null,
    feed0: s.inputFeed ? rand(r, B * H, 0.5) : null,
    layers,
    attn,
    dy: rand(r, T * B * H, 1),
    dhN: rand(r, L * B * H, 1),
    dcN: s.cell === 'lstm' ? rand(r, L * B * H, 1) : null,
    dFeedN: rand(r, B * H, 1),
  };
}

interface Fwd {
  y: F32;
  attentionOut: F32;
  hN: F32;
  cN: F32 | null;
  keysOut: F32 | null;
  cache: F32;
}
function forwardArgs(p: Problem): { args: Record<string, unknown>; out: Fwd } {
  const { seqLen: T, batch: B, srcLen: S, hiddenSize: H, numLayers: L } = p.s;
  const out: Fwd = {
    y: new Float32Array(T * B * H),
    attentionOut: new Float32Array(T * B * S),
    hN: new Float32Array(L * B * H),
    cN: p.s.cell === 'lstm' ? new Float32Array(L * B * H) : null,
    keysOut: keyWidth(p.s) ? new Float32Array(S * B * keyWidth(p.s)) : null,
    cache: new Float32Array(call('attnDecoderCacheSize', { ...p.s }) as number),
  };
  const { s, x, memory, srcLengths, h0, c0, feed0, layers, attn } = p;
  return { args: { ...s, x, memory, srcLengths, h0, c0, feed0, layers, attn, ...out }, out };
}
async function forward(p: Problem, async = false): Promise<Fwd> {
  const { args, out } = forwardArgs(p);
  await call('attnDecoderForward', { ...args, async });
  return out;
}
interface Bwd {
  dx: F32;
  dMemory: F32;
  dh0: F32;
  dc0: F32 | null;
  dFeed0: F32;
  dLayers: Obj[];
  dAttn: Obj;
}
async function backward(p: Problem, cache: F32, async = false): Promise<Bwd> {
  const { seqLen: T, batch: B, srcLen: S, inputSize: D, memorySize: E, hiddenSize: H, numLayers: L } = p.s;
  const like = (a: F32 | null | undefined): F32 | null => (a ? new Float32Array(a.length) : null);
  const g: Bwd = {
    dx: new Float32Array(T * B * D),
    dMemory: new Float32Array(S * B * E),
    dh0: new Float32Array(L * B * H),
    dc0: p.s.cell === 'lstm' ? new Float32Array(L * B * H) : null,
    dFeed0: new Float32Array(B * H),
    dLayers: p.layers.map((l) => ({
      dWeightIh: like(l.weightIh),
      dWeightHh: like(l.weightHh),
      dBiasIh: like(l.biasIh),
      dBiasHh: like(l.biasHh),
    })),
    dAttn: Object.fromEntries(Object.entries(p.attn).map(([k, v]) => [`d${k[0].toUpperCase()}${k.slice(1)}`, like(v)])),
  };
  const { s, memory, srcLengths, layers, attn, dy, dhN, dcN, dFeedN } = p;
  await call('attnDecoderBackward', { ...s, memory, srcLengths, layers, attn, cache, dy, dhN, dcN, dFeedN, ...g, async });
  return g;
}

/** Every Float32Array of a result, named. */
function arrays(o: object, prefix = ''): [string, F32][] {
  const out: [string, F32][] = [];
  for (const [k, v] of Object.entries(o)) {
    if (v instanceof Float32Array) out.push([prefix + k, v]);
    else if (v && typeof v === 'object') out.push(...arrays(v as object, `${prefix}${k}.`));
  }
  return out;
}
function expectSameBits(a: object, b: object, what: string): void {
  const x = arrays(a),
    y = new Map(arrays(b));
  for (const [k, v] of x) {
    const w = y.get(k);
    expect(w, `${what} ${k}`).toBeDefined();
    expect(
      Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(w!.buffer, w!.byteOffset, w!.byteLength)),
      `${what} ${k} bits`,
    ).toBe(true);
  }
}

/** Rows b of each [steps, B, w] block of `a`. */
function rowOf(a: F32, steps: number, B: number, b: number): F32 {
  const w = a.length / (steps * B);
  const out = new Float32Array(steps * w);
  for (let t = 0; t < steps; t++) out.set(a.subarray((t * B + b) * w, (t * B + b + 1) * w), t * w);
  return out;
}
function problemRow(p: Problem, b: number): Problem {
  const { seqLen: T, batch: B, srcLen: S, numLayers: L } = p.s;
  const r = (a: F32, steps: number): F32 => rowOf(a, steps, B, b);
  return {
    ...p,
    s: { ...p.s, batch: 1 },
    x: r(p.x, T),
    memory: r(p.memory, S),
    srcLengths: Int32Array.of(p.srcLengths[b]),
    h0: r(p.h0, L),
    c0: p.c0 && r(p.c0, L),
    feed0: p.feed0 && r(p.feed0, 1),
    dy: r(p.dy, T),
    dhN: r(p.dhN, L),
    dcN: p.dcN && r(p.dcN, L),
    dFeedN: r(p.dFeedN, 1),
  };
}

const CELLS: [Cell, Partial<Sizes>][] = [
  ['lstm', {}],
  ['gru', {}],
  ['gru', { resetAfter: false }],
  ['rnn', {}],
  ['rnn', { nonlinearity: 'relu' }],
];
const KINDS: Kind[] = ['dot', 'general', 'concat', 'additive'];
const SHAPES = [
  { seqLen: 3, batch: 7, srcLen: 5, inputSize: 3, memorySize: 9, hiddenSize: 7, attentionSize: 9, numLayers: 2 },
  { seqLen: 2, batch: 9, srcLen: 1, inputSize: 0, memorySize: 5, hiddenSize: 9, attentionSize: 7, numLayers: 1 },
  { seqLen: 4, batch: 33, srcLen: 17, inputSize: 5, memorySize: 11, hiddenSize: 33, attentionSize: 17, numLayers: 1 },
];

describe.skipIf(!addon)('attnDecoder native: sync == async, batched row == row alone, decode step', () => {
  reportIsas('attention-native');
  for (const [cell, opts] of CELLS)
    for (const kind of KINDS)
      for (const inputFeed of [false, true]) {
        const name = `${cell}${opts.resetAfter === false ? ' reset-before' : ''}${opts.nonlinearity ? ' relu' : ''} ${kind}${inputFeed ? ' inputFeed' : ''}`;
        it(name, async () => {
          await forEachIsa('native', async (isa) => {
            for (const [k, shape] of SHAPES.entries()) {
              const s: Sizes = { ...shape, cell, attention: kind, inputFeed, ...opts };
              if (kind === 'dot') s.memorySize = s.hiddenSize;
              const p = makeProblem(s, 17 + k);
              const tag = `${isa} shape ${k}`;
              const f = await forward(p);
              const fa = await forward(p, true);
              expectSameBits(f, fa, `${tag} forward async`);
              const g = await backward(p, f.cache);
              const ga = await backward(p, f.cache, true);
              expectSameBits(g, ga, `${tag} backward async`);
              for (const [n, v] of [...arrays(f), ...arrays(g)]) expect(v.every(Number.isFinite), `${tag} ${n} finite`).toBe(true);
              // Each row alone (rows 0 and the last: different srcLengths).
              const { seqLen: T, batch: B, srcLen: S, numLayers: L } = s;
              for (const b of [0, B - 1]) {
                const q = problemRow(p, b);
                const f1 = await forward(q);
                const g1 = await backward(q, f1.cache);
                const want = {
                  y: rowOf(f.y, T, B, b),
                  attentionOut: rowOf(f.attentionOut, T, B, b),
                  hN: rowOf(f.hN, L, B, b),
                  dx: rowOf(g.dx, T, B, b),
                  dMemory: rowOf(g.dMemory, S, B, b),
                  dh0: rowOf(g.dh0, L, B, b),
                  dFeed0: rowOf(g.dFeed0, 1, B, b),
                };
                const got = {
                  y: f1.y,
                  attentionOut: f1.attentionOut,
                  hN: f1.hN,
                  dx: g1.dx,
                  dMemory: g1.dMemory,
                  dh0: g1.dh0,
                  dFeed0: g1.dFeed0,
                };
                expectSameBits(got, want, `${tag} row ${b}`);
              }
              // The decode step: T = 1, no cache, hN into h0 itself, the training call's keys reused.
              const step = { ...p, s: { ...s, seqLen: 1 }, x: p.x.subarray(0, B * s.inputSize) };
              const { args } = forwardArgs(step);
              const h = Float32Array.from(p.h0);
              const c = p.c0 && Float32Array.from(p.c0);
              const y = new Float32Array(B * s.hiddenSize);
              await call('attnDecoderForward', {
                ...args,
                h0: h,
                hN: h,
                c0: c,
                cN: c,
                y,
                keys: f.keysOut,
                keysOut: null,
                keepCache: false,
                cache: null,
                returnAttention: false,
                attentionOut: null,
              });
              expectSameBits({ y }, { y: f.y.subarray(0, B * s.hiddenSize) }, `${tag} decode step y`);
            }
          });
        });
      }
});

describe.skipIf(!addon)('attnDecoder native: gradients through the binding vs finite differences', () => {
  for (const kind of KINDS)
    it(`lstm ${kind} inputFeed, 2 layers`, async () => {
      const s: Sizes = {
        seqLen: 3,
        batch: 2,
        srcLen: 4,
        inputSize: 2,
        memorySize: kind === 'dot' ? 3 : 4,
        hiddenSize: 3,
        attentionSize: 2,
        numLayers: 2,
        cell: 'lstm',
        attention: kind,
        inputFeed: true,
      };
      const p = makeProblem(s, 5);
      const loss = async (): Promise<number> => {
        const f = await forward(p);
        let v = 0;
        f.y.forEach((e, i) => (v += e * p.dy[i]));
        f.hN.forEach((e, i) => (v += e * p.dhN[i]));
        f.cN!.forEach((e, i) => (v += e * p.dcN![i]));
        const last = f.y.subarray((s.seqLen - 1) * s.batch * s.hiddenSize);
        last.forEach((e, i) => (v += e * p.dFeedN[i]));
        return v;
      };
      const g = await backward(p, (await forward(p)).cache);
      const checks: [string, F32, F32][] = [
        ['x', p.x, g.dx],
        ['memory', p.memory, g.dMemory],
        ['feed0', p.feed0!, g.dFeed0],
        ['c0', p.c0!, g.dc0!],
        ['layers[1].weightIh', p.layers[1].weightIh!, g.dLayers[1].dWeightIh!],
        ['layers[0].biasHh', p.layers[0].biasHh!, g.dLayers[0].dBiasHh!],
      ];
      for (const [k, v] of Object.entries(p.attn)) checks.push([`attn.${k}`, v!, g.dAttn[`d${k[0].toUpperCase()}${k.slice(1)}`]!]);
      for (const [name, param, grad] of checks)
        for (const i of [0, Math.floor(param.length / 2), param.length - 1]) {
          const keep = param[i];
          const eps = 1e-2;
          param[i] = keep + eps;
          const lp = await loss();
          param[i] = keep - eps;
          const lm = await loss();
          param[i] = keep;
          const fd = (lp - lm) / (2 * eps);
          expect(Math.abs(fd - grad[i]), `${name}[${i}]: backward ${grad[i]}, finite differences ${fd}`).toBeLessThan(
            3e-3 + 2e-2 * Math.abs(fd),
          );
        }
    });
});

describe.skipIf(!addon)('attnDecoder native: argument errors name the argument', () => {
  const s: Sizes = {
    seqLen: 2,
    batch: 3,
    srcLen: 4,
    inputSize: 2,
    memorySize: 5,
    hiddenSize: 3,
    attentionSize: 2,
    numLayers: 2,
    cell: 'gru',
    attention: 'additive',
    inputFeed: true,
  };
  const p = makeProblem(s, 3);
  const errorOf = (mutate: (a: Record<string, unknown>) => void): { code?: string; message: string } => {
    const { args } = forwardArgs(p);
    mutate(args);
    try {
      call('attnDecoderForward', args);
    } catch (e) {
      return e as { code?: string; message: string };
    }
    throw new Error('expected an error');
  };
  it.each([
    ['layers: ', 'ERR_GATED_SHAPE', (a: Record<string, unknown>) => (a.layers = p.layers.slice(0, 1))],
    ['layers: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.layers = { 0: p.layers[0], 1: p.layers[1], length: 2 })],
    ['layers[1]: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.layers = [p.layers[0], 7])],
    [
      'layers[1].weightHh: ',
      'ERR_GATED_SHAPE',
      (a: Record<string, unknown>) => (a.layers = [p.layers[0], { ...p.layers[1], weightHh: new Float32Array(4) }]),
    ],
    [
      'layers[0].weightIh: ',
      'ERR_GATED_SHAPE',
      (a: Record<string, unknown>) => (a.layers = [{ ...p.layers[0], weightIh: new Float32Array(3 * 3 * 2) }, p.layers[1]]),
    ],
    ['attn.weight: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.attn = { ...p.attn, weight: new Float32Array(6) })],
    ['attn.v: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.attn = { ...p.attn, v: undefined })],
    ['attn: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.attn = null)],
    ['srcLengths: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.srcLengths = Int32Array.of(1, 0, 2))],
    ['srcLengths: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.srcLengths = Int32Array.of(1, 5, 2))],
    ['memorySize: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.attention = 'dot')],
    ['numLayers: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.numLayers = 65)],
    ['cache: ', 'ERR_GATED_SHAPE', (a: Record<string, unknown>) => (a.cache = new Float32Array(10))],
    ['cache: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.keepCache = false)],
    ['c0: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.c0 = new Float32Array(18))],
    ['hN: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.hN = p.memory.subarray(0, 18))],
    ['y: ', 'ERR_GATED_VALUE', (a: Record<string, unknown>) => (a.y = p.memory.subarray(0, 18))],
  ])('%s (%s) #%#', (prefix, code, mutate) => {
    const e = errorOf(mutate);
    expect(e.message.startsWith(prefix), e.message).toBe(true);
    expect(e.code).toBe(code);
  });

  it('feed0 without inputFeed is checked, then ignored', () => {
    const q = makeProblem({ ...s, inputFeed: false }, 4);
    const { args, out } = forwardArgs(q);
    call('attnDecoderForward', { ...args, feed0: null });
    const y0 = Float32Array.from(out.y);
    call('attnDecoderForward', { ...args, feed0: new Float32Array(s.batch * s.hiddenSize).fill(3) });
    expect(out.y).toEqual(y0);
    expect(() => call('attnDecoderForward', { ...args, feed0: new Float32Array(2) })).toThrow(/^feed0: /);
  });

  it('a getter on a nested field runs once, before any check, and may not crash the call', () => {
    let reads = 0;
    const layer0 = p.layers[0];
    const tricky = {
      get weightIh() {
        reads++;
        return layer0.weightIh;
      },
      weightHh: layer0.weightHh,
      biasIh: layer0.biasIh,
      biasHh: layer0.biasHh,
    };
    const { args } = forwardArgs(p);
    call('attnDecoderForward', { ...args, layers: [tricky, p.layers[1]] });
    expect(reads).toBe(1);
  });
});

/** The twin's arguments for a problem (its own field names: no output arrays, dFeedN etc. as given). */
function jsArgs(p: Problem): Parameters<typeof jsForward<F32>>[0] {
  const { s, x, memory, srcLengths, h0, c0, feed0, attn } = p;
  const layers = p.layers.map((l) => ({ weightIh: l.weightIh!, weightHh: l.weightHh!, biasIh: l.biasIh, biasHh: l.biasHh }));
  return { ...s, x, memory, srcLengths, h0, c0, feed0, layers, attn: attn as { outWeight: F32 } };
}

describe.skipIf(!addon)('attnDecoder native == the pure-TS twin', () => {
  const tol = { atol: 2e-5, rtol: 2e-4 };
  for (const [cell, opts] of CELLS)
    for (const kind of KINDS)
      for (const inputFeed of [false, true]) {
        const name = `${cell}${opts.resetAfter === false ? ' reset-before' : ''}${opts.nonlinearity ? ' relu' : ''} ${kind}${inputFeed ? ' inputFeed' : ''}`;
        it(name, async () => {
          for (const [k, shape] of SHAPES.entries()) {
            const s: Sizes = { ...shape, cell, attention: kind, inputFeed, ...opts };
            if (kind === 'dot') s.memorySize = s.hiddenSize;
            const p = makeProblem(s, 101 + k);
            const ja = jsArgs(p);
            const jf = jsForward<F32>(ja);
            const jg = jsBackward<F32>({ ...ja, cache: jf.cache!, dy: p.dy, dhN: p.dhN, dcN: p.dcN, dFeedN: p.dFeedN });
            await forEachIsa('native', async (isa) => {
              const tag = `${isa} shape ${k}`;
              const f = await forward(p);
              expectClose(f.y, jf.y, tol, `${tag} y`);
              expectClose(f.attentionOut, jf.attention!, tol, `${tag} attention`);
              expectClose(f.hN, jf.hN, tol, `${tag} hN`);
              if (f.cN) expectClose(f.cN, jf.cN!, tol, `${tag} cN`);
              if (f.keysOut) expectClose(f.keysOut, jf.keys!, tol, `${tag} keys`);
              expectClose(f.cache, jf.cache!, tol, `${tag} cache`);
              const g = await backward(p, f.cache);
              const want = new Map(arrays(jg));
              const got = arrays(g);
              expect(got.length).toBe(want.size);
              for (const [n, v] of got) expectClose(v, want.get(n)!, { atol: 1e-4, rtol: 1e-3 }, `${tag} ${n}`);
            });
          }
        });
      }
});

/**
 * The attention decoder's decode-step options (lib/ops/attention.ts: memoryIndex / memoryBatch,
 * stateIndex / stateRows, vocabSize / vocabWeight / vocabBias), on both backends and, natively, under
 * every ISA the machine has, for every cell x attention variant on awkward sizes (B 1, 7, 33 rows over
 * M 1, 3, 5 sentences; H 7, 9, 33; V 1, 9, 257):
 * - a gathered call == the plain call on the gathered arrays (memory, lengths, keys and states
 *   copied per row by hand) bit for bit on each backend: y, attention, hN, cN, and the keys it
 *   returns == the keys of the M sentences;
 * - logProbs == log_softmax(y W^T + b) computed here in float64 from the call's own y;
 * - native == the pure-TS twin to float32 tolerance;
 * - typed errors that name the argument.
 */
import { describe, expect, it } from 'vitest';

import { nativeAvailable } from '../../lib/backend/addon.js';
import { ShapeError, ValueError } from '../../lib/errors.js';
import { type AttnDecoderForwardArgs, attnDecoderForward } from '../../lib/ops/attention.js';
import { Rng, errorOf, expectClose } from '../helpers/index.js';
import { forEachIsa, reportIsas } from '../helpers/isa.js';

type Cell = 'lstm' | 'gru' | 'rnn';
type Kind = 'dot' | 'general' | 'concat' | 'additive';
type F32 = Float32Array;
type Backend = 'js' | 'native';

interface Shape {
  B: number;
  M: number;
  P: number;
  S: number;
  D: number;
  E: number;
  H: number;
  A: number;
  L: number;
  V: number;
}
const SHAPES: Shape[] = [
  { B: 7, M: 3, P: 5, S: 5, D: 3, E: 9, H: 7, A: 9, L: 2, V: 9 },
  { B: 1, M: 1, P: 2, S: 1, D: 0, E: 5, H: 9, A: 7, L: 1, V: 1 },
  { B: 33, M: 5, P: 33, S: 17, D: 5, E: 11, H: 33, A: 17, L: 1, V: 257 },
];

/** A step problem: weights, the M sentences' memory, the P state rows, and the two indices. */
function problem(cell: Cell, kind: Kind, z: Shape, seed: number) {
  const r = new Rng(seed);
  const rand = (n: number, scale: number): F32 => r.uniform(n, -scale, scale);
  const E = kind === 'dot' ? z.H : z.E;
  const { B, M, P, S, D, H, A, L, V } = z;
  const G = cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
  const ws = 1 / Math.sqrt(H);
  const layers = Array.from({ length: L }, (_, l) => ({
    weightIh: rand(G * H * (l === 0 ? D + H : H), ws),
    weightHh: rand(G * H * H, ws),
    biasIh: rand(G * H, 0.2),
    biasHh: rand(G * H, 0.2),
  }));
  const attn: Record<string, F32> & { outWeight: F32 } = { outWeight: rand(H * (E + H), 1 / Math.sqrt(E + H)) };
  if (kind === 'general') attn.weight = rand(H * E, 1 / Math.sqrt(E));
  if (kind === 'concat') attn.weight = rand(A * (H + E), 1 / Math.sqrt(H + E));
  if (kind === 'additive') {
    attn.queryWeight = rand(A * H, ws);
    attn.queryBias = rand(A, 0.2);
    attn.keyWeight = rand(A * E, 1 / Math.sqrt(E));
  }
  if (kind === 'concat' || kind === 'additive') attn.v = rand(A, 1);
  const base = {
    cell,
    attention: kind,
    inputFeed: true,
    seqLen: 1,
    batch: B,
    srcLen: S,
    inputSize: D,
    memorySize: E,
    hiddenSize: H,
    attentionSize: A,
    numLayers: L,
    layers,
    attn: attn as AttnDecoderForwardArgs['attn'],
    x: rand(B * D, 1),
    keepCache: false,
  };
  return {
    base,
    z: { ...z, E },
    memory: rand(S * M * E, 1),
    lengths: Int32Array.from({ length: M }, (_, m) => S - ((2 * m) % S)),
    h: rand(L * P * H, 0.5),
    c: cell === 'lstm' ? rand(L * P * H, 0.5) : null,
    feed: rand(P * H, 0.5),
    memoryIndex: Int32Array.from({ length: B }, (_, b) => (b * 7 + 2) % M),
    stateIndex: Int32Array.from({ length: B }, (_, b) => (b * 5 + 1) % P),
    vocabWeight: rand(V * H, ws),
    vocabBias: rand(V, 0.5),
  };
}

/** The decode step's call over a problem: every gather and the output layer on. */
function stepArgs(p: ReturnType<typeof problem>): AttnDecoderForwardArgs {
  return {
    ...p.base,
    memory: p.memory,
    srcLengths: p.lengths,
    memoryBatch: p.z.M,
    memoryIndex: p.memoryIndex,
    h0: p.h,
    c0: p.c,
    feed0: p.feed,
    stateRows: p.z.P,
    stateIndex: p.stateIndex,
    vocabSize: p.z.V,
    vocabWeight: p.vocabWeight,
    vocabBias: p.vocabBias,
  };
}

/** out[blk, r] = a[blk, index[r]] for `[blocks, rows, width]` arrays. */
function gather(a: F32, blocks: number, rows: number, index: Int32Array): F32 {
  const w = a.length / (blocks * rows);
  const out = new Float32Array(blocks * index.length * w);
  for (let k = 0; k < blocks; k++)
    index.forEach((i, r) => out.set(a.subarray((k * rows + i) * w, (k * rows + i + 1) * w), (k * index.length + r) * w));
  return out;
}

const bits = (a: F32 | null, b: F32 | null, what: string): void => {
  expect(a === null, `${what} present`).toBe(b === null);
  if (a && b)
    expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), what).toBe(true);
};

const CELLS: Cell[] = ['lstm', 'gru', 'rnn'];
const KINDS: Kind[] = ['dot', 'general', 'concat', 'additive'];
const backends: Backend[] = nativeAvailable() ? ['js', 'native'] : ['js'];

describe('attnDecoderForward decode-step options', () => {
  reportIsas('attention-step');
  for (const cell of CELLS)
    for (const kind of KINDS)
      it(`${cell} ${kind}: gathered == plain on gathered arrays, logProbs, native == twin`, async () => {
        for (const [k, z] of SHAPES.entries()) {
          const p = problem(cell, kind, z, 31 + k);
          const { B, M, P, S, L, H, V } = p.z;
          const step = stepArgs(p);
          const mi = p.memoryIndex;
          const si = p.stateIndex;
          const plainArgs: AttnDecoderForwardArgs = {
            ...p.base,
            memory: gather(p.memory, S, M, mi),
            srcLengths: Int32Array.from(mi, (i) => p.lengths[i]),
            h0: gather(p.h, L, P, si),
            c0: p.c && gather(p.c, L, P, si),
            feed0: gather(p.feed, 1, P, si),
          };
          const results: Record<string, ReturnType<typeof attnDecoderForward>> = {};
          for (const backend of backends) {
            await forEachIsa(backend, async (isa) => {
              const tag = `shape ${k} ${backend}${isa ? ` ${isa}` : ''}`;
              const got = await attnDecoderForward.async(step, { backend });
              const want = attnDecoderForward(plainArgs, { backend });
              for (const key of ['y', 'attention', 'hN', 'cN'] as const) bits(got[key], want[key], `${tag} ${key}`);
              if (kind === 'dot') expect(got.keys).toBeNull();
              else {
                // the keys returned are the M sentences' (what the next step passes back in)
                const Kw = got.keys!.length / (S * M);
                expect(Kw).toBe(kind === 'general' ? H : p.z.A);
                bits(gather(got.keys!, S, M, mi), want.keys, `${tag} keys`);
                // given keys are read, not recomputed: the same outputs
                const again = attnDecoderForward({ ...step, keys: got.keys }, { backend });
                bits(again.y, got.y, `${tag} y with keys given`);
                bits(again.logProbs, got.logProbs, `${tag} logProbs with keys given`);
              }
              expect(want.logProbs).toBeNull();
              const lp = got.logProbs!;
              expect(lp.length).toBe(B * V);
              for (let b = 0; b < B; b++) {
                const logits = Array.from({ length: V }, (_, v) => {
                  let s = p.vocabBias[v];
                  for (let i = 0; i < H; i++) s += got.y[b * H + i] * p.vocabWeight[v * H + i];
                  return s;
                });
                const m = Math.max(...logits);
                const lse = m + Math.log(logits.reduce((a, l) => a + Math.exp(l - m), 0));
                expectClose(
                  lp.subarray(b * V, (b + 1) * V),
                  Float64Array.from(logits, (l) => l - lse),
                  { atol: 2e-5, rtol: 1e-4 },
                  `${tag} logProbs row ${b}`,
                );
              }
              results[`${backend}${isa ?? ''}`] = got;
            });
          }
          const js = results.js;
          for (const [name, r] of Object.entries(results)) {
            const tol = { atol: 2e-5, rtol: 2e-4 };
            for (const key of ['y', 'attention', 'hN', 'cN', 'keys', 'logProbs'] as const)
              if (js[key]) expectClose(r[key]!, js[key], tol, `shape ${k} ${name} == js: ${key}`);
          }
        }
      });

  it('logProbsOut receives the log-probabilities; without the options the call is the plain one', () => {
    const p = problem('gru', 'additive', SHAPES[0], 5);
    const { B, V, M } = p.z;
    for (const backend of backends) {
      const logProbsOut = new Float32Array(B * V);
      const r = attnDecoderForward(
        {
          ...p.base,
          memory: p.memory,
          srcLengths: p.lengths,
          memoryBatch: M,
          memoryIndex: p.memoryIndex,
          vocabSize: V,
          vocabWeight: p.vocabWeight,
          logProbsOut,
        },
        { backend },
      );
      expect(r.logProbs).toBe(logProbsOut);
      // no bias: each row still sums to 1 in probability
      for (let b = 0; b < B; b++) {
        let s = 0;
        for (let v = 0; v < V; v++) s += Math.exp(logProbsOut[b * V + v]);
        expect(s).toBeCloseTo(1, 5);
      }
    }
  });

  describe('errors name the argument, on both backends', () => {
    const p = problem('lstm', 'general', SHAPES[0], 9);
    const { B, M, P, S, L, H, V } = p.z;
    const ok = stepArgs(p);
    const cases: [string, typeof ValueError | typeof ShapeError, Partial<Record<keyof AttnDecoderForwardArgs | 'stateIdx', unknown>>][] = [
      ['memoryIndex', ValueError, { memoryIndex: Int32Array.from(p.memoryIndex, () => M) }],
      ['memoryIndex', ValueError, { memoryIndex: Int32Array.of(-1, 0, 0, 0, 0, 0, 0) }],
      ['memoryIndex', ShapeError, { memoryIndex: new Int32Array(B + 1) }],
      ['memoryIndex', ValueError, { memoryIndex: Float32Array.from(p.memoryIndex) }],
      ['memoryIndex', ValueError, { keepCache: true }],
      ['memoryBatch', ValueError, { memoryIndex: null }],
      ['memory', ShapeError, { memory: p.memory.subarray(1) }],
      ['srcLengths', ShapeError, { srcLengths: new Int32Array(B).fill(1) }],
      ['keys', ShapeError, { keys: new Float32Array(S * B * H) }],
      ['stateIndex', ValueError, { stateIndex: Int32Array.from(p.stateIndex, () => P) }],
      ['stateRows', ValueError, { stateIndex: null }],
      ['h0', ShapeError, { h0: new Float32Array(L * B * H) }],
      ['feed0', ShapeError, { feed0: new Float32Array(B * H) }],
      ['vocabWeight', ShapeError, { vocabWeight: p.vocabWeight.subarray(H) }],
      ['vocabWeight', ValueError, { vocabWeight: null }],
      ['vocabSize', ValueError, { vocabSize: 0 }],
      ['vocabBias', ValueError, { vocabSize: undefined, vocabWeight: null, vocabBias: p.vocabBias }],
      ['logProbsOut', ShapeError, { logProbsOut: new Float32Array(V) }],
      ['stateIdx', ValueError, { stateIdx: p.stateIndex }],
    ];
    for (const backend of backends)
      it.each(cases)(`${backend}: %s (%o) #%#`, (name, type, change) => {
        const err = errorOf(() => attnDecoderForward({ ...ok, ...change } as AttnDecoderForwardArgs, { backend }));
        expect(err).toBeInstanceOf(type);
        expect(err.argument).toBe(name);
      });
  });
});

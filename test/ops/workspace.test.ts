/**
 * Workspace (lib/ops/outputs.ts): the ops' outputs handed back call after call.
 * - Results through a workspace are bit-identical to fresh ones, call after call with new inputs and
 *   changing sizes (the reused arrays' old contents never show), for every cell and the attention
 *   decoder, forward and backward.
 * - The next call of the same op reuses the arrays; other ops' calls leave them alone.
 * - An output is never one of the call's inputs (hN fed back as h0, y as x, views of them).
 * - One call at a time: a call while an async one is unfinished is a ValueError naming
 *   options.workspace; the js backend ignores it; memory stays bounded when sizes change.
 */
import { describe, expect, it } from 'vitest';

import { nativeAvailable } from '../../lib/backend/addon.js';
import { ValueError } from '../../lib/errors.js';
import { ops, Workspace } from '../../lib/index.js';
import type { AttnDecoderForwardArgs } from '../../lib/ops/attention.js';
import { Rng, errorOf } from '../helpers/index.js';

type Cell = 'rnn' | 'lstm' | 'gru';
const GATES = { rnn: 1, lstm: 4, gru: 3 } as const;
const CELLS: Cell[] = ['rnn', 'lstm', 'gru'];

function seqArgs(cell: Cell, T: number, B: number, D: number, H: number, seed: number) {
  const rng = new Rng(seed);
  const G = GATES[cell];
  const u = (n: number, s = 0.5) => rng.uniform(n, -s, s, Float32Array);
  return {
    seqLen: T,
    batch: B,
    inputSize: D,
    hiddenSize: H,
    x: u(T * B * D, 1),
    weightIh: u(G * H * D),
    weightHh: u(G * H * H),
    biasIh: u(G * H),
    biasHh: u(G * H),
    h0: u(B * H),
    ...(cell === 'lstm' ? { c0: u(B * H) } : {}),
    lengths: Int32Array.from({ length: B }, (_, b) => (b % 3 === 1 ? Math.max(0, T - 2) : T)),
  };
}

const forward = (cell: Cell) => (cell === 'rnn' ? ops.rnnForward : cell === 'lstm' ? ops.lstmForward : ops.gruForward);
const backward = (cell: Cell) => (cell === 'rnn' ? ops.rnnBackward : cell === 'lstm' ? ops.lstmBackward : ops.gruBackward);

/** Every typed array of a result, by name (one level of nesting), as bytes. */
function bytesOf(r: object): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const walk = (v: unknown, name: string, depth: number): void => {
    if (v === null || typeof v !== 'object' || depth > 3) return;
    if (ArrayBuffer.isView(v)) {
      out[name] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      return;
    }
    for (const [k, x] of Object.entries(v)) walk(x, `${name}.${k}`, depth + 1);
  };
  walk(r, 'r', 0);
  return out;
}
function expectSameBits(a: object, b: object): void {
  const x = bytesOf(a),
    y = bytesOf(b);
  expect(Object.keys(y).sort()).toEqual(Object.keys(x).sort());
  for (const k of Object.keys(x)) expect(Buffer.compare(x[k], y[k]), k).toBe(0);
}

describe.runIf(nativeAvailable())('Workspace, native backend', () => {
  for (const cell of CELLS) {
    it(`${cell}: forward and backward through a workspace == fresh, bit for bit, as inputs and sizes change`, () => {
      const ws = new Workspace();
      // New inputs every call; the batch shrinks to 1 and grows back (T 7, D 33, H 9 / 33: off the SIMD widths).
      const shapes = [
        [7, 9, 33, 33],
        [7, 9, 33, 33],
        [7, 1, 33, 33],
        [1, 9, 33, 9],
        [7, 9, 33, 33],
      ] as const;
      shapes.forEach(([T, B, D, H], i) => {
        const a = seqArgs(cell, T, B, D, H, 10 + i);
        const dy = new Rng(50 + i).uniform(T * B * H, -1, 1, Float32Array);
        const fresh = forward(cell)(a);
        const gFresh = backward(cell)({ ...a, cache: fresh.cache, dy });
        const f = forward(cell)(a, { workspace: ws });
        const g = backward(cell)({ ...a, cache: f.cache, dy }, { workspace: ws });
        expectSameBits(fresh, f);
        expectSameBits(gFresh, g);
      });
    });
  }

  it('the next call of the same op reuses the arrays; calls of other ops leave them alone', () => {
    const ws = new Workspace();
    const a = seqArgs('lstm', 5, 4, 7, 9, 1);
    const f1 = ops.lstmForward(a, { workspace: ws });
    const cache = f1.cache.slice();
    const g1 = ops.lstmBackward({ ...a, cache: f1.cache, dy: new Rng(2).uniform(5 * 4 * 9, -1, 1, Float32Array) }, { workspace: ws });
    expect(Buffer.compare(Buffer.from(f1.cache.buffer), Buffer.from(cache.buffer))).toBe(0); // backward did not write it
    const bytes = ws.bytes;
    const f2 = ops.lstmForward({ ...a, x: new Rng(3).uniform(5 * 4 * 7, -1, 1, Float32Array) }, { workspace: ws });
    expect(f2.y).toBe(f1.y);
    expect(f2.cache).toBe(f1.cache);
    expect(f2.hN).toBe(f1.hN);
    const g2 = ops.lstmBackward({ ...a, cache: f2.cache }, { workspace: ws });
    expect(g2.dWeightHh).toBe(g1.dWeightHh);
    expect(ws.bytes).toBe(bytes);
    ws.clear();
    expect(ws.bytes).toBe(0);
  });

  it('an output is never an input of the same call: hN fed back as h0, y (or a view of it) as x', () => {
    const ws = new Workspace();
    const H = 33;
    let a = seqArgs('gru', 7, 3, H, H, 4);
    let prev = ops.gruForward(a, { workspace: ws });
    for (let i = 0; i < 4; i++) {
      // x = the previous y; on odd calls only a view of its buffer, shifted by a step.
      const x = i % 2 ? new Float32Array(prev.y.buffer, 0, prev.y.length) : prev.y;
      a = { ...a, x, h0: prev.hN };
      const expected = ops.gruForward({ ...a, x: x.slice(), h0: prev.hN.slice() });
      const r = ops.gruForward(a, { workspace: ws });
      expect(r.y.buffer).not.toBe(x.buffer);
      expect(r.hN.buffer).not.toBe(prev.hN.buffer);
      expectSameBits(expected, r);
      prev = r;
    }
    // The two arrays y and hN alternate between, and one cache.
    expect(ws.bytes).toBe(2 * prev.y.byteLength + 2 * prev.hN.byteLength + prev.cache.byteLength);
  });

  it('memory stays at about two calls of outputs however the sizes change', () => {
    const ws = new Workspace();
    let largest = 0;
    for (let i = 0; i < 12; i++) {
      const T = 3 + (i % 5);
      const a = seqArgs('lstm', T, 2 + (i % 3), 5, 9, 20 + i);
      const f = ops.lstmForward(a, { workspace: ws });
      largest = Math.max(largest, f.y.byteLength + f.hN.byteLength + f.cN.byteLength + f.cache.byteLength);
    }
    expect(ws.bytes).toBeLessThanOrEqual(2 * largest);
  });

  it('one call at a time: a call during an unfinished async call is a ValueError naming options.workspace', async () => {
    const ws = new Workspace();
    const a = seqArgs('lstm', 16, 8, 33, 33, 5);
    const pending = ops.lstmForwardAsync(a, { workspace: ws });
    const e = errorOf(() => ops.lstmForward(a, { workspace: ws }));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.argument).toBe('options.workspace');
    await expect(ops.lstmForwardAsync(a, { workspace: ws })).rejects.toMatchObject({ argument: 'options.workspace' });
    const r = await pending;
    expectSameBits(ops.lstmForward(a), r);
    expectSameBits(ops.lstmForward(a), ops.lstmForward(a, { workspace: ws })); // free again
    // A failed async call frees it too.
    await expect(ops.lstmForwardAsync({ ...a, x: new Float32Array(3) }, { workspace: ws })).rejects.toThrow();
    expect(() => ops.lstmForward(a, { workspace: ws })).not.toThrow();
  });

  it('the attention decoder forward and backward through a workspace == fresh, bit for bit, call after call', () => {
    const ws = new Workspace();
    for (let i = 0; i < 3; i++) {
      const a = attnArgs(30 + i);
      const fresh = ops.attnDecoderForward(a);
      const f = ops.attnDecoderForward(a, { workspace: ws });
      expectSameBits(fresh, f);
      const dy = new Rng(40 + i).uniform(a.seqLen * a.batch * a.hiddenSize, -1, 1, Float32Array);
      expectSameBits(
        ops.attnDecoderBackward({ ...a, cache: fresh.cache!, dy }),
        ops.attnDecoderBackward({ ...a, cache: f.cache!, dy }, { workspace: ws }),
      );
    }
  });
});

describe('Workspace, any backend', () => {
  it('the js backend allocates as without it (and is right)', () => {
    const ws = new Workspace();
    const a = seqArgs('rnn', 4, 3, 5, 7, 6);
    const r1 = ops.rnnForward(a, { backend: 'js', workspace: ws });
    const r2 = ops.rnnForward(a, { backend: 'js', workspace: ws });
    expect(r2.y).not.toBe(r1.y);
    expectSameBits(ops.rnnForward(a, { backend: 'js' }), r2);
    expect(ws.bytes).toBe(0);
  });

  it('anything but a Workspace is a ValueError naming options.workspace', () => {
    const a = seqArgs('rnn', 2, 1, 3, 3, 7);
    for (const bad of [{}, 'ws', 5, { outputs: () => null }]) {
      const e = errorOf(() => ops.rnnForward(a, { workspace: bad as unknown as Workspace }));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.argument).toBe('options.workspace');
    }
    expect(() => ops.rnnForward(a, { workspace: undefined })).not.toThrow();
  });
});

/** A two-layer LSTM attention decoder with input feeding (additive attention), every optional input given. */
function attnArgs(seed: number): AttnDecoderForwardArgs {
  const rng = new Rng(seed);
  const u = (n: number, s = 0.5) => rng.uniform(n, -s, s, Float32Array);
  const T = 3,
    B = 7,
    S = 5,
    D = 9,
    E = 7,
    H = 9,
    A = 7,
    G = 4 * H;
  return {
    cell: 'lstm',
    attention: 'additive',
    inputFeed: true,
    seqLen: T,
    batch: B,
    srcLen: S,
    inputSize: D,
    memorySize: E,
    hiddenSize: H,
    attentionSize: A,
    numLayers: 2,
    x: u(T * B * D, 1),
    memory: u(S * B * E, 1),
    srcLengths: Int32Array.from({ length: B }, (_, b) => 1 + (b % S)),
    h0: u(2 * B * H),
    c0: u(2 * B * H),
    feed0: u(B * H),
    layers: [
      { weightIh: u(G * (D + H)), weightHh: u(G * H), biasIh: u(G), biasHh: u(G) },
      { weightIh: u(G * H), weightHh: u(G * H), biasIh: u(G), biasHh: null },
    ],
    attn: { queryWeight: u(A * H), queryBias: u(A), keyWeight: u(A * E), v: u(A, 1), outWeight: u(H * (E + H)) },
  };
}

/**
 * Workspace (lib/ops/outputs.ts): the ops' outputs handed back call after call.
 * - Results through a workspace are bit-identical to fresh ones, call after call with new inputs and
 *   changing sizes (the reused arrays' old contents never show), for every cell and the attention
 *   decoder, forward and backward.
 * - The next call of the same op reuses the arrays; other ops' calls leave them alone.
 * - An output is never one of the call's inputs (hN fed back as h0, y as x, views of them).
 * - One call at a time: a call while an async one is unfinished is a ValueError naming
 *   options.workspace; the js backend ignores it; memory stays bounded when sizes change.
 * - model.forward through one (what fit's training steps do): every layer-direction takes its own,
 *   and y, the input gradient and every parameter gradient equal a model's without, step after step.
 */
import { describe, expect, it } from 'vitest';

import { nativeAvailable } from '../../lib/backend/addon.js';
import { ValueError } from '../../lib/errors.js';
import {
  adam,
  dense,
  embedding,
  encoderDecoder,
  gru,
  input,
  lstm,
  ops,
  sequential,
  stepTargets,
  tokens,
  Workspace,
} from '../../lib/index.js';
import { f32Args } from '../helpers/attention.js';
import { Rng, errorOf, expectClose } from '../helpers/index.js';

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

  it('linear, embedding (padding rows) and softmax cross-entropy (ignored rows) through a workspace == fresh, arrays reused', () => {
    const ws = new Workspace();
    let prev: Float32Array[] = [];
    for (let i = 0; i < 3; i++) {
      const rng = new Rng(90 + i);
      const u = (n: number) => rng.uniform(n, -1, 1, Float32Array);
      const rows = 33,
        inF = 9,
        outF = 7;
      const lin = { rows, inFeatures: inF, outFeatures: outF, x: u(rows * inF), weight: u(outF * inF), bias: i === 1 ? null : u(outF) };
      const back = { ...lin, dy: u(rows * outF), dWeight: new Float32Array(outF * inF), dBias: null };
      const ids = Int32Array.from({ length: rows }, (_, r) => (r % 4 === 0 ? 0 : rng.int(1, 10)));
      const emb = { ids, weight: u(11 * 5), vocabSize: 11, dim: 5, paddingIndex: 0 };
      const ce = { logits: u(rows * 11), targets: Int32Array.from(ids, (t, r) => (r % 5 === 0 ? -100 : t)), numClasses: 11 };
      const got = [
        ops.linearForward(lin, { workspace: ws }),
        ops.linearBackward({ ...back, dWeight: new Float32Array(outF * inF) }, { workspace: ws })!,
        ops.embeddingForward(emb, { workspace: ws }),
        ops.softmaxCrossEntropy(ce, { workspace: ws }).dLogits,
      ];
      const want = [ops.linearForward(lin), ops.linearBackward(back)!, ops.embeddingForward(emb), ops.softmaxCrossEntropy(ce).dLogits];
      got.forEach((g, k) => expectSameBits({ [k]: want[k] }, { [k]: g }));
      if (i > 0) got.forEach((g, k) => expect(g, `output ${k} reused`).toBe(prev[k]));
      prev = got;
    }
  });

  it('the attention decoder forward and backward through a workspace == fresh, bit for bit, call after call', () => {
    const ws = new Workspace();
    for (let i = 0; i < 3; i++) {
      const a = f32Args({ cell: 'lstm', attention: 'additive', inputFeed: true, numLayers: 2 }, 30 + i);
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

describe.runIf(nativeAvailable())('model.forward through a workspace (fit training steps)', () => {
  const sequentialModel = () =>
    sequential(input.tokens({ vocabSize: 11 }))
      .add(embedding({ vocabSize: 11, dim: 9 }))
      .add(lstm({ hiddenSize: 7, numLayers: 2, bidirectional: true }))
      .add(gru({ hiddenSize: 9 }))
      .add(dense({ units: 11 }))
      .build({ seed: 4 });

  it('a 2-layer bidirectional LSTM and a GRU: y and every gradient == without, step after step', async () => {
    const a = sequentialModel(),
      b = sequentialModel();
    const ws = new Workspace();
    for (let step = 0; step < 3; step++) {
      const rng = new Rng(60 + step);
      const B = step === 1 ? 2 : 3,
        T = 5 - step;
      const x = tokens({
        ids: Int32Array.from({ length: T * B }, () => rng.int(0, 10)),
        seqLen: T,
        batch: B,
        lengths: Int32Array.from({ length: B }, (_, i) => T - (i % 2)),
      });
      const dy = rng.uniform(T * B * 11, -1, 1, Float32Array);
      const sa = await a.forward(x, { training: true });
      const sb = await b.forward(x, { training: true, workspace: ws });
      expectSameBits(sa.y, sb.y);
      a.zeroGrad();
      b.zeroGrad();
      await sa.backward(dy);
      await sb.backward(dy);
      a.parameters().forEach((p, i) => expectSameBits({ [p.name]: p.grad }, { [p.name]: b.parameters()[i].grad }));
    }
    expect(ws.bytes).toBeGreaterThan(0);
  });

  it('fit (its training steps through one) trains the weights the js backend (no workspace) trains', async () => {
    const a = sequentialModel(),
      b = sequentialModel();
    const rng = new Rng(70);
    const data = Array.from({ length: 4 }, () => ({
      x: tokens({ ids: Int32Array.from({ length: 12 }, () => rng.int(0, 10)), seqLen: 4, batch: 3 }),
      target: stepTargets(Int32Array.from({ length: 12 }, () => rng.int(0, 10))),
    }));
    await a.fit(data, { epochs: 2, optimizer: adam({ lr: 0.01 }), backend: 'native' });
    await b.fit(data, { epochs: 2, optimizer: adam({ lr: 0.01 }), backend: 'js' });
    // Stale arrays from an earlier step would be far off; the backends differ by float32 rounding only.
    a.parameters().forEach((p, i) => expectClose(p.value, b.parameters()[i].value, { atol: 2e-5, rtol: 1e-4 }, p.name));
  });

  it('an encoder-decoder takes one too (its encoder layers)', async () => {
    const make = () =>
      encoderDecoder({
        sourceVocabSize: 9,
        targetVocabSize: 8,
        bos: 1,
        eos: 2,
        encoder: { cell: 'lstm', hiddenSize: 5, bidirectional: true, embeddingDim: 4 },
        decoder: { cell: 'gru', hiddenSize: 6, embeddingDim: 4, attention: 'general' },
      }).build({ seed: 2 });
    const a = make(),
      b = make();
    const ws = new Workspace();
    for (let step = 0; step < 2; step++) {
      const rng = new Rng(80 + step);
      const src = tokens({ ids: Int32Array.from({ length: 12 }, () => rng.int(0, 7)), seqLen: 4, batch: 3 });
      const tgt = tokens({ ids: Int32Array.from({ length: 9 }, () => rng.int(0, 7)), seqLen: 3, batch: 3 });
      const sa = await a.forward({ source: src, target: tgt }, { training: true });
      const sb = await b.forward({ source: src, target: tgt }, { training: true, workspace: ws });
      expectSameBits(sa.y, sb.y);
      const dy = rng.uniform(sa.y.data.length, -1, 1, Float32Array);
      a.zeroGrad();
      b.zeroGrad();
      await sa.backward(dy);
      await sb.backward(dy);
      a.parameters().forEach((p, i) => expectSameBits({ [p.name]: p.grad }, { [p.name]: b.parameters()[i].grad }));
    }
    const e = await a
      .forward(
        { source: tokens({ ids: Int32Array.of(3), seqLen: 1, batch: 1 }), target: tokens({ ids: Int32Array.of(3), seqLen: 1, batch: 1 }) },
        { workspace: {} as Workspace },
      )
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ValueError);
    expect((e as ValueError).argument).toBe('options.workspace');
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

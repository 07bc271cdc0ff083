/**
 * lib/serve/sessions.ts: a session fed piece by piece gives what one forward over the whole input
 * gives; batched sessions give what each gives alone; steps fed in one tick share one call;
 * snapshots resume exactly (also through bytes); generation matches lib/decode's `generate`; misuse
 * and corrupt snapshot bytes give typed errors.
 */
import { describe, expect, it } from 'vitest';

import {
  AbortError,
  decodeSnapshot,
  dense,
  embedding,
  encodeSafetensors,
  encodeSnapshot,
  FormatError,
  generate,
  gru,
  input,
  jordan,
  lstm,
  rnn,
  Rng,
  sequence,
  sequential,
  SessionPool,
  ShapeError,
  tokens,
  ValueError,
  type Model,
} from '../../lib/index.js';
import { maxAbsDiff } from '../helpers/close.js';
import { nativeSkipReason } from '../helpers/backends.js';

const backends = (['js', 'native'] as const).filter((b) => b === 'js' || nativeSkipReason === null);
const V = 11;

function lm(backend: 'js' | 'native', seed = 1): Model<'tokens', 'sequence'> {
  return sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: 6 }))
    .add(lstm({ hiddenSize: 9, numLayers: 2, peepholes: true }))
    .add(gru({ hiddenSize: 7 }))
    .add(rnn({ hiddenSize: 5 }))
    .add(jordan({ hiddenSize: 6, outputSize: 4 }))
    .add(dense({ units: V }))
    .build({ seed, backend });
}

/** The model's outputs for one whole sequence (batch 1), `[T * V]`. */
async function whole(model: Model<'tokens', 'sequence'>, ids: readonly number[]): Promise<Float32Array> {
  return (await model.predict(tokens({ ids: Int32Array.from(ids), seqLen: ids.length, batch: 1 }))).data;
}

const randomIds = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.int(V));

describe.each(backends)('sessions (%s backend)', (backend) => {
  it('feeding in pieces gives the outputs of one forward over the whole sequence', async () => {
    const model = lm(backend);
    const ids = randomIds(new Rng(3), 12);
    const s = new SessionPool(model).open();
    const parts = [await s.feed(ids.slice(0, 3)), await s.feed(ids.slice(3, 4)), await s.feed(Int32Array.from(ids.slice(4)))];
    expect(parts.map((p) => p.length)).toEqual([3 * V, V, 8 * V]);
    const got = new Float32Array(12 * V);
    let o = 0;
    for (const p of parts) {
      got.set(p, o);
      o += p.length;
    }
    expect(maxAbsDiff(got, await whole(model, ids))).toBeLessThan(1e-5);
    expect(s.steps).toBe(12);
  });

  it('batched sessions give what each gives alone; steps fed in one tick share one call', async () => {
    const model = lm(backend);
    const rng = new Rng(5);
    const seqs = Array.from({ length: 8 }, () => randomIds(rng, 6));
    const pool = new SessionPool(model, { maxBatch: 64 });
    const sessions = seqs.map(() => pool.open());
    // Three rounds: a 4-step prompt for everyone (one call), then 1 step, then 1 step.
    const outs = await Promise.all(sessions.map((s, i) => s.feed(seqs[i].slice(0, 4))));
    expect(pool.stats).toEqual({ batches: 1, requests: 8, meanBatch: 8 });
    const next = await Promise.all(sessions.map((s, i) => s.feed([seqs[i][4]])));
    const last = await Promise.all(sessions.map((s, i) => s.feed([seqs[i][5]])));
    expect(pool.stats.batches).toBe(3);
    for (let i = 0; i < 8; i++) {
      const ref = await whole(model, seqs[i]);
      expect(maxAbsDiff(outs[i], ref.subarray(0, 4 * V))).toBeLessThan(1e-5);
      expect(maxAbsDiff(next[i], ref.subarray(4 * V, 5 * V))).toBeLessThan(1e-5);
      expect(maxAbsDiff(last[i], ref.subarray(5 * V))).toBeLessThan(1e-5);
    }
  });

  it('different step counts in one tick: grouped by count, each session right; maxBatch splits calls', async () => {
    const model = lm(backend);
    const rng = new Rng(8);
    const seqs = [3, 1, 3, 2, 1, 3].map((n) => randomIds(rng, n));
    const pool = new SessionPool(model, { maxBatch: 2 });
    const outs = await Promise.all(seqs.map((q) => pool.open().feed(q)));
    // counts 3,3,3 -> 2 calls (maxBatch 2); 1,1 -> 1; 2 -> 1
    expect(pool.stats.batches).toBe(4);
    for (let i = 0; i < seqs.length; i++) expect(maxAbsDiff(outs[i], await whole(model, seqs[i]))).toBeLessThan(1e-5);
  });

  it("a session's feeds run in order even when not awaited", async () => {
    const model = lm(backend);
    const ids = randomIds(new Rng(4), 5);
    const s = new SessionPool(model).open();
    const ps = ids.map((id) => s.feed([id]));
    const outs = await Promise.all(ps);
    const ref = await whole(model, ids);
    outs.forEach((o, t) => expect(maxAbsDiff(o, ref.subarray(t * V, (t + 1) * V))).toBeLessThan(1e-5));
  });

  it('snapshot and restore resume exactly', async () => {
    const model = lm(backend);
    const rng = new Rng(6);
    const pool = new SessionPool(model);
    const a = pool.open();
    await a.feed(randomIds(rng, 5));
    const snap = a.snapshot();
    const more = randomIds(rng, 4);
    const fromA = await a.feed(more);
    const b = pool.open(snap);
    expect(b.steps).toBe(5);
    expect(await b.feed(more)).toEqual(fromA);
    a.restore(snap);
    expect(await a.feed(more)).toEqual(fromA);
    expect(a.steps).toBe(9);
    // the snapshot is a copy: feeding did not change it
    expect(pool.open(snap).snapshot()).toEqual(snap);
  });

  it('generate streams what lib/decode generate gives, and the session goes on after it', async () => {
    const model = lm(backend, 2);
    const prompt = [1, 2, 3];
    const ref = await generate(model, { prompt, maxTokens: 10 });
    const s = new SessionPool(model).open();
    const got: number[] = [];
    for await (const id of s.generate({ prompt, maxTokens: 10 })) got.push(id);
    expect(got).toEqual([...ref]);
    expect(s.steps).toBe(13);
    // sampling is seeded
    const draw = async (seed: number): Promise<number[]> => {
      const t: number[] = [];
      for await (const id of new SessionPool(model).open().generate({ prompt, maxTokens: 8, strategy: { temperature: 2 }, seed }))
        t.push(id);
      return t;
    };
    expect(await draw(1)).toEqual(await draw(1));
  });
});

describe('sessions: other models and misuse', () => {
  it('a sequence model with a Vector output gives the state after the fed steps', async () => {
    const model = sequential(input.sequence({ features: 3 }))
      .add(gru({ hiddenSize: 5, returnSequences: false }))
      .add(dense({ units: 2 }))
      .build({ seed: 1, backend: 'js' });
    const data = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
    const s = new SessionPool(model).open();
    await s.feed(data.slice(0, 6));
    const y = await s.feed(data.slice(6));
    const ref = await model.predict(sequence({ data, seqLen: 4, batch: 1, features: 3 }));
    expect(y.length).toBe(2);
    expect(maxAbsDiff(y, ref.data)).toBeLessThan(1e-6);
  });

  it('typed errors naming the argument', async () => {
    const bi = sequential(input.tokens({ vocabSize: 4 }))
      .add(embedding({ vocabSize: 4, dim: 2 }))
      .add(lstm({ hiddenSize: 2, bidirectional: true }))
      .build({ backend: 'js' });
    expect(() => new SessionPool(bi)).toThrow(
      expect.objectContaining({ name: 'ValueError', argument: 'model', message: expect.stringMatching(/bidirectional/) }),
    );
    const model = lm('js');
    expect(() => new SessionPool(model, { maxBatch: 0 })).toThrow(expect.objectContaining({ argument: 'options.maxBatch' }));
    const pool = new SessionPool(model);
    const s = pool.open();
    await expect(s.feed([1, V])).rejects.toMatchObject({ name: 'ValueError', argument: 'input[1]' });
    await expect(s.feed(new Float32Array(2) as never)).rejects.toBeInstanceOf(ValueError);
    await expect(
      (async () => {
        for await (const _ of s.generate({ maxTokens: 2 })) void _;
      })(),
    ).rejects.toMatchObject({ argument: 'options.prompt' });
    expect(() => s.restore({ steps: 1, states: [] })).toThrow(ShapeError);
    const snap = s.snapshot();
    expect(() => s.restore({ ...snap, states: snap.states.map((e) => ({ ...e, h: new Float32Array(1) })) })).toThrow(
      expect.objectContaining({ argument: 'snapshot.states[0].h' }),
    );
    const f = sequential(input.sequence({ features: 2 }))
      .add(gru({ hiddenSize: 2 }))
      .build({ backend: 'js' });
    await expect(new SessionPool(f).open().feed(new Float32Array(3))).rejects.toMatchObject({ name: 'ShapeError', argument: 'input' });
    await expect(new SessionPool(f).open().feed(Float32Array.of(1, NaN))).rejects.toMatchObject({ name: 'ValueError', argument: 'input' });
    const pending = pool.open().feed([1]);
    pool.close();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    expect(() => pool.open()).toThrow(ValueError);
  });
});

describe('session snapshots as bytes', () => {
  it('encodeSnapshot / decodeSnapshot round-trip, and a session opened from the bytes goes on exactly', async () => {
    const model = lm('js');
    const pool = new SessionPool(model);
    const a = pool.open();
    await a.feed([1, 2, 3, 4]);
    const bytes = encodeSnapshot(a.snapshot());
    expect(bytes).toBeInstanceOf(Uint8Array);
    const back = decodeSnapshot(bytes);
    expect(back).toEqual(a.snapshot());
    const b = pool.open(back);
    expect(await b.feed([5, 6])).toEqual(await a.feed([5, 6]));
  });

  it('corrupt, truncated or foreign bytes are a FormatError', async () => {
    const s = new SessionPool(lm('js')).open();
    await s.feed([1]);
    const bytes = encodeSnapshot(s.snapshot());
    expect(() => decodeSnapshot(bytes.subarray(0, bytes.length - 3))).toThrow(FormatError);
    const bad = bytes.slice();
    bad[3] = 0x7f; // header length
    expect(() => decodeSnapshot(bad)).toThrow(FormatError);
    expect(() =>
      decodeSnapshot(encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }, { format: 'other' })),
    ).toThrow(FormatError);
    expect(() =>
      decodeSnapshot(
        encodeSafetensors({ '0.x': { dtype: 'F32', shape: [1], data: new Float32Array(1) } }, { format: 'gated.session', steps: '1' }),
      ),
    ).toThrow(expect.objectContaining({ name: 'FormatError', message: expect.stringMatching(/0\.x/) }));
    expect(() => encodeSnapshot({ steps: -1, states: [] })).toThrow(expect.objectContaining({ argument: 'snapshot.steps' }));
  });
});

/**
 * What the whole-API fuzz (test/api-fuzz.test.ts) found, one test each, so a regression names
 * itself: a generation on the JS backend that never let the event loop run (so no timer, and no
 * AbortSignal.timeout, could stop it), a queued session restore that read the caller's array later
 * (a TypeError in a promise chain: the process died when the array was transferred meanwhile), error
 * constructors that threw on a non-string message, and sizes that reached the allocator.
 */
import { describe, expect, it } from 'vitest';

import {
  AbortError,
  dense,
  embedding,
  generate,
  input,
  lstm,
  Rng,
  SessionPool,
  ShapeError,
  sequential,
  ValueError,
  Vocabulary,
  cacheSize,
  kFold,
  trainTestSplit,
} from '../lib/index.js';

const V = 5;
const lm = () =>
  sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: 3 }))
    .add(lstm({ hiddenSize: 4 }))
    .add(dense({ units: V }))
    .build({ seed: 1, backend: 'js' });

describe('whole-API fuzz findings', () => {
  it('a JS-backend generation lets the event loop run: a timer fires, and AbortSignal.timeout stops it', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    try {
      await expect(generate(lm(), { prompt: [1], maxTokens: 2 ** 31, signal: AbortSignal.timeout(100) })).rejects.toBeInstanceOf(
        AbortError,
      );
    } finally {
      clearInterval(timer);
    }
    expect(performance.now() - started).toBeLessThan(5000);
    expect(ticks).toBeGreaterThan(2);
  });

  it('a queued restore copies the snapshot at once: transferring its arrays right after changes nothing', async () => {
    const pool = new SessionPool(lm());
    const a = pool.open();
    await a.feed([1, 2, 3]);
    const snap = a.snapshot();
    const expected = snap.last!.slice();
    const b = pool.open();
    const pending = b.feed([4]); // b is busy: the restore below waits behind it
    b.restore(snap);
    structuredClone(snap.last!.buffer, { transfer: [snap.last!.buffer as ArrayBuffer] });
    structuredClone(snap.states[0].h.buffer, { transfer: [snap.states[0].h.buffer as ArrayBuffer] });
    await pending;
    // b goes on from a's state: the same next outputs.
    expect(await b.feed([0, 2])).toEqual(await a.feed([0, 2]));
    expect(b.snapshot().last).not.toEqual(expected);
    // A detached array is refused by name, before anything is queued.
    const detached = a.snapshot();
    structuredClone(detached.last!.buffer, { transfer: [detached.last!.buffer as ArrayBuffer] });
    expect(() => b.restore(detached)).toThrow(expect.objectContaining({ name: 'ValueError', argument: 'snapshot.last' }));
  });

  it('error constructors never throw, whatever the message', () => {
    const detached = new Float32Array(2);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    for (const m of [Symbol('s'), Object.create(null), detached, 10n]) {
      const e = new ShapeError(m as never, m as never);
      expect(e).toBeInstanceOf(ShapeError);
      expect(typeof e.message).toBe('string');
    }
  });

  it('sizes past 2^31-1 and non-Rng generators are ValueErrors naming the argument', () => {
    const rng = new Rng(1);
    for (const f of [() => rng.uniformArray(2 ** 40), () => rng.normalArray(2 ** 31), () => rng.permutation(2 ** 53 + 2)]) {
      expect(f).toThrow(expect.objectContaining({ name: 'ValueError', argument: 'n' }));
    }
    expect(() => rng.categorical(null as never)).toThrow(expect.objectContaining({ argument: 'weights' }));
    expect(() => kFold(10, 3, {} as never)).toThrow(expect.objectContaining({ name: 'ValueError', argument: 'rng' }));
    expect(() => trainTestSplit(10, { rng: 5 as never })).toThrow(expect.objectContaining({ argument: 'options.rng' }));
    expect(() => cacheSize(Object.create(null), { seqLen: 1, batch: 1, hiddenSize: 1 })).toThrow(ValueError);
    expect(() => lstm({ hiddenSize: 2 }).build(3, {} as never)).toThrow(expect.objectContaining({ argument: 'rng' }));
    const vocab = Vocabulary.build(['a', 'b']);
    expect(() => vocab.decode([Symbol('s') as never])).toThrow(expect.objectContaining({ argument: 'ids[0]' }));
    expect(() => vocab.id(null as never)).toThrow(expect.objectContaining({ argument: 'token' }));
  });
});

/**
 * Concurrent use of models: predicting while a model trains sees the weights after a completed
 * batch (never a half-applied step); a second fit of the same model is a BusyError; two models train
 * at the same time and end exactly as when trained alone.
 */
import { describe, expect, it } from 'vitest';

import {
  adam,
  BusyError,
  dense,
  embedding,
  gru,
  input,
  Rng,
  sequenceTargets,
  sequential,
  tokens,
  type Batch,
  type Model,
} from '../../lib/index.js';
import { WeightsLock } from '../../lib/models/guard.js';
import { nativeSkipReason } from '../helpers/backends.js';

const backends = (['js', 'native'] as const).filter((b) => b === 'js' || nativeSkipReason === null);

function model(seed: number, backend: 'js' | 'native'): Model<'tokens', 'vector'> {
  return sequential(input.tokens({ vocabSize: 5 }))
    .add(embedding({ vocabSize: 5, dim: 8 }))
    .add(gru({ hiddenSize: 48, returnSequences: false }))
    .add(dense({ units: 5 }))
    .build({ seed, backend });
}

function data(seed: number, n: number): Batch<'tokens', 'softmaxCrossEntropy', 'vector'>[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const B = 16,
      T = 12;
    const ids = Int32Array.from({ length: T * B }, () => rng.int(5));
    return { x: tokens({ ids, seqLen: T, batch: B }), target: sequenceTargets(ids.slice((T - 1) * B)) };
  });
}

const key = (a: Float32Array): string => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)).join(',');

describe.each(backends)('concurrency (%s backend)', (backend) => {
  it('predictions during fit use the weights of a completed batch', async () => {
    const m = model(1, backend);
    const probe = data(99, 1)[0].x;
    const valid = new Set<string>([key((await m.predict(probe)).data)]);
    let training = true;
    const seen: string[] = [];
    const fitting = m
      .fit(data(1, 12), {
        epochs: 2,
        optimizer: adam({ lr: 0.05 }),
        onBatchEnd: async () => {
          valid.add(key((await m.predict(probe)).data));
        },
      })
      .finally(() => {
        training = false;
      });
    while (training) {
      seen.push(key((await m.predict(probe)).data));
      await new Promise((r) => setImmediate(r)); // a server yields between requests (the JS backend's ops are synchronous)
    }
    await fitting;
    expect(seen.length).toBeGreaterThan(5);
    expect(valid.size).toBe(25); // the initial weights and 24 distinct steps
    for (const s of seen) expect(valid.has(s)).toBe(true);
  }, 60_000);

  it('a second fit of a training model is a BusyError; it trains again afterwards', async () => {
    const m = model(2, backend);
    const first = m.fit(data(2, 4), { epochs: 1 });
    await expect(m.fit(data(2, 4), { epochs: 1 })).rejects.toSatisfy((e: unknown) => e instanceof BusyError && e.argument === 'model');
    await first;
    await expect(m.fit(data(2, 2), { epochs: 1 })).resolves.toBeTruthy();
  });

  it('two models train at once and end as when trained alone', async () => {
    const train = async (seed: number, m: Model<'tokens', 'vector'>) => {
      await m.fit(data(seed, 6), { epochs: 2, optimizer: adam({ lr: 0.02 }) });
      return m.parameters().map((p) => key(p.value));
    };
    const alone = [await train(3, model(3, backend)), await train(4, model(4, backend))];
    const together = await Promise.all([train(3, model(3, backend)), train(4, model(4, backend))]);
    expect(together).toEqual(alone);
  }, 60_000);
});

describe('WeightsLock', () => {
  it('readers share, a writer runs alone, and a waiting writer goes before later readers', async () => {
    const lock = new WeightsLock();
    const log: string[] = [];
    const gate = (): { p: Promise<void>; open: () => void } => {
      let open = (): void => {};
      const p = new Promise<void>((r) => {
        open = r;
      });
      return { p, open };
    };
    const g1 = gate(),
      g2 = gate();
    const r1 = lock.read(async () => {
      log.push('r1+');
      await g1.p;
      log.push('r1-');
    });
    const w = lock.write(async () => {
      log.push('w+');
      await g2.p;
      log.push('w-');
    });
    const r2 = lock.read(async () => {
      log.push('r2');
    });
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['r1+']); // the writer waits for r1; r2 waits behind the writer
    g1.open();
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['r1+', 'r1-', 'w+']);
    g2.open();
    await Promise.all([r1, w, r2]);
    expect(log).toEqual(['r1+', 'r1-', 'w+', 'w-', 'r2']);
    // errors release the lock
    await expect(
      lock.write(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(lock.read(async () => 7)).resolves.toBe(7);
  });
});

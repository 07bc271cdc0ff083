/**
 * fit / evaluate / predict: learning (many-to-one and tagging, JS backend, seeded), progress
 * callbacks, abort (all-or-nothing), the event loop during fit, early stopping on a crafted validation
 * curve, reproducibility (same seed: bit-identical weights; native 1 vs 2 threads), option errors.
 */
import { describe, expect, it } from 'vitest';

import { setThreads, getThreads } from '../../lib/index.js';
import { AbortError, ValueError } from '../../lib/errors.js';
import { dense, dropout, embedding, gru, lstm, tokens, vector } from '../../lib/layers/index.js';
import { input, sequential, type SequentialModel as Model } from '../../lib/models/sequential.js';
import { Rng } from '../../lib/random.js';
import { adam, evaluate, fit, predict, sgd, type Batch } from '../../lib/train/index.js';
import { nativeSkipReason } from '../helpers/backends.js';
import { firstEqualsLast } from '../helpers/tasks.js';

/** Tagging: has this token appeared before? Padding targets are 0 (masked by lengths, not ignoreIndex). */
function seenBefore(rng: Rng, B: number): Batch<'tokens'> {
  const V = 8,
    T = 8;
  const seqs = Array.from({ length: B }, () => Array.from({ length: 4 + rng.int(5) }, () => rng.int(V)));
  const ids = new Int32Array(T * B),
    target = new Int32Array(T * B);
  seqs.forEach((s, b) =>
    s.forEach((id, t) => {
      ids[t * B + b] = id;
      target[t * B + b] = s.slice(0, t).includes(id) ? 1 : 0;
    }),
  );
  return { x: tokens({ ids, seqLen: T, batch: B, lengths: seqs.map((s) => s.length) }), target };
}

function classifier(seed: number, backend: 'js' | 'native' = 'js', drop = 0): Model<'tokens', 'vector'> {
  return sequential(input.tokens({ vocabSize: 4 }))
    .add(embedding({ vocabSize: 4, dim: 8 }))
    .add(gru({ hiddenSize: 16, returnSequences: false }))
    .add(dropout({ rate: drop }))
    .add(dense({ units: 2 }))
    .build({ seed, backend });
}

const snapshot = (m: Model<'tokens', 'vector'>): Float32Array[] => m.parameters().map((p) => p.value.slice());
const bits = (a: Float32Array[]): number[][] => a.map((x) => Array.from(new Uint32Array(x.buffer.slice(0))));

describe('fit', () => {
  it('trains a many-to-one classifier to >= 90% held-out accuracy; evaluate and predict', async () => {
    const rng = new Rng(123);
    const train = Array.from({ length: 40 }, () => firstEqualsLast(rng, 32));
    const test = [firstEqualsLast(new Rng(999), 512)];
    const model = classifier(1);
    const h = await fit(model, train, {
      epochs: 10,
      loss: 'softmaxCrossEntropy',
      optimizer: adam({ lr: 0.01 }),
      metrics: ['accuracy'],
      validationData: test,
    });
    expect(h.epochs).toHaveLength(10);
    expect(h.loss[9]).toBeLessThan(h.loss[0]);
    const ev = await evaluate(model, test, { metrics: ['accuracy', 'perplexity', 'bitsPerCharacter'] });
    expect(ev.metrics.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(ev.metrics.accuracy).toBeCloseTo(h.epochs[9].valMetrics!.accuracy, 12);
    expect(ev.metrics.perplexity).toBeCloseTo(Math.exp(ev.loss), 9);
    expect(ev.metrics.bitsPerCharacter).toBeCloseTo(ev.loss / Math.LN2, 9);
    const y = await predict(model, test[0].x);
    expect(y.kind).toBe('vector');
    expect(y.batch).toBe(512);
  });

  it('trains an LSTM tagger (sequence targets [T*B], lengths-masked) to >= 90% token accuracy', async () => {
    const model = sequential(input.tokens({ vocabSize: 8 }))
      .add(embedding({ vocabSize: 8, dim: 8 }))
      .add(lstm({ hiddenSize: 24 }))
      .add(dense({ units: 2 }))
      .build({ seed: 2, backend: 'js' });
    const data = (epoch: number): Batch<'tokens'>[] => {
      const r = new Rng(100 + epoch);
      return Array.from({ length: 30 }, () => seenBefore(r, 32));
    };
    await fit(model, data, { epochs: 10, optimizer: adam({ lr: 0.01 }) });
    const ev = await evaluate(model, [seenBefore(new Rng(999), 512)], { metrics: ['accuracy'] });
    expect(ev.metrics.accuracy).toBeGreaterThanOrEqual(0.9);
  });

  it('calls onBatchEnd per batch and onEpochEnd per epoch with the right indices and figures', async () => {
    const rng = new Rng(5);
    const train = Array.from({ length: 5 }, () => firstEqualsLast(rng, 8));
    const batchCalls: [number, number][] = [];
    const epochCalls: number[] = [];
    const h = await fit(classifier(3), train, {
      epochs: 3,
      metrics: ['accuracy'],
      optimizer: sgd({ lr: 0.1 }),
      onBatchEnd: (l) => {
        batchCalls.push([l.epoch, l.batch]);
        expect(Number.isFinite(l.loss) && l.loss > 0).toBe(true);
        expect(l.metric).toBe(l.metrics.accuracy);
        expect(l.examples).toBe(8);
        expect(l.examplesPerSecond).toBeGreaterThan(0);
      },
      onEpochEnd: async (l) => {
        epochCalls.push(l.epoch);
        expect(l.batches).toBe(5);
        expect(l.valLoss).toBeNull();
      },
    });
    expect(batchCalls).toEqual([0, 1, 2].flatMap((e) => [0, 1, 2, 3, 4].map((b) => [e, b])));
    expect(epochCalls).toEqual([0, 1, 2]);
    expect(h.loss).toHaveLength(3);
    expect(h.stoppedEarly).toBe(false);
  });

  it('abort: rejects with AbortError, weights as after the last completed batch; an aborted signal rejects at once', async () => {
    const rng = new Rng(6);
    const train = Array.from({ length: 10 }, () => firstEqualsLast(rng, 8));
    const model = classifier(4);
    const ctl = new AbortController();
    let snap: Float32Array[] = [];
    const p = fit(model, train, {
      epochs: 2,
      optimizer: adam({ lr: 0.01 }),
      signal: ctl.signal,
      onBatchEnd: (l) => {
        snap = snapshot(model);
        if (l.epoch === 1 && l.batch === 2) ctl.abort();
      },
    });
    await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(bits(snapshot(model))).toEqual(bits(snap));
    expect(model.parameters().every((q) => q.grad.every((g) => g === 0))).toBe(true);

    const before = snapshot(model);
    await expect(fit(model, train, { epochs: 1, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(bits(snapshot(model))).toEqual(bits(before));
  });

  it('abort from a timer mid-batch: the batch in flight is dropped', async () => {
    const rng = new Rng(8);
    const train = Array.from({ length: 200 }, () => firstEqualsLast(rng, 16));
    const model = classifier(4);
    const ctl = new AbortController();
    let snap = snapshot(model);
    setTimeout(() => ctl.abort(), 30);
    await expect(
      fit(model, train, {
        epochs: 1,
        signal: ctl.signal,
        onBatchEnd: () => {
          snap = snapshot(model);
        },
      }),
    ).rejects.toBeInstanceOf(AbortError);
    expect(bits(snapshot(model))).toEqual(bits(snap));
  });

  it('keeps the event loop running: a 1 ms interval fires during fit', async () => {
    const rng = new Rng(7);
    const train = Array.from({ length: 20 }, () => firstEqualsLast(rng, 16));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await fit(classifier(5), train, { epochs: 2 });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('early stopping stops at the right epoch on a crafted validation curve', async () => {
    // A one-parameter fake model: in inference mode it outputs sqrt(curve[k]) for the k-th evaluation,
    // so that the validation MSE against 0 follows the curve.
    const fake = (curve: number[]): Model<'vector', 'vector'> => {
      let k = 0;
      const param = { name: 'w', value: new Float32Array(1), grad: new Float32Array(1), shape: [1] };
      return {
        inputKind: 'vector',
        outputKind: 'vector',
        outputFeatures: 1,
        layers: [],
        layerNames: [],
        backend: 'js',
        input: { kind: 'vector', features: 1 },
        forward: async (_x: unknown, o?: { training?: boolean }) => ({
          y: vector({ data: new Float32Array([o?.training ? 0 : Math.sqrt(curve[k++])]), batch: 1, features: 1 }),
          states: new Map(),
          backward: async () => null,
        }),
        parameters: () => [param],
        zeroGrad: () => param.grad.fill(0),
      } as unknown as Model<'vector', 'vector'>;
    };
    const one: Batch<'vector', 'mse'>[] = [
      { x: vector({ data: new Float32Array(1), batch: 1, features: 1 }), target: new Float32Array(1) },
    ];
    const h = await fit(fake([1, 0.5, 0.6, 0.55, 0.4, 0.3]), one, {
      epochs: 6,
      loss: 'mse',
      validationData: one,
      earlyStopping: { patience: 2 },
      optimizer: sgd(),
    });
    expect(h.epochs).toHaveLength(4); // best at epoch 1, epochs 2 and 3 do not improve
    expect(h.stoppedEarly).toBe(true);
    expect(h.valLoss.map((v) => Math.round(v * 1e5) / 1e5)).toEqual([1, 0.5, 0.6, 0.55]);
    const h2 = await fit(fake([1, 0.5, 0.45, 0.44]), one, {
      epochs: 4,
      loss: 'mse',
      validationData: one,
      earlyStopping: { patience: 1, minDelta: 0.1 },
      optimizer: sgd(),
    });
    expect(h2.epochs).toHaveLength(3); // 0.45 is not 0.1 better than 0.5
    const h3 = await fit(fake([1, 0.9, 0.8, 0.7]), one, {
      epochs: 4,
      loss: 'mse',
      validationData: one,
      earlyStopping: { patience: 1 },
      optimizer: sgd(),
    });
    expect(h3.stoppedEarly).toBe(false);
  });

  it('reproducible: two seeded fits (dropout, shuffled order) give bit-identical weights', async () => {
    const rng = new Rng(11);
    const train = Array.from({ length: 8 }, () => firstEqualsLast(rng, 8));
    const once = async (): Promise<number[][]> => {
      const m = classifier(9, 'js', 0.3);
      await fit(m, train, { epochs: 2, shuffle: true, seed: 3, optimizer: adam({ lr: 0.01 }) });
      return bits(snapshot(m));
    };
    const a = await once();
    expect(await once()).toEqual(a);
    const m = classifier(9, 'js', 0.3);
    await fit(m, train, { epochs: 2, shuffle: true, seed: 4, optimizer: adam({ lr: 0.01 }) });
    expect(bits(snapshot(m))).not.toEqual(a);
  });

  it.skipIf(nativeSkipReason !== null)('reproducible on the native backend with 1 and 2 threads', async () => {
    const rng = new Rng(12);
    const train = Array.from({ length: 8 }, () => firstEqualsLast(rng, 16));
    const saved = getThreads();
    const once = async (threads: number): Promise<number[][]> => {
      setThreads(threads);
      const m = classifier(9, 'native', 0.3);
      await fit(m, train, { epochs: 2, shuffle: true, seed: 3, optimizer: adam({ lr: 0.01, clipNorm: 1 }) });
      return bits(snapshot(m));
    };
    try {
      const one = await once(1);
      expect(await once(2)).toEqual(one);
      expect(await once(1)).toEqual(one);
    } finally {
      setThreads(saved);
    }
  });

  it('validates its arguments with typed errors naming them', async () => {
    const model = classifier(1);
    const data = [firstEqualsLast(new Rng(1), 4)];
    const cases: [unknown, string][] = [
      [{ epochs: 0 }, 'options.epochs'],
      [{ epochs: 1, loss: 'hinge' }, 'options.loss'],
      [{ epochs: 1, loss: 'mse', metrics: ['accuracy'] }, 'options.metrics'],
      [{ epochs: 1, metrics: ['f1'] }, 'options.metrics[0]'],
      [{ epochs: 1, optimizer: {} }, 'options.optimizer'],
      [{ epochs: 1, signal: 3 }, 'options.signal'],
      [{ epochs: 1, earlyStopping: { monitor: 'valLoss' } }, 'options.earlyStopping.monitor'],
      [{ epochs: 1, earlyStopping: { patience: -1 } }, 'options.earlyStopping.patience'],
    ];
    for (const [options, argument] of cases) {
      await expect(fit(model, data, options as never)).rejects.toMatchObject({ name: 'ValueError', argument });
    }
    await expect(fit(model, 5 as never, { epochs: 1 })).rejects.toMatchObject({ argument: 'data' });
    await expect(fit(model, [{ x: data[0].x, target: new Int32Array(3) }], { epochs: 1 })).rejects.toMatchObject({
      name: 'ShapeError',
      argument: 'data[0].target',
    });
    await expect(fit(model, [{ x: data[0].x, target: new Float32Array(4) }] as never, { epochs: 1 })).rejects.toBeInstanceOf(ValueError);
    // @ts-expect-error: mse targets are floats, not class ids
    void (() => fit(model, data, { epochs: 1, loss: 'mse' }));
  });
});

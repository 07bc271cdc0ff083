/**
 * Optimizer objects against PyTorch's update rules (hand-computed for SGD, a float64 transcription of
 * torch.optim's formulas for Adam/AdamW/RMSprop), state round trips, clipping, schedules, metrics.
 * JS backend (runs without the addon); the kernels' native/JS parity is test/ops/train.test.ts's.
 */
import { describe, expect, it } from 'vitest';

import { ValueError } from '../../lib/errors.js';
import type { Parameter } from '../../lib/layers/layer.js';
import {
  accuracy,
  accuracyCounts,
  adam,
  adamw,
  bitsPerCharacter,
  exponentialDecay,
  meanCrossEntropy,
  perplexity,
  rmsprop,
  sgd,
  stepDecay,
  type Optimizer,
} from '../../lib/train/index.js';

const P0 = [1, -2, 0.5];
/** Gradient at step k (1-based): varies with k so that moments matter. */
const grad = (k: number): number[] => [0.5 * k, -1 + 0.25 * k, 0.1 / k];

function makeParams(): Parameter[] {
  return [{ name: 'w', value: Float32Array.from(P0), grad: new Float32Array(3), shape: [3] }];
}

async function run(opt: Optimizer, params: Parameter[], from: number, to: number): Promise<void> {
  for (let k = from; k <= to; k++) {
    params[0].grad.set(grad(k));
    await opt.step(params, { backend: 'js' });
    params[0].grad.fill(0);
  }
}

/** torch.optim.Adam / AdamW in float64. */
function adamRef(steps: number, lr: number, wd: number, decoupled: boolean, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[] {
  const p = [...P0],
    m = [0, 0, 0],
    v = [0, 0, 0];
  for (let t = 1; t <= steps; t++) {
    const g0 = grad(t);
    for (let i = 0; i < 3; i++) {
      let g = g0[i];
      if (decoupled) p[i] *= 1 - lr * wd;
      else g += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const bc1 = 1 - b1 ** t,
        bc2 = 1 - b2 ** t;
      p[i] -= ((lr / bc1) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
    }
  }
  return p;
}

/** torch.optim.RMSprop in float64. */
function rmspropRef(steps: number, lr: number, alpha: number, momentum: number, centered: boolean, eps = 1e-8): number[] {
  const p = [...P0],
    sq = [0, 0, 0],
    ga = [0, 0, 0],
    buf = [0, 0, 0];
  for (let t = 1; t <= steps; t++) {
    const g0 = grad(t);
    for (let i = 0; i < 3; i++) {
      const g = g0[i];
      sq[i] = alpha * sq[i] + (1 - alpha) * g * g;
      let avg: number;
      if (centered) {
        ga[i] = alpha * ga[i] + (1 - alpha) * g;
        avg = Math.sqrt(sq[i] - ga[i] * ga[i]) + eps;
      } else avg = Math.sqrt(sq[i]) + eps;
      if (momentum > 0) {
        buf[i] = momentum * buf[i] + g / avg;
        p[i] -= lr * buf[i];
      } else p[i] -= (lr * g) / avg;
    }
  }
  return p;
}

function expectClose(a: Float32Array, b: readonly number[], tol = 1e-5): void {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(tol));
}

describe('optimizer objects (PyTorch steps)', () => {
  it('sgd with momentum: three hand-computed steps', async () => {
    const params = makeParams();
    const opt = sgd({ lr: 0.1, momentum: 0.9 });
    // step 1: buf = g1 = [.5, -.75, .1]; p -= .1 buf
    await run(opt, params, 1, 1);
    expectClose(params[0].value, [0.95, -1.925, 0.49]);
    // step 2: g2 = [1, -.5, .05]; buf = .9 buf + g2 = [1.45, -1.175, .14]
    await run(opt, params, 2, 2);
    expectClose(params[0].value, [0.805, -1.8075, 0.476]);
    // step 3: g3 = [1.5, -.25, 1/30]; buf = [2.805, -1.3075, .159333...]
    await run(opt, params, 3, 3);
    expectClose(params[0].value, [0.5245, -1.67675, 0.476 - 0.0159333333]);
    expect(opt.stepCount).toBe(3);
  });

  it('sgd nesterov and weight decay: first step', async () => {
    const params = makeParams();
    await run(sgd({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1 }), params, 1, 1);
    // g = g1 + .1 p = [.6, -.95, .15]; buf = g; update = g + .9 buf = 1.9 g
    expectClose(params[0].value, [1 - 0.114, -2 + 0.1805, 0.5 - 0.0285]);
  });

  it('adam, adam with L2, adamw and rmsprop (plain, centered, momentum) match torch.optim for 3 steps', async () => {
    const cases: [Optimizer, number[]][] = [
      [adam({ lr: 0.1 }), adamRef(3, 0.1, 0, false)],
      [adam({ lr: 0.05, weightDecay: 0.1, betas: [0.8, 0.99] }), adamRef(3, 0.05, 0.1, false, 0.8, 0.99)],
      [adamw({ lr: 0.1 }), adamRef(3, 0.1, 0.01, true)],
      [rmsprop({}), rmspropRef(3, 0.01, 0.99, 0, false)],
      [rmsprop({ lr: 0.01, centered: true, momentum: 0.5, alpha: 0.9 }), rmspropRef(3, 0.01, 0.9, 0.5, true)],
    ];
    for (const [opt, ref] of cases) {
      const params = makeParams();
      await run(opt, params, 1, 3);
      expectClose(params[0].value, ref, 2e-6);
    }
  });

  it('state round trip: save after 1 step, rebuild, continue = the same as 3 uninterrupted steps (bit-identical)', async () => {
    const build: (() => Optimizer)[] = [
      () => sgd({ lr: 0.1, momentum: 0.9 }),
      () => adam({ lr: 0.1 }),
      () => adamw({ lr: 0.1 }),
      () => rmsprop({ centered: true, momentum: 0.3 }),
    ];
    for (const make of build) {
      const a = makeParams();
      await run(make(), a, 1, 3);
      const b = makeParams();
      const first = make();
      await run(first, b, 1, 1);
      const saved = first.state();
      const second = make();
      second.loadState(saved);
      expect(second.stepCount).toBe(1);
      await run(second, b, 2, 3);
      expect(Array.from(b[0].value)).toEqual(Array.from(a[0].value));
      // state() copies: mutating the saved buffers does not touch the optimizer
      for (const bufs of Object.values(second.state().slots)) bufs[0].fill(123);
      expect(Object.values(second.state().slots).every((bufs) => bufs[0][0] !== 123)).toBe(true);
    }
    expect(() => sgd().loadState(adam().state())).toThrow(ValueError);
  });

  it('clipNorm (global L2, PyTorch) and clipValue run before the step', async () => {
    const params: Parameter[] = [
      { name: 'a', value: new Float32Array([0, 0]), grad: new Float32Array([3, 0]), shape: [2] },
      { name: 'b', value: new Float32Array([0]), grad: new Float32Array([4]), shape: [1] },
    ];
    const info = await sgd({ lr: 1, clipNorm: 1 }).step(params, { backend: 'js' });
    expect(info.gradNorm).toBeCloseTo(5, 6);
    expectClose(params[0].value, [-3 / (5 + 1e-6), 0]);
    expectClose(params[1].value, [-4 / (5 + 1e-6)]);
    const q: Parameter[] = [{ name: 'a', value: new Float32Array([0, 0]), grad: new Float32Array([3, -0.5]), shape: [2] }];
    await sgd({ lr: 1, clipValue: 1 }).step(q, { backend: 'js' });
    expectClose(q[0].value, [-1, 0.5]);
  });

  it('options are validated with errors naming the option', async () => {
    expect(() => sgd({ lr: -1 })).toThrow(expect.objectContaining({ argument: 'options.lr' }));
    expect(() => sgd({ nesterov: true })).toThrow(expect.objectContaining({ argument: 'options.nesterov' }));
    expect(() => adam({ betas: [0.9, 1] })).toThrow(expect.objectContaining({ argument: 'options.betas[1]' }));
    expect(() => rmsprop({ clipNorm: 0 })).toThrow(expect.objectContaining({ argument: 'options.clipNorm' }));
    expect(() => stepDecay({ lr: 1, stepSize: 0 })).toThrow(expect.objectContaining({ argument: 'options.stepSize' }));
    const opt = sgd({ lr: () => Number.NaN });
    await expect(opt.step(makeParams(), { backend: 'js' })).rejects.toThrow(expect.objectContaining({ argument: 'lr' }));
  });
});

describe('optimizer step is async', () => {
  it('a second step while one runs rejects with a BusyError; the first completes; loadState waits too', async () => {
    const params = makeParams();
    params[0].grad.set(grad(1));
    const opt = adam({ lr: 0.1 });
    const first = opt.step(params, { backend: 'js' });
    // Both checked before the first step's kernels had a chance to settle.
    expect(() => opt.loadState(opt.state())).toThrow(expect.objectContaining({ name: 'BusyError', argument: 'optimizer' }));
    const second = opt.step(params, { backend: 'js' });
    await expect(second).rejects.toThrow(expect.objectContaining({ name: 'BusyError', argument: 'optimizer' }));
    expect((await first).lr).toBe(0.1);
    expect(opt.stepCount).toBe(1);
    const ref = makeParams();
    await run(adam({ lr: 0.1 }), ref, 1, 1);
    expect(Array.from(params[0].value)).toEqual(Array.from(ref[0].value));
    // Free again after it settled.
    await opt.step(params, { backend: 'js' });
    expect(opt.stepCount).toBe(2);
  });

  it('argument errors reject (not throw)', async () => {
    const opt = sgd();
    const p = opt.step('nope' as never, { backend: 'js' });
    expect(p).toBeInstanceOf(Promise);
    await expect(p).rejects.toThrow(expect.objectContaining({ name: 'ValueError', argument: 'params' }));
    await expect(opt.step(makeParams(), { backend: 'gpu' as never })).rejects.toThrow(
      expect.objectContaining({ argument: 'options.backend' }),
    );
  });
});

describe('learning-rate schedules', () => {
  it('stepDecay and exponentialDecay values by epoch', () => {
    const s = stepDecay({ lr: 1, stepSize: 2, gamma: 0.5 });
    expect([0, 1, 2, 3, 4].map((e) => s(e, 0))).toEqual([1, 1, 0.5, 0.5, 0.25]);
    expect(stepDecay({ lr: 1, stepSize: 1 })(2, 0)).toBeCloseTo(0.01, 12);
    const x = exponentialDecay({ lr: 2, gamma: 0.5 });
    expect([0, 1, 2].map((e) => x(e, 0))).toEqual([2, 1, 0.5]);
  });

  it('the optimizer reads the schedule at its epoch and step count', async () => {
    const opt = sgd({ lr: (epoch, step) => 0.1 * (epoch + 1) + step });
    expect(opt.currentLr()).toBeCloseTo(0.1, 12);
    opt.setEpoch(2);
    const params = makeParams();
    params[0].grad.set([1, 0, 0]);
    expect((await opt.step(params, { backend: 'js' })).lr).toBeCloseTo(0.3, 12);
    expect(params[0].value[0]).toBeCloseTo(0.7, 6);
    expect(opt.currentLr()).toBeCloseTo(1.3, 12);
    const s = exponentialDecay({ lr: 1, gamma: 0.5 });
    const o2 = adam({ lr: s });
    o2.setEpoch(3);
    expect(o2.currentLr()).toBe(0.125);
  });
});

describe('metrics', () => {
  // 4 rows, 3 classes: argmax 2, 0, 0 (the first of two maxima), 2
  const logits = new Float32Array([0, 1, 2, 5, 1, 1, 3, 3, 0, 0, 0, 9]);
  it('accuracy with ignore index and mask', () => {
    expect(accuracy({ logits, targets: new Int32Array([2, 0, 1, 1]), numClasses: 3 })).toBe(0.5);
    expect(accuracy({ logits, targets: new Int32Array([2, 0, -100, 1]), numClasses: 3 })).toBeCloseTo(2 / 3, 12);
    expect(accuracyCounts({ logits, targets: new Int32Array([2, 0, 0, 1]), numClasses: 3, mask: new Float32Array([1, 1, 1, 0]) })).toEqual({
      correct: 3,
      count: 3,
    });
    expect(accuracy({ logits, targets: new Int32Array([7, 7, 7, 7]), numClasses: 3, ignoreIndex: 7 })).toBe(0);
  });
  it('perplexity and bits per character from the mean cross-entropy', () => {
    // uniform logits over 4 classes: CE = ln 4, perplexity 4, 2 bits
    const u = new Float32Array(8);
    const ce = meanCrossEntropy({ logits: u, targets: new Int32Array([1, 3]), numClasses: 4 });
    expect(ce).toBeCloseTo(Math.log(4), 6);
    expect(perplexity(ce)).toBeCloseTo(4, 5);
    expect(bitsPerCharacter(ce)).toBeCloseTo(2, 6);
    expect(perplexity(0)).toBe(1);
    expect(() => perplexity(-1)).toThrow(ValueError);
  });
});

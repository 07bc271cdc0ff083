/**
 * The training kernels (lib/train/kernels.ts, lib/js/train.ts, native/train.h): loss gradients
 * against float64 central finite differences (JS twin), golden values on hand examples, PyTorch's
 * ignore_index / mask semantics, three optimizer steps against values computed by hand from the
 * torch.optim formulas, clipping, argument validation, and native-vs-JS parity on sizes 1, 7, 33
 * and 1000 for every kernel and instruction set. The parity suite is skipped while the addon lacks
 * `exports.train` (binding.cc's Init calls RegisterTrainOps once wired).
 */
import { describe, expect, it } from 'vitest';

import { NativeError, ShapeError, ValueError } from '../../lib/errors.js';
import * as jt from '../../lib/js/train.js';
import { loadAddon } from '../../lib/backend/addon.js';
import {
  adamStep,
  adamwStep,
  bceWithLogits,
  clipGradNorm,
  clipGradValue,
  losses,
  mse,
  optimizers,
  rmspropStep,
  sgdStep,
  softmaxCrossEntropy,
  type TrainCallOptions,
} from '../../lib/ops/train.js';
import { nativeAvailable as nativeTrainAvailable } from '../../lib/backend/addon.js';
import { errorOf, expectClose, Rng } from '../helpers/index.js';
import { availableIsas } from '../helpers/isa.js';

const JS: TrainCallOptions = { backend: 'js' };
const LN2 = Math.log(2);

/** Central differences of f at x (float64), step h. */
function numericGrad(x: Float64Array, f: () => number, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const x0 = x[k];
    x[k] = x0 + h;
    const fp = f();
    x[k] = x0 - h;
    const fm = f();
    x[k] = x0;
    g[k] = (fp - fm) / (2 * h);
  }
  return g;
}

describe('loss gradients vs finite differences (float64, JS twin)', () => {
  const rng = new Rng(1);
  for (const reduction of ['mean', 'sum'] as const) {
    it(`softmax cross-entropy, weights and ignoreIndex, ${reduction}`, () => {
      const N = 5;
      const C = 4;
      const x = rng.randn(N * C, 2, Float64Array);
      const w = rng.uniform(N, 0.1, 2, Float64Array);
      const t = Int32Array.from([0, 3, -1, 2, 1]);
      const d = new Float64Array(N * C);
      const f = () => jt.softmaxCrossEntropy(x, t, w, N, C, -1, reduction, new Float64Array(N * C), null).loss;
      jt.softmaxCrossEntropy(x, t, w, N, C, -1, reduction, d, null);
      expectClose(d, numericGrad(x, f), { atol: 1e-8, rtol: 1e-6 }, 'dLogits');
    });
    it(`BCE with logits and MSE, weighted, ${reduction}`, () => {
      const n = 7;
      const x = rng.randn(n, 3, Float64Array);
      const y = rng.uniform(n, 0, 1, Float64Array);
      const w = rng.uniform(n, 0, 2, Float64Array);
      const d = new Float64Array(n);
      jt.bceWithLogits(x, y, w, n, reduction, d);
      expectClose(
        d,
        numericGrad(x, () => jt.bceWithLogits(x, y, w, n, reduction, new Float64Array(n))),
        { atol: 1e-8, rtol: 1e-6 },
        'bce dx',
      );
      jt.mse(x, y, w, n, reduction, d);
      expectClose(
        d,
        numericGrad(x, () => jt.mse(x, y, w, n, reduction, new Float64Array(n))),
        { atol: 1e-8, rtol: 1e-6 },
        'mse dp',
      );
    });
  }
});

describe('losses: golden values (JS backend)', () => {
  // Row 0: logits [0, 0], target 0: softmax [1/2, 1/2], loss ln 2, grad [-1/2, 1/2].
  // Row 1: logits [ln 3, 0], target 1: softmax [3/4, 1/4], loss -ln(1/4) = 2 ln 2, grad [3/4, -3/4].
  // Mean over 2 rows: 1.5 ln 2, grads halved. Row 0's argmax is 0 (first maximum of a tie) = target;
  // row 1's is 0 != 1.
  const logits = Float32Array.from([0, 0, Math.log(3), 0]);
  it('softmax cross-entropy', () => {
    const r = losses.softmaxCrossEntropy({ logits, targets: Int32Array.from([0, 1]), numClasses: 2 }, JS);
    expect(r.loss).toBeCloseTo(1.5 * LN2, 6);
    expectClose(r.dLogits, [-0.25, 0.25, 0.375, -0.375], { atol: 1e-7 }, 'dLogits');
    expect([...r.correct]).toEqual([1, 0]);
    expect(r.numCorrect).toBe(1);
    const s = softmaxCrossEntropy({ logits, targets: Int32Array.from([0, 1]), numClasses: 2, reduction: 'sum' }, JS);
    expect(s.loss).toBeCloseTo(3 * LN2, 6);
    // weights [1, 3], mean: (ln 2 + 3 * 2 ln 2) / 4 = 7/4 ln 2.
    const w = softmaxCrossEntropy({ logits, targets: Int32Array.from([0, 1]), numClasses: 2, weights: Float32Array.from([1, 3]) }, JS);
    expect(w.loss).toBeCloseTo(1.75 * LN2, 6);
    expect(w.weightSum).toBe(4);
  });
  it('ignoreIndex and zero weights: PyTorch mean over the rows that count', () => {
    // A third row with ignoreIndex must change nothing (loss, mean denominator, other gradients).
    const l3 = Float32Array.from([0, 0, Math.log(3), 0, 5, -5]);
    const r = softmaxCrossEntropy({ logits: l3, targets: Int32Array.from([0, 1, -100]), numClasses: 2 }, JS);
    expect(r.loss).toBeCloseTo(1.5 * LN2, 6);
    expectClose(r.dLogits, [-0.25, 0.25, 0.375, -0.375, 0, 0], { atol: 1e-7 }, 'dLogits');
    expect(r.correct[2]).toBe(0);
    const m = softmaxCrossEntropy(
      { logits: l3, targets: Int32Array.from([0, 1, 0]), numClasses: 2, weights: Float32Array.from([1, 1, 0]) },
      JS,
    );
    expect(m.loss).toBeCloseTo(1.5 * LN2, 6);
    expectClose(m.dLogits, r.dLogits, { atol: 0 }, 'masked = ignored');
    const all = softmaxCrossEntropy({ logits, targets: Int32Array.from([7, 7]), numClasses: 2, ignoreIndex: 7 }, JS);
    expect(all.loss).toBe(0); // PyTorch would give NaN here: documented deviation
    expect([...all.dLogits]).toEqual([0, 0, 0, 0]);
  });
  it('softmax cross-entropy is stable for huge logits', () => {
    const r = softmaxCrossEntropy({ logits: Float32Array.from([1e4, 0]), targets: Int32Array.from([1]), numClasses: 2 }, JS);
    expect(r.loss).toBeCloseTo(1e4, 3);
    expectClose(r.dLogits, [1, -1], { atol: 1e-7 }, 'dLogits');
  });
  it('BCE with logits', () => {
    // x = 0, y = 1: 0 - 0 + ln(1 + 1) = ln 2, grad sigmoid(0) - 1 = -1/2.
    // x = ln 3, y = 0: ln 3 - 0 + ln(1 + 1/3) = ln 4, grad sigmoid(ln 3) = 3/4. Mean: 1.5 ln 2, grads / 2.
    const r = bceWithLogits({ logits: Float32Array.from([0, Math.log(3)]), targets: Float32Array.from([1, 0]) }, JS);
    expect(r.loss).toBeCloseTo(1.5 * LN2, 6);
    expectClose(r.dLogits, [-0.25, 0.375], { atol: 1e-7 }, 'dLogits');
    const big = bceWithLogits({ logits: Float32Array.from([-200, 200]), targets: Float32Array.from([1, 0]), reduction: 'sum' }, JS);
    expect(big.loss).toBeCloseTo(400, 6);
  });
  it('MSE', () => {
    // p = [1, 3], t = [0, 1]: (1 + 4) / 2 = 2.5; grads 2 (p - t) / 2 = [1, 2]. Weights [2, 0]: 2 / 2 = 1.
    const r = mse({ predictions: Float32Array.from([1, 3]), targets: Float32Array.from([0, 1]) }, JS);
    expect(r.loss).toBe(2.5);
    expect([...r.dPredictions]).toEqual([1, 2]);
    const w = mse({ predictions: Float32Array.from([1, 3]), targets: Float32Array.from([0, 1]), weights: Float32Array.from([2, 0]) }, JS);
    expect(w.loss).toBe(1);
  });
});

describe('optimizers: three steps against the torch.optim formulas by hand (JS backend)', () => {
  it('SGD momentum and Nesterov', () => {
    // lr 0.1, momentum 0.9, grad 1 each step, p0 = 0. Plain: buf 1, 1.9, 2.71 -> p -0.1, -0.29, -0.561.
    // Nesterov uses g + 0.9 buf: 1.9, 2.71, 3.439 -> p -0.19, -0.461, -0.8049.
    for (const [nesterov, want] of [
      [false, [-0.1, -0.29, -0.561]],
      [true, [-0.19, -0.461, -0.8049]],
    ] as const) {
      const param = new Float32Array(1);
      const momentumBuffer = new Float32Array(1);
      const got: number[] = [];
      for (let step = 1; step <= 3; step++) {
        sgdStep({ param, grad: Float32Array.of(1), momentumBuffer, step, lr: 0.1, momentum: 0.9, nesterov }, JS);
        got.push(param[0]);
      }
      expectClose(got, want, { atol: 1e-6 }, `sgd nesterov=${nesterov}`);
    }
  });
  it('Adam with bias correction; AdamW differs from Adam + L2', () => {
    // lr 0.1, betas (0.9, 0.999), p0 = 1, grads 0.5, -0.25, 1. Step 1: m = 0.05, v = 2.5e-4,
    // m^ = 0.5, v^ = 0.25, p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.9. Steps 2, 3 the same way (double).
    const run = (fn: typeof adamStep, weightDecay: number): number[] => {
      const param = Float32Array.of(1);
      const expAvg = new Float32Array(1);
      const expAvgSq = new Float32Array(1);
      const out: number[] = [];
      [0.5, -0.25, 1].forEach((g, i) => {
        fn({ param, grad: Float32Array.of(g), expAvg, expAvgSq, step: i + 1, lr: 0.1, weightDecay }, JS);
        out.push(param[0]);
      });
      return out;
    };
    expectClose(run(adamStep, 0), [0.900000002, 0.8733662987078463, 0.8075551396770898], { atol: 1e-6 }, 'adam');
    const l2 = run(adamStep, 0.1);
    const decoupled = run(adamwStep, 0.1);
    // Adam + L2 (grad + 0.1 p) vs AdamW (p *= 1 - 0.01 first):
    expectClose(l2, [0.9000000016666666, 0.8544413674617625, 0.7815043998631658], { atol: 1e-6 }, 'adam L2');
    expectClose(decoupled, [0.890000002, 0.8544662986878463, 0.7801104766702113], { atol: 1e-6 }, 'adamw');
    expect(Math.abs(l2[0] - decoupled[0])).toBeGreaterThan(5e-3);
  });
  it('RMSprop, plain and centered with momentum', () => {
    // lr 0.01, alpha 0.99, grad 1: sq = 0.01, p = 1 - 0.01 / (0.1 + 1e-8) = 0.9; then 0.8291, 0.7711.
    const plain = (() => {
      const param = Float32Array.of(1);
      const squareAvg = new Float32Array(1);
      const out: number[] = [];
      for (let s = 0; s < 3; s++) {
        rmspropStep({ param, grad: Float32Array.of(1), squareAvg }, JS);
        out.push(param[0]);
      }
      return out;
    })();
    expectClose(plain, [0.9000000099999991, 0.8291118945242908, 0.7710869894147032], { atol: 1e-6 }, 'rmsprop');
    // Centered, momentum 0.9, grads 1, -0.5, 2: avg = sqrt(sq - ga^2) + eps, buf = 0.9 buf + g / avg.
    const param = Float32Array.of(1);
    const squareAvg = new Float32Array(1);
    const gradAvg = new Float32Array(1);
    const momentumBuffer = new Float32Array(1);
    const out: number[] = [];
    for (const g of [1, -0.5, 2]) {
      rmspropStep({ param, grad: Float32Array.of(g), squareAvg, gradAvg, momentumBuffer, momentum: 0.9, centered: true }, JS);
      out.push(param[0]);
    }
    expectClose(out, [0.8994962285750879, 0.8539876899917009, 0.7250347238956083], { atol: 2e-6 }, 'rmsprop centered');
  });
  it('clip by norm scales to max_norm; clip by value clamps', () => {
    const a = Float32Array.of(3, 0);
    const b = Float32Array.of(4);
    const norm = clipGradNorm({ grads: [a, b], maxNorm: 1 }, JS);
    expect(norm).toBe(5);
    expect(Math.hypot(a[0], a[1], b[0])).toBeCloseTo(1, 6);
    expect(a[0]).toBeCloseTo(0.6, 6);
    const c = Float32Array.of(0.3, 0.4);
    expect(clipGradNorm({ grads: [c], maxNorm: 1 }, JS)).toBeCloseTo(0.5, 6);
    expect([...c]).toEqual([Math.fround(0.3), Math.fround(0.4)]); // under the limit: untouched
    const v = Float32Array.of(-2, -0.25, NaN, 3);
    optimizers.clipGradValue({ grads: [v], clipValue: 1 }, JS);
    expect([...v]).toEqual([-1, -0.25, NaN, 1]);
  });
});

describe('validation', () => {
  const logits = new Float32Array(6);
  it('names the argument at fault', () => {
    let e = errorOf(() => softmaxCrossEntropy({ logits, targets: Int32Array.from([0, 3]), numClasses: 3 }, JS));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.argument).toBe('targets');
    expect(e.message).toContain('targets[1] = 3');
    e = errorOf(() => softmaxCrossEntropy({ logits, targets: Int32Array.from([0, 1, 2]), numClasses: 3 }, JS));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.argument).toBe('logits');
    e = errorOf(() =>
      softmaxCrossEntropy({ logits, targets: Int32Array.from([0, 1]), numClasses: 3, weights: Float32Array.from([1, -1]) }, JS),
    );
    expect(e.argument).toBe('weights');
    e = errorOf(() => softmaxCrossEntropy({ logits, targets: [0, 1] as unknown as Int32Array, numClasses: 3 }, JS));
    expect(e).toBeInstanceOf(ValueError);
    e = errorOf(() => softmaxCrossEntropy({ logits, targets: Int32Array.from([0, 1]), numClasses: 3, reduction: 'none' as 'sum' }, JS));
    expect(e.argument).toBe('reduction');
    e = errorOf(() => bceWithLogits({ logits: new Float32Array(2), targets: Float32Array.from([0, 1.5]) }, JS));
    expect(e.argument).toBe('targets');
    e = errorOf(() => mse({ predictions: new Float32Array(2), targets: new Float32Array(3) }, JS));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.argument).toBe('targets');
    const p = new Float32Array(2);
    e = errorOf(() => sgdStep({ param: p, grad: p.slice(), step: 1, momentum: 0.9 }, JS));
    expect(e.argument).toBe('momentumBuffer');
    e = errorOf(() =>
      sgdStep({ param: p, grad: p.slice(), step: 1, momentum: 0.9, dampening: 0.1, nesterov: true, momentumBuffer: p.slice() }, JS),
    );
    expect(e.argument).toBe('nesterov');
    e = errorOf(() => sgdStep({ param: p, grad: p.slice(), step: 0 }, JS));
    expect(e.argument).toBe('step');
    e = errorOf(() => adamStep({ param: p, grad: p.slice(), expAvg: p.slice(), expAvgSq: p.slice(), step: 1, betas: [1, 0.999] }, JS));
    expect(e.argument).toBe('betas[0]');
    e = errorOf(() =>
      adamStep({ param: p, grad: new Float64Array(2) as unknown as Float32Array, expAvg: p.slice(), expAvgSq: p.slice(), step: 1 }, JS),
    );
    expect(e.argument).toBe('grad');
    e = errorOf(() => rmspropStep({ param: p, grad: p.slice(), squareAvg: p.slice(), centered: true }, JS));
    expect(e.argument).toBe('gradAvg');
    e = errorOf(() => clipGradNorm({ grads: [p, [1] as unknown as Float32Array], maxNorm: 1 }, JS));
    expect(e.argument).toBe('grads[1]');
    e = errorOf(() => clipGradValue({ grads: [p], clipValue: -1 }, JS));
    expect(e.argument).toBe('clipValue');
    e = errorOf(() => mse({ predictions: p, targets: p }, { backend: 'gpu' as 'js' }));
    expect(e.argument).toBe('options.backend');
  });
  it.skipIf(nativeTrainAvailable())('the default (native) backend throws NativeError while the addon lacks the training ops', () => {
    expect(errorOf(() => mse({ predictions: new Float32Array(1), targets: new Float32Array(1) }))).toBeInstanceOf(NativeError);
  });
});

// ---------------------------------------------------------------------------------------------
// parity: native vs JS (skipped until binding.cc registers exports.train)

const hasTrain = nativeTrainAvailable();
const isas = hasTrain ? availableIsas() : [];
const NATIVE: TrainCallOptions = { backend: 'native' };
const SIZES = [1, 7, 33, 1000];

describe.skipIf(!hasTrain)('native vs JS parity', () => {
  for (const isa of isas) {
    describe(isa, () => {
      const withIsa = (fn: () => void) => () => {
        const internals = loadAddon().internals;
        const before = internals.getIsa();
        internals.setIsa(isa);
        try {
          fn();
        } finally {
          internals.setIsa(before);
        }
      };
      it(
        'losses',
        withIsa(() => {
          const rng = new Rng(21);
          for (const N of SIZES) {
            for (const C of SIZES) {
              if (N * C > 40000) continue;
              for (const reduction of ['mean', 'sum'] as const) {
                const logits = rng.randn(N * C, 4);
                const targets = Int32Array.from({ length: N }, (_, i) => (i % 5 === 3 ? -100 : rng.int(0, C - 1)));
                const weights = N > 1 ? rng.uniform(N, 0, 2) : null;
                const args = { logits, targets, numClasses: C, weights, reduction };
                const a = softmaxCrossEntropy(args, NATIVE);
                const b = softmaxCrossEntropy(args, JS);
                expect(a.loss).toBeCloseTo(b.loss, 4);
                expectClose(a.dLogits, b.dLogits, { atol: 1e-6, rtol: 1e-4 }, `ce ${N}x${C} dLogits`);
                expect([...a.correct]).toEqual([...b.correct]);
                expect(a.weightSum).toBeCloseTo(b.weightSum, 5);
              }
            }
            const x = rng.randn(N, 5);
            const y = rng.uniform(N, 0, 1);
            const w = rng.uniform(N, 0, 2);
            const bn = bceWithLogits({ logits: x, targets: y, weights: w }, NATIVE);
            const bj = bceWithLogits({ logits: x, targets: y, weights: w }, JS);
            expect(Math.abs(bn.loss - bj.loss)).toBeLessThan(1e-9 * Math.max(1, Math.abs(bj.loss)));
            expectClose(bn.dLogits, bj.dLogits, { atol: 1e-7, rtol: 1e-6 }, `bce ${N}`);
            const mn = mse({ predictions: x, targets: y, reduction: 'sum' }, NATIVE);
            const mj = mse({ predictions: x, targets: y, reduction: 'sum' }, JS);
            expect(Math.abs(mn.loss - mj.loss)).toBeLessThan(1e-9 * Math.max(1, Math.abs(mj.loss)));
            expectClose(mn.dPredictions, mj.dPredictions, { atol: 1e-7, rtol: 1e-6 }, `mse ${N}`);
          }
        }),
      );
      it(
        'optimizers (3 steps) and clipping',
        withIsa(() => {
          const rng = new Rng(22);
          for (const n of SIZES) {
            const p0 = rng.uniform(n, -1, 1);
            const grads = [0, 1, 2].map(() => rng.uniform(n, -1, 1));
            const twin = (run: (o: TrainCallOptions, state: Float32Array[]) => void, states: number, label: string, rtol = 1e-5) => {
              const mk = () => [p0.slice(), ...Array.from({ length: states }, () => new Float32Array(n))];
              const sn = mk();
              const sj = mk();
              run(NATIVE, sn);
              run(JS, sj);
              sn.forEach((arr, k) => expectClose(arr, sj[k], { atol: 1e-6, rtol }, `${label} n=${n} array ${k}`));
            };
            for (const nesterov of [false, true]) {
              twin(
                (o, [param, momentumBuffer]) =>
                  grads.forEach((grad, i) =>
                    sgdStep(
                      {
                        param,
                        grad,
                        momentumBuffer,
                        step: i + 1,
                        lr: 0.1,
                        momentum: 0.9,
                        dampening: nesterov ? 0 : 0.1,
                        weightDecay: 0.01,
                        nesterov,
                      },
                      o,
                    ),
                  ),
                1,
                `sgd nesterov=${nesterov}`,
              );
            }
            for (const fn of [adamStep, adamwStep]) {
              twin(
                (o, [param, expAvg, expAvgSq]) =>
                  grads.forEach((grad, i) =>
                    fn(
                      {
                        param,
                        grad,
                        expAvg,
                        expAvgSq,
                        step: i + 1,
                        lr: 0.01,
                        weightDecay: 0.05,
                      },
                      o,
                    ),
                  ),
                2,
                fn.name,
              );
            }
            for (const centered of [false, true]) {
              twin(
                (o, [param, squareAvg, gradAvg, momentumBuffer]) =>
                  grads.forEach((grad) =>
                    rmspropStep(
                      {
                        param,
                        grad,
                        squareAvg,
                        gradAvg,
                        momentumBuffer,
                        momentum: centered ? 0.9 : 0,
                        centered,
                        weightDecay: 0.01,
                      },
                      o,
                    ),
                  ),
                3,
                `rmsprop centered=${centered}`,
                centered ? 1e-4 : 1e-5,
              );
            }
            const ga = grads.map((g) => g.slice());
            const gb = grads.map((g) => g.slice());
            const na = clipGradNorm({ grads: ga, maxNorm: 0.5 }, NATIVE);
            const nb = clipGradNorm({ grads: gb, maxNorm: 0.5 }, JS);
            expect(Math.abs(na - nb)).toBeLessThan(1e-12 * Math.max(1, nb));
            ga.forEach((g, k) => expectClose(g, gb[k], { atol: 0 }, `clipGradNorm ${n} ${k}`));
            clipGradValue({ grads: ga, clipValue: 0.01 }, NATIVE);
            clipGradValue({ grads: gb, clipValue: 0.01 }, JS);
            ga.forEach((g, k) => expectClose(g, gb[k], { atol: 0 }, `clipGradValue ${n} ${k}`));
          }
        }),
      );
      it('native validation errors are typed and name the argument', () => {
        const e = errorOf(() =>
          loadAddonTrain().softmaxCrossEntropy({
            rows: 1,
            numClasses: 2,
            logits: new Float32Array(2),
            targets: Int32Array.of(5),
            dLogits: new Float32Array(2),
          }),
        );
        expect((e as { code?: string }).code).toBe('ERR_GATED_VALUE');
        expect(e.message).toMatch(/^targets: targets\[0\] = 5/);
        const s = errorOf(() =>
          loadAddonTrain().mse({ size: 3, input: new Float32Array(2), target: new Float32Array(3), dInput: new Float32Array(3) }),
        );
        expect((s as { code?: string }).code).toBe('ERR_GATED_SHAPE');
      });
    });
  }
});

function loadAddonTrain(): Record<string, (args: object) => unknown> {
  return loadAddon() as unknown as Record<string, (args: object) => unknown>;
}

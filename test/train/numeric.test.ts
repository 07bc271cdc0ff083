/**
 * fit and non-finite numbers: a NaN in an input or a float target is a ValueError naming the batch
 * before that batch changes anything; a run that diverges stops with a NumericError naming the epoch
 * and batch, its weights those after the last good batch; hyperparameters that make infinite or NaN
 * weights are refused when the optimizer is made.
 */
import { describe, expect, it } from 'vitest';

import { NumericError, ValueError, adam, adamw, dense, fit, input, rmsprop, sequential, sgd, vector, type Batch } from '../../lib/index.js';
import { errorOf } from '../helpers/errors.js';

const regressor = () =>
  sequential(input.vector({ features: 2 }))
    .add(dense({ units: 1 }))
    .build({ seed: 1, backend: 'js' });
const row = (x: number[], y: number): Batch<'vector', 'mse', 'vector'> => ({
  x: vector({ data: Float32Array.from(x), batch: 1, features: 2 }),
  target: Float32Array.of(y),
});
const weights = (m: ReturnType<typeof regressor>) => m.parameters().map((p) => Array.from(p.value));

describe('fit with non-finite numbers', () => {
  it('a NaN input is a ValueError naming its batch; the weights are those after the batches before it', async () => {
    const m = regressor();
    let after0: number[][] = [];
    const data = [row([1, 2], 1), row([Number.NaN, 2], 1), row([3, 4], 1)];
    const e = await fit(m, data, {
      epochs: 1,
      loss: 'mse',
      optimizer: sgd({ lr: 0.1 }),
      onBatchEnd: () => {
        after0 = weights(m);
      },
    }).catch((x) => x);
    expect(e).toBeInstanceOf(ValueError);
    expect(e.argument).toBe('data[1].x.data');
    expect(weights(m)).toEqual(after0);
  });

  it('a NaN float target is a ValueError naming it', async () => {
    const e = await fit(regressor(), [row([1, 2], Number.NaN)], { epochs: 1, loss: 'mse' }).catch((x) => x);
    expect([e.name, e.argument]).toEqual(['ValueError', 'data[0].target']);
  });

  it('a diverging run stops with a NumericError naming the epoch and batch, weights as after the last good batch', async () => {
    const m = regressor();
    const data = [row([30, -20], 1e6), row([-40, 50], -1e6)];
    let good: number[][] = weights(m);
    let batches = 0;
    const e = await fit(m, data, {
      epochs: 50,
      loss: 'mse',
      optimizer: sgd({ lr: 1000 }),
      onBatchEnd: () => {
        good = weights(m);
        batches++;
      },
    }).catch((x) => x);
    expect(e).toBeInstanceOf(NumericError);
    expect(e.argument).toMatch(/^data\[[01]\]$/);
    expect(e.message).toMatch(/at epoch \d+/);
    expect(batches).toBeGreaterThan(0);
    expect(weights(m)).toEqual(good);
    for (const w of weights(m).flat()) expect(Number.isFinite(w)).toBe(true);
  });
});

describe('hyperparameters outside their meaningful ranges are refused', () => {
  it.each([
    ['adam eps 0', () => adam({ eps: 0 }), 'options.eps'],
    ['sgd lr 1e300', () => sgd({ lr: 1e300 }), 'options.lr'],
    ['rmsprop momentum 2^31', () => rmsprop({ momentum: 2 ** 31 }), 'options.momentum'],
    ['adamw weightDecay 1e300', () => adamw({ weightDecay: 1e300 }), 'options.weightDecay'],
    ['sgd momentum 1', () => sgd({ momentum: 1 }), 'options.momentum'],
    ['a misspelled option', () => adam({ learningRate: 0.1 } as never), 'options.learningRate'],
  ])('%s', (_name, make, argument) => {
    const e = errorOf(make);
    expect(e).toBeInstanceOf(ValueError);
    expect(e.argument).toBe(argument);
  });
});

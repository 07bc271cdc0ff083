/**
 * Initialization statistics, PyTorch parameter names, and dropout's behaviour.
 */
import { describe, expect, it } from 'vitest';

import { dense, dropout, embedding, lstm, sequence } from '../../lib/layers/index.js';
import { input, sequential } from '../../lib/models/sequential.js';
import { Rng } from '../../lib/random.js';

describe('initialization', () => {
  it('recurrent gate blocks are orthogonal (W W^T = I), LSTM forget bias sums to 1, input weights Glorot', () => {
    const H = 16,
      D = 8;
    const model = sequential(input.sequence({ features: D }))
      .add(lstm({ hiddenSize: H }))
      .build({ seed: 4, backend: 'js' });
    const p = Object.fromEntries(model.parameters().map((q) => [q.name, q.value]));
    const whh = p['0.weight_hh_l0'];
    for (let g = 0; g < 4; g++) {
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < H; j++) {
          let dot = 0;
          for (let k = 0; k < H; k++) dot += whh[(g * H + i) * H + k] * whh[(g * H + j) * H + k];
          expect(Math.abs(dot - (i === j ? 1 : 0))).toBeLessThan(1e-5);
        }
      }
    }
    const bih = p['0.bias_ih_l0'],
      bhh = p['0.bias_hh_l0'];
    for (let j = 0; j < 4 * H; j++) expect(bih[j] + bhh[j]).toBe(j >= H && j < 2 * H ? 1 : 0);
    const limit = Math.sqrt(6 / (D + H));
    const wih = p['0.weight_ih_l0'];
    expect(Math.max(...wih.map(Math.abs))).toBeLessThanOrEqual(limit);
    // U(-a, a) has variance a^2 / 3.
    const variance = wih.reduce((s, v) => s + v * v, 0) / wih.length;
    expect(variance).toBeGreaterThan((0.8 * limit * limit) / 3);
    expect(variance).toBeLessThan((1.2 * limit * limit) / 3);
  });

  it('embeddings are N(0, 1) with a zero padding row; the same seed gives the same weights', () => {
    const build = () =>
      sequential(input.tokens({ vocabSize: 200 }))
        .add(embedding({ vocabSize: 200, dim: 20, paddingIndex: 3 }))
        .build({ seed: 9, backend: 'js' });
    const w = build().parameters()[0].value;
    expect(Array.from(w.subarray(60, 80)).every((v) => v === 0)).toBe(true);
    const mean = w.reduce((s, v) => s + v, 0) / (w.length - 20);
    const variance = w.reduce((s, v) => s + v * v, 0) / (w.length - 20);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.08);
    expect(build().parameters()[0].value).toEqual(w);
  });
});

describe('parameter names', () => {
  it('match torch.nn.LSTM(num_layers=2, bidirectional=True) inside nn.Sequential', () => {
    const H = 5,
      D = 3;
    const model = sequential(input.sequence({ features: D }))
      .add(lstm({ hiddenSize: H, numLayers: 2, bidirectional: true }))
      .add(dense({ units: 2 }))
      .build({ backend: 'js' });
    // list(nn.Sequential(nn.LSTM(3, 5, num_layers=2, bidirectional=True), ...).state_dict().items())
    expect(model.parameters().map((p) => [p.name, p.shape])).toEqual([
      ['0.weight_ih_l0', [20, 3]],
      ['0.weight_hh_l0', [20, 5]],
      ['0.bias_ih_l0', [20]],
      ['0.bias_hh_l0', [20]],
      ['0.weight_ih_l0_reverse', [20, 3]],
      ['0.weight_hh_l0_reverse', [20, 5]],
      ['0.bias_ih_l0_reverse', [20]],
      ['0.bias_hh_l0_reverse', [20]],
      ['0.weight_ih_l1', [20, 10]],
      ['0.weight_hh_l1', [20, 5]],
      ['0.bias_ih_l1', [20]],
      ['0.bias_hh_l1', [20]],
      ['0.weight_ih_l1_reverse', [20, 10]],
      ['0.weight_hh_l1_reverse', [20, 5]],
      ['0.bias_ih_l1_reverse', [20]],
      ['0.bias_hh_l1_reverse', [20]],
      ['1.weight', [2, 10]],
      ['1.bias', [2]],
    ]);
  });

  it('user names replace positions', () => {
    const model = sequential(input.sequence({ features: 2 }))
      .add(lstm({ hiddenSize: 2 }), 'encoder')
      .add(dense({ units: 1 }), 'head')
      .build({ backend: 'js' });
    expect(model.parameters().map((p) => p.name)).toEqual([
      'encoder.weight_ih_l0',
      'encoder.weight_hh_l0',
      'encoder.bias_ih_l0',
      'encoder.bias_hh_l0',
      'head.weight',
      'head.bias',
    ]);
  });
});

describe('dropout', () => {
  it('zeroes about `rate` of the elements in training, scales the rest by 1/(1-rate); identity at evaluation', async () => {
    const model = sequential(input.sequence({ features: 10 }))
      .add(dropout({ rate: 0.25 }))
      .build({ backend: 'js' });
    const x = sequence({ data: new Float32Array(20000).fill(1), seqLen: 20, batch: 100, features: 10 });
    const train = await model.forward(x, { training: true, rng: new Rng(1) });
    const zeros = train.y.data.filter((v) => v === 0).length;
    expect(Math.abs(zeros / 20000 - 0.25)).toBeLessThan(0.015); // 5 standard deviations
    expect(train.y.data.every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
    const dx = (await train.backward(new Float32Array(20000).fill(1))) as Float32Array;
    expect(dx).toEqual(train.y.data); // the same mask on the way back
    const again = await model.forward(x, { training: true, rng: new Rng(1) });
    expect(again.y.data).toEqual(train.y.data); // seeded
    const evaluation = await model.forward(x);
    expect(evaluation.y.data).toEqual(x.data); // the same values (the model owns a copy of its input)
  });
});

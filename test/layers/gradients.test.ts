/**
 * Every layer's backward against finite differences (JS backend; method and tolerance: ./check.ts),
 * and the native backend against the JS one on the same cases (outputs and every gradient within
 * 1e-4; skipped while the addon lacks the native layer kernels, exports.nn).
 */
import { describe, expect, it } from 'vitest';

import type { BackendName } from '../../lib/backend/index.js';
import {
  dense,
  dropout,
  embedding,
  gru,
  lstm,
  oneHot,
  rnn,
  sequence,
  tokens,
  vector,
  type Layer,
  type Parameter,
  type RecurrentState,
  type Sequence,
  type Tokens,
  type Vector,
} from '../../lib/layers/index.js';
import { input, sequential, type SequentialModel as Model } from '../../lib/models/sequential.js';
import { nativeAvailable as nativeNnAvailable } from '../../lib/backend/addon.js';
import { Rng } from '../../lib/random.js';
import { nativeSkipReason } from '../helpers/backends.js';
import { expectClose } from '../helpers/index.js';
import { type Case, type Evaluation, expectBackendsAgree, gradCheck } from './check.js';

const T = 4,
  B = 3;
const LENGTHS = new Int32Array([4, 2, 3]);

function seqInput(features: number, lengths: Int32Array | null = LENGTHS): Sequence {
  return sequence({ data: new Rng(11).uniformArray(T * B * features, -1, 1), seqLen: T, batch: B, features, lengths });
}

function tokenInput(vocab: number): Tokens {
  const r = new Rng(12);
  const ids = Int32Array.from({ length: T * B }, () => r.int(vocab));
  ids[1] = 0; // the padding id appears
  return tokens({ ids, seqLen: T, batch: B, lengths: LENGTHS });
}

/** A model case: loss on the output, gradients of the parameters and of a float input. */
function modelCase<K extends 'tokens' | 'sequence' | 'vector'>(
  name: string,
  build: (backend: BackendName) => Model<K, 'sequence' | 'vector'>,
  x: () => Tokens | Sequence | Vector = () => seqInput(2),
): Case {
  return {
    name,
    make(backend) {
      const model = build(backend);
      const value = x();
      const run = async (): Promise<Evaluation> => {
        const s = await model.forward(value as never, { training: true, rng: new Rng(5) });
        return { outs: [s.y.data], backward: async ([dy]) => [await s.backward(dy)] };
      };
      return { params: model.parameters(), inputs: value.kind === 'tokens' ? [] : [value.data], run };
    },
  };
}

/**
 * A recurrent layer called directly with an initial state and `returnState`: the loss also covers the
 * final states, and the initial state's gradient is checked.
 */
function stateCase(name: string, make: () => Layer, cellIsLstm: boolean, stateRows: number, H: number): Case {
  return {
    name,
    make(backend) {
      const layer = make();
      layer.build(2, new Rng(3));
      const x = seqInput(2);
      const r = new Rng(13);
      const init: RecurrentState = {
        h: r.uniformArray(stateRows * B * H, -1, 1),
        c: cellIsLstm ? r.uniformArray(stateRows * B * H, -1, 1) : null,
      };
      const run = async (): Promise<Evaluation> => {
        const s = await layer.forward(x, { training: true, rng: new Rng(5), backend }, init);
        const state = s.state as RecurrentState;
        const outs = [(s.y as Sequence).data, state.h, ...(state.c ? [state.c] : [])];
        return {
          outs,
          backward: async (d) => {
            const dx = await s.backward(d[0], { h: d[1], c: d[2] ?? null });
            const g = s.initialStateGrad() as RecurrentState;
            return [dx, g.h, ...(g.c ? [g.c] : [])];
          },
        };
      };
      return { params: layer.parameters(), inputs: [x.data, init.h, ...(init.c ? [init.c] : [])], run };
    },
  };
}

const seqModel =
  (layers: readonly Layer[], features = 2) =>
  (backend: BackendName) => {
    let b = sequential(input.sequence({ features })) as unknown as {
      add(l: Layer): typeof b;
      build(o: object): Model<'sequence', 'sequence' | 'vector'>;
    };
    for (const l of layers) b = b.add(l);
    return b.build({ seed: 21, backend });
  };

const cells = {
  rnn: (o: object) => rnn({ hiddenSize: 3, ...o }),
  lstm: (o: object) => lstm({ hiddenSize: 3, ...o }),
  gru: (o: object) => gru({ hiddenSize: 3, ...o }),
} as const;

const cases: Case[] = [
  modelCase(
    'embedding (padding index 0) -> dense',
    (backend) =>
      sequential(input.tokens({ vocabSize: 5 }))
        .add(embedding({ vocabSize: 5, dim: 3, paddingIndex: 0 }))
        .add(dense({ units: 2 }))
        .build({ seed: 1, backend }),
    () => tokenInput(5),
  ),
  modelCase(
    'oneHot -> dense (sequence, tanh)',
    (backend) =>
      sequential(input.tokens({ vocabSize: 4 }))
        .add(oneHot({ vocabSize: 4 }))
        .add(dense({ units: 3, activation: 'tanh' }))
        .build({ seed: 2, backend }),
    () => tokenInput(4),
  ),
  modelCase(
    'dense on a vector (sigmoid, relu, dropout 0.3 in training)',
    (backend) =>
      sequential(input.vector({ features: 3 }))
        .add(dense({ units: 4, activation: 'sigmoid' }))
        .add(dropout({ rate: 0.3 }))
        .add(dense({ units: 2, activation: 'relu' }))
        .build({ seed: 3, backend }),
    () => vector({ data: new Rng(4).uniformArray(B * 3, -1, 1), batch: B, features: 3 }),
  ),
];
for (const cell of ['rnn', 'lstm', 'gru'] as const) {
  const make = cells[cell];
  cases.push(
    modelCase(
      `${cell}: 2 layers, bidirectional concat, dropout 0.3, lengths, sequences`,
      seqModel([make({ numLayers: 2, bidirectional: true, mergeMode: 'concat', dropout: 0.3 }), dense({ units: 2 })]),
    ),
    modelCase(
      `${cell}: 2 layers, bidirectional sum, lengths, final state (vector)`,
      seqModel([make({ numLayers: 2, bidirectional: true, mergeMode: 'sum', returnSequences: false })]),
    ),
    modelCase(
      `${cell}: bidirectional mean, no lengths, sequences`,
      (backend) => seqModel([make({ bidirectional: true, mergeMode: 'mean' })])(backend),
      () => seqInput(2, null),
    ),
    stateCase(
      `${cell}: 2 layers, bidirectional, initial state in, returnState out`,
      () => make({ numLayers: 2, bidirectional: true, returnState: true }),
      cell === 'lstm',
      4,
      3,
    ),
  );
}
cases.push(
  modelCase('lstm with peepholes', seqModel([lstm({ hiddenSize: 3, peepholes: true })]), () => seqInput(2)),
  modelCase('gru reset-before', seqModel([gru({ hiddenSize: 3, resetAfter: false, returnSequences: false })]), () => seqInput(2)),
  modelCase(
    'lstm one-to-many (stateInput from a dense)',
    (backend) =>
      sequential(input.vector({ features: 2 }))
        .add(dense({ units: 3, activation: 'tanh' }))
        .add(lstm({ hiddenSize: 3, stateInput: { steps: 3 } }))
        .add(dense({ units: 2 }))
        .build({ seed: 8, backend }),
    () => vector({ data: new Rng(9).uniformArray(B * 2, -1, 1), batch: B, features: 2 }),
  ),
);
// Give the peephole weights non-zero values (they start at zero) so every term is exercised.
function perturbPeepholes(params: readonly Parameter[]): void {
  const r = new Rng(17);
  for (const p of params) if (p.name.includes('peephole')) p.value.set(r.uniformArray(p.value.length, -0.5, 0.5));
}

describe('layer gradients match finite differences (js)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const s = c.make('js');
      perturbPeepholes(s.params);
      await gradCheck(c.name, s.params, s.inputs, s.run);
    });
  }

  it('the padding row of an embedding gets no gradient and stays zero', async () => {
    const model = sequential(input.tokens({ vocabSize: 5 }))
      .add(embedding({ vocabSize: 5, dim: 3, paddingIndex: 0 }))
      .build({ seed: 1, backend: 'js' });
    const w = model.parameters()[0];
    expect(Array.from(w.value.subarray(0, 3))).toEqual([0, 0, 0]);
    const s = await model.forward(tokenInput(5));
    expect(Array.from(s.y.data.subarray(3, 6))).toEqual([0, 0, 0]); // ids[1] = 0
    await s.backward(new Float32Array(s.y.data.length).fill(1));
    expect(Array.from(w.grad.subarray(0, 3))).toEqual([0, 0, 0]);
  });

  it('backward accumulates across calls; zeroGrad resets', async () => {
    const model = seqModel([gru({ hiddenSize: 3 }), dense({ units: 2 })])('js');
    const x = seqInput(2);
    const s = await model.forward(x);
    const dy = new Rng(1).uniformArray(s.y.data.length, -1, 1);
    await s.backward(dy);
    const once = model.parameters().map((p) => p.grad.slice());
    await s.backward(dy);
    model.parameters().forEach((p, k) =>
      expectClose(
        p.grad,
        once[k].map((v) => 2 * v),
        { atol: 1e-6, rtol: 1e-5 },
        p.name,
      ),
    );
    model.zeroGrad();
    for (const p of model.parameters()) expect(p.grad.every((v) => v === 0)).toBe(true);
  });
});

const nativeReady = nativeSkipReason === null && nativeNnAvailable();

describe.skipIf(!nativeReady)('native layers match the js layers', () => {
  for (const c of cases) it(c.name, () => expectBackendsAgree(c, perturbPeepholes));
});

/**
 * PyTorch interoperability: test/fixtures/torch-*.safetensors hold state_dicts of small PyTorch 1.13
 * models (written by scripts/torch-fixture.py), an input and PyTorch's output. The equivalent gated
 * models load those weights by name with loadStateDict and must give PyTorch's output (both
 * backends), and a gated model's parameter names and shapes are exactly the state_dict's, so its
 * saved weights load into PyTorch the other way round.
 *
 * What this pins: LSTM gate order i,f,g,o and GRU r,z,n with reset-after; bidirectional outputs
 * concatenated forward-first; stacked layers taking both directions; the final state of each
 * sequence at its own length (packed sequences); padding steps output zero; nn.Embedding's and
 * nn.Linear's layouts.
 */
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  dense,
  embedding,
  gru,
  input,
  loadSafetensors,
  loadStateDict,
  lstm,
  rnn,
  sequence,
  sequential,
  tokens,
  toFloat32,
  type Model,
  type Tensor,
  type Kind,
} from '../../lib/index.js';
import { maxAbsDiff } from '../helpers/close.js';
import { nativeSkipReason } from '../helpers/backends.js';

const backends = (['js', 'native'] as const).filter((b) => b === 'js' || nativeSkipReason === null);
const fixture = (name: string) => loadSafetensors(fileURLToPath(new URL(`../fixtures/torch-${name}.safetensors`, import.meta.url))).tensors;

function stateDict(all: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(all).filter(([k]) => /^\d+\./.test(k)));
}

function ints(t: Tensor): Int32Array {
  if (t.dtype !== 'I32') throw new Error(`expected I32, got ${t.dtype}`);
  return t.data;
}

async function check(name: string, model: Model<Kind, Kind>, x: unknown): Promise<void> {
  const all = fixture(name);
  const sd = stateDict(all);
  // The same names and shapes in both directions.
  expect(model.parameters().map((p) => [p.name, [...p.shape]])).toEqual(Object.entries(sd).map(([k, t]) => [k, [...t.shape]]));
  expect(loadStateDict(model, sd)).toEqual({ missing: [], unexpected: [] });
  const y = await model.predict(x as never);
  const expected = toFloat32(all['expected.output']);
  expect((y as { data: Float32Array }).data.length).toBe(expected.length);
  expect(maxAbsDiff((y as { data: Float32Array }).data, expected)).toBeLessThan(2e-6);
}

describe.each(backends)("PyTorch 1.13 weights give PyTorch's outputs (%s backend)", (backend) => {
  it('Embedding(padding_idx) -> 2-layer bidirectional LSTM -> Linear per step, variable lengths', async () => {
    const all = fixture('tagger');
    const [T, B] = all['input.ids'].shape;
    const model = sequential(input.tokens({ vocabSize: 7 }))
      .add(embedding({ vocabSize: 7, dim: 5, paddingIndex: 0 }))
      .add(lstm({ hiddenSize: 6, numLayers: 2, bidirectional: true }))
      .add(dense({ units: 4 }))
      .build({ backend });
    await check('tagger', model, tokens({ ids: ints(all['input.ids']), seqLen: T, batch: B, lengths: ints(all['input.lengths']) }));
  });

  it('bidirectional GRU (reset-after), final states at each own length, concatenated -> Linear', async () => {
    const all = fixture('classifier');
    const [T, B, F] = all['input.x'].shape;
    const model = sequential(input.sequence({ features: F }))
      .add(gru({ hiddenSize: 5, bidirectional: true, returnSequences: false }))
      .add(dense({ units: 2 }))
      .build({ backend });
    await check(
      'classifier',
      model,
      sequence({ data: toFloat32(all['input.x']), seqLen: T, batch: B, features: F, lengths: ints(all['input.lengths']) }),
    );
  });

  it('2-layer ReLU RNN -> Linear per step', async () => {
    const all = fixture('relu-rnn');
    const [T, B, F] = all['input.x'].shape;
    const model = sequential(input.sequence({ features: F }))
      .add(rnn({ hiddenSize: 4, numLayers: 2, nonlinearity: 'relu' }))
      .add(dense({ units: 3 }))
      .build({ backend });
    await check('relu-rnn', model, sequence({ data: toFloat32(all['input.x']), seqLen: T, batch: B, features: F }));
  });
});

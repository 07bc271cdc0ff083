/**
 * Files written by an earlier version still load and give the same results: test/fixtures/legacy/v1/
 * was written by scripts/legacy-fixtures.ts at commit affaf67 (model and checkpoint format 1) on the
 * js backend. Each model file loads on both backends and reproduces its recorded outputs (js: bit for
 * bit; native: within float32 rounding of another instruction order); the mid-run checkpoint resumes
 * into a fresh model and ends with the recorded weights of the uninterrupted run.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  adam,
  dense,
  dropout,
  embedding,
  fit,
  input,
  loadModel,
  loadSafetensors,
  lstm,
  sequence,
  sequential,
  stepTargets,
  tokens,
  vector,
  Rng,
  type Batch,
  type Kind,
  type Model,
} from '../../lib/index.js';
import { nativeSkipReason } from '../helpers/backends.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'legacy', 'v1');
const expected = loadSafetensors(join(dir, 'expected.safetensors'));
const f32 = (key: string): Float32Array => expected.tensors[key].data as Float32Array;
const backends = (['js', 'native'] as const).filter((b) => b === 'js' || nativeSkipReason === null);

const T = 5;
const B = 3;
const lengths = Int32Array.from([5, 3, 1]);

function inputOf(name: string, model: Model<Kind, Kind>): unknown {
  if (model.inputKind === 'tokens') return tokens({ ids: Int32Array.from(f32(`${name}.x.ids`)), seqLen: T, batch: B, lengths });
  if (model.inputKind === 'sequence')
    return sequence({ data: f32(`${name}.x.data`), seqLen: T, batch: B, features: model.input.features, lengths });
  return vector({ data: f32(`${name}.x.data`), batch: B, features: model.input.features });
}

describe('model files of format 1 (commit affaf67)', () => {
  for (const name of ['tagger-lstm', 'classifier-gru', 'regressor-rnn-jordan', 'generator-state-input']) {
    for (const backend of backends) {
      it(`${name} loads on ${backend} and gives its recorded outputs`, async () => {
        const model = loadModel(join(dir, `${name}.safetensors`), { backend });
        const y = ((await model.predict(inputOf(name, model) as never)) as { data: Float32Array }).data;
        const want = f32(`${name}.y`);
        expect(y.length).toBe(want.length);
        if (backend === 'js') expect(Array.from(y)).toEqual(Array.from(want));
        else for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - want[i])).toBeLessThan(1e-5);
      });
    }
  }
});

describe('a checkpoint of format 1 (commit affaf67)', () => {
  it('resumes a stateful fit mid-epoch into a fresh model and ends with the recorded weights', async () => {
    const model = sequential(input.tokens({ vocabSize: 6 }))
      .add(embedding({ vocabSize: 6, dim: 4 }))
      .add(lstm({ hiddenSize: 6 }))
      .add(dropout({ rate: 0.25 }))
      .add(dense({ units: 6 }))
      .build({ seed: 77, backend: 'js' });
    const stream = new Rng(5);
    const batches: Batch<'tokens', 'softmaxCrossEntropy', 'sequence'>[] = Array.from({ length: 5 }, () => {
      const x = Int32Array.from({ length: 4 * 2 }, () => Math.floor(stream.uniform() * 6));
      return { x: tokens({ ids: x, seqLen: 4, batch: 2 }), target: stepTargets(Int32Array.from(x, (v) => (v + 1) % 6)) };
    });
    const history = await fit(model, batches, {
      epochs: 3,
      optimizer: adam({ lr: 0.02, clipNorm: 1 }),
      stateful: true,
      shuffle: false,
      seed: 8,
      metrics: ['accuracy'],
      resumeFrom: join(dir, 'lm-checkpoint.safetensors'),
    });
    expect(history.epochs.length).toBe(3);
    for (const p of model.parameters()) expect(Array.from(p.value), p.name).toEqual(Array.from(f32(`lm.final.${p.name}`)));
  });
});

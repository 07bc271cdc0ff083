/**
 * npx tsx scripts/legacy-fixtures.ts <out-dir>
 *
 * Writes model files and checkpoints with the version of gated this script runs against, plus what
 * they must give when loaded (outputs on a fixed input, the weights a resumed fit ends with), so
 * that a later version can prove it still reads them (test/models/legacy.test.ts).
 *
 * test/fixtures/legacy/v1/ was written by this script at commit affaf67 (model format 1, checkpoint
 * format 1, before the architecture change of issue 8), on the js backend so that the expected values
 * do not depend on the CPU's instruction set.
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  adam,
  dense,
  dropout,
  embedding,
  fit,
  gru,
  input,
  jordan,
  lstm,
  oneHot,
  rnn,
  saveSafetensors,
  sequence,
  sequential,
  stepTargets,
  tokens,
  vector,
  Rng,
  type Batch,
  type Model,
} from '../lib/index.js';

const out = process.argv[2];
if (!out) {
  console.error('usage: npx tsx scripts/legacy-fixtures.ts <out-dir>');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const T = 5;
const B = 3;
const lengths = Int32Array.from([5, 3, 1]);
const rng = new Rng(99);
const ids = (vocab: number): Int32Array => Int32Array.from({ length: T * B }, () => Math.floor(rng.uniform() * vocab));
const floats = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1);

type AnyModel = Model<'tokens' | 'sequence' | 'vector', 'sequence' | 'vector'>;
const models: Record<string, { model: AnyModel; x: Parameters<AnyModel['predict']>[0] }> = {
  // embedding with padding, a 2-layer bidirectional peephole LSTM, dense.
  'tagger-lstm': {
    model: sequential(input.tokens({ vocabSize: 11 }))
      .add(embedding({ vocabSize: 11, dim: 6, paddingIndex: 0 }))
      .add(lstm({ hiddenSize: 5, numLayers: 2, bidirectional: true, peepholes: true, dropout: 0.2 }))
      .add(dense({ units: 4, activation: 'tanh' }))
      .build({ seed: 3, backend: 'js' }) as AnyModel,
    x: tokens({ ids: ids(11), seqLen: T, batch: B, lengths }),
  },
  // one-hot, a reset-before bidirectional GRU merged by sum, named layers, many-to-one.
  'classifier-gru': {
    model: sequential(input.tokens({ vocabSize: 7 }))
      .add(oneHot({ vocabSize: 7 }), 'onehot')
      .add(gru({ hiddenSize: 4, bidirectional: true, mergeMode: 'sum', resetAfter: false, returnSequences: false }), 'encoder')
      .add(dropout({ rate: 0.1 }))
      .add(dense({ units: 3 }), 'head')
      .build({ seed: 4, backend: 'js' }) as AnyModel,
    x: tokens({ ids: ids(7), seqLen: T, batch: B, lengths }),
  },
  // float input, a ReLU RNN with mean merge, and a stacked Jordan layer.
  'regressor-rnn-jordan': {
    model: sequential(input.sequence({ features: 3 }))
      .add(rnn({ hiddenSize: 4, nonlinearity: 'relu', bidirectional: true, mergeMode: 'mean' }))
      .add(jordan({ hiddenSize: 5, outputSize: 2, numLayers: 2, outputActivation: 'linear' }))
      .add(dense({ units: 1 }))
      .build({ seed: 5, backend: 'js' }) as AnyModel,
    x: sequence({ data: floats(T * B * 3), seqLen: T, batch: B, features: 3, lengths }),
  },
  // one-to-many: a vector sets the initial states of a 2-layer GRU, plain Jordan.
  'generator-state-input': {
    model: sequential(input.vector({ features: 8 }))
      .add(gru({ hiddenSize: 4, numLayers: 2, stateInput: { steps: 4 } }))
      .add(jordan({ hiddenSize: 3, outputSize: 2 }))
      .build({ seed: 6, backend: 'js' }) as AnyModel,
    x: vector({ data: floats(B * 8), batch: B, features: 8 }),
  },
};

const expected: Record<string, Float32Array> = {};
for (const [name, { model, x }] of Object.entries(models)) {
  await model.save(join(out, `${name}.safetensors`));
  expected[`${name}.y`] = (await model.predict(x as never)).data;
  const xv = x as { kind: string; ids?: Int32Array; data?: Float32Array; lengths?: Int32Array | null };
  if (xv.ids) expected[`${name}.x.ids`] = Float32Array.from(xv.ids);
  if (xv.data) expected[`${name}.x.data`] = xv.data;
}

// A stateful language-model fit with dropout, shuffling, Adam with clipping: a checkpoint after
// batch 3 of epoch 1 (mid-epoch, carried states), and the weights the whole run ends with.
function lm(seed: number): Model<'tokens', 'sequence'> {
  return sequential(input.tokens({ vocabSize: 6 }))
    .add(embedding({ vocabSize: 6, dim: 4 }))
    .add(lstm({ hiddenSize: 6 }))
    .add(dropout({ rate: 0.25 }))
    .add(dense({ units: 6 }))
    .build({ seed, backend: 'js' });
}
const stream = new Rng(5);
const batches: Batch<'tokens', 'softmaxCrossEntropy', 'sequence'>[] = Array.from({ length: 5 }, () => {
  const x = Int32Array.from({ length: 4 * 2 }, () => Math.floor(stream.uniform() * 6));
  const y = Int32Array.from(x, (v) => (v + 1) % 6);
  return { x: tokens({ ids: x, seqLen: 4, batch: 2 }), target: stepTargets(y) };
});
const options = (extra: object) => ({
  epochs: 3,
  optimizer: adam({ lr: 0.02, clipNorm: 1 }),
  stateful: true,
  shuffle: false,
  seed: 8,
  metrics: ['accuracy'] as const,
  ...extra,
});
const straight = lm(1);
await fit(straight, batches, options({}));
for (const p of straight.parameters()) expected[`lm.final.${p.name}`] = p.value.slice();
// The run's final checkpoint replaces the file: keep a copy of the one written after step 8.
const running = join(out, 'lm-running.safetensors');
await fit(
  lm(1),
  batches,
  options({
    checkpoint: {
      path: running,
      everyBatches: 8,
      onSaved: ({ steps }: { steps: number }) => {
        if (steps === 8) copyFileSync(running, join(out, 'lm-checkpoint.safetensors'));
      },
    },
  }),
);
rmSync(running);
saveSafetensors(
  join(out, 'expected.safetensors'),
  Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, { dtype: 'F32', shape: [v.length], data: v }])),
);
console.log(`wrote ${Object.keys(models).length} models, a checkpoint and expected.safetensors to ${out}`);

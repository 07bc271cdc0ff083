/**
 * Type-level checks of the layer/model API (run by `tsc --noEmit` in `npm test`): the builder
 * tracks the kind (Tokens / Sequence / Vector) flowing out of each layer, so misuse is a compile
 * error, proved by the `@ts-expect-error` lines; `expectTypeOf` pins the output kinds.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';

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
  type Sequence,
  type Tokens,
  type Vector,
} from '../../lib/layers/index.js';
import { input, sequential, type SequentialModel as Model } from '../../lib/models/sequential.js';

describe('sequential kind tracking', () => {
  it('gives the output kind of the last layer', () => {
    const classifier = sequential(input.tokens({ vocabSize: 5 }))
      .add(embedding({ vocabSize: 5, dim: 3 }))
      .add(lstm({ hiddenSize: 4, returnSequences: false }))
      .add(dense({ units: 2 }))
      .build({ seed: 1, backend: 'js' });
    expectTypeOf(classifier).toEqualTypeOf<Model<'tokens', 'vector'>>();

    const tagger = sequential(input.tokens({ vocabSize: 5 }))
      .add(oneHot({ vocabSize: 5 }))
      .add(gru({ hiddenSize: 4, bidirectional: true }))
      .add(dropout({ rate: 0.1 }))
      .add(dense({ units: 3 }))
      .build({ backend: 'js' });
    expectTypeOf(tagger).toEqualTypeOf<Model<'tokens', 'sequence'>>();

    const generator = sequential(input.vector({ features: 2 }))
      .add(dense({ units: 4, activation: 'tanh' }))
      .add(lstm({ hiddenSize: 4, stateInput: { steps: 3 } }))
      .add(dense({ units: 5 }))
      .build({ backend: 'js' });
    expectTypeOf(generator).toEqualTypeOf<Model<'vector', 'sequence'>>();

    const regressor = sequential(input.sequence({ features: 2 }))
      .add(rnn({ hiddenSize: 3, numLayers: 2, returnSequences: false }))
      .build({ backend: 'js' });
    expectTypeOf(regressor).toEqualTypeOf<Model<'sequence', 'vector'>>();
    expectTypeOf(regressor.forward).parameter(0).toEqualTypeOf<Sequence>();
    expectTypeOf(classifier.forward).parameter(0).toEqualTypeOf<Tokens>();
    expect(classifier.outputKind).toBe('vector');
  });

  it('rejects misuse at compile time', async () => {
    sequential(input.sequence({ features: 2 }))
      .add(lstm({ hiddenSize: 3, returnSequences: false }))
      // @ts-expect-error a Vector output fed to a layer that needs a Sequence
      .add(lstm({ hiddenSize: 3 }));

    sequential(input.sequence({ features: 2 }))
      // @ts-expect-error embedding after a float input
      .add(embedding({ vocabSize: 4, dim: 2 }));

    sequential(input.vector({ features: 2 }))
      // @ts-expect-error a recurrent layer needs a Sequence (or stateInput)
      .add(gru({ hiddenSize: 3 }));

    sequential(input.tokens({ vocabSize: 4 }))
      // @ts-expect-error dense needs float features, not ids
      .add(dense({ units: 2 }));

    const tokenModel = sequential(input.tokens({ vocabSize: 4 }))
      .add(embedding({ vocabSize: 4, dim: 2 }))
      .add(lstm({ hiddenSize: 2 }))
      .build({ backend: 'js' });
    const floats = sequence({ data: new Float32Array(4), seqLen: 1, batch: 2, features: 2 });
    // @ts-expect-error float features given to a token model
    await expect(tokenModel.forward(floats)).rejects.toThrow(/expects a tokens/);
    const ok = await tokenModel.forward(tokens({ ids: new Int32Array([1, 2]), seqLen: 1, batch: 2 }));
    expectTypeOf(ok.y).toEqualTypeOf<Sequence>();

    const vectorModel = sequential(input.vector({ features: 2 }))
      .add(dense({ units: 1 }))
      .build({ backend: 'js' });
    const v = await vectorModel.forward(vector({ data: new Float32Array(4), batch: 2, features: 2 }));
    expectTypeOf(v.y).toEqualTypeOf<Vector>();
    // @ts-expect-error a Sequence is not a Vector
    await expect(vectorModel.forward(floats)).rejects.toThrow(/expects a vector/);
  });
});

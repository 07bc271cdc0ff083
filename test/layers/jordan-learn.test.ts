/**
 * A stacked bidirectional Jordan network learns a task that needs the reverse direction run within
 * each sequence's own length: tag every step with the sequence's LAST token (variable lengths,
 * padding masked out of the loss). The reverse direction starts at each sequence's own last step, so
 * its fed-back output can carry that token back to every earlier step; a forward-only Jordan layer,
 * trained the same way, cannot know it before the last step (control). JS backend, Adam, 200 steps,
 * seeded; the held-out token accuracies reached (printed with GATED_LEARN_VERBOSE=1): bidirectional
 * 1.000 (threshold 0.9), forward-only 0.424 (threshold: below 0.6; chance is 0.25, and the last step
 * of each sequence, about a fifth of the steps, is always knowable).
 */
import { describe, expect, it } from 'vitest';

import { dense, embedding, jordan, tokens, type JordanOptions, type Tokens } from '../../lib/layers/index.js';
import { input, sequential } from '../../lib/models/sequential.js';
import { Rng } from '../../lib/random.js';
import { losses, optimizers } from '../../lib/ops/train.js';

const verbose = process.env.GATED_LEARN_VERBOSE === '1';
const V = 4,
  T = 7;

/** Sequences of lengths 2..T; targets: the last token of its sequence at every valid step, -100 on padding. */
function batch(rng: Rng, B: number): { x: Tokens; targets: Int32Array } {
  const seqs = Array.from({ length: B }, () => Array.from({ length: 2 + rng.int(T - 1) }, () => rng.int(V)));
  const ids = new Int32Array(T * B);
  const targets = new Int32Array(T * B).fill(-100);
  seqs.forEach((s, b) =>
    s.forEach((id, t) => {
      ids[t * B + b] = id;
      targets[t * B + b] = s[s.length - 1];
    }),
  );
  return { x: tokens({ ids, seqLen: T, batch: B, lengths: seqs.map((s) => s.length) }), targets };
}

async function trainAndTest(options: JordanOptions, steps: number): Promise<number> {
  const model = sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: 6 }))
    .add(jordan(options))
    .add(dense({ units: V }))
    .build({ seed: 1, backend: 'js' });
  const params = model.parameters();
  const moments = params.map((p) => ({ m: new Float32Array(p.value.length), v: new Float32Array(p.value.length) }));
  const rng = new Rng(123);
  for (let step = 1; step <= steps; step++) {
    const { x, targets } = batch(rng, 32);
    model.zeroGrad();
    const s = await model.forward(x, { training: true });
    const { dLogits } = losses.softmaxCrossEntropy({ logits: s.y.data, targets, numClasses: V }, { backend: 'js' });
    await s.backward(dLogits);
    params.forEach((p, k) =>
      optimizers.adamStep(
        { param: p.value, grad: p.grad, expAvg: moments[k].m, expAvgSq: moments[k].v, step, lr: 0.02 },
        { backend: 'js' },
      ),
    );
  }
  const held = batch(new Rng(999), 512);
  const r = losses.softmaxCrossEntropy(
    { logits: (await model.forward(held.x)).y.data, targets: held.targets, numClasses: V },
    { backend: 'js' },
  );
  return r.numCorrect / r.weightSum;
}

describe('jordan learns (js backend)', () => {
  it("tag each step with its sequence's last token: bidirectional 2-layer >= 90%, forward-only stays far below", async () => {
    const bi = await trainAndTest({ hiddenSize: 16, outputSize: 8, numLayers: 2, bidirectional: true, dropout: 0.1 }, 200);
    const fwd = await trainAndTest({ hiddenSize: 16, outputSize: 8, numLayers: 2 }, 200);
    if (verbose) console.log(`jordan last-token tagging: bidirectional ${bi.toFixed(3)}, forward-only ${fwd.toFixed(3)}`);
    expect(bi).toBeGreaterThanOrEqual(0.9);
    expect(fwd).toBeLessThan(0.6);
  });
});

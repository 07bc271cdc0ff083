/**
 * lib/decode/generate.ts: a tiny character LM (test/layers/learn.test.ts's recipe) trained on
 * "hello world " continues a prompt exactly under greedy decoding
 * and mostly at a low temperature; carrying the recurrent state gives the same logits as re-running
 * the whole prefix (and as one model.forward over the whole sequence) on every available backend.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { decoder, generate, generateWithLogProbs } from '../../lib/decode/index.js';
import { AbortError, ValueError } from '../../lib/errors.js';
import { dense, embedding, gru, lstm, rnn, tokens, type Layer } from '../../lib/layers/index.js';
import { weightsLock } from '../../lib/models/guard.js';
import { input, sequential, type SequentialModel as Model } from '../../lib/models/sequential.js';
import { Rng } from '../../lib/random.js';
import { losses, optimizers } from '../../lib/ops/train.js';
import { backends } from '../helpers/backends.js';
import { expectClose } from '../helpers/index.js';

const TEXT = 'hello world ';
const CHARS = [...new Set(TEXT)];
const V = CHARS.length;
const encode = (s: string) => Int32Array.from(s, (c) => CHARS.indexOf(c));
const decode = (ids: Int32Array) => [...ids].map((i) => CHARS[i]).join('');

/** Adam on next-character prediction over windows of "hello world " repeated (JS backend, seeded). */
async function trainLm(): Promise<Model<'tokens', 'sequence'>> {
  const stream = encode(TEXT.repeat(40));
  const T = 16,
    B = 16;
  const model = sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: 8 }))
    .add(rnn({ hiddenSize: 32, returnState: true }))
    .add(dense({ units: V }))
    .build({ seed: 4, backend: 'js' });
  const params = model.parameters();
  const st = params.map((p) => ({ m: new Float32Array(p.value.length), v: new Float32Array(p.value.length) }));
  const rng = new Rng(123);
  for (let step = 1; step <= 300; step++) {
    const ids = new Int32Array(T * B),
      targets = new Int32Array(T * B);
    for (let b = 0; b < B; b++) {
      const start = rng.int(stream.length - T - 1);
      for (let t = 0; t < T; t++) {
        ids[t * B + b] = stream[start + t];
        targets[t * B + b] = stream[start + t + 1];
      }
    }
    model.zeroGrad();
    const s = await model.forward(tokens({ ids, seqLen: T, batch: B }), { training: true });
    const { dLogits } = losses.softmaxCrossEntropy({ logits: s.y.data, targets, numClasses: V }, { backend: 'js' });
    await s.backward(dLogits);
    params.forEach((p, k) =>
      optimizers.adamStep({ param: p.value, grad: p.grad, expAvg: st[k].m, expAvgSq: st[k].v, step, lr: 0.01 }, { backend: 'js' }),
    );
  }
  return model;
}

let lm: Model<'tokens', 'sequence'>;
beforeAll(async () => {
  lm = await trainLm();
});

const PROMPT = encode('hello w');
const CONTINUATION = 'orld hello world hello world';

describe.each(backends.map((b) => [b.name] as const))('generate on the %s backend', (backend) => {
  it('greedy decoding reproduces the continuation exactly, carrying the state', async () => {
    const dec = await decoder(lm, PROMPT, { backend });
    expect(dec.mode).toBe('state');
    const out = await generate(lm, { prompt: PROMPT, maxTokens: CONTINUATION.length, strategy: 'greedy', backend });
    expect(decode(out)).toBe(CONTINUATION);
  });

  it('waits while an optimizer step holds the weights (the lock fit takes)', async () => {
    let release = (): void => {};
    const step = weightsLock(lm).write(
      () =>
        new Promise<void>((r) => {
          release = r;
        }),
    );
    let done = false;
    const out = generate(lm, { prompt: PROMPT, maxTokens: 4, backend }).then((ids) => {
      done = true;
      return ids;
    });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    release();
    await step;
    expect(decode(await out)).toBe(CONTINUATION.slice(0, 4));
  });

  it('greedy by recomputing the prefix gives the same text', async () => {
    const out = await generate(lm, { prompt: PROMPT, maxTokens: 16, backend, mode: 'recompute' });
    expect(decode(out)).toBe(CONTINUATION.slice(0, 16));
  });

  it('sampling at temperature 0.3 mostly reproduces it (>= 90% of characters over 10 seeds); a seed fixes the text', async () => {
    let same = 0,
      total = 0;
    for (let seed = 0; seed < 10; seed++) {
      const out = await generate(lm, { prompt: PROMPT, maxTokens: 12, strategy: { temperature: 0.3 }, seed, backend });
      // Position by position against the greedy continuation (one early slip would shift the rest: strict).
      const ref = decode(out);
      for (let i = 0; i < ref.length; i++) {
        total++;
        if (ref[i] === CONTINUATION[i]) same++;
      }
    }
    expect(same / total).toBeGreaterThanOrEqual(0.9);
    // A hot, flat distribution (the trained model is very sure at temperature 1), so seeds differ.
    const strategy = { temperature: 10, topK: 6, topP: 0.95 };
    const a = await generate(lm, { prompt: PROMPT, maxTokens: 40, strategy, seed: 11, backend });
    const b = await generate(lm, { prompt: PROMPT, maxTokens: 40, strategy, rng: new Rng(11), backend });
    const c = await generate(lm, { prompt: PROMPT, maxTokens: 40, strategy, seed: 12, backend });
    expect([...a]).toEqual([...b]);
    expect([...a]).not.toEqual([...c]);
  });

  it('stops at the stop token (included) and gives log-probabilities', async () => {
    const g = await generateWithLogProbs(lm, { prompt: PROMPT, maxTokens: 30, stopToken: CHARS.indexOf(' '), backend });
    expect(decode(g.tokens)).toBe('orld ');
    expect(g.finishReason).toBe('stop');
    expect(g.logProbs.length).toBe(5);
    for (const lp of g.logProbs) {
      expect(lp).toBeLessThanOrEqual(0);
      expect(lp).toBeGreaterThan(Math.log(0.5));
    }
    const h = await generateWithLogProbs(lm, { prompt: PROMPT, maxTokens: 3, backend });
    expect(h.finishReason).toBe('length');
    expect(h.tokens.length).toBe(3);
  });
});

/** Random (untrained) LMs of each cell, stacked, all returning their state. */
function models(backend: 'js' | 'native') {
  const vocab = 7;
  const base = () => sequential(input.tokens({ vocabSize: vocab })).add(embedding({ vocabSize: vocab, dim: 5 }));
  return [
    [
      'rnn',
      base()
        .add(rnn({ hiddenSize: 6, returnState: true }))
        .add(dense({ units: vocab }))
        .build({ seed: 1, backend }),
    ],
    [
      'lstm x2',
      base()
        .add(lstm({ hiddenSize: 6, numLayers: 2, returnState: true }))
        .add(dense({ units: vocab }))
        .build({ seed: 2, backend }),
    ],
    [
      'gru + lstm',
      base()
        .add(gru({ hiddenSize: 6, returnState: true }))
        .add(lstm({ hiddenSize: 4, peepholes: true, returnState: true }))
        .add(dense({ units: vocab }))
        .build({ seed: 3, backend }),
    ],
  ] as const;
}

describe.each(backends.map((b) => [b.name] as const))('carried state vs the whole prefix (%s backend)', (backend) => {
  it.each(models(backend).map(([n, m]) => [n, m] as const))('%s: the same logits at every step', async (_name, model) => {
    const seq = [3, 1, 4, 1, 5, 2, 6, 0, 2];
    const prompt = seq.slice(0, 3);
    const carried = await decoder(model, prompt, { mode: 'state' });
    const rerun = await decoder(model, prompt, { mode: 'recompute' });
    expect(carried.mode).toBe('state');
    expect(rerun.mode).toBe('recompute');
    const steps: Float32Array[] = [carried.logits];
    expectClose(carried.logits, rerun.logits, { atol: 1e-6 }, 'after the prompt');
    for (let i = 3; i < seq.length; i++) {
      const a = await carried.feed(seq[i]);
      const b = await rerun.feed(seq[i]);
      expectClose(a, b, { atol: 1e-5, rtol: 1e-5 }, `step ${i}`);
      steps.push(a);
    }
    expect([...carried.tokens]).toEqual(seq);
    // And against one forward over the whole sequence: row t holds the logits after token t.
    const full = await model.forward(tokens({ ids: Int32Array.from(seq), seqLen: seq.length, batch: 1 }));
    const vocab = model.outputFeatures;
    steps.forEach((s, k) =>
      expectClose(s, full.y.data.subarray((k + 2) * vocab, (k + 3) * vocab), { atol: 1e-5, rtol: 1e-5 }, `forward row ${k + 2}`),
    );
  });
});

describe('models and options generate refuses', () => {
  it('carries the state of layers built without returnState; a layer that hides its state falls back to recomputation', async () => {
    const plain = sequential(input.tokens({ vocabSize: 4 }))
      .add(embedding({ vocabSize: 4, dim: 3 }))
      .add(lstm({ hiddenSize: 3 }))
      .add(dense({ units: 4 }))
      .build({ seed: 1, backend: 'js' });
    expect((await decoder(plain, [1, 2])).mode).toBe('state');
    // A user's own layer that keeps state between steps but does not give it (no keepState support).
    const inner = lstm({ hiddenSize: 3 });
    const hiding: Layer<{ readonly sequence: 'sequence' }> = {
      kinds: { sequence: 'sequence' },
      type: 'myRecurrent',
      build: (f, rng) => inner.build(f, rng),
      parameters: () => inner.parameters(),
      zeroGrad: () => inner.zeroGrad(),
      forward: async (x, ctx, init) => ({ ...(await inner.forward(x, { ...ctx, keepState: false }, init)), state: null }),
    };
    const m = sequential(input.tokens({ vocabSize: 4 }))
      .add(embedding({ vocabSize: 4, dim: 3 }))
      .add(hiding)
      .add(dense({ units: 4 }))
      .build({ seed: 1, backend: 'js' });
    expect((await decoder(m, [1, 2])).mode).toBe('recompute');
    await expect(decoder(m, [1, 2], { mode: 'state' })).rejects.toMatchObject({ name: 'ValueError', argument: 'mode' });
    const out = await generate(m, { prompt: [1, 2], maxTokens: 4 });
    expect(out.length).toBe(4);
  });

  it('a bidirectional model, a classifier, bad options: typed errors naming the argument', async () => {
    const bi = sequential(input.tokens({ vocabSize: 4 }))
      .add(embedding({ vocabSize: 4, dim: 3 }))
      .add(gru({ hiddenSize: 3, bidirectional: true }))
      .add(dense({ units: 4 }))
      .build({ seed: 1, backend: 'js' });
    await expect(generate(bi, { prompt: [1], maxTokens: 2 })).rejects.toMatchObject({ name: 'ValueError', argument: 'model' });
    const clf = sequential(input.tokens({ vocabSize: 4 }))
      .add(embedding({ vocabSize: 4, dim: 3 }))
      .add(gru({ hiddenSize: 3, returnSequences: false }))
      .add(dense({ units: 4 }))
      .build({ seed: 1, backend: 'js' });
    // @ts-expect-error a vector-output model is not a language model
    await expect(generate(clf, { prompt: [1], maxTokens: 2 })).rejects.toMatchObject({ argument: 'model' });
    const cases: [Record<string, unknown>, string][] = [
      [{ prompt: [], maxTokens: 1 }, 'prompt'],
      [{ prompt: [1, 99], maxTokens: 1 }, 'prompt[1]'],
      [{ prompt: 'ab', maxTokens: 1 }, 'prompt'],
      [{ prompt: [1], maxTokens: -1 }, 'maxTokens'],
      [{ prompt: [1], maxTokens: 1.5 }, 'maxTokens'],
      [{ prompt: [1], maxTokens: 1, strategy: 'beam' }, 'strategy'],
      [{ prompt: [1], maxTokens: 1, strategy: { temperature: 0 } }, 'temperature'],
      [{ prompt: [1], maxTokens: 1, strategy: { topP: 2 } }, 'topP'],
      [{ prompt: [1], maxTokens: 1, seed: 1, rng: new Rng(1) }, 'seed'],
      [{ prompt: [1], maxTokens: 1, seed: -1, strategy: {} }, 'seed'],
      [{ prompt: [1], maxTokens: 1, rng: {} }, 'rng'],
      [{ prompt: [1], maxTokens: 1, stopToken: 4 }, 'stopToken'],
      [{ prompt: [1], maxTokens: 1, backend: 'gpu' }, 'backend'],
      [{ prompt: [1], maxTokens: 1, mode: 'fast' }, 'mode'],
    ];
    const lmSmall = sequential(input.tokens({ vocabSize: 4 }))
      .add(embedding({ vocabSize: 4, dim: 3 }))
      .add(rnn({ hiddenSize: 3, returnState: true }))
      .add(dense({ units: 4 }))
      .build({ seed: 1, backend: 'js' });
    for (const [opts, argument] of cases) {
      const e = await generate(lmSmall, opts as never).then(
        () => null,
        (err: unknown) => err as ValueError,
      );
      expect(e, JSON.stringify(opts)).toBeInstanceOf(ValueError);
      expect(e?.argument, JSON.stringify(opts)).toBe(argument);
    }
    const ac = new AbortController();
    ac.abort();
    await expect(generate(lmSmall, { prompt: [1], maxTokens: 3, signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
    expect((await generate(lmSmall, { prompt: [1], maxTokens: 0 })).length).toBe(0);
  });
});

/**
 * The encoder-decoder (lib/models/seq2seq.ts): every parameter's gradient against central finite
 * differences of the whole model (encoder of each cell, bidirectional and stacked, each bridge, each
 * attention, input feeding on and off, padded sources and targets), on both backends; the native
 * model == the js model; options errors name the option.
 */
import { describe, expect, it } from 'vitest';

import { nativeAvailable } from '../../lib/backend/addon.js';
import { ValueError } from '../../lib/errors.js';
import { tokens, type Tokens } from '../../lib/layers/values.js';
import { type EncoderDecoderOptions, encoderDecoder } from '../../lib/models/seq2seq.js';
import { Rng, errorOf, expectClose } from '../helpers/index.js';

const Vs = 7;
const Vt = 9;

function batch(r: Rng, S: number, T: number, B: number, srcLengths: number[], tgtLengths: number[]): { source: Tokens; target: Tokens } {
  const ids = (n: number, V: number): Int32Array => Int32Array.from({ length: n }, () => r.int(0, V - 1));
  return {
    source: tokens({ ids: ids(S * B, Vs), seqLen: S, batch: B, lengths: Int32Array.from(srcLengths) }),
    target: tokens({ ids: ids(T * B, Vt), seqLen: T, batch: B, lengths: Int32Array.from(tgtLengths) }),
  };
}

const base = { sourceVocabSize: Vs, targetVocabSize: Vt, bos: 1, eos: 2 } as const;

const CASES: { label: string; options: EncoderDecoderOptions }[] = [
  {
    label: 'lstm -> lstm, additive, passthrough, feeding',
    options: {
      ...base,
      encoder: { cell: 'lstm', hiddenSize: 4, embeddingDim: 3 },
      decoder: { cell: 'lstm', hiddenSize: 4, embeddingDim: 3 },
    },
  },
  {
    label: 'bidirectional 2-layer gru -> 2-layer lstm, general, dense bridge',
    options: {
      ...base,
      encoder: { cell: 'gru', hiddenSize: 3, numLayers: 2, bidirectional: true, embeddingDim: 3 },
      decoder: { cell: 'lstm', hiddenSize: 4, numLayers: 2, embeddingDim: 2, attention: 'general' },
    },
  },
  {
    label: 'rnn -> gru, dot, zeros bridge, no feeding',
    options: {
      ...base,
      bridge: 'zeros',
      encoder: { cell: 'rnn', hiddenSize: 4, embeddingDim: 3 },
      decoder: { cell: 'gru', hiddenSize: 4, embeddingDim: 3, attention: 'dot', inputFeed: false },
    },
  },
  {
    label: 'bidirectional lstm -> gru, concat, dense, tied embeddings',
    options: {
      ...base,
      tieEmbeddings: true,
      encoder: { cell: 'lstm', hiddenSize: 2, bidirectional: true, embeddingDim: 3 },
      decoder: { cell: 'gru', hiddenSize: 4, embeddingDim: 4, attention: 'concat', attentionSize: 3 },
    },
  },
];

const backends = nativeAvailable() ? (['js', 'native'] as const) : (['js'] as const);

describe('encoderDecoder gradients against finite differences', () => {
  for (const { label, options } of CASES) {
    for (const backend of backends) {
      it(`${label} (${backend})`, async () => {
        const model = encoderDecoder(options).build({ seed: 3, backend });
        const r = new Rng(11);
        const x = batch(r, 5, 4, 3, [5, 2, 4], [4, 3, 1]);
        const T = 4;
        const B = 3;
        const w = r.uniform(T * B * Vt, -1, 1);
        // padded steps of the target carry no loss weight (a loss ignores them)
        const tl = x.target.lengths!;
        for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) if (t >= tl[b]) w.fill(0, (t * B + b) * Vt, (t * B + b + 1) * Vt);
        const loss = async (): Promise<number> => {
          const s = await model.forward(x, { backward: false });
          let v = 0;
          for (let i = 0; i < w.length; i++) v += w[i] * s.y.data[i];
          return v;
        };
        const s = await model.forward(x);
        model.zeroGrad();
        expect(await s.backward(w)).toBeNull();
        const eps = 1e-2;
        let checked = 0;
        for (const p of model.parameters()) {
          // a few entries of each parameter, spread over it
          const step = Math.max(1, Math.floor(p.value.length / 5));
          for (let i = 0; i < p.value.length; i += step) {
            const v0 = p.value[i];
            p.value[i] = v0 + eps;
            const up = await loss();
            p.value[i] = v0 - eps;
            const down = await loss();
            p.value[i] = v0;
            const fd = (up - down) / (2 * eps);
            expect(Math.abs(p.grad[i] - fd), `${p.name}[${i}]: analytic ${p.grad[i]}, fd ${fd}`).toBeLessThan(4e-3 + 2e-2 * Math.abs(fd));
            checked++;
          }
        }
        expect(checked).toBeGreaterThan(40);
        // every parameter gets a gradient (the encoder learns through the attention and the bridge)
        for (const p of model.parameters())
          expect(
            p.grad.some((g) => g !== 0),
            p.name,
          ).toBe(true);
      });
    }
  }
});

describe.runIf(nativeAvailable())('encoderDecoder native == js', () => {
  for (const { label, options } of CASES) {
    it(label, async () => {
      const js = encoderDecoder(options).build({ seed: 5, backend: 'js' });
      const nat = encoderDecoder(options).build({ seed: 5, backend: 'native' });
      const x = batch(new Rng(2), 9, 7, 5, [9, 1, 7, 3, 8], [7, 7, 1, 4, 2]);
      const a = await js.forward(x, { returnAttention: true });
      const b = await nat.forward(x, { returnAttention: true });
      expectClose(b.y.data, a.y.data, { atol: 2e-5, rtol: 1e-4 }, 'logits');
      expectClose(b.attention!, a.attention!, { atol: 2e-5, rtol: 1e-4 }, 'attention');
      const dy = new Rng(3).uniform(a.y.data.length, -1, 1);
      js.zeroGrad();
      nat.zeroGrad();
      await a.backward(dy);
      await b.backward(dy);
      const pj = js.parameters();
      nat.parameters().forEach((p, i) => expectClose(p.grad, pj[i].grad, { atol: 5e-5, rtol: 1e-3 }, p.name));
    });
  }
});

describe('encoderDecoder options', () => {
  const ok = CASES[0].options;
  it('names the option in every error', () => {
    const bad: [unknown, string, RegExp][] = [
      [{ ...ok, sourceVocabSize: 0 }, 'options.sourceVocabSize', /integer >= 1/],
      [{ ...ok, eos: 9 }, 'options.eos', /\[0, 9\)/],
      [{ ...ok, encoder: { ...ok.encoder, hiddenSise: 3 } }, 'options.encoder.hiddenSise', /unknown/],
      [{ ...ok, decoder: { ...ok.decoder, attention: 'bahdanau' } }, 'options.decoder.attention', /additive/],
      [{ ...ok, encoder: { ...ok.encoder, bidirectional: true }, bridge: 'passthrough' }, 'options.bridge', /dense/],
      [{ ...ok, decoder: { ...ok.decoder, attention: 'dot', hiddenSize: 5 } }, 'options.decoder.attention', /general/],
      [{ ...ok, tieEmbeddings: true, decoder: { ...ok.decoder, embeddingDim: 2 } }, 'options.tieEmbeddings', /embeddingDim/],
      [{ ...ok, decoder: undefined }, 'options.decoder', /required/],
    ];
    for (const [o, name, message] of bad) {
      const e = errorOf(() => encoderDecoder(o as EncoderDecoderOptions));
      expect(e, name).toBeInstanceOf(ValueError);
      expect((e as ValueError).argument, name).toBe(name);
      expect((e as Error).message, name).toMatch(message);
    }
  });

  it('fills the defaults: auto bridge is passthrough when it fits, dense otherwise', () => {
    expect(encoderDecoder(ok).config.bridge).toBe('passthrough');
    expect(encoderDecoder({ ...ok, encoder: { ...ok.encoder, bidirectional: true } }).config.bridge).toBe('dense');
    const c = encoderDecoder(ok).config;
    expect(c.decoder).toEqual({
      cell: 'lstm',
      hiddenSize: 4,
      numLayers: 1,
      embeddingDim: 3,
      attention: 'additive',
      attentionSize: 4,
      inputFeed: true,
    });
  });
});

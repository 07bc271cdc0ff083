/**
 * The whole encoder-decoder against PyTorch (scripts/seq2seq-fixture.py, committed fixture): with the
 * fixture's weights loaded by name, gated's mean cross-entropy (label smoothing as torch's) over a
 * padded batch and the gradient of every parameter equal PyTorch's, on both backends. Cases: a
 * bidirectional 2-layer LSTM encoder with a dense bridge into a 2-layer LSTM decoder (additive
 * attention, smoothing 0.1); GRU -> GRU passthrough with general attention; RNN -> LSTM, zeros bridge,
 * concat attention without input feeding (smoothing 0.2).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { nativeAvailable } from '../../lib/backend/addon.js';
import { loadSafetensors } from '../../lib/io/safetensors.js';
import { tokens } from '../../lib/layers/values.js';
import { loadStateDict } from '../../lib/models/load.js';
import { type EncoderDecoderOptions, encoderDecoder } from '../../lib/models/seq2seq.js';
import { LOSSES } from '../../lib/train/losses.js';
import { expectClose } from '../helpers/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const fx = loadSafetensors(join(here, '..', 'fixtures', 'torch-seq2seq.safetensors'));
const f32 = (name: string): Float32Array => fx.tensors[name].data as Float32Array;
const i32 = (name: string): Int32Array => fx.tensors[name].data as unknown as Int32Array;

const base = { sourceVocabSize: 9, targetVocabSize: 11, bos: 1, eos: 2 } as const;
const CASES: { options: EncoderDecoderOptions; smoothing: number }[] = [
  {
    options: {
      ...base,
      bridge: 'dense',
      encoder: { cell: 'lstm', bidirectional: true, numLayers: 2, hiddenSize: 3, embeddingDim: 3 },
      decoder: { cell: 'lstm', numLayers: 2, hiddenSize: 5, embeddingDim: 4, attention: 'additive', attentionSize: 4 },
    },
    smoothing: 0.1,
  },
  {
    options: {
      ...base,
      bridge: 'passthrough',
      encoder: { cell: 'gru', hiddenSize: 5, embeddingDim: 3 },
      decoder: { cell: 'gru', hiddenSize: 5, embeddingDim: 4, attention: 'general' },
    },
    smoothing: 0,
  },
  {
    options: {
      ...base,
      bridge: 'zeros',
      encoder: { cell: 'rnn', hiddenSize: 4, embeddingDim: 3 },
      decoder: { cell: 'lstm', hiddenSize: 4, embeddingDim: 4, attention: 'concat', attentionSize: 3, inputFeed: false },
    },
    smoothing: 0.2,
  },
];

const backends = nativeAvailable() ? (['js', 'native'] as const) : (['js'] as const);

describe('encoderDecoder against PyTorch (scripts/seq2seq-fixture.py)', () => {
  const srcLengths = i32('sourceLengths');
  const tgtLengths = i32('targetLengths');
  const B = srcLengths.length;
  const x = {
    source: tokens({ ids: i32('source'), seqLen: i32('source').length / B, batch: B, lengths: srcLengths }),
    target: tokens({ ids: i32('target'), seqLen: i32('target').length / B, batch: B, lengths: tgtLengths }),
  };
  CASES.forEach(({ options, smoothing }, k) => {
    for (const backend of backends) {
      it(`case ${k}: ${options.encoder.cell} -> ${options.decoder.cell}, ${options.decoder.attention}, ${options.bridge} bridge, smoothing ${smoothing} (${backend})`, async () => {
        const model = encoderDecoder(options).build({ seed: 1, backend });
        const prefix = `${k}.param.`;
        const weights = Object.fromEntries(
          Object.entries(fx.tensors)
            .filter(([n]) => n.startsWith(prefix))
            .map(([n, t]) => [n.slice(prefix.length), t]),
        );
        loadStateDict(model, weights);
        const s = await model.forward(x);
        const r = await LOSSES.softmaxCrossEntropy.compute(
          s.y,
          i32('classes'),
          { ignoreIndex: -100, backend, labelSmoothing: smoothing },
          'batch',
        );
        expect(r.loss).toBeCloseTo(f32(`${k}.loss`)[0], 5);
        model.zeroGrad();
        await s.backward(r.grad);
        for (const p of model.parameters()) expectClose(p.grad, f32(`${k}.grad.${p.name}`), { atol: 2e-6, rtol: 1e-4 }, p.name);
      });
    }
  });
});

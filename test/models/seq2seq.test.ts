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
import { FormatError } from '../../lib/errors.js';
import { decodeSafetensors, encodeSafetensors } from '../../lib/io/safetensors.js';
import { decodeModel, loadEncoderDecoder, loadEncoderDecoderAsync } from '../../lib/models/load.js';
import { encodeModel } from '../../lib/models/save.js';
import { type EncoderDecoderModel, type EncoderDecoderOptions, encoderDecoder } from '../../lib/models/seq2seq.js';
import { Vocabulary } from '../../lib/data/vocab.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** log-softmax of a row of logits, in float64. */
function logSoftmax(a: Float32Array, o: number, V: number): Float64Array {
  let m = -Infinity;
  for (let v = 0; v < V; v++) m = Math.max(m, a[o + v]);
  let z = 0;
  for (let v = 0; v < V; v++) z += Math.exp(a[o + v] - m);
  return Float64Array.from({ length: V }, (_, v) => a[o + v] - m - Math.log(z));
}

describe('the decode step and forced scoring', () => {
  for (const { label, options } of CASES) {
    for (const backend of backends) {
      it(`steps == teacher forcing, with rows expanded and reordered; score == the forced log-probs (${label}, ${backend})`, async () => {
        const model = encoderDecoder(options).build({ seed: 7, backend });
        const r = new Rng(4);
        const sources = [5, 2, 4].map((n) => Int32Array.from({ length: n }, () => r.int(0, Vs - 1)));
        const targets = [3, 1, 2].map((n) => Int32Array.from({ length: n }, () => r.int(3, Vt - 1)));
        // the teacher-forced pass, one sentence at a time
        const forced: Float64Array[][] = [];
        for (let n = 0; n < 3; n++) {
          const s = await model.forward(
            {
              source: tokens({ ids: sources[n], seqLen: sources[n].length, batch: 1 }),
              target: tokens({ ids: Int32Array.of(1, ...targets[n]), seqLen: targets[n].length + 1, batch: 1 }),
            },
            { backward: false },
          );
          forced.push(Array.from({ length: targets[n].length + 1 }, (_, t) => logSoftmax(s.y.data, t * Vt, Vt)));
        }
        // the stepper over all three, 2 rows each; after each step sentences 0 and 1 trade rows
        const st = await model.stepper(sources);
        st.start(2);
        expect(st.rows).toBe(6);
        let feedTokens = new Int32Array(6).fill(1);
        let sent = [0, 0, 1, 1, 2, 2];
        for (let t = 0; t < 3; t++) {
          const { logProbs, attention } = await st.step(feedTokens, true);
          for (let row = 0; row < st.rows; row++) {
            const n = sent[row];
            if (t > targets[n].length) continue;
            expectClose(
              logProbs.subarray(row * Vt, (row + 1) * Vt),
              Float32Array.from(forced[n][t]),
              { atol: 3e-5, rtol: 1e-4 },
              `step ${t} row ${row}`,
            );
            const a = attention!.subarray(row * 5, row * 5 + 5);
            expect(a.slice(sources[n].length).every((v) => v === 0)).toBe(true);
            expect(a.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5);
          }
          const index = Int32Array.of(2, 3, 0, 1, 5, 4);
          st.reorder(index);
          sent = Array.from(index, (i) => sent[i]);
          feedTokens = Int32Array.from(sent, (n) => targets[n][Math.min(t, targets[n].length - 1)]);
        }
        // two reorders before a step compose, and one may repeat rows beyond the rows started with
        st.reorder(Int32Array.of(5, 4, 3, 2, 1, 0));
        sent = sent.slice().reverse();
        const grow = Int32Array.of(0, 0, 1, 1, 2, 2, 3, 3);
        st.reorder(grow);
        sent = Array.from(grow, (i) => sent[i]);
        expect(st.rows).toBe(8);
        expect(sent.filter((n) => n === 0).length).toBe(4);
        const last = await st.step(
          Int32Array.from(sent, (n) => targets[n][Math.min(2, targets[n].length - 1)]),
          false,
        );
        sent.forEach((n, row) => {
          if (n !== 0) return;
          const want = Float32Array.from(forced[0][3]);
          expectClose(last.logProbs.subarray(row * Vt, (row + 1) * Vt), want, { atol: 3e-5, rtol: 1e-4 }, `step 3 row ${row}`);
        });
        // dropping rows: keep sentence 0's first row only
        st.reorder(Int32Array.of(0));
        expect(st.rows).toBe(1);
        const scores = await model.score(sources, targets, { batchSize: 2 });
        scores.forEach((sc, n) => {
          const want = forced[n].reduce((acc, row, t) => acc + row[t < targets[n].length ? targets[n][t] : 2], 0);
          expect(sc).toBeCloseTo(want, 4);
        });
      });
    }
  }
});

describe('encoderDecoder save and load', () => {
  it('a saved model loads with its config and vocabularies and gives the same logits and scores', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gated-s2s-'));
    try {
      const src = Vocabulary.fromJSON(new Vocabulary(['a', 'b', 'c', 'd']).toJSON());
      const tgt = new Vocabulary(['x', 'y', 'z', 'w', 'v', 'u']);
      const options: EncoderDecoderOptions = {
        ...CASES[1].options,
        sourceVocabSize: src.size,
        targetVocabSize: tgt.size,
        vocabularies: { source: src.toJSON(), target: tgt.toJSON() },
      };
      const model = encoderDecoder(options).build({ seed: 9 });
      const path = join(dir, 'm.safetensors');
      await model.save(path);
      for (const loaded of [
        loadEncoderDecoder(path),
        await loadEncoderDecoderAsync(path),
        decodeModel(encodeModel(model)) as unknown as EncoderDecoderModel,
      ]) {
        expect(loaded.describe()).toEqual(model.describe());
        const x = {
          source: tokens({ ids: Int32Array.of(2, 3, 4, 5, 2, 3), seqLen: 3, batch: 2, lengths: Int32Array.of(3, 2) }),
          target: tokens({ ids: Int32Array.of(1, 1, 4, 5), seqLen: 2, batch: 2 }),
        };
        expect((await loaded.forward(x)).y.data).toEqual((await model.forward(x)).y.data);
      }
      const l = loadEncoderDecoder(path);
      expect(Vocabulary.fromJSON(l.config.vocabularies!.target).tokens).toEqual(tgt.tokens);
      expect(await l.score([Int32Array.of(2, 3)], [Int32Array.of(4)])).toEqual(
        await model.score([Int32Array.of(2, 3)], [Int32Array.of(4)]),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a corrupt description is a FormatError naming the field', () => {
    const model = encoderDecoder(CASES[0].options).build({ seed: 1 });
    const content = decodeSafetensors(encodeModel(model));
    const edit = (f: (d: Record<string, any>) => void): Uint8Array => {
      const d = JSON.parse(content.metadata['gated.model']);
      f(d);
      return encodeSafetensors(content.tensors, { ...content.metadata, 'gated.model': JSON.stringify(d) });
    };
    const cases: [Uint8Array, string][] = [
      [edit((d) => (d.config.encoder.embeddingDim = 5)), 'parameters[0].shape'],
      [edit((d) => (d.config.decoder.attention = 'luong')), 'config.decoder.attention'],
      [edit((d) => (d.config.encoder.numLayers = d.config.decoder.numLayers = 1e9)), 'config.encoder.numLayers'],
      [edit((d) => (d.config.extra = 1)), 'config.extra'],
      [edit((d) => (d.input.source.features = 3)), 'input'],
      [edit((d) => d.parameters.pop()), 'parameters'],
    ];
    for (const [bytes, argument] of cases) {
      const e = errorOf(() => decodeModel(bytes));
      expect(e, argument).toBeInstanceOf(FormatError);
      expect((e as FormatError).argument, (e as Error).message).toBe(argument);
    }
    const e = errorOf(() => decodeModel(encodeModel(model), { inputKind: 'tokens' }));
    expect(e).toBeInstanceOf(FormatError);
    expect((e as Error).message).toMatch(/loadEncoderDecoder/);
  });
});

describe('scheduled sampling', () => {
  it('with p = 1 the training pass reads the greedy predictions of a teacher-forced pass; p = 0 is teacher forcing', async () => {
    const model = encoderDecoder(CASES[1].options).build({ seed: 4, backend: 'js' });
    const x = batch(new Rng(6), 5, 4, 3, [5, 2, 4], [4, 3, 1]);
    const forced = await model.forward(x, { backward: false });
    const T = 4;
    const B = 3;
    const ids = x.target.ids.slice();
    for (let t = 1; t < T; t++) {
      for (let b = 0; b < B; b++) {
        if (t >= x.target.lengths![b]) continue;
        const row = forced.y.data.subarray(((t - 1) * B + b) * Vt, ((t - 1) * B + b + 1) * Vt);
        ids[t * B + b] = row.indexOf(Math.max(...row));
      }
    }
    expect(ids).not.toEqual(x.target.ids);
    const mixed = await model.forward({ source: x.source, target: { ...x.target, ids } }, { backward: false });
    model.scheduledSampling = 1;
    const s = await model.forward(x, { training: true });
    expect(s.y.data).toEqual(mixed.y.data);
    model.zeroGrad();
    await s.backward(new Rng(1).uniform(s.y.data.length, -1, 1));
    expect(model.parameters().every((p) => p.grad.some((g) => g !== 0))).toBe(true);
    expect((await model.forward(x, { backward: false })).y.data).toEqual(forced.y.data); // inference: no sampling
    model.scheduledSampling = 0;
    expect((await model.forward(x, { training: true })).y.data).toEqual(forced.y.data);
    expect(() => (model.scheduledSampling = 1.5)).toThrow(ValueError);
  });
});

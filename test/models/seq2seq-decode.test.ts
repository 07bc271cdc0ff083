/**
 * Decoding a real encoder-decoder (lib/models/seq2seq.ts decode / score over lib/decode/seq2seq.ts):
 * beam search as wide as every candidate returns exactly the exhaustive ranking; beam 1 == greedy;
 * batched decoding == one sentence at a time; sampling is deterministic for a seed; a model trained
 * on a toy task (reversal) decodes it, beam at least as well as greedy; save/load decodes identically.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { seq2seqBatches } from '../../lib/data/seq2seq.js';
import { ValueError } from '../../lib/errors.js';
import { tokens } from '../../lib/layers/values.js';
import { loadEncoderDecoder } from '../../lib/models/load.js';
import { type EncoderDecoderModel, encoderDecoder } from '../../lib/models/seq2seq.js';
import { Rng } from '../../lib/random.js';
import { adam } from '../../lib/train/optimizers.js';

const small = (seed: number, V = 4): EncoderDecoderModel =>
  encoderDecoder({
    sourceVocabSize: 6,
    targetVocabSize: V,
    bos: 1,
    eos: 2,
    encoder: { cell: 'lstm', hiddenSize: 5, embeddingDim: 3, bidirectional: true },
    decoder: { cell: 'gru', hiddenSize: 6, embeddingDim: 3, attention: 'additive' },
  }).build({ seed });

/** log P of each step's row under teacher forcing of `y` (bos + y), float64. */
async function forcedRows(model: EncoderDecoderModel, source: Int32Array, y: number[]): Promise<Float64Array[]> {
  const V = model.config.targetVocabSize;
  const s = await model.forward(
    {
      source: tokens({ ids: source, seqLen: source.length, batch: 1 }),
      target: tokens({ ids: Int32Array.of(1, ...y), seqLen: y.length + 1, batch: 1 }),
    },
    { backward: false },
  );
  return Array.from({ length: y.length + 1 }, (_, t) => {
    const row = s.y.data.subarray(t * V, (t + 1) * V);
    const m = Math.max(...row);
    const z = Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) + m;
    return Float64Array.from(row, (v) => v - z);
  });
}

describe('beam search on a real model', () => {
  it('as wide as every candidate, its n-best list is exactly the exhaustive ranking', async () => {
    const model = small(3);
    const source = Int32Array.of(4, 0, 5, 3);
    // tokens {0, 3} (bos banned, eos ends): every hypothesis of at most 3 tokens (1 + 2 + 4 finished, 8 cut)
    const cands: { tokens: number[]; logProb: number }[] = [];
    const walk = async (y: number[]): Promise<void> => {
      const rows = await forcedRows(model, source, y);
      const lp = y.reduce((a, tok, t) => a + rows[t][tok], 0);
      // a hypothesis reaching maxLength ends there, unfinished (no eos); shorter ones may finish with eos
      if (y.length === 3) cands.push({ tokens: y, logProb: lp });
      else {
        cands.push({ tokens: y, logProb: lp + rows[y.length][2] });
        for (const tok of [0, 3]) await walk([...y, tok]);
      }
    };
    await walk([]);
    expect(cands.length).toBe(15);
    cands.sort((a, b) => b.logProb - a.logProb);
    const [hyps] = await model.decode([source], { beamSize: 15, nBest: 15, maxLength: 3, bannedTokens: [1] });
    expect(hyps.length).toBe(15);
    hyps.forEach((h, i) => {
      expect(Array.from(h.tokens), `rank ${i}`).toEqual(cands[i].tokens);
      expect(h.logProb).toBeCloseTo(cands[i].logProb, 4);
      expect(h.finished).toBe(h.tokens.length < 3);
    });
    // score() gives the finished ones' log-probabilities
    const fin = hyps.filter((h) => h.finished);
    const sc = await model.score(
      fin.map(() => source),
      fin.map((h) => h.tokens),
    );
    fin.forEach((h, i) => expect(sc[i]).toBeCloseTo(h.logProb, 4));
  });

  it('beam 1 == greedy; batched == one at a time; sampling is deterministic for a seed', async () => {
    const model = small(5, 9);
    const r = new Rng(8);
    const sources = Array.from({ length: 7 }, (_, i) => Int32Array.from({ length: 1 + ((i * 3) % 6) }, () => r.int(6)));
    const greedy = await model.decode(sources, { method: 'greedy', maxLength: 12 });
    const beam1 = await model.decode(sources, { beamSize: 1, maxLength: 12 });
    expect(beam1.map((h) => Array.from(h[0].tokens))).toEqual(greedy.map((h) => Array.from(h[0].tokens)));
    beam1.forEach((h, i) => expect(h[0].logProb).toBeCloseTo(greedy[i][0].logProb, 5));
    const batched = await model.decode(sources, { beamSize: 4, nBest: 3, maxLength: 12, returnAttention: true, lengthPenalty: 'average' });
    const alone = await model.decode(sources, {
      beamSize: 4,
      nBest: 3,
      maxLength: 12,
      returnAttention: true,
      lengthPenalty: 'average',
      batchSize: 1,
    });
    expect(batched.map((hs) => hs.map((h) => Array.from(h.tokens)))).toEqual(alone.map((hs) => hs.map((h) => Array.from(h.tokens))));
    batched.forEach((hs, i) =>
      hs.forEach((h, k) => {
        expect(h.score).toBeCloseTo(alone[i][k].score, 5);
        expect(h.attention!.length).toBe((h.tokens.length + (h.finished ? 1 : 0)) * sources[i].length);
      }),
    );
    const a = await model.decode(sources, { method: 'sample', seed: 3, temperature: 1.5, batchSize: 3 });
    const b = await model.decode(sources, { method: 'sample', seed: 3, temperature: 1.5, batchSize: 3 });
    const c = await model.decode(sources, { method: 'sample', seed: 4, temperature: 1.5, batchSize: 3 });
    const flat = (x: typeof a): number[][] => x.map((h) => Array.from(h[0].tokens));
    expect(flat(a)).toEqual(flat(b));
    expect(flat(a)).not.toEqual(flat(c));
  });

  it('bad arguments are ValueErrors naming them', async () => {
    const model = small(1);
    for (const [f, name] of [
      [() => model.decode([Int32Array.of(9)]), 'sources[0][0]'],
      [() => model.decode([Int32Array.of()]), 'sources[0]'],
      [() => model.decode([Int32Array.of(1)], { method: 'viterbi' } as never), 'options.method'],
      [() => model.decode([Int32Array.of(1)], { beamSize: 0 }), 'options.beamSize'],
      [() => model.decode([Int32Array.of(1)], { beamSise: 3 } as never), 'options.beamSise'],
      [() => model.decode([Int32Array.of(1)], { prefix: [Int32Array.of(0), Int32Array.of(0)] }), 'options.prefix'],
      [() => model.score([Int32Array.of(1)], [Int32Array.of(7)]), 'targets[0][0]'],
    ] as const) {
      const e = await (f as () => Promise<unknown>)().then(
        () => null,
        (x: unknown) => x,
      );
      expect(e, name).toBeInstanceOf(Error);
      expect((e as ValueError).argument, String(e)).toBe(name);
    }
  });
});

describe('a model trained on a toy task decodes it', () => {
  it('learns to reverse sequences: greedy and beam exact on most of a held-out set; save/load decodes identically', async () => {
    const r = new Rng(1);
    const make = (n: number): { source: number[]; target: number[] }[] =>
      Array.from({ length: n }, () => {
        const s = Array.from({ length: 3 + r.int(4) }, () => 3 + r.int(8));
        return { source: s, target: [...s].reverse() };
      });
    const train = make(1500);
    const dev = make(100);
    const model = encoderDecoder({
      sourceVocabSize: 11,
      targetVocabSize: 11,
      bos: 1,
      eos: 2,
      encoder: { cell: 'gru', hiddenSize: 32, embeddingDim: 16, bidirectional: true },
      decoder: { cell: 'gru', hiddenSize: 32, embeddingDim: 16 },
    }).build({ seed: 1 });
    await model.fit(seq2seqBatches(train, { batchSize: 32, bos: 1, eos: 2, rng: new Rng(2) }), {
      epochs: 6,
      optimizer: adam({ lr: 0.01 }),
      shuffle: true,
      labelSmoothing: 0.05,
    });
    const sources = dev.map((d) => Int32Array.from(d.source));
    const exact = (hyps: { tokens: Int32Array }[][]): number =>
      hyps.filter((h, i) => h[0].tokens.join() === dev[i].target.join()).length / dev.length;
    const greedy = await model.decode(sources, { method: 'greedy' });
    const beam = await model.decode(sources, { beamSize: 5 });
    expect(exact(greedy)).toBeGreaterThan(0.8);
    expect(exact(beam)).toBeGreaterThanOrEqual(exact(greedy) - 0.02);
    const dir = mkdtempSync(join(tmpdir(), 'gated-s2s-decode-'));
    try {
      await model.save(join(dir, 'rev.safetensors'));
      const loaded = loadEncoderDecoder(join(dir, 'rev.safetensors'));
      const again = await loaded.decode(sources, { beamSize: 5 });
      expect(again.map((h) => h[0].tokens.join())).toEqual(beam.map((h) => h[0].tokens.join()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('checkpoints', () => {
  it('fit writes checkpoints of an encoder-decoder; resuming ends where the uninterrupted run ends', async () => {
    const { loadCheckpointModel } = await import('../../lib/models/load.js');
    const dir = mkdtempSync(join(tmpdir(), 'gated-s2s-ckpt-'));
    try {
      const pairs = Array.from({ length: 24 }, (_, i) => ({ source: [3 + (i % 3), 4], target: [5, 3 + (i % 4)] }));
      const data = seq2seqBatches(pairs, { batchSize: 8, bos: 1, eos: 2, rng: new Rng(1) });
      const options = { optimizer: adam({ lr: 0.01 }) };
      const full = small(2, 9);
      await full.fit(data, { epochs: 3, ...options });
      const a = small(2, 9);
      const path = join(dir, 'run.ckpt');
      await a.fit(data, { epochs: 2, optimizer: adam({ lr: 0.01 }), checkpoint: { path } });
      const b = small(2, 9);
      await b.fit(data, { epochs: 3, optimizer: adam({ lr: 0.01 }), resumeFrom: path });
      b.parameters().forEach((p, i) => expect(p.value, p.name).toEqual(full.parameters()[i].value));
      const restored = loadCheckpointModel(path) as unknown as EncoderDecoderModel;
      restored.parameters().forEach((p, i) => expect(p.value, p.name).toEqual(a.parameters()[i].value));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Grapheme-to-phoneme: an encoder-decoder with attention spells a word's pronunciation in ARPAbet
 * phonemes (CMUdict), decoded by beam search.
 *
 *   npx tsx examples/g2p.ts            # train on cmudict-train, report PER / WER on cmudict-dev
 *   npx tsx examples/g2p.ts --quick    # tiny settings, a few seconds (a smoke test)
 *   npx tsx examples/g2p.ts --help     # every flag and its default
 *
 * Data: ../shared/data/g2p/cmudict-{train,dev}.tsv, one `WORD<TAB>PH ON EMES` line per
 * pronunciation (a word with several has several lines): 120k / 6.6k lines. Stress marks are dropped
 * by default (AH0 -> AH: 39 phonemes, the task the published CMUdict figures are for); `--stress`
 * keeps them (69 symbols, a harder task).
 *
 * Model: characters -> embedding -> bidirectional LSTM encoder -> dense bridge -> LSTM decoder with
 * Bahdanau (additive) attention and input feeding -> phoneme logits; teacher forcing with label
 * smoothing, Adam with clipping and a per-epoch decay, batches bucketed by word length.
 *
 * Metrics on the dev words (each word once; its output is compared with the closest of its reference
 * pronunciations, as is usual for CMUdict): phoneme error rate (edit distance over phonemes / the
 * reference's length, summed over words) and word error rate (share of words not exactly right),
 * greedy and beam 5, then the beam error analysis at beam 1, 3 and 10 (search errors: the reference
 * scores higher than the output, so a wider beam could find it; model errors: the model prefers its
 * wrong output). Published (README): Yao & Zweig 2015 encoder-decoder LSTM PER 7.63% / WER 28.61%,
 * bidirectional LSTM 5.45% / 23.55%; Sequitur 5.88% / 24.53%, on their own CMUdict split.
 *
 * Expected (2026-12-03, the project's 2-core AMD Zen 5 VM, shared with other work):
 *   defaults (3 epochs): dev PER 7.90% / WER 31.69% with beam 5 (greedy 7.94% / 32.05%); 12 minutes
 *     in all (training 672 s). The beam error analysis finds 1.4% search errors at beam 1 and none at
 *     beam 3 or 10: the remaining errors are the model's.
 *   the longer setting, --epochs 8 --lr-decay 0.8: dev PER 6.42% / WER 26.24% with beam 5 (greedy
 *     6.61% / 26.80%); 29 minutes in all (training 1,734 s); search errors 1.2% at beam 1, none at 3.
 *   --stress --epochs 4 (an earlier run): PER 9.76% / WER 35.75% (beam 5).
 *
 * Writes: examples/out/g2p-loss.svg (train and dev loss per epoch) and examples/out/g2p.safetensors
 * (the model with its character and phoneme vocabularies: `loadEncoderDecoder` reads it and its
 * `config.vocabularies`). `--out DIR` writes them to DIR.
 */
import { mkdir } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  beamErrorAnalysis,
  editDistance,
  encoderDecoder,
  formatBeamErrorReport,
  type Hypothesis,
  Rng,
  setThreads,
  Vocabulary,
} from '../lib/index.js';
import { DATA, OUT, flags, main } from './lib/cli.js';
import { writeLossPlot } from './lib/plot.js';
import { formatDuration } from './lib/progress.js';
import { trainSeq2seq } from './lib/seq2seq.js';

const DEFAULTS = {
  epochs: 3,
  dim: 64,
  encoderHidden: 128,
  hidden: 256,
  batch: 64,
  lr: 3e-3,
  lrDecay: 0.7,
  smoothing: 0.1,
  stress: false,
  beam: 5,
  trainLines: 0,
  devWords: 0,
  seed: 1,
  threads: 0,
  quick: false,
  out: OUT,
};
/** What `--quick` changes: 1 epoch on 2,000 lines and 100 dev words with a small model. */
const QUICK = { epochs: 1, dim: 16, encoderHidden: 16, hidden: 32, trainLines: 2000, devWords: 100, beam: 3 };

/**
 * `WORD\tPH ON EMES` lines as [word, phonemes]. Without `stress`, the stress digits go (AH0 -> AH)
 * and a word's pronunciations that then coincide are kept once.
 */
async function readLexicon(path: string, stress: boolean): Promise<[string, string[]][]> {
  const text = await readFile(path, 'utf8');
  const seen = new Set<string>();
  const out: [string, string[]][] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [word, pron] = line.split('\t');
    const phones = pron
      .trim()
      .split(/\s+/)
      .map((p) => (stress ? p : p.replace(/[0-9]$/, '')));
    const key = `${word}\t${phones.join(' ')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push([word, phones]);
  }
  return out;
}

main(async () => {
  const started = performance.now();
  const o = flags(DEFAULTS, process.argv.slice(2), { quick: QUICK });
  if (o.threads > 0) setThreads(o.threads);
  let train = await readLexicon(join(DATA, 'g2p', 'cmudict-train.tsv'), o.stress);
  const devLines = await readLexicon(join(DATA, 'g2p', 'cmudict-dev.tsv'), o.stress);
  const fullTrain = train.length;
  if (o.trainLines > 0 && o.trainLines < train.length) {
    train = Array.from(new Rng(o.seed).permutation(train.length).subarray(0, o.trainLines), (i) => train[i]);
  }
  // dev: each word once, with all its pronunciations
  const devRefs = new Map<string, string[][]>();
  for (const [w, p] of devLines) devRefs.set(w, [...(devRefs.get(w) ?? []), p]);
  let devWords = [...devRefs.keys()];
  if (o.devWords > 0) devWords = devWords.slice(0, o.devWords);

  const chars = Vocabulary.build(
    train.flatMap(([w]) => [...w]),
    { specials: { pad: '<pad>', unk: '<unk>' } },
  );
  const phones = Vocabulary.build(
    train.flatMap(([, p]) => p),
    { specials: { pad: '<pad>', unk: null, bos: '<s>', eos: '</s>' } },
  );
  const bos = phones.bosId as number;
  const eos = phones.eosId as number;
  const spell = (w: string): Int32Array => chars.encode([...w]);
  const pairs = train.map(([w, p]) => ({ source: spell(w), target: phones.encode(p) }));
  const devPairs = devWords.map((w) => ({ source: spell(w), target: phones.encode(devRefs.get(w)![0]) }));

  console.log('Grapheme-to-phoneme (encoder-decoder with attention, beam search), CMUdict');
  console.log(
    `data     train ${train.length.toLocaleString('en-US')} pronunciations${train.length < fullTrain ? ` (a seeded sample of the ${fullTrain.toLocaleString('en-US')})` : ''}; dev ${devWords.length.toLocaleString('en-US')} words (${devLines.length.toLocaleString('en-US')} pronunciations); ${chars.size} character ids, ${phones.size} phoneme ids (stress ${o.stress ? 'kept' : 'dropped'})`,
  );
  const model = encoderDecoder({
    sourceVocabSize: chars.size,
    targetVocabSize: phones.size,
    bos,
    eos,
    encoder: { cell: 'lstm', hiddenSize: o.encoderHidden, bidirectional: true, embeddingDim: o.dim },
    decoder: { cell: 'lstm', hiddenSize: o.hidden, embeddingDim: o.dim, attention: 'additive' },
    vocabularies: { source: chars.toJSON(), target: phones.toJSON() },
  }).build({ seed: o.seed });
  const params = model.parameters().reduce((a, p) => a + p.value.length, 0);
  console.log(
    `model    chars(${o.dim}) -> bilstm(${o.encoderHidden} + ${o.encoderHidden}) -> dense bridge -> lstm(${o.hidden}) + additive attention, input feeding -> ${phones.size} phonemes; ${params.toLocaleString('en-US')} parameters`,
  );
  const { history, trainSeconds } = await trainSeq2seq(model, pairs, devPairs, { ...o, devBatch: 128 });

  const sources = devPairs.map((p) => p.source);
  /** PER and WER of one hypothesis per word against the closest reference pronunciation. */
  const score = (hyps: Hypothesis[][]): { per: number; wer: number } => {
    let edits = 0;
    let length = 0;
    let wrong = 0;
    hyps.forEach((h, i) => {
      const out = phones.decode(h[0].tokens);
      let best = Infinity;
      let bestLen = 0;
      for (const ref of devRefs.get(devWords[i])!) {
        const d = editDistance(out, ref);
        if (d < best || (d === best && ref.length > bestLen)) [best, bestLen] = [d, ref.length];
      }
      edits += best;
      length += bestLen;
      if (best > 0) wrong++;
    });
    return { per: edits / length, wer: wrong / hyps.length };
  };
  const t0 = performance.now();
  const greedy = await model.decode(sources, { method: 'greedy', maxLength: { a: 1.5, b: 5 } });
  const greedySeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const beam = await model.decode(sources, { beamSize: o.beam, maxLength: { a: 1.5, b: 5 } });
  const beamSeconds = (performance.now() - t1) / 1000;
  const g = score(greedy);
  const b = score(beam);
  const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
  console.log(`\ndev greedy:  PER ${pct(g.per)}  WER ${pct(g.wer)}  (${(sources.length / greedySeconds).toFixed(0)} words/s)`);
  console.log(`dev beam ${o.beam}:  PER ${pct(b.per)}  WER ${pct(b.wer)}  (${(sources.length / beamSeconds).toFixed(0)} words/s)`);
  for (let i = 0; i < Math.min(5, devWords.length); i++) {
    console.log(
      `  ${devWords[i].padEnd(16)} ${phones.decode(beam[i][0].tokens).join(' ').padEnd(32)} reference ${devRefs.get(devWords[i])![0].join(' ')}`,
    );
  }
  // The analysis against the first reference of each word (a word with several counts an output matching another as an error here).
  const analysis = await beamErrorAnalysis(model, devPairs, { beamSizes: o.quick ? [1, 3] : [1, 3, 10], maxLength: { a: 1.5, b: 5 } });
  console.log(`\nbeam error analysis (reference = the first pronunciation):\n${formatBeamErrorReport(analysis)}`);

  await mkdir(o.out, { recursive: true });
  const plotPath = join(o.out, 'g2p-loss.svg');
  await writeLossPlot(
    plotPath,
    [
      { name: 'train', values: history.loss },
      { name: 'dev', values: history.valLoss },
    ],
    {
      title: `CMUdict g2p: dev PER ${pct(b.per)}, WER ${pct(b.wer)} (beam ${o.beam})`,
      xLabel: 'epoch',
      yLabel: 'cross-entropy per phoneme (nats)',
    },
  );
  const modelPath = join(o.out, 'g2p.safetensors');
  await model.save(modelPath);
  const seconds = (performance.now() - started) / 1000;
  console.log(`wrote    ${plotPath}`);
  console.log(`wrote    ${modelPath} (with its vocabularies)`);
  console.log(`time     ${formatDuration(seconds)} in all (${seconds.toFixed(1)} s; training ${trainSeconds.toFixed(1)} s)`);
});

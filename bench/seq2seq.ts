/**
 * Encoder-decoder throughput (issue 9's bench), on the g2p example's model (characters -> bilstm
 * 128+128 -> dense bridge -> lstm 256 + additive attention -> 72 phonemes) over synthetic words of 8
 * characters and 7 phonemes (CMUdict's means), in one run and one process:
 * - training: target tokens/s of `fit` batches of 64, native vs the pure-TS backend (the ratio);
 * - decoding: sentences/s and tokens/s of greedy and beam 5 at batch 1 and batch 32 (native).
 * (Not yet here: the decode step's cost split between the kernels and the TS layer above them.)
 * Medians of `--repeat` runs (default 5); prints the CPU model and the ISA path.
 *
 *   npx tsx bench/seq2seq.ts [--repeat 5] [--words 256]
 *
 * Not part of `npm run bench` (it needs a quiet machine for about a minute).
 */
import { readFileSync } from 'node:fs';

import { adam, encoderDecoder, isaInfo, Rng, seq2seqBatches } from '../lib/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : dflt;
}
const repeat = arg('repeat', 5);
const words = arg('words', 256);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
console.log(`cpu ${cpu}; isa ${JSON.stringify(isaInfo())}; repeat ${repeat}, medians`);

const Vs = 30;
const Vt = 72;
const build = (backend: 'native' | 'js') =>
  encoderDecoder({
    sourceVocabSize: Vs,
    targetVocabSize: Vt,
    bos: 1,
    eos: 2,
    encoder: { cell: 'lstm', hiddenSize: 128, bidirectional: true, embeddingDim: 64 },
    decoder: { cell: 'lstm', hiddenSize: 256, embeddingDim: 64, attention: 'additive' },
  }).build({ seed: 1, backend });
const r = new Rng(1);
const pairs = Array.from({ length: words }, () => ({
  source: Int32Array.from({ length: 8 }, () => 3 + r.int(Vs - 3)),
  target: Int32Array.from({ length: 7 }, () => 3 + r.int(Vt - 3)),
}));
const batches = seq2seqBatches(pairs, { batchSize: 64, bos: 1, eos: 2, rng: new Rng(2) });
const tokens = pairs.length * 8; // 7 phonemes + eos per word

const trainRate: Record<string, number> = {};
for (const backend of ['native', 'js'] as const) {
  const model = build(backend);
  const times: number[] = [];
  for (let k = 0; k < repeat; k++) {
    const t0 = performance.now();
    await model.fit(batches, { epochs: 1, optimizer: adam({ lr: 1e-3 }) });
    times.push((performance.now() - t0) / 1000);
  }
  trainRate[backend] = tokens / median(times);
  console.log(
    `train ${backend.padEnd(6)} ${trainRate[backend].toFixed(0).padStart(7)} target tok/s (batch 64, ${median(times).toFixed(3)} s per ${pairs.length} words)`,
  );
}
console.log(`train native / js: ${(trainRate.native / trainRate.js).toFixed(1)}x`);

const model = build('native');
const sources = pairs.map((p) => p.source);
for (const batchSize of [1, 32]) {
  for (const [name, options] of [
    ['greedy', { method: 'greedy' as const }],
    ['beam 5', { beamSize: 5 }],
  ] as const) {
    const n = batchSize === 1 ? Math.min(64, words) : words;
    const times: number[] = [];
    let out = 0;
    for (let k = 0; k < repeat; k++) {
      const t0 = performance.now();
      const hyps = await model.decode(sources.slice(0, n), { ...options, batchSize, maxLength: 10 });
      times.push((performance.now() - t0) / 1000);
      out = hyps.reduce((a, h) => a + h[0].tokens.length + 1, 0);
    }
    const t = median(times);
    console.log(
      `decode ${name.padEnd(6)} batch ${String(batchSize).padStart(2)}: ${(n / t).toFixed(0).padStart(6)} sentences/s, ${(out / t).toFixed(0).padStart(7)} tok/s`,
    );
  }
}

/**
 * Encoder-decoder throughput (issue 9's bench), on the g2p example's model (characters -> bilstm
 * 128+128 -> dense bridge -> lstm 256 + additive attention -> 72 phonemes) over synthetic words of 8
 * characters and 7 phonemes (CMUdict's means), in one run and one process:
 * - training: target tokens/s of `fit` batches of 64, native vs the pure-TS backend (the ratio);
 * - decoding: sentences/s and tokens/s of greedy and beam 5 at batch 1 and batch 32 (native);
 * - the decode step's cost split, for the rows of beam 5 at batch 1 and 32 (5 and 160 rows): the
 *   prebuilt native call alone (the kernels: decoder cells, attention, output layer, log-softmax),
 *   the op called synchronously (+ its argument checks), and the stepper's `step` + `reorder` as the
 *   search awaits them (+ token embedding, buffers, the promise and the worker thread's round trip).
 *   The TS layer's cost per token is the step minus the native call.
 * Medians of `--repeat` runs (default 5); prints the CPU model and the ISA path.
 *
 *   npx tsx bench/seq2seq.ts [--repeat 5] [--words 256]
 *
 * Not part of `npm run bench` (it needs a quiet machine for about a minute).
 */
import { readFileSync } from 'node:fs';

import { addonOp } from '../lib/backend/addon.js';
import { adam, encoderDecoder, isaInfo, Rng, seq2seqBatches } from '../lib/index.js';
import { attnDecoderForward } from '../lib/ops/attention.js';

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

/** Median ms of `fn` over `reps` calls after `warmup`. */
async function time(fn: () => unknown, reps: number, warmup = 20): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

// ---- the decode step's cost split ----
const k = 5;
for (const n of [1, 32]) {
  const R = n * k;
  const stepper = await model.stepper(sources.slice(0, n));
  stepper.start(k);
  const bos = Int32Array.from({ length: R }, () => 1);
  // a beam's reorder: each sentence's rows rotated (a real gather every step)
  const rotate = Int32Array.from({ length: R }, (_, r) => Math.floor(r / k) * k + ((r + 1) % k));
  const stepMs = await time(async () => {
    await stepper.step(bos, false);
    stepper.reorder(rotate);
  }, 200);

  // The same call prepared once: sizes, weights, a memory of the same shape, outputs apart from inputs.
  const { hiddenSize: H, numLayers: L, embeddingDim: D } = model.config.decoder;
  const sizes = model.decoderSizes(1, R, 8);
  const { layers, attn } = model.decoderWeights();
  const out = model.outputWeights();
  const E = sizes.memorySize;
  const rr = new Rng(3);
  const f32 = (len: number, scale: number) => Float32Array.from({ length: len }, () => scale * (2 * rr.uniform() - 1));
  const args = {
    ...sizes,
    layers,
    attn,
    x: f32(R * D, 1),
    memory: f32(8 * n * E, 1),
    srcLengths: new Int32Array(n).fill(8),
    memoryBatch: n,
    memoryIndex: Int32Array.from({ length: R }, (_, r) => Math.floor(r / k)),
    h0: f32(L * R * H, 0.5),
    c0: f32(L * R * H, 0.5),
    feed0: f32(R * H, 0.5),
    stateRows: R,
    stateIndex: rotate,
    keepCache: false,
    returnAttention: false,
    yOut: new Float32Array(R * H),
    hOut: new Float32Array(L * R * H),
    cOut: new Float32Array(L * R * H),
    vocabSize: Vt,
    vocabWeight: out.weight,
    vocabBias: out.bias,
    logProbsOut: new Float32Array(R * Vt),
  };
  const keys = attnDecoderForward(args, { backend: 'native' }).keys;
  const opMs = await time(() => attnDecoderForward({ ...args, keys }, { backend: 'native' }), 200);
  const { yOut, hOut, cOut, logProbsOut, ...inputs } = args;
  const raw = {
    ...inputs,
    layers: layers.map((l) => ({ ...l, biasIh: l.biasIh ?? null, biasHh: l.biasHh ?? null })),
    keys,
    y: yOut,
    hN: hOut,
    cN: cOut,
    logProbsOut,
    attentionOut: null,
    keysOut: null,
    cache: null,
  };
  const fwd = addonOp('attnDecoderForward');
  const rawMs = await time(() => fwd(raw), 200);
  const us = (ms: number) => `${(ms * 1e3).toFixed(1)} us`;
  console.log(
    `decode step, ${R} rows (beam ${k}, batch ${n}): native call ${us(rawMs)}, op ${us(opMs)}, stepper step+reorder ${us(stepMs)}; ` +
      `TS layer ${us(stepMs - rawMs)} per token (${(((stepMs - rawMs) / rawMs) * 100).toFixed(0)}% of the kernel time)`,
  );
}

/**
 * npx tsx --expose-gc bench/serving.ts [--quick] [--only loop,sessions,memory]
 *
 * What a Node server sees while gated trains and serves (native backend, median of repeated runs):
 *   loop      Event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) while `fit` trains
 *             a W1-sized model (embedding 256 -> 128, LSTM H=256, dense 256; batches of B=32, T=64),
 *             p50 / p99 / max, next to the same figures with nothing running. Target: p99 < 20 ms.
 *   sessions  Tokens per second of 1, 8 and 64 concurrent generation streams (SessionPool, greedy),
 *             batched (maxBatch 64) vs unbatched (maxBatch 1), LM: embedding 64, LSTM H=256, dense V=96.
 *   memory    Resident set size after warm-up, after 10,000 predictions and after 1,000 training
 *             steps (a small model; `global.gc()` before each reading): it must stay flat.
 * Writes bench/results/serving-latest.json. Run it on a quiet machine (`uptime` load < 1).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import {
  adam,
  dense,
  embedding,
  getThreads,
  input,
  lstm,
  Rng,
  SessionPool,
  sequential,
  stepTargets,
  tokens,
  type Batch,
} from '../lib/index.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.split('=')[1] ?? args[args.indexOf(onlyArg) + 1] ?? '').split(',') : null;
const want = (name: string): boolean => only === null || only.includes(name);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

function lmBatches(V: number, B: number, T: number, n: number, seed: number): Batch<'tokens', 'softmaxCrossEntropy', 'sequence'>[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ids = Int32Array.from({ length: T * B }, () => rng.int(V));
    const next = Int32Array.from({ length: T * B }, () => rng.int(V));
    return { x: tokens({ ids, seqLen: T, batch: B }), target: stepTargets(next) };
  });
}

interface LoopFigures {
  p50: number;
  p99: number;
  max: number;
  stepMs: number;
}

/** Event-loop delay while `run` runs, in ms. */
async function delays(run: () => Promise<number>): Promise<LoopFigures> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const stepMs = await run();
  h.disable();
  return { p50: round(h.percentile(50) / 1e6), p99: round(h.percentile(99) / 1e6), max: round(h.max / 1e6), stepMs: round(stepMs) };
}

async function benchLoop(): Promise<Record<string, LoopFigures>> {
  const V = 256;
  const model = sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: 128 }))
    .add(lstm({ hiddenSize: 256 }))
    .add(dense({ units: V }))
    .build({ seed: 1 });
  const steps = quick ? 5 : 40;
  const data = lmBatches(V, 32, 64, steps, 1);
  await model.fit(data.slice(0, 2), { epochs: 1, optimizer: adam() }); // warm-up
  const idle = await delays(async () => {
    await new Promise((r) => setTimeout(r, quick ? 300 : 2000));
    return 0;
  });
  const training = await delays(async () => {
    const t0 = performance.now();
    await model.fit(data, { epochs: 1, optimizer: adam() });
    return (performance.now() - t0) / steps;
  });
  return { idle, training };
}

async function benchSessions(): Promise<{ streams: number; batched: number; unbatched: number; meanBatch: number }[]> {
  const V = 96;
  const model = sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: 64 }))
    .add(lstm({ hiddenSize: 256 }))
    .add(dense({ units: V }))
    .build({ seed: 2 });
  const tokensPerStream = quick ? 8 : 64;
  const reps = quick ? 1 : 5;
  const rate = async (streams: number, maxBatch: number): Promise<{ tps: number; meanBatch: number }> => {
    const runs: number[] = [];
    let meanBatch = 0;
    for (let r = 0; r < reps; r++) {
      const pool = new SessionPool(model, { maxBatch });
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: streams }, async (_, i) => {
          const s = pool.open();
          for await (const _t of s.generate({ prompt: [i % V], maxTokens: tokensPerStream })) void _t;
        }),
      );
      runs.push((streams * tokensPerStream) / ((performance.now() - t0) / 1000));
      meanBatch = pool.stats.meanBatch;
    }
    return { tps: median(runs), meanBatch };
  };
  await rate(4, 64); // warm-up
  const out = [];
  for (const streams of [1, 8, 64]) {
    const b = await rate(streams, 64);
    const u = await rate(streams, 1);
    out.push({ streams, batched: round(b.tps, 0), unbatched: round(u.tps, 0), meanBatch: round(b.meanBatch, 1) });
  }
  return out;
}

async function benchMemory(): Promise<Record<string, number>> {
  const V = 64;
  const model = sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: 32 }))
    .add(lstm({ hiddenSize: 64 }))
    .add(dense({ units: V }))
    .build({ seed: 3 });
  const data = lmBatches(V, 16, 32, 20, 3);
  const rss = (): number => {
    gc();
    gc();
    return round(process.memoryUsage().rss / 2 ** 20, 1);
  };
  const predictions = quick ? 500 : 10_000;
  const trainSteps = quick ? 50 : 1_000;
  for (let i = 0; i < 200; i++) await model.predict(data[i % data.length].x);
  await model.fit(data, { epochs: 2 });
  const start = rss();
  for (let i = 0; i < predictions; i++) await model.predict(data[i % data.length].x);
  const afterPredict = rss();
  await model.fit(data, { epochs: Math.max(1, Math.round(trainSteps / data.length)) });
  const afterTrain = rss();
  return { startMB: start, afterPredictionsMB: afterPredict, afterTrainingMB: afterTrain, predictions, trainSteps };
}

const results: Record<string, unknown> = { date: new Date().toISOString(), threads: getThreads(), quick };
if (want('loop')) {
  results.loop = await benchLoop();
  console.log('event-loop delay (ms):', results.loop);
}
if (want('sessions')) {
  results.sessions = await benchSessions();
  console.log('generation throughput (tokens/s):');
  console.table(results.sessions);
}
if (want('memory')) {
  results.memory = await benchMemory();
  console.log('memory:', results.memory);
}
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(new URL('results/serving-latest.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);

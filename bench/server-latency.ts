/**
 * Health-check latency of the example server (examples/server) while it trains, from a load
 * generator on loopback (autocannon).
 *
 *   npx tsx bench/server-latency.ts                  # 10 s per measurement, about two minutes in all
 *   npx tsx bench/server-latency.ts --duration 5 --connections 10 --rate 200 --train-in worker
 *   npx tsx bench/server-latency.ts --train-in worker --threads 1 --out bench/results/x.json  # kernels on one core, the other left to the server
 *
 * The server runs in a child process (this file with `--child`), so that the load generator and the
 * server do not share an event loop; the child also records its own event-loop delay
 * (`perf_hooks.monitorEventLoopDelay`, 10 ms sampling; reported as the delay beyond the sampling
 * interval) in each window. Phases:
 *   1. idle: GET /health for `--duration` s saturated (`--connections` connections, each sending
 *      its next request as soon as the last is answered), then paced (`--rate` requests/s over one
 *      connection);
 *   2. for each of `--train-in` (default both `worker` and `main`: where the server trains its jobs,
 *      a worker thread or its own thread), a fresh server starts a char-LM job the size of the
 *      project's W1 workload (LSTM hidden 256, input embedding 128, batch 32, window 64, on
 *      text/moby-dick.txt); once its first batch is done: `--duration` s with no HTTP load (the
 *      training's own effect on the event loop), then the same saturated and paced runs while it
 *      trains; then the job is cancelled and that server stopped.
 * Latency is measured per response from autocannon's `response` events in microseconds (its own
 * histogram keeps whole milliseconds, too coarse on loopback): p50, p99, max, and requests/s.
 * Training speed (examples/s, from the job's progress events) is reported for each window.
 *
 * Prints a table and writes bench/results/server-latency-latest.json (with `os.loadavg()` before
 * and after: the numbers mean little on a busy machine; run it when `uptime` is low).
 * The load generator shares the machine's cores with the server and the training: on a 2-core
 * machine all three compete, which is part of what this measures.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type RecordableHistogram, createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { getThreads, setThreads, version } from '../lib/index.js';
import { DATA, FlagError, flags, main } from '../examples/lib/cli.js';
import { startServer } from '../examples/server/server.js';
import { readEvents } from '../examples/server/sse-client.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The W1 workload of bench/run.ts as a job: LSTM B=32 T=64 D=128 H=256 (and a dense layer to the ~80 characters). */
const W1_JOB = (maxChars: number) => ({
  task: 'char-lm',
  data: 'text/moby-dick.txt',
  name: 'bench-w1',
  model: { cell: 'lstm', hiddenSize: 256, embedding: 128, layers: 1 },
  train: { epochs: 100, batchSize: 32, window: 64, maxChars, lr: 0.002, validation: 0 },
});

/** Event-loop delay beyond the sampling interval, in ms. */
interface Delay {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

type TrainIn = 'worker' | 'main';
type ToChild = { type: 'eld-start' } | { type: 'eld-stop' } | { type: 'stop' };
type FromChild = { type: 'ready'; url: string; threads: number } | ({ type: 'eld' } & Delay);

const ELD_RESOLUTION_MS = 10;

// ---------------------------------------------------------------------------------------------
// the child: the server, and its event-loop delay on request

async function child(modelDir: string, trainIn: TrainIn, threads: number): Promise<void> {
  if (threads > 0) setThreads(threads);
  const server = await startServer({ port: 0, dataDir: DATA, modelDir, trainIn, log: false });
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  const send = (m: FromChild): void => {
    process.send?.(m);
  };
  process.on('message', (m: ToChild) => {
    if (m.type === 'eld-start') {
      eld.reset();
      eld.enable();
    } else if (m.type === 'eld-stop') {
      eld.disable();
      // The histogram holds whole intervals between two samples: take the sampling interval off.
      const ms = (ns: number): number => Math.round(Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS) * 1000) / 1000;
      send({ type: 'eld', p50Ms: ms(eld.percentile(50)), p99Ms: ms(eld.percentile(99)), maxMs: ms(eld.max), meanMs: ms(eld.mean) });
    } else if (m.type === 'stop') {
      void server.close().then(() => process.exit(0));
    }
  });
  send({ type: 'ready', url: server.url, threads: getThreads() });
}

// ---------------------------------------------------------------------------------------------
// the parent: load generator and report

interface LoadResult {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly errors: number;
  readonly non2xx: number;
}

const NO_LOAD: LoadResult = {
  requests: 0,
  requestsPerSecond: 0,
  p50Ms: NaN,
  p90Ms: NaN,
  p99Ms: NaN,
  maxMs: NaN,
  meanMs: NaN,
  errors: 0,
  non2xx: 0,
};

function load(url: string, seconds: number, connections: number, rate: number | null): Promise<LoadResult> {
  const h: RecordableHistogram = createHistogram();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/health`,
        connections,
        duration: seconds,
        ...(rate !== null ? { overallRate: rate } : {}),
        timeout: 10,
      },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3; // ms, to the microsecond
        resolve({
          requests: h.count,
          requestsPerSecond: Math.round((h.count / seconds) * 10) / 10,
          p50Ms: ms(h.percentile(50)),
          p90Ms: ms(h.percentile(90)),
          p99Ms: ms(h.percentile(99)),
          maxMs: ms(h.max),
          meanMs: ms(h.mean),
          errors: result.errors + result.timeouts,
          non2xx: result.non2xx,
        });
      },
    );
    // responseTime: milliseconds with a fraction (process.hrtime); recorded in nanoseconds.
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode === 200) h.record(Math.max(1, Math.round(responseTime * 1e6)));
    });
  });
}

/** A server in a child process. */
class ServerProcess {
  private constructor(
    private readonly proc: ChildProcess,
    readonly url: string,
    readonly threads: number,
    private readonly modelDir: string,
  ) {}

  static async start(trainIn: TrainIn, threads: number): Promise<ServerProcess> {
    const modelDir = mkdtempSync(join(tmpdir(), 'gated-server-bench-'));
    const proc = fork(fileURLToPath(import.meta.url), ['--child', modelDir, trainIn, String(threads)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<FromChild>((resolve, reject) => {
      proc.once('message', resolve);
      proc.once('exit', (code) => reject(new Error(`the server process exited (${code})`)));
    });
    if (ready.type !== 'ready') throw new Error('unexpected message from the server process');
    return new ServerProcess(proc, ready.url, ready.threads, modelDir);
  }

  /** Runs `run` and gives the server's event-loop delay over it. */
  async eldDuring<T>(run: () => Promise<T>): Promise<{ result: T; eld: Delay }> {
    this.proc.send({ type: 'eld-start' } satisfies ToChild);
    const result = await run();
    const r = await new Promise<FromChild>((resolve) => {
      this.proc.once('message', resolve);
      this.proc.send({ type: 'eld-stop' } satisfies ToChild);
    });
    if (r.type !== 'eld') throw new Error('unexpected message from the server process');
    const { type: _type, ...eld } = r;
    return { result, eld };
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc.connected) proc.send({ type: 'stop' } satisfies ToChild);
    await new Promise<void>((resolve) => {
      if (proc.exitCode !== null) {
        resolve();
        return;
      }
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    rmSync(this.modelDir, { recursive: true, force: true });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Follows a job's event stream in the background, keeping its latest examples/s and batch count. */
function followJob(
  url: string,
  id: string,
): { readonly state: { examplesPerSecond: number; batches: number; firstBatch: Promise<void> }; stop(): void } {
  const controller = new AbortController();
  let resolveFirst: () => void = () => undefined;
  const state = {
    examplesPerSecond: 0,
    batches: 0,
    firstBatch: new Promise<void>((r) => {
      resolveFirst = r;
    }),
  };
  void (async () => {
    const res = await fetch(`${url}/jobs/${id}/events`, { signal: controller.signal });
    for await (const e of readEvents(res)) {
      if (e.event !== 'progress') continue;
      const data = e.data as { examplesPerSecond: number; epoch: number; batch: number; batches: number };
      state.examplesPerSecond = data.examplesPerSecond;
      state.batches = (data.epoch - 1) * data.batches + data.batch;
      resolveFirst();
    }
  })().catch(() => undefined);
  return { state, stop: () => controller.abort() };
}

interface Window {
  readonly name: string;
  readonly health: LoadResult;
  readonly eventLoopDelay: Delay;
  /** Training speed at the end of the window, examples (64-character tracks) per second; null when not training. */
  readonly trainingExamplesPerSecond: number | null;
  /** Batches finished during the window; null when not training. */
  readonly trainingBatches: number | null;
}

async function trainingWindows(
  trainIn: TrainIn,
  o: { duration: number; connections: number; rate: number; maxChars: number; threads: number },
): Promise<Window[]> {
  const server = await ServerProcess.start(trainIn, o.threads);
  try {
    const url = server.url;
    await load(url, 2, o.connections, null); // warm-up
    const job = W1_JOB(o.maxChars);
    const created = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(job),
    });
    const { id } = (await created.json()) as { id: string };
    if (created.status !== 202) throw new Error(`POST /jobs: ${created.status}`);
    const follow = followJob(url, id);
    await follow.state.firstBatch;
    console.log(
      `training in the ${trainIn === 'worker' ? 'worker thread' : "server's main thread"} (job ${id}): ${o.duration} s without HTTP load, then saturated, then paced ...`,
    );
    const out: Window[] = [];
    const measure = async (name: string, run: () => Promise<LoadResult>): Promise<void> => {
      const b0 = follow.state.batches;
      const r = await server.eldDuring(run);
      out.push({
        name,
        health: r.result,
        eventLoopDelay: r.eld,
        trainingExamplesPerSecond: Math.round(follow.state.examplesPerSecond * 10) / 10,
        trainingBatches: follow.state.batches - b0,
      });
    };
    const where = trainIn === 'worker' ? 'training (worker)' : 'training (main thread)';
    await measure(`${where}, no HTTP load`, async () => {
      await sleep(o.duration * 1000);
      return NO_LOAD;
    });
    await measure(`${where}, saturated`, () => load(url, o.duration, o.connections, null));
    await measure(`${where}, ${o.rate} req/s`, () => load(url, o.duration, 1, o.rate));
    follow.stop();
    await fetch(`${url}/jobs/${id}`, { method: 'DELETE' });
    return out;
  } finally {
    await server.stop();
  }
}

function row(w: Window): string {
  const f = (v: number): string => (Number.isNaN(v) ? '-' : v.toFixed(v < 10 ? 3 : 1)).padStart(8);
  const r = w.health;
  const train =
    w.trainingExamplesPerSecond === null ? '' : `   ${w.trainingExamplesPerSecond.toFixed(1).padStart(6)} (${w.trainingBatches} batches)`;
  const rps = r.requests === 0 ? '-' : String(Math.round(r.requestsPerSecond));
  return `${w.name.padEnd(36)} ${f(r.p50Ms)} ${f(r.p99Ms)} ${f(r.maxMs)} ${rps.padStart(8)} ${String(r.errors + r.non2xx).padStart(6)}   ${f(w.eventLoopDelay.p50Ms)} ${f(w.eventLoopDelay.p99Ms)} ${f(w.eventLoopDelay.maxMs)}${train}`;
}

async function parent(): Promise<void> {
  const o = flags({
    duration: 10,
    connections: 10,
    rate: 200,
    maxChars: 1_000_000,
    trainIn: 'worker,main',
    threads: 0,
    out: join(HERE, 'results', 'server-latency-latest.json'),
  });
  const modes = o.trainIn.split(',').map((m) => m.trim());
  for (const m of modes)
    if (m !== 'worker' && m !== 'main')
      throw new FlagError(`--train-in: expected worker, main or both (worker,main), got '${m}'`, '--train-in');
  const loadBefore = loadavg();
  console.log(
    `load average before: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); node ${process.version}`,
  );

  const windows: Window[] = [];
  const idle = await ServerProcess.start('worker', o.threads);
  let threads = 0;
  try {
    threads = idle.threads;
    console.log(
      `idle server ${idle.url}: ${o.duration} s saturated (${o.connections} connections), ${o.duration} s at ${o.rate} req/s ...`,
    );
    await load(idle.url, 2, o.connections, null); // warm-up (JIT, sockets)
    const sat = await idle.eldDuring(() => load(idle.url, o.duration, o.connections, null));
    windows.push({
      name: 'idle, saturated',
      health: sat.result,
      eventLoopDelay: sat.eld,
      trainingExamplesPerSecond: null,
      trainingBatches: null,
    });
    const paced = await idle.eldDuring(() => load(idle.url, o.duration, 1, o.rate));
    windows.push({
      name: `idle, ${o.rate} req/s`,
      health: paced.result,
      eventLoopDelay: paced.eld,
      trainingExamplesPerSecond: null,
      trainingBatches: null,
    });
  } finally {
    await idle.stop();
  }
  for (const m of modes) windows.push(...(await trainingWindows(m as TrainIn, o)));
  const loadAfter = loadavg();

  console.log(`\nGET /health (${o.connections} connections saturated, or paced on one)`);
  console.log(
    `${''.padEnd(36)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'req/s'.padStart(8)} ${'errors'.padStart(6)}   ${'loop p50'.padStart(8)} ${'loop p99'.padStart(8)} ${'loop max'.padStart(8)}   training ex/s`,
  );
  for (const w of windows) console.log(row(w));
  console.log(
    `(loop: the server's event-loop delay in ms; kernels' threads ${threads}; training examples are 64-character tracks, 32 per batch)`,
  );
  console.log(`load average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);

  const record = {
    bench: 'server-latency',
    date: new Date().toISOString(),
    gated: version,
    node: process.version,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? null,
    kernelThreads: threads,
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadAfter,
    options: { durationSeconds: o.duration, connections: o.connections, pacedRate: o.rate, trainIn: modes, threads: o.threads },
    job: W1_JOB(o.maxChars),
    windows,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`wrote ${o.out}`);
}

if (process.argv[2] === '--child') {
  void child(process.argv[3] as string, process.argv[4] as TrainIn, Number(process.argv[5])).catch((error: unknown) => {
    process.stderr.write(`server process: ${String(error)}\n`);
    process.exit(1);
  });
} else {
  main(parent);
}

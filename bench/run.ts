/**
 * npm run bench [-- --quick] [-- --rounds N] [-- --only W1,W5v] [-- --no-js] [-- --no-ort] [-- --no-numpy] [-- --save name]
 *
 * gated's native kernels (1 and 2 threads) side by side, in one run, with ONNX Runtime
 * (onnxruntime-node, the graphs a PyTorch export gives: bench/onnx.ts), numpy (bench/numpy_ref.py,
 * when a python3 with numpy is found: $GATED_BENCH_PYTHON, python3 on PATH, /usr/bin/python3) and the
 * pure-JS backend, float32, on the workloads of issues 2 and 11:
 *   W1  LSTM train step (forward + full BPTT)  B=32 T=64 D=128 H=256
 *   W1f the forward half of W1 alone (keeps the cache)
 *   W2  GRU train step, same sizes
 *   W3  LSTM inference B=1  T=64 D=128 H=256
 *   W4  LSTM inference B=64 T=64 D=128 H=256
 *   W5  one decode step, LSTM B=5 D=256 H=512 (T=1): DecodeStep (lib/ops/step.ts), packed weights
 *   W5seq the same step through ops.lstmForward with seqLen 1 (what W5 measured before the step op)
 *   W5v W5 + dense 512->8000 + log-softmax + top-5 per row, one DecodeStep call
 *   W6  whole-model train step: embedding 256->128, LSTM 256, dense 256, cross-entropy, Adam (model.fit)
 * Inference workloads (W3-W5) keep no cache. The ops-level workloads (W1-W4, W5seq) take their
 * outputs from a Workspace, as a training or serving loop would (ONNX Runtime's arena keeps its
 * outputs' memory too); "fresh outputs" is the same with new arrays every call. ONNX Runtime runs
 * the forward workloads (it does not train); numpy runs all but W6 and W5seq.
 * FLOPs: LSTM/GRU forward = T*2*B*(D+H)*G*H, train = 3x forward; the step adds 2*B*V*H for the output
 * layer; W6 = W1 + 3 * 2*T*B*H*V. GFLOP/s is given against the FMA peak of the active instruction
 * set measured by bench/native/peak.cc (compiled here when a C++ compiler is present); W5/W5v also
 * give the effective weight bandwidth (bytes of weights read per step / time).
 * Also measured: the step's cost above the kernel (DecodeStep.run / runAsync vs a prebuilt call).
 * Every measurement (one workload, one implementation, one thread count) runs in a fresh child process
 * of its own, so none inherits the heap, allocator or thread-pool state another left (a 24-batch
 * model.fit made the next W1 in the same process up to 1.6x slower, with a third more page faults
 * per call); a workload's implementations run next to each
 * other in time, and the whole list runs `--rounds` times (default 3, 1 with --quick; the pure-JS
 * jobs once). A figure is the median over rounds of each round's median (all rounds are kept).
 * Prints one table per thread count with the ratios, and writes bench/results/latest.json (and
 * bench/results/<name>.json with --save): { machine: { cpu, isa, peak, load, versions }, records }.
 * Run it on a quiet machine (`uptime`): the 2-thread figures need both cores; the load average at the
 * start and the end is recorded.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

import {
  adam,
  dense,
  embedding,
  input,
  isaInfo,
  lstm,
  ops,
  Rng,
  sequential,
  setThreads,
  stepTargets,
  tokens,
  version,
  Workspace,
  type BackendName,
  type GruForwardArgs,
  type LstmForwardArgs,
} from '../lib/index.js';
import { addonOp } from '../lib/backend/addon.js';
import { DecodeStep } from '../lib/ops/step.js';
import { loadOrt, lstmModel, ortRunner, type LstmGraph } from './onnx.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string): string | undefined => {
  const a = args.find((x) => x.startsWith(`${name}=`));
  if (a) return a.slice(name.length + 1);
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('--quick');
const only = value('--only')?.split(',') ?? null;
const want = (w: string) => !only || only.includes(w);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---- inputs and timing ----

function rand(n: number, scale: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Median ms of fn over up to `reps` runs (at least 3) within `budgetMs`, after `warmup` runs and at
 * least WARM_MS of running (a fresh process: the allocator, caches and pool threads settle).
 */
const WARM_MS = 300;
async function time(fn: () => unknown, reps: number, budgetMs: number, warmup: number): Promise<number> {
  const w0 = performance.now();
  for (let i = 0; i < warmup || (warmup > 0 && performance.now() - w0 < WARM_MS); i++) await fn();
  const ts: number[] = [];
  const start = performance.now();
  while (ts.length < reps && (ts.length < 3 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

// ---- workloads ----

interface Seq {
  cell: 'lstm' | 'gru';
  B: number;
  T: number;
  D: number;
  H: number;
  train: boolean;
  keepCache: boolean;
}
const seqs: Record<string, Seq> = {
  W1: { cell: 'lstm', B: 32, T: 64, D: 128, H: 256, train: true, keepCache: true },
  W1f: { cell: 'lstm', B: 32, T: 64, D: 128, H: 256, train: false, keepCache: true },
  W2: { cell: 'gru', B: 32, T: 64, D: 128, H: 256, train: true, keepCache: true },
  W3: { cell: 'lstm', B: 1, T: 64, D: 128, H: 256, train: false, keepCache: false },
  W4: { cell: 'lstm', B: 64, T: 64, D: 128, H: 256, train: false, keepCache: false },
};
const STEP = { B: 5, D: 256, H: 512, V: 8000, K: 5 };
const W6 = { V: 256, E: 128, H: 256, B: 32, T: 64 };

function seqFlops(w: Seq): number {
  const G = w.cell === 'lstm' ? 4 : 3;
  const fwd = w.T * 2 * w.B * (w.D + w.H) * G * w.H;
  return w.train ? 3 * fwd : fwd;
}
const stepFlops = (V: number) => 2 * STEP.B * 4 * STEP.H * (STEP.D + STEP.H) + 2 * STEP.B * V * STEP.H;
const stepBytes = (V: number) => 4 * (4 * STEP.H * (STEP.D + STEP.H) + V * STEP.H);
const w6Flops = seqFlops(seqs.W1) + 3 * 2 * W6.T * W6.B * W6.H * W6.V;

function seqWeights(w: Seq) {
  const G = w.cell === 'lstm' ? 4 : 3,
    k = 1 / Math.sqrt(w.H);
  return {
    x: rand(w.T * w.B * w.D, 1, 1),
    weightIh: rand(G * w.H * w.D, k, 2),
    weightHh: rand(G * w.H * w.H, k, 3),
    biasIh: rand(G * w.H, k, 4),
    biasHh: rand(G * w.H, k, 5),
  };
}

/** One call of the workload; `reuse`: its outputs from one Workspace (a training or serving loop's way). */
function seqRun(w: Seq, backend: BackendName, reuse = false): () => void {
  const base: LstmForwardArgs & GruForwardArgs = { seqLen: w.T, batch: w.B, inputSize: w.D, hiddenSize: w.H, ...seqWeights(w) };
  const dy = rand(w.T * w.B * w.H, 1, 6);
  const o = { backend, ...(reuse ? { workspace: new Workspace() } : {}) };
  if (!w.keepCache) {
    const inference = { ...base, keepCache: false } as const;
    return w.cell === 'lstm' ? () => void ops.lstmForward(inference, o) : () => void ops.gruForward(inference, o);
  }
  if (w.cell === 'lstm') {
    return () => {
      const f = ops.lstmForward(base, o);
      if (w.train) ops.lstmBackward({ ...base, cache: f.cache, dy }, o);
    };
  }
  return () => {
    const f = ops.gruForward(base, o);
    if (w.train) ops.gruBackward({ ...base, cache: f.cache, dy }, o);
  };
}

function stepSetup(V: number, backend: BackendName) {
  const { B, D, H, K } = STEP,
    k = 1 / Math.sqrt(H);
  const weights = {
    weightIh: rand(4 * H * D, k, 2),
    weightHh: rand(4 * H * H, k, 3),
    biasIh: rand(4 * H, k, 4),
    biasHh: rand(4 * H, k, 5),
    weightOut: V ? rand(V * H, k, 6) : null,
    biasOut: V ? rand(V, k, 7) : null,
  };
  const step = new DecodeStep({ cell: 'lstm', inputSize: D, hiddenSize: H, outputSize: V }, weights, { backend });
  const x = rand(B * D, 1, 8),
    h = rand(B * H, 0.5, 9),
    c = rand(B * H, 0.5, 10);
  const input = { batch: B, x, h, c, hOut: new Float32Array(B * H), cOut: new Float32Array(B * H), topK: V ? K : 0 };
  return { step, weights, input };
}

/** The step's cost above the kernel: a prebuilt native call vs DecodeStep.run / runAsync (W5v). */
async function stepOverhead(reps: number, budget: number) {
  const { step, weights, input } = stepSetup(STEP.V, 'native');
  const { B, D, H, V, K } = STEP;
  const raw = {
    cache: addonOp('stepCreateCache')({}),
    version: 0,
    cell: 'lstm',
    inputSize: D,
    hiddenSize: H,
    outputSize: V,
    ...weights,
    batch: B,
    x: input.x,
    h: input.h,
    c: input.c,
    hOut: input.hOut,
    cOut: input.cOut,
    topK: K,
    topValues: new Float32Array(B * K),
    topIndices: new Int32Array(B * K),
  };
  const fwd = addonOp('stepForward');
  // The raw call has a packed copy of its own (22 MB), and the two copies do not fit in L3 together:
  // the three calls take turns in blocks, the first calls of each block (refilling the cache) not
  // counted, so a change in the host's speed during the measurement moves all three alike instead
  // of showing up as overhead.
  const calls = [() => fwd(raw), () => step.run(input), () => step.runAsync(input)];
  const ts: number[][] = [[], [], []];
  const BLOCK = 40,
    REFILL = 8;
  const start = performance.now();
  while (ts[0].length < reps && (ts[0].length < 3 * (BLOCK - REFILL) || performance.now() - start < budget)) {
    for (let j = 0; j < calls.length; j++) {
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await calls[j]();
        if (i >= REFILL) ts[j].push(performance.now() - t0);
      }
    }
  }
  const [rawMs, runMs, asyncMs] = ts.map(median);
  return { rawMs, runMs, asyncMs };
}

async function w6Run(): Promise<number> {
  const { V, E, H, B, T } = W6;
  const model = sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: E }))
    .add(lstm({ hiddenSize: H }))
    .add(dense({ units: V }))
    .build({ seed: 1 });
  const rng = new Rng(1);
  const batch = () => ({
    x: tokens({ ids: Int32Array.from({ length: T * B }, () => rng.int(V)), seqLen: T, batch: B }),
    target: stepTargets(Int32Array.from({ length: T * B }, () => rng.int(V))),
  });
  const n = quick ? 6 : 24;
  const data = Array.from({ length: n }, batch);
  await model.fit(data.slice(0, 2), { epochs: 1, optimizer: adam() }); // warm-up
  const ends: number[] = [];
  const t0 = performance.now();
  await model.fit(data, { epochs: 1, optimizer: adam(), onBatchEnd: () => void ends.push(performance.now()) });
  return median(ends.map((t, i) => t - (i === 0 ? t0 : ends[i - 1])));
}

// ---- the machine ----

function cpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
    return `${field('model name') ?? cpus()[0]?.model} (family ${field('cpu family')}, model ${field('model')})`;
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
}

/** FMA peak GFLOP/s per ISA and thread count from bench/native/peak.cc, or null without a compiler. */
function measurePeak(): Record<string, Record<string, number>> | null {
  const bin = `${ROOT}build/bench-peak`;
  try {
    mkdirSync(`${ROOT}build`, { recursive: true });
    execFileSync('g++', ['-O2', '-pthread', '-o', bin, `${HERE}native/peak.cc`], { stdio: 'pipe' });
    const out = execFileSync(bin, { encoding: 'utf8' });
    const line = out.split('\n').find((l) => l.startsWith('PEAK '));
    return line ? (JSON.parse(line.slice(5)) as Record<string, Record<string, number>>) : null;
  } catch {
    return null;
  }
}

function findPython(): string | null {
  for (const py of [process.env.GATED_BENCH_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import numpy'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

// ---- run ----

interface Rec {
  workload: string;
  impl: string; // 'gated' (native), 'gated-fresh' (native, no Workspace), 'js', 'onnxruntime', 'numpy'
  threads: number;
  msMedian: number;
  roundsMs: number[];
  gflops: number;
  pctPeak?: number;
  weightGBs?: number;
}

const flopsOf: Record<string, number> = {
  ...Object.fromEntries(Object.entries(seqs).map(([k, w]) => [k, seqFlops(w)])),
  W5: stepFlops(0),
  W5seq: stepFlops(0),
  W5v: stepFlops(STEP.V),
  W6: w6Flops,
};
const bytesOf: Record<string, number> = { W5: stepBytes(0), W5seq: stepBytes(0), W5v: stepBytes(STEP.V) };

const reps = quick ? 11 : 51,
  budget = quick ? 2000 : 8000;
const stepReps = quick ? 201 : 2001,
  stepBudget = quick ? 1500 : 6000;
const THREADS = [1, 2];

/** One measurement: a workload on one implementation at one thread count, in its own process. */
interface Job {
  workload: string;
  impl: 'gated' | 'gated-fresh' | 'onnxruntime' | 'js';
  threads: number;
}
interface JobResult {
  ms: number;
  overhead?: Awaited<ReturnType<typeof stepOverhead>>;
  ortVersion?: string;
}

const sk = 1 / Math.sqrt(STEP.H);
function ortGraph(name: string): LstmGraph {
  const w = seqs[name];
  if (w) return { T: w.T, B: w.B, D: w.D, H: w.H, ...seqWeights(w) };
  const V = name === 'W5v' ? STEP.V : 0;
  return {
    T: 1,
    B: STEP.B,
    D: STEP.D,
    H: STEP.H,
    weightIh: rand(4 * STEP.H * STEP.D, sk, 2),
    weightHh: rand(4 * STEP.H * STEP.H, sk, 3),
    biasIh: rand(4 * STEP.H, sk, 4),
    biasHh: rand(4 * STEP.H, sk, 5),
    ...(V ? { out: { V, weight: rand(V * STEP.H, sk, 6), bias: rand(V, sk, 7), k: STEP.K } } : {}),
  };
}

async function runJob(job: Job): Promise<JobResult> {
  const { workload: name, impl, threads } = job;
  if (impl === 'onnxruntime') {
    const loaded = loadOrt();
    if (!loaded) throw new Error('onnxruntime-node is not installed');
    const g = ortGraph(name);
    const r = await ortRunner(
      loaded.ort,
      lstmModel(g),
      threads,
      g,
      rand(g.T * g.B * g.D, 1, 1),
      rand(g.B * g.H, 0.5, 9),
      rand(g.B * g.H, 0.5, 10),
    );
    const small = g.T === 1;
    const ms = await time(r.run, small ? stepReps : reps, small ? stepBudget : budget, small ? 20 : 3);
    return { ms, ortVersion: loaded.version };
  }
  setThreads(threads);
  if (impl === 'js') {
    if (name === 'W5') {
      const { step, input: inp } = stepSetup(0, 'js');
      return { ms: await time(() => step.run(inp), quick ? 3 : 11, 5000, 1) };
    }
    return { ms: await time(seqRun(seqs[name], 'js'), quick ? 1 : 3, quick ? 1 : 20000, 0) };
  }
  if (seqs[name]) return { ms: await time(seqRun(seqs[name], 'native', impl === 'gated'), reps, budget, 3) };
  if (name === 'W5' || name === 'W5v') {
    const { step, input: inp } = stepSetup(name === 'W5v' ? STEP.V : 0, 'native');
    const ms = await time(() => step.run(inp), stepReps, stepBudget, 20);
    return name === 'W5v' ? { ms, overhead: await stepOverhead(stepReps, stepBudget) } : { ms };
  }
  if (name === 'W5seq') {
    const w: Seq = { cell: 'lstm', B: STEP.B, T: 1, D: STEP.D, H: STEP.H, train: false, keepCache: false };
    return { ms: await time(seqRun(w, 'native', impl === 'gated'), stepReps, stepBudget, 20) };
  }
  if (name === 'W6') return { ms: await w6Run() };
  throw new Error(`unknown workload ${name}`);
}

// A child process runs one job and prints its result on a line of its own.
const childJob = value('--child');
if (childJob) {
  const res = await runJob(JSON.parse(childJob) as Job);
  console.log(`JOB ${JSON.stringify(res)}`);
  process.exit(0);
}

const loadStart = loadavg();
const info = isaInfo();
const peak = measurePeak();
const records: Rec[] = [];
/** Records the median over rounds of a workload's per-round medians (each round's kept in `roundsMs`). */
function record(workload: string, impl: string, threads: number, roundsMs: number[]): void {
  const ms = median(roundsMs);
  const gflops = flopsOf[workload] / 1e9 / (ms / 1e3);
  const p = impl.startsWith('gated') ? peak?.[info.active]?.[String(threads)] : undefined;
  records.push({
    workload,
    impl,
    threads,
    msMedian: ms,
    roundsMs,
    gflops,
    ...(p ? { pctPeak: (100 * gflops) / p } : {}),
    ...(bytesOf[workload] ? { weightGBs: bytesOf[workload] / 1e9 / (ms / 1e3) } : {}),
  });
}

/** Runs a job in a fresh process, with the same node and loader flags as this one (see the module comment). */
function spawnJob(job: Job): JobResult | null {
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--child', JSON.stringify(job), ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('JOB '));
  if (r.status !== 0 || !line) {
    console.error(`${job.workload} ${job.impl} ${job.threads}t failed (status ${r.status}): ${r.stderr.slice(-800)}`);
    return null;
  }
  return JSON.parse(line.slice(4)) as JobResult;
}

// The jobs, each workload's implementations next to each other in time (the host drifts); the
// pure-JS ones (seconds per W1 step) in the first round only.
const ORT_WORKLOADS = new Set(['W1f', 'W3', 'W4', 'W5', 'W5v']);
const ortWanted = !flag('--no-ort') && loadOrt() !== null;
const jobs: (Job & { once?: boolean })[] = [];
for (const name of [...Object.keys(seqs), 'W5', 'W5seq', 'W5v', 'W6']) {
  if (!want(name)) continue;
  for (const threads of THREADS) {
    jobs.push({ workload: name, impl: 'gated', threads });
    if (seqs[name] || name === 'W5seq') jobs.push({ workload: name, impl: 'gated-fresh', threads });
    if (ortWanted && ORT_WORKLOADS.has(name)) jobs.push({ workload: name, impl: 'onnxruntime', threads });
  }
  if (!flag('--no-js') && (seqs[name] || name === 'W5')) jobs.push({ workload: name, impl: 'js', threads: 1, once: true });
}
const python = flag('--no-numpy') ? null : findPython();
let numpyVersion: { numpy: string; blas: string } | null = null;
const rounds = Number(value('--rounds') ?? (quick ? 1 : 3));
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${value('--rounds')}`);

const samples = new Map<string, { workload: string; impl: string; threads: number; ms: number[] }>();
let pass = 1;
function sample(workload: string, impl: string, threads: number, ms: number): void {
  const key = `${workload} ${impl} ${threads}`;
  const s = samples.get(key) ?? samples.set(key, { workload, impl, threads, ms: [] }).get(key)!;
  s.ms.push(ms);
  console.error(`round ${pass}/${rounds}: ${key}t ${ms.toFixed(3)} ms`);
}
const overhead: Record<string, JobResult['overhead']> = {};
let ortVersion: string | null = null;
for (; pass <= rounds; pass++) {
  for (const job of jobs) {
    if (job.once && pass > 1) continue;
    const res = spawnJob(job);
    if (!res) continue;
    sample(job.workload, job.impl, job.threads, res.ms);
    if (res.overhead && pass === 1) overhead[job.threads] = res.overhead;
    if (res.ortVersion) ortVersion = res.ortVersion;
  }
  // numpy: one process per thread count (the BLAS reads its thread count at start).
  for (const threads of python ? THREADS : []) {
    const n = String(threads);
    const r = spawnSync(python!, [`${HERE}numpy_ref.py`, ...(quick ? ['--quick'] : []), ...(only ? ['--only', only.join(',')] : [])], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: n, OMP_NUM_THREADS: n, MKL_NUM_THREADS: n },
    });
    for (const line of r.stdout.split('\n')) {
      if (!line.trim()) continue;
      const o = JSON.parse(line) as { numpy?: string; blas?: string; workload?: string; ms?: number };
      if (o.numpy) numpyVersion = { numpy: o.numpy, blas: o.blas ?? '' };
      else if (o.workload && o.ms !== undefined) sample(o.workload, 'numpy', threads, o.ms);
    }
    if (r.status !== 0) console.error(`numpy reference failed (status ${r.status}): ${r.stderr.slice(-500)}`);
  }
}
for (const s of samples.values()) record(s.workload, s.impl, s.threads, s.ms);
const loadEnd = loadavg();

// ---- report ----

const round = (x: number, d: number) => Number(x.toFixed(d));
const find = (w: string, impl: string, t: number) => records.find((r) => r.workload === w && r.impl === impl && r.threads === t);
const ratio = (a: Rec | undefined, b: Rec | undefined) => (a && b ? `${round(b.msMedian / a.msMedian, 2)}x` : '');
const workloads = [...new Set(records.map((r) => r.workload))];
const md: string[] = [];
for (const t of THREADS) {
  const rows = workloads.map((w) => {
    const g = find(w, 'gated', t),
      fresh = find(w, 'gated-fresh', t),
      o = find(w, 'onnxruntime', t),
      n = find(w, 'numpy', t),
      j = find(w, 'js', 1);
    return {
      workload: w,
      'gated ms': g ? round(g.msMedian, 3) : '',
      'GFLOP/s': g ? round(g.gflops, 1) : '',
      '% peak': g?.pctPeak !== undefined ? round(g.pctPeak, 0) : '',
      'weights GB/s': g?.weightGBs !== undefined ? round(g.weightGBs, 1) : '',
      'fresh outputs ms': fresh ? round(fresh.msMedian, 3) : '',
      'ORT ms': o ? round(o.msMedian, 3) : '',
      'ORT / gated': ratio(g, o),
      'numpy ms': n ? round(n.msMedian, 3) : '',
      'numpy / gated': ratio(g, n),
      'JS / gated': t === 1 ? ratio(g, j) : '',
    };
  });
  console.log(`\n${t} thread${t > 1 ? 's' : ''} (ratios > 1: gated is faster)`);
  console.table(rows);
  const keys = Object.keys(rows[0] ?? {});
  md.push(
    `**${t} thread${t > 1 ? 's' : ''}**`,
    '',
    `| ${keys.join(' | ')} |`,
    `|${keys.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${keys.map((k) => String(r[k as keyof typeof r])).join(' | ')} |`),
    '',
  );
}
for (const [t, o] of Object.entries(overhead)) {
  if (!o) continue;
  const line =
    `W5v step cost above the kernel, ${t} thread(s): prebuilt native call ${round(o.rawMs * 1e3, 1)} us, ` +
    `DecodeStep.run ${round(o.runMs * 1e3, 1)} us (+${round((o.runMs - o.rawMs) * 1e3, 1)}), runAsync ${round(o.asyncMs * 1e3, 1)} us (+${round((o.asyncMs - o.rawMs) * 1e3, 1)})`;
  console.log(line);
  md.push(`- ${line}`);
}
const machine = {
  date: new Date().toISOString(),
  cpu: cpuModel(),
  isa: info.active,
  isasAvailable: info.available,
  peakGflops: peak,
  loadAverageStart: loadStart.map((x) => round(x, 2)),
  loadAverageEnd: loadEnd.map((x) => round(x, 2)),
  node: process.version,
  gated: version,
  onnxruntime: ortVersion,
  numpy: numpyVersion,
  quick,
};
console.log(`\n${md.join('\n')}`);
console.log(`\nmachine: ${JSON.stringify(machine)}`);
const out = {
  machine,
  records: records.map((r) => ({
    ...r,
    msMedian: round(r.msMedian, 4),
    roundsMs: r.roundsMs.map((x) => round(x, 4)),
    gflops: round(r.gflops, 3),
    ...(r.pctPeak !== undefined ? { pctPeak: round(r.pctPeak, 1) } : {}),
    ...(r.weightGBs !== undefined ? { weightGBs: round(r.weightGBs, 2) } : {}),
  })),
  stepOverheadMs: overhead,
};
mkdirSync(`${HERE}results`, { recursive: true });
writeFileSync(`${HERE}results/latest.json`, `${JSON.stringify(out, null, 2)}\n`);
const save = value('--save');
if (save) writeFileSync(`${HERE}results/${save}.json`, `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote bench/results/latest.json${save ? ` and bench/results/${save}.json` : ''}`);

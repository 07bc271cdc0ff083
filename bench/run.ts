/**
 * npm run bench [-- --quick] [-- --only W1,W3]
 *
 * Native (1 and 2 threads) vs the pure-JS backend on the workloads of issue 2, float32:
 *   W1 LSTM train step (forward + full BPTT)  B=32 T=64 D=128 H=256
 *   W1f the forward half of W1 alone
 *   W2 GRU train step, same sizes
 *   W3 LSTM inference B=1  T=64 D=128 H=256
 *   W4 LSTM inference B=64 T=64 D=128 H=256
 *   W5 one decode step, LSTM B=5 D=256 H=512 (T=1)
 * Inference workloads (W3-W5) run with keepCache: false.
 * FLOPs: forward = T*2*B*(D+H)*G*H (G gates), train = 3x forward.
 * Prints a table (median ms, GFLOP/s, native/JS ratio), the same table in Markdown, and writes
 * bench/results/latest.json, one record per run: { workload, backend, threads, msMedian, gflops }.
 * Run it on a quiet machine (`uptime`): the 2-thread figures need both cores.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { ops, setThreads, type LstmForwardArgs, type GruForwardArgs, type BackendName } from '../lib/index.js';

interface Workload {
  name: string;
  cell: 'lstm' | 'gru';
  B: number;
  T: number;
  D: number;
  H: number;
  train: boolean;
  /** Forward only, even for a training-sized workload (W1f). */
  forwardOnly?: boolean;
}

const workloads: Workload[] = [
  { name: 'W1', cell: 'lstm', B: 32, T: 64, D: 128, H: 256, train: true },
  { name: 'W1f', cell: 'lstm', B: 32, T: 64, D: 128, H: 256, train: false, forwardOnly: true },
  { name: 'W2', cell: 'gru', B: 32, T: 64, D: 128, H: 256, train: true },
  { name: 'W3', cell: 'lstm', B: 1, T: 64, D: 128, H: 256, train: false },
  { name: 'W4', cell: 'lstm', B: 64, T: 64, D: 128, H: 256, train: false },
  { name: 'W5', cell: 'lstm', B: 5, T: 1, D: 256, H: 512, train: false },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.split('=')[1] ?? args[args.indexOf(onlyArg) + 1] ?? '').split(',') : null;

function rand(n: number, scale: number, seed: number): Float32Array {
  // xorshift32: a fixed input for every run
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

function flops(w: Workload): number {
  const G = w.cell === 'lstm' ? 4 : 3;
  const fwd = w.T * 2 * w.B * (w.D + w.H) * G * w.H;
  return w.train ? 3 * fwd : fwd;
}

function makeRun(w: Workload, backend: BackendName): () => void {
  const G = w.cell === 'lstm' ? 4 : 3;
  const k = 1 / Math.sqrt(w.H);
  const base: LstmForwardArgs & GruForwardArgs = {
    seqLen: w.T,
    batch: w.B,
    inputSize: w.D,
    hiddenSize: w.H,
    x: rand(w.T * w.B * w.D, 1, 1),
    weightIh: rand(G * w.H * w.D, k, 2),
    weightHh: rand(G * w.H * w.H, k, 3),
    biasIh: rand(G * w.H, k, 4),
    biasHh: rand(G * w.H, k, 5),
  };
  const dy = rand(w.T * w.B * w.H, 1, 6);
  const o = { backend };
  // Inference workloads (W3-W5) keep no cache; W1f is the forward half of a training step: it does.
  if (!w.train && !w.forwardOnly) {
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs fn until `reps` timings or `budgetMs` spent (after warm-up), returns the median in ms. */
function time(fn: () => void, reps: number, budgetMs: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  const start = performance.now();
  while (ts.length < reps && (ts.length < 3 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

interface Record {
  workload: string;
  backend: BackendName;
  threads: number;
  msMedian: number;
  gflops: number;
}

const records: Record[] = [];
const nativeReps = quick ? 11 : 51;
for (const w of workloads) {
  if (only && !only.includes(w.name)) continue;
  const gf = flops(w) / 1e9;
  for (const threads of [1, 2]) {
    setThreads(threads);
    const ms = time(makeRun(w, 'native'), nativeReps, quick ? 2000 : 8000, 3);
    records.push({ workload: w.name, backend: 'native', threads, msMedian: ms, gflops: gf / (ms / 1e3) });
  }
  // The pure-JS baseline is slow (seconds per W1 step): fewer repetitions.
  const ms = time(makeRun(w, 'js'), quick ? 1 : 5, quick ? 1 : 30000, w.train ? 0 : 1);
  records.push({ workload: w.name, backend: 'js', threads: 1, msMedian: ms, gflops: gf / (ms / 1e3) });
}
setThreads(cpus().length);

const round = (x: number, d: number) => Number(x.toFixed(d));
const rows = records.map((r) => {
  const js = records.find((q) => q.workload === r.workload && q.backend === 'js');
  return {
    workload: r.workload,
    backend: r.backend,
    threads: r.threads,
    'median ms': round(r.msMedian, 3),
    'GFLOP/s': round(r.gflops, 2),
    'x JS': js && r.backend === 'native' ? round(js.msMedian / r.msMedian, 1) : '',
  };
});
console.table(rows);

// The same table in Markdown, for the README (with the machine's measured peak for context).
const md = [
  '| workload | backend | threads | median ms | GFLOP/s | native / JS |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.workload} | ${r.backend} | ${r.threads} | ${r['median ms']} | ${r['GFLOP/s']} | ${r['x JS'] === '' ? '' : `${r['x JS']}x`} |`),
];
console.log(`\n${md.join('\n')}\n`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/latest.json', import.meta.url),
  JSON.stringify(records.map((r) => ({ ...r, msMedian: round(r.msMedian, 4), gflops: round(r.gflops, 3) })), null, 2) + '\n',
);
console.log('wrote bench/results/latest.json');

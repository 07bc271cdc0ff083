/**
 * One training job away from the server's thread: in a child process (the example server's
 * default) or in a worker thread (`node:worker_threads`).
 *
 * A child process is what a deployment wants: the job has its own heap, capped with
 * `--max-old-space-size`, and its own native memory, which the server watches (the child's
 * resident size, from /proc on Linux) and ends with SIGKILL when it passes the job's limit; a job
 * that runs out of memory, crashes or is killed leaves the server running. A worker thread only
 * keeps the job's JavaScript and garbage collection off the server's event loop (its memory is the
 * server's). The kernels run in native threads either way.
 *
 * The runner gets a {@link WorkerInput} (a worker: as `workerData`; a child: as its first IPC
 * message), trains (training.ts), saves the weights to `weightsPath` (atomic) and sends
 * {@link FromWorker} messages: `prepared`, `batch`, `epoch`, then `trained` (what the sidecar
 * needs) or `failed`. `{ type: 'cancel' }` aborts the fit between two batches. The server writes the
 * sidecar and lists the model (registry.ts `commit`).
 *
 * {@link startTraining} starts one. From compiled JavaScript it runs `train-worker.js`; from
 * TypeScript source (tsx, vitest) a child process loads tsx with `--import`, and a worker boots
 * through tsx's `tsImport`, because module hooks registered on the main thread do not reach workers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { AbortError, type VocabularyJSON } from '../../lib/index.js';
import type { ModelMetric } from './registry.js';
import type { DataFile, JobConfig } from './schema.js';
import { type BatchProgress, type EpochSummary, type Failure, type Trained, failureOf, train } from './training.js';

/** What the runner is given. */
export interface WorkerInput {
  /** Marks this module's runners. */
  readonly kind: 'gated-server-training';
  readonly config: JobConfig;
  readonly file: DataFile;
  /** Where to save the weights. */
  readonly weightsPath: string;
}

/** What a finished training gives, without the weights (saved to `weightsPath`). */
export interface TrainedMeta {
  readonly vocabulary: VocabularyJSON;
  readonly metric: ModelMetric;
  readonly tokenizer: Trained['tokenizer'];
  readonly labels: readonly string[] | null;
  readonly maxLen: number | null;
  readonly parameters: number;
  readonly trainSeconds: number;
}

/** Messages to the runner. */
export type ToWorker = { readonly type: 'cancel' } | { readonly type: 'start'; readonly input: WorkerInput };

/** Messages from the runner. */
export type FromWorker =
  | { readonly type: 'prepared'; readonly info: Readonly<Record<string, number | string>> }
  | { readonly type: 'batch'; readonly progress: BatchProgress }
  | { readonly type: 'epoch'; readonly summary: EpochSummary }
  | { readonly type: 'trained'; readonly meta: TrainedMeta }
  | ({ readonly type: 'failed' } & Failure);

/** The parts of a {@link Trained} that cross threads. */
export function metaOf(t: Trained): TrainedMeta {
  return {
    vocabulary: t.vocab.toJSON(),
    metric: t.metric,
    tokenizer: t.tokenizer,
    labels: t.labels,
    maxLen: t.maxLen,
    parameters: t.parameters,
    trainSeconds: t.trainSeconds,
  };
}

/** Where a job trains when it is not on the server's thread. */
export type TrainingPlace = 'process' | 'worker';

/** How a runner ended. */
export interface RunnerExit {
  /** Exit code (null when a signal ended it). */
  readonly code: number | null;
  /** The signal that ended a child process (`'SIGKILL'`), or null. */
  readonly signal: string | null;
  /** The end of a child's stderr (at most 4 KB): V8's "heap out of memory" report, a crash. */
  readonly stderr: string;
}

/** A running job: how to stop it and how big it is. */
export interface TrainingRun {
  /** Asks it to stop between two batches (it then sends `failed` with `cancelled: true`). */
  cancel(): void;
  /** Ends it at once: SIGKILL (a child process) or terminate() (a worker). */
  kill(): void;
  /** A child process's resident memory in bytes (Linux: /proc), or null (a worker, another OS, already gone). */
  rss(): number | null;
}

/** Options of {@link startTraining}. */
export interface StartOptions {
  readonly place: TrainingPlace;
  /** A child process's JavaScript heap limit (`--max-old-space-size`), in MiB. */
  readonly heapMiB: number;
  readonly onMessage: (message: FromWorker) => void;
  /** Called once, when the runner is gone. */
  readonly onExit: (exit: RunnerExit) => void;
}

/** Starts a runner for `input` (see the module comment). */
export function startTraining(input: WorkerInput, options: StartOptions): TrainingRun {
  return options.place === 'process' ? startProcess(input, options) : startWorker(input, options);
}

const SELF = import.meta.url;
const FROM_SOURCE = SELF.endsWith('.ts');

/** The file URL of an export of tsx's package.json (`'.'`: the loader; `'./esm/api'`: tsImport). */
function tsxEntry(subpath: '.' | './esm/api'): string {
  const pkgPath = createRequire(SELF).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, string | { import: string | { default: string } }> };
  const entry = pkg.exports[subpath];
  const file = typeof entry === 'string' ? entry : typeof entry.import === 'string' ? entry.import : entry.import.default;
  return pathToFileURL(join(dirname(pkgPath), file)).href;
}

function startProcess(input: WorkerInput, options: StartOptions): TrainingRun {
  const child: ChildProcess = fork(fileURLToPath(SELF), [], {
    execArgv: [...(FROM_SOURCE ? ['--import', tsxEntry('.')] : []), `--max-old-space-size=${Math.max(16, Math.floor(options.heapMiB))}`],
    // One libuv thread: the job's kernel calls run one at a time anyway, and each libuv thread keeps
    // its own kernel workspace (memory.ts counts one).
    env: { ...process.env, GATED_SERVER_TRAINING: 'child', UV_THREADPOOL_SIZE: '1' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced', // structured clone: NaN metrics and nested objects cross as they are
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4096);
  });
  let exited = false;
  child.on('message', (m: FromWorker) => options.onMessage(m));
  child.on('error', () => undefined); // a failed send or kill; 'exit' reports the end
  child.once('exit', (code, signal) => {
    exited = true;
    options.onExit({ code, signal, stderr });
  });
  child.send({ type: 'start', input } satisfies ToWorker);
  return {
    cancel: () => {
      if (!exited && child.connected) child.send({ type: 'cancel' } satisfies ToWorker, () => undefined);
    },
    kill: () => {
      if (!exited) child.kill('SIGKILL');
    },
    rss: () => (exited || child.pid === undefined ? null : residentBytes(child.pid)),
  };
}

function startWorker(input: WorkerInput, options: StartOptions): TrainingRun {
  const worker = FROM_SOURCE
    ? new Worker(
        `import(${JSON.stringify(tsxEntry('./esm/api'))}).then((tsx) => tsx.tsImport(${JSON.stringify(SELF)}, ${JSON.stringify(SELF)}))`,
        { eval: true, workerData: input },
      )
    : new Worker(new URL(SELF), { workerData: input });
  let failure = '';
  worker.on('message', (m: FromWorker) => options.onMessage(m));
  worker.on('error', (error) => {
    failure = error instanceof Error ? (error.stack ?? error.message) : String(error);
  });
  worker.once('exit', (code) => options.onExit({ code, signal: null, stderr: failure }));
  return {
    cancel: () => worker.postMessage({ type: 'cancel' } satisfies ToWorker),
    kill: () => void worker.terminate(),
    rss: () => null,
  };
}

/** Resident memory of process `pid` (VmRSS in /proc/<pid>/status), or null where there is no /proc. */
function residentBytes(pid: number): number | null {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The job itself, in the runner: trains, saves, and reports through `post`. */
async function runJob(input: WorkerInput, post: (m: FromWorker) => void, onCancel: (f: () => void) => void): Promise<void> {
  const controller = new AbortController();
  onCancel(() => controller.abort());
  const signal = controller.signal;
  try {
    const trained = await train(input.config, input.file, {
      signal,
      onPrepared: (info) => post({ type: 'prepared', info }),
      onBatch: (progress) => post({ type: 'batch', progress }),
      onEpoch: (summary) => post({ type: 'epoch', summary }),
    });
    if (signal.aborted) throw new AbortError();
    await trained.model.save(input.weightsPath);
    post({ type: 'trained', meta: metaOf(trained) });
  } catch (error) {
    post({ type: 'failed', ...failureOf(error, signal.aborted) });
  }
}

if (!isMainThread && parentPort && (workerData as Partial<WorkerInput> | null)?.kind === 'gated-server-training') {
  const port = parentPort;
  void runJob(
    workerData as WorkerInput,
    (m) => port.postMessage(m),
    (cancel) => {
      port.on('message', (m: ToWorker) => {
        if (m.type === 'cancel') cancel();
      });
    },
  ).finally(() => port.close()); // nothing else keeps the worker alive: it exits
} else if (isMainThread && process.env.GATED_SERVER_TRAINING === 'child' && typeof process.send === 'function') {
  // A child process: the server going away (disconnect) ends it; the first message is the job.
  process.once('disconnect', () => process.exit(0));
  let cancel = (): void => undefined;
  let sent: Promise<void> = Promise.resolve(); // the last message, once written to the channel
  const post = (out: FromWorker): void => {
    sent = new Promise((done) => process.send?.(out, undefined, {}, () => done()));
  };
  process.on('message', (m: ToWorker) => {
    if (m.type === 'cancel') cancel();
    else if (m.type === 'start') {
      void runJob(m.input, post, (f) => {
        cancel = f;
      })
        .then(() => sent)
        .finally(() => process.disconnect()); // then nothing keeps the child alive
    }
  });
}

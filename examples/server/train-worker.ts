/**
 * One training job in a worker thread (`node:worker_threads`): the example server's default, so
 * that the job's JavaScript (batch assembly, the synchronous parts of the kernel calls) and its
 * garbage collection run on another thread and another heap, never between two HTTP requests on
 * the server's event loop. The kernels themselves run in native threads either way.
 *
 * The worker gets a {@link WorkerInput} as `workerData`, trains (training.ts), saves the weights to
 * `weightsPath` (atomic) and posts {@link FromWorker} messages: `prepared`, `batch`, `epoch`, then
 * `trained` (what the sidecar needs) or `failed`. `{ type: 'cancel' }` aborts the fit between two
 * batches. The server writes the sidecar and lists the model (registry.ts `commit`).
 *
 * {@link startTrainingWorker} starts it: from compiled JavaScript it runs `train-worker.js`; from
 * TypeScript source (tsx, vitest) it boots the worker through tsx's `tsImport`, because module
 * hooks registered on the main thread do not reach workers.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { AbortError, type VocabularyJSON } from '../../lib/index.js';
import type { ModelMetric } from './registry.js';
import type { DataFile, JobConfig } from './schema.js';
import { type BatchProgress, type EpochSummary, type Failure, type Trained, failureOf, train } from './training.js';

/** What the worker is given. */
export interface WorkerInput {
  /** Marks this module's workers. */
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

/** Messages to the worker. */
export type ToWorker = { readonly type: 'cancel' };

/** Messages from the worker. */
export type FromWorker =
  | { readonly type: 'prepared'; readonly info: Readonly<Record<string, number | string>> }
  | { readonly type: 'batch'; readonly progress: BatchProgress }
  | { readonly type: 'epoch'; readonly summary: EpochSummary }
  | { readonly type: 'trained'; readonly meta: TrainedMeta }
  | ({ readonly type: 'failed' } & Failure);

/** The parts of a {@link Trained} that cross threads. */
export function metaOf(t: Trained): TrainedMeta {
  return {
    vocabulary: t.vocab.toJSON(), metric: t.metric, tokenizer: t.tokenizer, labels: t.labels, maxLen: t.maxLen, parameters: t.parameters, trainSeconds: t.trainSeconds,
  };
}

/**
 * The URL of tsx's ESM API (`tsx/esm/api`, its `import` entry). Read from tsx's package.json by
 * hand: `require.resolve` gives the CommonJS entry, which cannot boot a worker, and
 * `import.meta.resolve` is not there under every runner (vitest).
 */
function tsxEsmApi(from: string): string {
  const pkgPath = createRequire(from).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: string | { default: string } }> };
  const entry = pkg.exports['./esm/api'].import;
  return pathToFileURL(join(dirname(pkgPath), typeof entry === 'string' ? entry : entry.default)).href;
}

/** Starts a training worker (see the module comment). */
export function startTrainingWorker(input: WorkerInput): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL(self), { workerData: input });
  const api = tsxEsmApi(self);
  const boot = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(self)}, ${JSON.stringify(self)}))`;
  return new Worker(boot, { eval: true, workerData: input });
}

async function runWorker(port: NonNullable<typeof parentPort>, input: WorkerInput): Promise<void> {
  const post = (m: FromWorker): void => port.postMessage(m);
  const controller = new AbortController();
  port.on('message', (m: ToWorker) => {
    if (m.type === 'cancel') controller.abort();
  });
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
  } finally {
    port.close(); // nothing else keeps the worker alive: it exits
  }
}

if (!isMainThread && parentPort && (workerData as Partial<WorkerInput> | null)?.kind === 'gated-server-training') {
  void runWorker(parentPort, workerData as WorkerInput);
}

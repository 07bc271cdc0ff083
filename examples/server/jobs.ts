/**
 * Training jobs of the example server: a FIFO queue, at most `maxJobs` running at once (each with
 * its own AbortController), and the events each job publishes to its subscribers (the
 * `GET /jobs/:id/events` streams).
 *
 * Life of a job: `queued` -> `running` -> one of `done`, `cancelled`, `error` (final). Events, in
 * order: `status` (on every change of status), `prepared` (the data once read), `progress` (after a
 * batch, at most one per `progressIntervalMs`, and always after an epoch's last batch), `epoch`,
 * then exactly one final event: `done` (the saved model's name and its metric), `cancelled` or
 * `error` (a message). Each event has an id, counting from 1 per job.
 *
 * Subscribers are plain functions in a Set; the stream handler removes its own when the client
 * goes away, and every subscriber is dropped when the job ends, so no listener outlives its stream.
 * Finished jobs are kept for `GET /jobs` (the newest `keepFinished`).
 */
import { randomBytes } from 'node:crypto';

import { AbortError, Vocabulary } from '../../lib/index.js';
import { RequestError } from './http.js';
import type { ClassifierModel, LanguageModel, ModelInfo, ModelMetric, ModelRegistry } from './registry.js';
import { type DataFile, type JobConfig, type Task, resolveDataFile } from './schema.js';
import { type FromWorker, type TrainedMeta, type WorkerInput, metaOf, startTrainingWorker } from './train-worker.js';
import { type BatchProgress, type EpochSummary, type Failure, type TrainHooks, failureOf, train } from './training.js';

/** Where a job is. */
export type JobStatus = 'queued' | 'running' | 'done' | 'cancelled' | 'error';

/** The events of a job's stream. */
export type JobEventName = 'status' | 'prepared' | 'progress' | 'epoch' | 'done' | 'cancelled' | 'error';

/** One event of a job. */
export interface JobEvent {
  /** 1, 2, ... per job. */
  readonly id: number;
  readonly event: JobEventName;
  readonly data: unknown;
}

/** What `done` carries. */
export interface JobResult {
  /** The saved model (`POST /models/<model>/generate` or `/classify`). */
  readonly model: string;
  readonly metric: ModelMetric;
  readonly parameters: number;
  readonly trainSeconds: number;
}

/** What `GET /jobs/:id` (and the `status` event) shows. */
export interface JobSnapshot {
  readonly id: string;
  /** The name the model is (or will be) saved under. */
  readonly name: string;
  readonly task: Task;
  readonly status: JobStatus;
  readonly data: string;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** The data as read (`prepared` event), or null before. */
  readonly prepared: Readonly<Record<string, number | string>> | null;
  /** The latest batch's progress, or null before the first batch. */
  readonly progress: BatchProgress | null;
  /** Every finished epoch. */
  readonly epochs: readonly EpochSummary[];
  readonly result: JobResult | null;
  /** Why it failed or was cancelled. */
  readonly error: string | null;
  /** Open event streams on this job. */
  readonly subscribers: number;
  readonly config: JobConfig;
}

/** Options of {@link JobManager}. */
export interface JobManagerOptions {
  readonly dataDir: string;
  readonly registry: ModelRegistry;
  /** Jobs training at once. Default 1: on a small machine, two jobs only split the same cores. */
  readonly maxJobs?: number;
  /** Jobs waiting; beyond, `POST /jobs` is a 503. Default 16. */
  readonly maxQueued?: number;
  /** Finished jobs kept for listing. Default 100. */
  readonly keepFinished?: number;
  /** Least time between two `progress` events of a job, in ms. Default 100 (at most 10 a second). */
  readonly progressIntervalMs?: number;
  /**
   * Where jobs train: `'worker'`, each in its own worker thread (its JavaScript and garbage
   * collection never pause the server's event loop); `'main'`, on the server's thread. Default `'worker'`.
   */
  readonly trainIn?: 'worker' | 'main';
  readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

type Listener = (event: JobEvent) => void;

class Job {
  status: JobStatus = 'queued';
  readonly controller = new AbortController();
  readonly listeners = new Set<Listener>();
  readonly createdAt = new Date().toISOString();
  startedAt: string | null = null;
  finishedAt: string | null = null;
  prepared: Readonly<Record<string, number | string>> | null = null;
  progress: BatchProgress | null = null;
  lastProgressAt = -Infinity;
  readonly epochs: EpochSummary[] = [];
  result: JobResult | null = null;
  error: string | null = null;
  cancelReason = 'cancelled by request';
  seq = 0;
  /** The final event, once there is one. */
  final: JobEvent | null = null;
  private settle: () => void = () => undefined;
  /** Resolves when the job has ended (any final status). */
  readonly settled = new Promise<void>((resolve) => {
    this.settle = resolve;
  });

  constructor(readonly id: string, readonly name: string, readonly config: JobConfig) {}

  get active(): boolean {
    return this.status === 'queued' || this.status === 'running';
  }

  emit(event: JobEventName, data: unknown): JobEvent {
    const e: JobEvent = { id: ++this.seq, event, data };
    const isFinal = event === 'done' || event === 'cancelled' || event === 'error';
    if (isFinal) this.final = e;
    for (const listener of [...this.listeners]) listener(e);
    if (isFinal) {
      this.listeners.clear();
      this.settle();
    }
    return e;
  }

  snapshot(): JobSnapshot {
    return {
      id: this.id, name: this.name, task: this.config.task, status: this.status, data: this.config.data, createdAt: this.createdAt,
      startedAt: this.startedAt, finishedAt: this.finishedAt, prepared: this.prepared, progress: this.progress, epochs: this.epochs,
      result: this.result, error: this.error, subscribers: this.listeners.size, config: this.config,
    };
  }
}

/** The jobs of one server; see the module comment. */
export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private readonly running = new Set<Job>();
  private readonly maxJobs: number;
  private readonly maxQueued: number;
  private readonly keepFinished: number;
  private readonly progressIntervalMs: number;
  private readonly trainIn: 'worker' | 'main';
  private closing = false;

  constructor(private readonly options: JobManagerOptions) {
    this.maxJobs = options.maxJobs ?? 1;
    this.maxQueued = options.maxQueued ?? 16;
    this.keepFinished = options.keepFinished ?? 100;
    this.progressIntervalMs = options.progressIntervalMs ?? 100;
    this.trainIn = options.trainIn ?? 'worker';
  }

  /** Jobs running and waiting. */
  counts(): { readonly running: number; readonly queued: number } {
    return { running: this.running.size, queued: this.queue.length };
  }

  /**
   * Queues a job for a checked configuration (its data file already checked by the caller) and
   * starts it if a slot is free. 409 when the model name is taken (by a model or an active job),
   * 503 when the queue is full or the server is closing.
   */
  create(config: JobConfig): JobSnapshot {
    if (this.closing) throw new RequestError(503, 'the server is shutting down');
    if (this.queue.length >= this.maxQueued) {
      throw new RequestError(503, `${this.queue.length} jobs are waiting already (the limit): try again later`, undefined, { 'retry-after': '10' });
    }
    let id = randomBytes(6).toString('hex');
    while (this.jobs.has(id)) id = randomBytes(6).toString('hex');
    const name = config.name ?? `${config.task}-${id}`;
    if (this.options.registry.has(name)) throw new RequestError(409, `a model named '${name}' exists already: choose another name`, 'name');
    const other = [...this.jobs.values()].find((j) => j.active && j.name === name);
    if (other) throw new RequestError(409, `job ${other.id} is training a model named '${name}' already: choose another name`, 'name');
    const job = new Job(id, name, config);
    this.jobs.set(id, job);
    this.queue.push(job);
    this.pump();
    return job.snapshot();
  }

  /** Every job, newest first. */
  list(): JobSnapshot[] {
    return [...this.jobs.values()].reverse().map((j) => j.snapshot());
  }

  /** One job's snapshot, or a 404. */
  get(id: string): JobSnapshot {
    return this.job(id).snapshot();
  }

  /**
   * Follows a job: `send` gets every event from now on, until the final one. Gives the current
   * snapshot, the final event if the job has ended already (then `send` is never called), and the
   * function that stops following (idempotent).
   */
  subscribe(id: string, send: Listener): { readonly snapshot: JobSnapshot; readonly final: JobEvent | null; readonly unsubscribe: () => void } {
    const job = this.job(id);
    if (job.final) return { snapshot: job.snapshot(), final: job.final, unsubscribe: () => undefined };
    job.listeners.add(send);
    return { snapshot: job.snapshot(), final: null, unsubscribe: () => job.listeners.delete(send) };
  }

  /**
   * Cancels a job: a queued one at once; a running one through its signal (`fit` stops between
   * batches), waiting up to `waitMs` for it to end. 409 when it has ended already.
   */
  async cancel(id: string, waitMs = 5000, reason = 'cancelled by request'): Promise<JobSnapshot> {
    const job = this.job(id);
    if (!job.active) throw new RequestError(409, `job ${id} has ended already (${job.status})`, 'id');
    this.stop(job, reason);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([job.settled, new Promise<void>((resolve) => { timer = setTimeout(resolve, waitMs); })]);
    clearTimeout(timer);
    return job.snapshot();
  }

  /** Stops taking jobs, cancels every active one and waits for the running ones to end. */
  async close(): Promise<void> {
    this.closing = true;
    const active = [...this.jobs.values()].filter((j) => j.active);
    for (const job of active) this.stop(job, 'the server is shutting down');
    await Promise.all(active.map((j) => j.settled));
  }

  private job(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new RequestError(404, `no job with id ${JSON.stringify(id.slice(0, 64))} (GET /jobs lists them)`, 'id');
    return job;
  }

  private stop(job: Job, reason: string): void {
    job.cancelReason = reason;
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.finish(job, 'cancelled', reason);
      return;
    }
    job.controller.abort();
  }

  private pump(): void {
    while (!this.closing && this.running.size < this.maxJobs && this.queue.length > 0) {
      const job = this.queue.shift() as Job;
      this.running.add(job);
      void this.run(job).finally(() => {
        this.running.delete(job);
        this.pump();
      });
    }
  }

  private async run(job: Job): Promise<void> {
    job.status = 'running';
    job.startedAt = new Date().toISOString();
    job.emit('status', job.snapshot());
    this.options.log('info', `job ${job.id}: training ${job.config.task} '${job.name}' on ${job.config.data} (${this.trainIn === 'worker' ? 'in a worker thread' : 'on the main thread'})`);
    const signal = job.controller.signal;
    const hooks: Omit<TrainHooks, 'signal'> = {
      onPrepared: (info) => {
        job.prepared = info;
        job.emit('prepared', info);
      },
      onBatch: (p) => {
        job.progress = p;
        const now = performance.now();
        if (now - job.lastProgressAt >= this.progressIntervalMs || p.batch === p.batches) {
          job.lastProgressAt = now;
          job.emit('progress', p);
        }
      },
      onEpoch: (e) => {
        job.epochs.push(e);
        job.emit('epoch', e);
      },
    };
    let failure: Failure | null = null;
    try {
      // Checked again now: the file may have changed since the job was queued.
      const file = await resolveDataFile(this.options.dataDir, job.config.data);
      const registry = this.options.registry;
      const weightsPath = registry.weightsPath(job.name);
      const outcome = this.trainIn === 'worker'
        ? await trainInWorker({ kind: 'gated-server-training', config: job.config, file, weightsPath }, signal, hooks)
        : await trainInline(job.config, file, signal, hooks);
      if ('failed' in outcome) {
        failure = outcome.failed;
      } else {
        const { meta, model } = outcome;
        const info: ModelInfo = {
          format: 'gated.server-model', version: 1, name: job.name, task: job.config.task, tokenizer: meta.tokenizer,
          vocabulary: meta.vocabulary, labels: meta.labels, maxLen: meta.maxLen, metric: meta.metric,
          created: new Date().toISOString(), job: job.id, config: job.config, parameters: meta.parameters, trainSeconds: meta.trainSeconds,
        };
        const vocab = Vocabulary.fromJSON(meta.vocabulary);
        if (model) await registry.add(model, info, vocab);
        else await registry.commit(info, vocab, null);
        job.result = { model: job.name, metric: meta.metric, parameters: meta.parameters, trainSeconds: meta.trainSeconds };
      }
    } catch (error) {
      failure = failureOf(error, signal.aborted);
    }
    if (failure === null) {
      this.finish(job, 'done', null);
    } else if (failure.cancelled) {
      this.finish(job, 'cancelled', job.cancelReason);
    } else {
      if (failure.detail) this.options.log('error', `job ${job.id}: ${failure.detail}`);
      this.finish(job, 'error', failure.message);
    }
  }

  private finish(job: Job, status: 'done' | 'cancelled' | 'error', message: string | null): void {
    job.status = status;
    job.finishedAt = new Date().toISOString();
    if (status !== 'done') job.error = message;
    this.options.log('info', `job ${job.id}: ${status}${message ? ` (${message})` : ''}`);
    if (status === 'done') job.emit('done', { id: job.id, ...(job.result as JobResult) });
    else job.emit(status, { id: job.id, ...(status === 'cancelled' ? { reason: message } : { message }) });
    this.evict();
  }

  private evict(): void {
    const finished = [...this.jobs.values()].filter((j) => !j.active);
    for (let i = 0; i < finished.length - this.keepFinished; i++) this.jobs.delete(finished[i].id);
  }
}

// ---------------------------------------------------------------------------------------------
// the two ways to train

type Outcome = { readonly meta: TrainedMeta; readonly model: LanguageModel | ClassifierModel | null } | { readonly failed: Failure };

/** Trains on this thread; the weights stay in memory (the registry saves them). */
async function trainInline(config: JobConfig, file: DataFile, signal: AbortSignal, hooks: Omit<TrainHooks, 'signal'>): Promise<Outcome> {
  try {
    const trained = await train(config, file, { ...hooks, signal });
    if (signal.aborted) throw new AbortError();
    return { meta: metaOf(trained), model: trained.model };
  } catch (error) {
    return { failed: failureOf(error, signal.aborted) };
  }
}

/** Trains in a worker thread (train-worker.ts), which saves the weights itself; `signal` cancels it. */
function trainInWorker(input: WorkerInput, signal: AbortSignal, hooks: Omit<TrainHooks, 'signal'>): Promise<Outcome> {
  return new Promise((resolve) => {
    const worker = startTrainingWorker(input);
    let outcome: Outcome | null = null;
    const cancel = (): void => worker.postMessage({ type: 'cancel' });
    signal.addEventListener('abort', cancel, { once: true });
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'prepared') hooks.onPrepared(m.info);
      else if (m.type === 'batch') hooks.onBatch(m.progress);
      else if (m.type === 'epoch') hooks.onEpoch(m.summary);
      else if (m.type === 'trained') outcome = { meta: m.meta, model: null };
      else outcome = { failed: { cancelled: m.cancelled, message: m.message, detail: m.detail } };
    });
    worker.on('error', (error) => {
      outcome ??= { failed: failureOf(error, signal.aborted) };
    });
    worker.on('exit', (code) => {
      signal.removeEventListener('abort', cancel);
      resolve(outcome ?? { failed: { cancelled: signal.aborted, message: 'the training worker stopped unexpectedly (see the server log)', detail: `training worker exited with code ${code}` } });
    });
  });
}

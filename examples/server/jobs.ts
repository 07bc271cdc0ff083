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
 *
 * Limits, checked when a job is created: its memory estimate (memory.ts) against the per-job
 * budget (400), the jobs its owner has queued or running (429), the disk its model may take on top
 * of the saved models and the jobs in flight against the quota (507). A job trains in a child
 * process by default (train-worker.ts): its resident size is polled and the process is killed past
 * the job's memory limit (the job ends with an `error`); a cancelled job that has not stopped
 * `cancelGraceMs` later is killed too (it ends `cancelled`). Either way the server runs on, and
 * removes the temporary file of a save the kill interrupted.
 *
 * Owners: each job belongs to the token that created it (its id, server.ts); another token sees no
 * such job (404). Without tokens every job is everyone's.
 */
import { randomBytes } from 'node:crypto';

import { AbortError, Vocabulary, cleanupTempFiles } from '../../lib/index.js';
import { RequestError } from './http.js';
import { estimateJobMemory, formatBytes, modelFileBound, overBudgetMessage } from './memory.js';
import type { ClassifierModel, LanguageModel, ModelInfo, ModelMetric, ModelRegistry } from './registry.js';
import { type DataFile, type JobConfig, type Task, resolveDataFile } from './schema.js';
import {
  type FromWorker,
  type RunnerExit,
  type TrainedMeta,
  type TrainingPlace,
  type WorkerInput,
  metaOf,
  startTraining,
} from './train-worker.js';
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
  /** The memory estimate it was admitted with, and the largest resident size seen of its process (null: not measured). */
  readonly memory: { readonly estimateBytes: number; readonly peakResidentBytes: number | null };
  readonly config: JobConfig;
}

/** Where a job trains: a child process (default), a worker thread, or the server's own thread. */
export type TrainIn = TrainingPlace | 'main';

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
   * Where jobs train: `'process'`, each in a child process with its own memory limit (the
   * default); `'worker'`, each in a worker thread (its JavaScript and garbage collection never
   * pause the server's event loop, but it shares the server's memory); `'main'`, on the server's
   * thread.
   */
  readonly trainIn?: TrainIn;
  /** A job whose memory estimate (memory.ts) is above this is refused (400). Default 2 GiB. */
  readonly maxJobMemoryBytes?: number;
  /**
   * The resident size at which a job's child process is killed (`trainIn: 'process'`, where /proc
   * tells it), polled every 200 ms; its JavaScript heap is capped at the same size. Default:
   * maxJobMemoryBytes and a quarter (the estimate is an estimate).
   */
  readonly jobMemoryLimitBytes?: number;
  /** How long a cancelled job may take to stop before its process (or worker) is killed, ms. Default 5000. */
  readonly cancelGraceMs?: number;
  /** Jobs one owner may have queued or running. Default 4. */
  readonly maxJobsPerOwner?: number;
  /** Disk the saved models may take, together with what the jobs in flight may add, in bytes. Default 1 GiB. */
  readonly maxModelBytes?: number;
  /** Saved models at most (counting the jobs in flight). Default 100. */
  readonly maxModels?: number;
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
  peakResident: number | null = null;
  private settle: () => void = () => undefined;
  /** Resolves when the job has ended (any final status). */
  readonly settled = new Promise<void>((resolve) => {
    this.settle = resolve;
  });

  constructor(
    readonly id: string,
    readonly name: string,
    readonly config: JobConfig,
    readonly owner: string | null,
    readonly memoryEstimate: number,
    readonly diskBound: number,
  ) {}

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
      id: this.id,
      name: this.name,
      task: this.config.task,
      status: this.status,
      data: this.config.data,
      createdAt: this.createdAt,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      prepared: this.prepared,
      progress: this.progress,
      epochs: this.epochs,
      result: this.result,
      error: this.error,
      subscribers: this.listeners.size,
      memory: { estimateBytes: this.memoryEstimate, peakResidentBytes: this.peakResident },
      config: this.config,
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
  private readonly trainIn: TrainIn;
  private readonly maxJobMemory: number;
  private readonly memoryLimit: number;
  private readonly cancelGraceMs: number;
  private readonly maxJobsPerOwner: number;
  private readonly maxModelBytes: number;
  private readonly maxModels: number;
  private closing = false;

  constructor(private readonly options: JobManagerOptions) {
    this.maxJobs = options.maxJobs ?? 1;
    this.maxQueued = options.maxQueued ?? 16;
    this.keepFinished = options.keepFinished ?? 100;
    this.progressIntervalMs = options.progressIntervalMs ?? 100;
    this.trainIn = options.trainIn ?? 'process';
    this.maxJobMemory = options.maxJobMemoryBytes ?? 2 ** 31;
    this.memoryLimit = options.jobMemoryLimitBytes ?? Math.round(this.maxJobMemory * 1.25);
    this.cancelGraceMs = options.cancelGraceMs ?? 5000;
    this.maxJobsPerOwner = options.maxJobsPerOwner ?? 4;
    this.maxModelBytes = options.maxModelBytes ?? 2 ** 30;
    this.maxModels = options.maxModels ?? 100;
  }

  /** Jobs running and waiting. */
  counts(): { readonly running: number; readonly queued: number } {
    return { running: this.running.size, queued: this.queue.length };
  }

  /**
   * Queues a job for a checked configuration and its data file (checked by the caller) for `owner`
   * (a token's id, or null without tokens), and starts it if a slot is free. 400 when its memory
   * estimate is over the budget, 409 when the model name is taken (by a model or an active job),
   * 429 when its owner has `maxJobsPerOwner` active jobs, 503 when the queue is full or the server is
   * closing, 507 when the model could take more disk than the quota leaves.
   */
  create(config: JobConfig, file: DataFile, owner: string | null): JobSnapshot {
    if (this.closing) throw new RequestError(503, 'the server is shutting down');
    const memory = estimateJobMemory(config, file.size);
    if (memory.total > this.maxJobMemory) throw new RequestError(400, overBudgetMessage(config, memory, this.maxJobMemory), 'train');
    if (this.queue.length >= this.maxQueued) {
      throw new RequestError(503, `${this.queue.length} jobs are waiting already (the limit): try again later`, undefined, {
        'retry-after': '10',
      });
    }
    const active = [...this.jobs.values()].filter((j) => j.active);
    if (active.filter((j) => j.owner === owner).length >= this.maxJobsPerOwner) {
      throw new RequestError(
        429,
        `you have ${this.maxJobsPerOwner} job(s) queued or running (the limit): wait for one to end or cancel one`,
        undefined,
        { 'retry-after': '10' },
      );
    }
    const registry = this.options.registry;
    const disk = modelFileBound(config);
    const inFlight = active.reduce((n, j) => n + j.diskBound, 0);
    if (registry.size + active.length >= this.maxModels) {
      throw new RequestError(
        507,
        `${registry.size} models are saved and ${active.length} jobs in flight: the server keeps at most ${this.maxModels} models`,
      );
    }
    if (registry.bytes + inFlight + disk > this.maxModelBytes) {
      throw new RequestError(
        507,
        `the model could take ${formatBytes(disk)}, and the saved models (${formatBytes(registry.bytes)}) and jobs in flight (${formatBytes(inFlight)}) leave ${formatBytes(Math.max(0, this.maxModelBytes - registry.bytes - inFlight))} of the ${formatBytes(this.maxModelBytes)} quota`,
      );
    }
    let id = randomBytes(6).toString('hex');
    while (this.jobs.has(id)) id = randomBytes(6).toString('hex');
    const name = config.name ?? `${config.task}-${id}`;
    if (registry.has(name)) throw new RequestError(409, `a model named '${name}' exists already: choose another name`, 'name');
    const other = active.find((j) => j.name === name);
    if (other) throw new RequestError(409, `a job is training a model named '${name}' already: choose another name`, 'name');
    const job = new Job(id, name, config, owner, memory.total, disk);
    this.jobs.set(id, job);
    this.queue.push(job);
    this.pump();
    return job.snapshot();
  }

  /** Every job `owner` may see, newest first. */
  list(owner: string | null): JobSnapshot[] {
    return [...this.jobs.values()]
      .reverse()
      .filter((j) => visible(j, owner))
      .map((j) => j.snapshot());
  }

  /** One job's snapshot, or a 404. */
  get(id: string, owner: string | null): JobSnapshot {
    return this.job(id, owner).snapshot();
  }

  /**
   * Follows a job: `send` gets every event from now on, until the final one. Gives the current
   * snapshot, the final event if the job has ended already (then `send` is never called), and the
   * function that stops following (idempotent).
   */
  subscribe(
    id: string,
    owner: string | null,
    send: Listener,
  ): { readonly snapshot: JobSnapshot; readonly final: JobEvent | null; readonly unsubscribe: () => void } {
    const job = this.job(id, owner);
    if (job.final) return { snapshot: job.snapshot(), final: job.final, unsubscribe: () => undefined };
    job.listeners.add(send);
    return { snapshot: job.snapshot(), final: null, unsubscribe: () => job.listeners.delete(send) };
  }

  /**
   * Cancels a job: a queued one at once; a running one through its signal (`fit` stops between
   * batches), waiting up to `waitMs` for it to end. 409 when it has ended already.
   */
  async cancel(id: string, owner: string | null, waitMs = 5000, reason = 'cancelled by request'): Promise<JobSnapshot> {
    const job = this.job(id, owner);
    if (!job.active) throw new RequestError(409, `job ${id} has ended already (${job.status})`, 'id');
    this.stop(job, reason);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      job.settled,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
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

  private job(id: string, owner: string | null): Job {
    const job = this.jobs.get(id);
    if (!job || !visible(job, owner))
      throw new RequestError(404, `no job with id ${JSON.stringify(id.slice(0, 64))} (GET /jobs lists them)`, 'id');
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
    const where = { process: 'in a child process', worker: 'in a worker thread', main: 'on the main thread' }[this.trainIn];
    this.options.log(
      'info',
      `job ${job.id}: training ${job.config.task} '${job.name}' on ${job.config.data} (${where}, estimated ${formatBytes(job.memoryEstimate)})`,
    );
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
      const outcome =
        this.trainIn === 'main'
          ? await trainInline(job.config, file, signal, hooks)
          : await this.trainElsewhere(job, { kind: 'gated-server-training', config: job.config, file, weightsPath }, hooks);
      if ('failed' in outcome) {
        failure = outcome.failed;
      } else {
        const { meta, model } = outcome;
        const info: ModelInfo = {
          format: 'gated.server-model',
          version: 1,
          name: job.name,
          owner: job.owner,
          task: job.config.task,
          tokenizer: meta.tokenizer,
          vocabulary: meta.vocabulary,
          labels: meta.labels,
          maxLen: meta.maxLen,
          metric: meta.metric,
          created: new Date().toISOString(),
          job: job.id,
          config: job.config,
          parameters: meta.parameters,
          trainSeconds: meta.trainSeconds,
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

  /**
   * Trains in a child process or a worker thread (train-worker.ts), which saves the weights itself.
   * The job's signal cancels it, and kills it `cancelGraceMs` later if it is still there; a child
   * process is killed when its resident size passes the memory limit.
   */
  private trainElsewhere(job: Job, input: WorkerInput, hooks: Omit<TrainHooks, 'signal'>): Promise<Outcome> {
    const signal = job.controller.signal;
    return new Promise((resolve) => {
      let outcome: Outcome | null = null;
      let overLimit: number | null = null;
      let grace: NodeJS.Timeout | undefined;
      const run = startTraining(input, {
        place: this.trainIn === 'worker' ? 'worker' : 'process',
        heapMiB: this.memoryLimit / 2 ** 20,
        onMessage: (m: FromWorker) => {
          if (m.type === 'prepared') hooks.onPrepared(m.info);
          else if (m.type === 'batch') hooks.onBatch(m.progress);
          else if (m.type === 'epoch') hooks.onEpoch(m.summary);
          else if (m.type === 'trained') outcome = { meta: m.meta, model: null };
          else outcome = { failed: { cancelled: m.cancelled, message: m.message, detail: m.detail } };
        },
        onExit: (exit) => {
          clearInterval(watch);
          clearTimeout(grace);
          signal.removeEventListener('abort', cancel);
          if (outcome === null || 'failed' in outcome) {
            // A kill may have cut a save short: its temporary file goes.
            try {
              cleanupTempFiles(this.options.registry.dir, `${job.name}.safetensors`);
            } catch (error) {
              this.options.log('warn', `job ${job.id}: cannot remove temporary files: ${(error as Error).message}`);
            }
          }
          resolve(outcome ?? { failed: exitFailure(exit, signal.aborted, overLimit, this.memoryLimit) });
        },
      });
      const cancel = (): void => {
        run.cancel();
        grace = setTimeout(() => {
          job.cancelReason += ` (it did not stop within ${this.cancelGraceMs} ms and was killed)`;
          run.kill();
        }, this.cancelGraceMs);
      };
      signal.addEventListener('abort', cancel, { once: true });
      const watch = setInterval(() => {
        const rss = run.rss();
        if (rss === null) return;
        job.peakResident = Math.max(job.peakResident ?? 0, rss);
        if (rss > this.memoryLimit && overLimit === null) {
          overLimit = rss;
          run.kill();
        }
      }, 200);
    });
  }
}

/** Whether `owner` (null: no tokens, everyone) may see `job`. */
function visible(job: Job, owner: string | null): boolean {
  return owner === null || job.owner === owner;
}

/** Why a runner that sent no outcome ended. */
function exitFailure(exit: RunnerExit, cancelled: boolean, overLimit: number | null, limit: number): Failure {
  if (overLimit !== null) {
    return {
      cancelled: false,
      detail: null,
      message: `the job's process reached ${formatBytes(overLimit)}, above its memory limit of ${formatBytes(limit)}, and was stopped: lower train.batchSize, train.window (or train.maxLen) or model.hiddenSize`,
    };
  }
  if (cancelled) return { cancelled: true, message: 'cancelled', detail: null };
  if (/heap out of memory/i.test(exit.stderr)) {
    return { cancelled: false, message: `the job ran out of JavaScript heap (its limit is ${formatBytes(limit)})`, detail: exit.stderr };
  }
  return {
    cancelled: false,
    message: 'the training process stopped unexpectedly (see the server log)',
    detail: `training runner exited with ${exit.signal ?? `code ${exit.code}`}${exit.stderr ? `: ${exit.stderr}` : ''}`,
  };
}

// ---------------------------------------------------------------------------------------------
// training on the server's own thread

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

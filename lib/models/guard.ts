/**
 * What keeps concurrent use of one model well defined (training while serving, several callers):
 *
 * - **Weights lock.** Inference forwards (`model.forward`, `predict`, `evaluate`, sessions,
 *   generation) read the weights on worker threads, and an optimizer step writes them on worker
 *   threads. {@link weightsLock} gives each model a readers-writer lock: a step waits for the reads in
 *   flight and runs alone; reads wait for a step in flight. A waiting step goes before reads that
 *   arrive after it, so a busy server cannot starve training. So a prediction made while a model
 *   trains uses the weights after the last completed batch, never a half-updated mix.
 * - **One fit at a time.** {@link beginTraining} marks a model as training; a second `fit` on it is a
 *   {@link BusyError}. Different models train at the same time (the native thread pool runs their
 *   kernel calls one after the other).
 */
import { BusyError } from '../errors.js';

/** A FIFO readers-writer lock with waiting writers first (see the module comment). */
export class WeightsLock {
  private readers = 0;
  private writing = false;
  private writersWaiting = 0;
  private readonly queue: { readonly write: boolean; readonly go: () => void }[] = [];

  /** Runs `f` while no step runs. */
  async read<T>(f: () => Promise<T>): Promise<T> {
    if (this.writing || this.writersWaiting > 0) await new Promise<void>((go) => this.queue.push({ write: false, go }));
    else this.readers++;
    try {
      return await f();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  /** Runs `f` alone. */
  async write<T>(f: () => Promise<T>): Promise<T> {
    if (this.writing || this.readers > 0 || this.queue.length > 0) {
      this.writersWaiting++;
      await new Promise<void>((go) => this.queue.push({ write: true, go }));
    } else {
      this.writing = true;
    }
    try {
      return await f();
    } finally {
      this.writing = false;
      this.wake();
    }
  }

  /** Lets in the next writer, or every reader queued before the next writer. */
  private wake(): void {
    if (this.writing || this.readers > 0) return;
    const first = this.queue[0];
    if (!first) return;
    if (first.write) {
      this.queue.shift();
      this.writersWaiting--;
      this.writing = true;
      first.go();
      return;
    }
    while (this.queue.length > 0 && !this.queue[0].write) {
      this.readers++;
      (this.queue.shift() as { go: () => void }).go();
    }
  }
}

const locks = new WeakMap<object, WeightsLock>();
const training = new WeakSet<object>();

/** The weights lock of `model` (created on first use). */
export function weightsLock(model: object): WeightsLock {
  let l = locks.get(model);
  if (!l) {
    l = new WeightsLock();
    locks.set(model, l);
  }
  return l;
}

/** Marks `model` as training until the returned function is called; a BusyError if it already is. */
export function beginTraining(model: object): () => void {
  if (training.has(model)) throw new BusyError('this model is already training (one fit at a time per model)', 'model');
  training.add(model);
  return () => training.delete(model);
}

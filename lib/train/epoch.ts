/**
 * What one pass over the data needs, for `fit` and `evaluate` (lib/train/fit.ts): the epoch's
 * batches in order, the running totals that become the epoch's loss and metrics, and the states a
 * stateful run carries from batch to batch.
 */
import { allFinite, describe } from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import type { RecurrentState } from '../layers/layer.js';
import { batchOf, inputValues, type Kind } from '../layers/values.js';
import type { ModelForwardOptions, ModelStep } from '../models/model.js';
import type { Rng } from '../random.js';
import type { CarriedStates, EpochTotals } from './checkpoint.js';
import type { LossResult } from './losses.js';
import type { MetricName } from './metrics.js';
import type { Data } from './types.js';

/** Sums over batches turned into the epoch's loss and metrics (saved and restored by checkpoints). */
export class Totals {
  private lossSum = 0;
  private count = 0;
  private correct = 0;
  examples = 0;
  batches = 0;

  constructor(saved?: EpochTotals) {
    if (saved)
      ({ lossSum: this.lossSum, count: this.count, correct: this.correct, examples: this.examples, batches: this.batches } = saved);
  }

  /** The sums, and `seconds` the epoch has run. */
  saved(seconds: number): EpochTotals {
    return { lossSum: this.lossSum, count: this.count, correct: this.correct, examples: this.examples, batches: this.batches, seconds };
  }

  add(r: LossResult): void {
    this.lossSum += r.loss * r.count;
    this.count += r.count;
    this.correct += r.correct;
    this.examples += r.examples;
    this.batches++;
  }

  get loss(): number {
    return this.count > 0 ? this.lossSum / this.count : 0;
  }

  metrics(names: readonly MetricName[]): Record<string, number> {
    return metricValues(names, this.loss, this.correct, this.count);
  }
}

/** The metrics of a mean cross-entropy `meanCe` and `correct` of `count` rows. */
export function metricValues(names: readonly MetricName[], meanCe: number, correct: number, count: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) {
    out[n] = n === 'accuracy' ? (count > 0 ? correct / count : 0) : n === 'perplexity' ? Math.exp(meanCe) : meanCe / Math.LN2;
  }
  return out;
}

/** The epoch's batches as `data` gives them (called once per epoch). */
export function epochData<B>(data: Data<B>, epoch: number): Iterable<B> | AsyncIterable<B> {
  return typeof data === 'function' ? data(epoch) : data;
}

/** The batches of `src` (the epoch's data), in an order drawn from `order` when it is an array. */
export async function* batchesOf<B>(src: Iterable<B> | AsyncIterable<B>, epoch: number, order: Rng | null): AsyncGenerator<B> {
  // A typed array iterates numbers, not batches (and throws once detached): refused here by name.
  if (ArrayBuffer.isView(src)) throw new ValueError(`expected an iterable of batches, got ${describe(src)}`, 'data');
  if (order && Array.isArray(src)) {
    const perm = order.permutation(src.length);
    for (let i = 0; i < perm.length; i++) yield (src as B[])[perm[i]];
    return;
  }
  if (typeof (src as AsyncIterable<B>)[Symbol.asyncIterator] === 'function') {
    for await (const b of src as AsyncIterable<B>) yield b;
  } else if (typeof (src as Iterable<B>)[Symbol.iterator] === 'function') {
    for (const b of src as Iterable<B>) yield b;
  } else {
    throw new ValueError(`the data function gave ${describe(src)} for epoch ${epoch}, not an iterable of batches`, 'data');
  }
}

/** A batch `{ x, target }` whose input floats are finite (a typed error naming `where`). */
export function checkBatch(b: unknown, where: string): { x: unknown; target: unknown } {
  if (typeof b !== 'object' || b === null || typeof (b as { x?: unknown }).x !== 'object' || (b as { x?: unknown }).x === null) {
    throw new ValueError(`expected a batch {x, target}, got ${describe(b)}`, where);
  }
  for (const { name, value } of inputValues((b as { x: unknown }).x, `${where}.x`)) {
    if (typeof value === 'object' && value !== null && value.kind !== 'tokens' && ArrayBuffer.isView(value.data))
      allFinite(value.data, `${name}.data`);
  }
  return b as { x: unknown; target: unknown };
}

/**
 * The recurrent states carried from batch to batch by stateful training and evaluation (nothing is
 * carried otherwise): what `model.forward` is given and keeps.
 */
export class Carry {
  private states: ReadonlyMap<number, RecurrentState> | undefined;
  private batch = -1;

  /** `saved`: the states a checkpoint carried into its next batch. */
  constructor(
    private readonly on: boolean,
    saved?: CarriedStates | null,
  ) {
    if (on && saved) {
      this.states = saved.states;
      this.batch = saved.batch;
    }
  }

  /** What to save in a checkpoint (null when nothing is carried yet). */
  saved(): CarriedStates | null {
    return this.on && this.states ? { batch: this.batch, states: this.states } : null;
  }

  /** The carry part of the forward options for the batch `x` (a ShapeError when a stateful run changes the batch size). */
  options(x: unknown, where: string): ModelForwardOptions {
    if (!this.on) return {};
    const batch = batchOf(x);
    if (this.batch >= 0 && batch !== this.batch) {
      throw new ShapeError(
        `stateful: every batch carries on the previous one's ${this.batch} tracks, got a batch of ${batch}`,
        `${where}.x`,
      );
    }
    this.batch = batch;
    return { keepStates: true, initialStates: this.states };
  }

  /** Keeps the final states of the batch just run. */
  keep(step: ModelStep<Kind>): void {
    if (this.on) this.states = step.states;
  }
}

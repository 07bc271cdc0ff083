/**
 * Batches for an encoder-decoder (lib/models/seq2seq.ts): pairs of id sequences (source, target)
 * become `{ x: { source, target }, target }` batches for `fit` / `evaluate`, time-major, with
 * teacher forcing laid out as the model reads it:
 *
 *   pair   source [s1 s2 s3]             target [t1 t2]
 *   x.source      s1 s2 s3               (lengths 3)
 *   x.target      bos t1 t2              (what the decoder reads, lengths 3)
 *   target        t1  t2  eos            (the class of each decoder step; padding is masked by the lengths)
 *
 * Pairs are grouped by source length (bucketByLength) so that a batch pads little, and the batch
 * order is shuffled by the generator; `fit({ shuffle: true })` reshuffles that order every epoch.
 */
import { describe, options as checkOptions, positiveInt } from '../check.js';
import { ValueError } from '../errors.js';
import { tokens, type Tokens } from '../layers/values.js';
import { defaultRng, Rng } from '../random.js';
import type { ClassTargets } from '../train/types.js';
import { bucketByLength, padBatch } from './batch.js';

/** One source-target pair of id sequences (no bos / eos: the batches add them). */
export interface Seq2SeqPair {
  readonly source: Int32Array | readonly number[];
  readonly target: Int32Array | readonly number[];
}

/** A batch for an encoder-decoder's `fit` / `evaluate`. */
export interface Seq2SeqBatch {
  readonly x: { readonly source: Tokens; readonly target: Tokens };
  readonly target: ClassTargets<'sequence'>;
}

/** Options of {@link seq2seqBatches}. */
export interface Seq2SeqBatchesOptions {
  /** Pairs per batch. Required. */
  readonly batchSize: number;
  /** The id the decoder starts from (the model's `bos`). Required. */
  readonly bos: number;
  /** The id that ends a target (the model's `eos`). Required. */
  readonly eos: number;
  /** Group pairs of similar source length. Default true (false: the given order, cut in batches). */
  readonly bucket?: boolean;
  /** Id written into padding. Default 0. */
  readonly padId?: number;
  /** Orders the buckets. Default: the library's default generator. */
  readonly rng?: Rng;
}

/** Encoder-decoder batches of `pairs` (see the module comment); every pair needs a non-empty source. */
export function seq2seqBatches(pairs: readonly Seq2SeqPair[], options: Seq2SeqBatchesOptions): Seq2SeqBatch[] {
  const o = checkOptions(options, ['batchSize', 'bos', 'eos', 'bucket', 'padId', 'rng'], 'options');
  const batchSize = positiveInt(o.batchSize, 'options.batchSize');
  const id = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
      throw new ValueError(`expected a non-negative integer id, got ${describe(v)}`, `options.${k}`);
    }
    return v;
  };
  const bos = id('bos');
  const eos = id('eos');
  const padId = o.padId === undefined ? 0 : id('padId');
  if (o.rng !== undefined && !(o.rng instanceof Rng)) throw new ValueError(`expected an Rng, got ${describe(o.rng)}`, 'options.rng');
  const bucket = o.bucket ?? true;
  if (typeof bucket !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(bucket)}`, 'options.bucket');
  if (!Array.isArray(pairs) || pairs.length === 0)
    throw new ValueError(`expected a non-empty array of { source, target }, got ${describe(pairs)}`, 'pairs');
  const sources: (Int32Array | readonly number[])[] = [];
  const targets: (Int32Array | readonly number[])[] = [];
  pairs.forEach((p: unknown, i: number) => {
    const q = p as Seq2SeqPair;
    if (typeof p !== 'object' || p === null) throw new ValueError(`expected { source, target }, got ${describe(p)}`, `pairs[${i}]`);
    for (const k of ['source', 'target'] as const) {
      const v: unknown = q[k];
      if (!(v instanceof Int32Array) && !Array.isArray(v))
        throw new ValueError(`expected an Int32Array or an array of ids, got ${describe(v)}`, `pairs[${i}].${k}`);
    }
    if (q.source.length === 0) throw new ValueError('empty source: every source needs at least one token', `pairs[${i}].source`);
    sources.push(q.source);
    targets.push(q.target);
  });
  const groups = bucket
    ? bucketByLength(
        sources.map((s) => s.length),
        batchSize,
        (o.rng as Rng | undefined) ?? defaultRng(),
      )
    : Array.from({ length: Math.ceil(pairs.length / batchSize) }, (_, k) =>
        Int32Array.from({ length: Math.min(batchSize, pairs.length - k * batchSize) }, (_, i) => k * batchSize + i),
      );
  return groups.map((g) => {
    const idx = Array.from(g);
    const src = padBatch(
      idx.map((i) => sources[i]),
      { padId },
    );
    const read = padBatch(
      idx.map((i) => [bos, ...targets[i]]),
      { padId },
    );
    const cls = padBatch(
      idx.map((i) => [...targets[i], eos]),
      { padId },
    );
    return {
      x: {
        source: tokens({ ids: src.ids, seqLen: src.seqLen, batch: src.batch, lengths: src.lengths }),
        target: tokens({ ids: read.ids, seqLen: read.seqLen, batch: read.batch, lengths: read.lengths }),
      },
      target: cls.ids as ClassTargets<'sequence'>,
    };
  });
}

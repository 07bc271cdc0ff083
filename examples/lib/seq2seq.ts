/**
 * The training recipe the encoder-decoder examples share (g2p, translate): teacher-forced batches
 * bucketed by length, Adam with clipping and a per-epoch decay, label smoothing, a dev loss per
 * epoch and the progress bar. Prints the training line and returns the history and the seconds.
 */
import { adam, type EncoderDecoderModel, exponentialDecay, getThreads, Rng, seq2seqBatches, type History } from '../../lib/index.js';
import { fitProgress } from './progress.js';

/** A (source ids, target ids) pair. */
export interface Pair {
  readonly source: Int32Array;
  readonly target: Int32Array;
}

/** The recipe's settings (the examples' flags of the same names). */
export interface Seq2SeqTraining {
  readonly epochs: number;
  readonly batch: number;
  readonly lr: number;
  readonly lrDecay: number;
  readonly smoothing: number;
  readonly seed: number;
  /** Batch size of the dev loss. */
  readonly devBatch: number;
}

/** Trains `model` on `pairs` with `devPairs` as validation data (see the module comment). */
export async function trainSeq2seq(
  model: EncoderDecoderModel,
  pairs: readonly Pair[],
  devPairs: readonly Pair[],
  o: Seq2SeqTraining,
): Promise<{ history: History; trainSeconds: number }> {
  const { bos, eos } = model.config;
  console.log(
    `training ${o.epochs} epoch${o.epochs === 1 ? '' : 's'}, batches of ${o.batch} bucketed by length, adam(lr ${o.lr} x ${o.lrDecay}^epoch, clipNorm 5), label smoothing ${o.smoothing}, seed ${o.seed}, ${getThreads()} threads\n`,
  );
  const order = new Rng(o.seed + 1);
  const targetTokens = pairs.reduce((a, p) => a + p.target.length + 1, 0);
  const trainStart = performance.now();
  const history = await model.fit((_epoch) => seq2seqBatches(pairs, { batchSize: o.batch, bos, eos, rng: order }), {
    epochs: o.epochs,
    optimizer: adam({ lr: exponentialDecay({ lr: o.lr, gamma: o.lrDecay }), clipNorm: 5 }),
    labelSmoothing: o.smoothing,
    validationData: seq2seqBatches(devPairs, { batchSize: o.devBatch, bos, eos, rng: new Rng(o.seed) }),
    ...fitProgress(o.epochs, Math.ceil(pairs.length / o.batch), { unit: 'tok', perExample: targetTokens / pairs.length }),
  });
  return { history, trainSeconds: (performance.now() - trainStart) / 1000 };
}

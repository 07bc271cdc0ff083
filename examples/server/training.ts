/**
 * What one job of the example server trains, on lib's public API only.
 *
 * - `char-lm`: the first `train.maxChars` characters of a text file; the last `train.validation`
 *   share held out. Characters -> ids (`Vocabulary` with `<unk>`, no padding), the training part cut
 *   into `train.batchSize` tracks walked in windows of `train.window` steps (`streamWindows`), and
 *   `model.fit(windows, { stateful: true })`: truncated BPTT, each track's state carried from one
 *   window into the next. Model: embedding -> cell -> dense to the vocabulary (generation carries
 *   the cell's state token to token). Metric: bits per character on the held-out part.
 * - `classifier`: `LABEL<TAB>TEXT` lines (`parseLabelledTsv`, the sentiment/*.tsv format), a seeded
 *   sample of `train.maxExamples`, a seeded `train.validation` share held out; lowercased words
 *   (`wordTokens`) cut to `train.maxLen`, a vocabulary from the training part; batches of similar
 *   lengths (`bucketByLength`, new ones every epoch) padded with lengths (`padBatch`). Model:
 *   embedding -> cell (`returnSequences: false`: the state at each text's own last word) ->
 *   [dropout] -> dense to the classes, many-to-one. Metric: held-out accuracy.
 * Both train with Adam and gradient-norm clipping, seeded by `train.seed`, and stop between batches
 * when the job's signal fires (`fit` rejects with an AbortError).
 *
 * Data preparation runs on the main thread in steps with a yield between them; the training itself
 * runs its kernels in native worker threads, so the server keeps answering.
 */
import { readFile } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

import {
  type Batch,
  type BatchLog,
  type EpochLog,
  type StreamWindow,
  AbortError,
  GatedError,
  Rng,
  Vocabulary,
  adam,
  bucketByLength,
  dense,
  dropout,
  embedding,
  gru,
  input,
  lstm,
  padBatch,
  parseLabelledTsv,
  rnn,
  sequenceTargets,
  sequential,
  stepTargets,
  streamWindows,
  tokens,
  wordTokens,
} from '../../lib/index.js';
import type { ClassifierModel, LanguageModel, ModelMetric } from './registry.js';
import { type CellName, type DataFile, type JobConfig, LIMITS, parameterCount } from './schema.js';

/** A job that cannot train on what it was given; the message names the field to change. */
export class JobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobError';
  }
}

/** How a job ended when it did not end well: cancelled, or failed with a message for the caller (and details for the log). */
export interface Failure {
  readonly cancelled: boolean;
  /** For the client: ours, or lib's typed error about the data or the options (a FormatError names `<relative path>:<line>`). */
  readonly message: string;
  /** For the server log only (a stack that may name server paths), or null. */
  readonly detail: string | null;
}

/** Classifies what a training run threw; `aborted`: whether its signal fired. */
export function failureOf(error: unknown, aborted: boolean): Failure {
  if (aborted || error instanceof AbortError) return { cancelled: true, message: 'cancelled', detail: null };
  if (error instanceof JobError || (error instanceof GatedError && error.name !== 'FileError' && error.name !== 'NativeError')) {
    return { cancelled: false, message: error.message, detail: null };
  }
  return {
    cancelled: false,
    message: 'internal error while training (see the server log)',
    detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
  };
}

/** A `progress` event: where training is, after one batch. */
export interface BatchProgress {
  /** 1-based. */
  readonly epoch: number;
  readonly epochs: number;
  /** 1-based, within the epoch. */
  readonly batch: number;
  readonly batches: number;
  /** This batch's loss (cross-entropy, nats). */
  readonly loss: number;
  /** This batch's metric (`metricName`). */
  readonly metric: number | null;
  readonly metricName: ModelMetric['name'];
  /** Sequences per second so far this epoch (char-lm: tracks of one window each). */
  readonly examplesPerSecond: number;
  /** Tokens (characters or words) per second so far this epoch, approximately. */
  readonly tokensPerSecond: number;
  /** Seconds since the job started training. */
  readonly elapsedSeconds: number;
}

/** An `epoch` event. */
export interface EpochSummary {
  /** 1-based. */
  readonly epoch: number;
  readonly epochs: number;
  readonly loss: number;
  readonly metric: number | null;
  readonly valLoss: number | null;
  readonly valMetric: number | null;
  readonly metricName: ModelMetric['name'];
  readonly examplesPerSecond: number;
  readonly seconds: number;
}

/** What a job's training reports to, and how it is stopped. */
export interface TrainHooks {
  readonly signal: AbortSignal;
  /** A short description of the data once it is read (for the job's `prepared` event). */
  onPrepared(info: Readonly<Record<string, number | string>>): void;
  onBatch(progress: BatchProgress): void;
  onEpoch(summary: EpochSummary): void;
}

/** A trained model with everything its sidecar needs. */
export interface Trained {
  readonly model: LanguageModel | ClassifierModel;
  readonly vocab: Vocabulary;
  readonly metric: ModelMetric;
  readonly tokenizer: 'char' | 'word-lowercase';
  readonly labels: readonly string[] | null;
  readonly maxLen: number | null;
  readonly parameters: number;
  readonly trainSeconds: number;
}

/** Trains what `config` says on `file`; see the module comment. */
export async function train(config: JobConfig, file: DataFile, hooks: TrainHooks): Promise<Trained> {
  let text: string;
  try {
    text = await readFile(file.path, 'utf8');
  } catch (error) {
    throw new JobError(`data: cannot read ${JSON.stringify(file.relative)} (${(error as { code?: string }).code ?? 'error'})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  await yieldToLoop();
  if (hooks.signal.aborted) throw new AbortError();
  return config.task === 'char-lm' ? trainCharLm(config, file, text, hooks) : trainClassifier(config, file, text, hooks);
}

type RecurrentConfig = { readonly hiddenSize: number; readonly numLayers: number; readonly dropout: number };

/** The language model's cell: a Sequence out. */
function sequenceCell(cell: CellName, o: RecurrentConfig) {
  return cell === 'lstm' ? lstm(o) : cell === 'gru' ? gru(o) : rnn(o);
}

/** The classifier's cell: a Vector out, the state at each text's own last token. */
function vectorCell(cell: CellName, o: RecurrentConfig) {
  const v = { ...o, returnSequences: false } as const;
  return cell === 'lstm' ? lstm(v) : cell === 'gru' ? gru(v) : rnn(v);
}

function checkSize(config: JobConfig, vocab: number, outputs: number): number {
  const n = parameterCount(config.model, vocab, outputs);
  if (n > LIMITS.parameters) {
    throw new JobError(
      `model: ${n.toLocaleString('en-US')} parameters with this data's vocabulary of ${vocab}, above the limit of ${LIMITS.parameters.toLocaleString('en-US')}`,
    );
  }
  return n;
}

function hooksFor(
  config: JobConfig,
  batches: () => number,
  tokensPerExample: () => number,
  metricName: ModelMetric['name'],
  hooks: TrainHooks,
) {
  const t0 = performance.now();
  let epochStart = t0;
  return {
    onBatchEnd: (log: BatchLog): void => {
      if (log.batch === 0) epochStart = performance.now();
      hooks.onBatch({
        epoch: log.epoch + 1,
        epochs: config.train.epochs,
        batch: log.batch + 1,
        batches: batches(),
        loss: log.loss,
        metric: log.metric,
        metricName,
        examplesPerSecond: log.examplesPerSecond,
        tokensPerSecond: log.examplesPerSecond * tokensPerExample(),
        elapsedSeconds: (performance.now() - t0) / 1000,
      });
    },
    onEpochEnd: (log: EpochLog): void => {
      hooks.onEpoch({
        epoch: log.epoch + 1,
        epochs: config.train.epochs,
        loss: log.loss,
        metric: log.metric,
        valLoss: log.valLoss,
        valMetric: log.valMetrics?.[metricName] ?? null,
        metricName,
        examplesPerSecond: log.examplesPerSecond,
        seconds: (performance.now() - epochStart) / 1000,
      });
    },
  };
}

function finalMetric(name: ModelMetric['name'], last: EpochLog | undefined, heldOut: boolean): ModelMetric {
  const value = heldOut ? last?.valMetrics?.[name] : last?.metrics[name];
  return { name, value: value ?? NaN, on: heldOut ? 'held-out' : 'train' };
}

// ---------------------------------------------------------------------------------------------
// char-lm

/** Held-out windows run over this many tracks (fewer tracks: fewer cold starts of the state). */
const EVAL_TRACKS = 8;
const EVAL_WINDOW = 256;

type LmBatch = Batch<'tokens', 'softmaxCrossEntropy', 'sequence'>;

function lmBatch(w: StreamWindow): LmBatch {
  return { x: tokens({ ids: w.inputs, seqLen: w.seqLen, batch: w.batch }), target: stepTargets(w.targets) };
}

/** The first `n` characters (code points) of `text`, without splitting all of it. */
function firstChars(text: string, n: number): string[] {
  const out: string[] = [];
  for (const ch of text) {
    if (out.length === n) break;
    out.push(ch);
  }
  return out;
}

async function trainCharLm(config: JobConfig, file: DataFile, text: string, hooks: TrainHooks): Promise<Trained> {
  const t = config.train;
  const chars = firstChars(text, t.maxChars);
  const cut = Math.round(chars.length * (1 - t.validation));
  const vocab = Vocabulary.build(chars.slice(0, cut), { specials: { pad: null, unk: '<unk>' } });
  const trainIds = vocab.encode(chars.slice(0, cut));
  const heldIds = vocab.encode(chars.slice(cut));
  if (Math.floor(trainIds.length / t.batchSize) < 2) {
    throw new JobError(
      `train.batchSize: ${JSON.stringify(file.relative)} gives ${trainIds.length} training characters, too few for ${t.batchSize} tracks (2 characters per track at least): lower train.batchSize or raise train.maxChars`,
    );
  }
  await yieldToLoop();
  const train = [...streamWindows(trainIds, { batch: t.batchSize, window: t.window })].map(lmBatch);
  const evalTracks = Math.min(EVAL_TRACKS, Math.floor(heldIds.length / 2));
  const heldOut = evalTracks >= 1 ? [...streamWindows(heldIds, { batch: evalTracks, window: EVAL_WINDOW })].map(lmBatch) : [];
  const V = vocab.size;
  const parameters = checkSize(config, V, V);
  hooks.onPrepared({
    characters: chars.length,
    trainCharacters: trainIds.length,
    heldOutCharacters: heldIds.length,
    vocabularySize: V,
    batchesPerEpoch: train.length,
    parameters,
  });
  await yieldToLoop();

  const m = config.model;
  const model: LanguageModel = sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: m.embedding }))
    .add(sequenceCell(m.cell, { hiddenSize: m.hiddenSize, numLayers: m.layers, dropout: m.layers > 1 ? m.dropout : 0 }))
    .add(dense({ units: V }))
    .build({ seed: t.seed });
  const started = performance.now();
  const history = await model.fit(train, {
    epochs: t.epochs,
    stateful: true,
    optimizer: adam({ lr: t.lr, clipNorm: t.clipNorm }),
    metrics: ['bitsPerCharacter'],
    validationData: heldOut.length > 0 ? heldOut : undefined,
    signal: hooks.signal,
    ...hooksFor(
      config,
      () => train.length,
      () => t.window,
      'bitsPerCharacter',
      hooks,
    ),
  });
  return {
    model,
    vocab,
    tokenizer: 'char',
    labels: null,
    maxLen: null,
    parameters,
    trainSeconds: (performance.now() - started) / 1000,
    metric: finalMetric('bitsPerCharacter', history.epochs[history.epochs.length - 1], heldOut.length > 0),
  };
}

// ---------------------------------------------------------------------------------------------
// classifier

type ClassBatch = Batch<'tokens', 'softmaxCrossEntropy', 'vector'>;

function classBatches(ids: readonly Int32Array[], labels: readonly number[], batch: number, rng: Rng): ClassBatch[] {
  return bucketByLength(
    ids.map((s) => s.length),
    batch,
    rng,
  ).map((index) => ({
    x: tokens(
      padBatch(
        Array.from(index, (i) => ids[i]),
        { padId: 0 },
      ),
    ),
    target: sequenceTargets(Int32Array.from(index, (i) => labels[i])),
  }));
}

async function trainClassifier(config: JobConfig, file: DataFile, text: string, hooks: TrainHooks): Promise<Trained> {
  const t = config.train;
  // FormatErrors name the line as `<relative path>:<line>`, never the server's absolute path.
  const all = parseLabelledTsv(text, file.relative);
  const rng = new Rng(t.seed);
  const rows =
    t.maxExamples !== null && all.length > t.maxExamples
      ? Array.from(rng.permutation(all.length).subarray(0, t.maxExamples), (i) => all[i])
      : all;
  const numClasses = rows.reduce((m, r) => Math.max(m, r.label), 0) + 1;
  if (numClasses < 2)
    throw new JobError(`data: every example of ${JSON.stringify(file.relative)} has label 0: a classifier needs two labels at least`);
  if (numClasses > 1000) throw new JobError(`data: labels up to ${numClasses - 1}, above the limit of 999`);
  if (config.labelNames !== null && config.labelNames.length < numClasses) {
    throw new JobError(`labelNames: ${config.labelNames.length} names, but the data has labels up to ${numClasses - 1}`);
  }
  const labels =
    config.labelNames !== null ? config.labelNames.slice(0, numClasses) : Array.from({ length: numClasses }, (_, i) => String(i));
  const order = rng.permutation(rows.length);
  const nHeld = Math.round(rows.length * t.validation);
  const heldIndex = order.subarray(0, nHeld);
  const trainIndex = order.subarray(nHeld);
  if (trainIndex.length === 0) throw new JobError('data: no example left to train on');
  const words = rows.map((r) => wordTokens(r.text, { lowercase: true }).slice(0, t.maxLen));
  await yieldToLoop();
  const vocab = Vocabulary.build(Array.from(trainIndex, (i) => words[i]).flat(), { minCount: t.minCount, maxSize: t.maxVocab });
  const unk = vocab.unkId ?? 1;
  // A text with no word (only spaces or symbols the tokenizer drops) reads as one <unk>.
  const ids = words.map((w) => (w.length > 0 ? vocab.encode(w) : Int32Array.of(unk)));
  const trainIds = Array.from(trainIndex, (i) => ids[i]);
  const trainLabels = Array.from(trainIndex, (i) => rows[i].label);
  const held =
    nHeld > 0
      ? classBatches(
          Array.from(heldIndex, (i) => ids[i]),
          Array.from(heldIndex, (i) => rows[i].label),
          64,
          new Rng(t.seed),
        )
      : [];
  const V = vocab.size;
  const parameters = checkSize(config, V, numClasses);
  const batchesPerEpoch = Math.ceil(trainIds.length / t.batchSize);
  const meanLen = trainIds.reduce((a, s) => a + s.length, 0) / trainIds.length;
  hooks.onPrepared({
    examples: rows.length,
    trainExamples: trainIds.length,
    heldOutExamples: nHeld,
    classes: numClasses,
    vocabularySize: V,
    batchesPerEpoch,
    parameters,
  });
  await yieldToLoop();

  const m = config.model;
  let builder = sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: m.embedding, paddingIndex: vocab.padId ?? 0 }))
    .add(vectorCell(m.cell, { hiddenSize: m.hiddenSize, numLayers: m.layers, dropout: m.layers > 1 ? m.dropout : 0 }));
  if (m.dropout > 0) builder = builder.add(dropout({ rate: m.dropout }));
  const model: ClassifierModel = builder.add(dense({ units: numClasses })).build({ seed: t.seed });
  const orderRng = new Rng(t.seed + 1);
  const started = performance.now();
  const history = await model.fit((_epoch) => classBatches(trainIds, trainLabels, t.batchSize, orderRng), {
    epochs: t.epochs,
    optimizer: adam({ lr: t.lr, clipNorm: t.clipNorm }),
    metrics: ['accuracy'],
    validationData: held.length > 0 ? held : undefined,
    signal: hooks.signal,
    ...hooksFor(
      config,
      () => batchesPerEpoch,
      () => meanLen,
      'accuracy',
      hooks,
    ),
  });
  return {
    model,
    vocab,
    tokenizer: 'word-lowercase',
    labels,
    maxLen: t.maxLen,
    parameters,
    trainSeconds: (performance.now() - started) / 1000,
    metric: finalMetric('accuracy', history.epochs[history.epochs.length - 1], held.length > 0),
  };
}

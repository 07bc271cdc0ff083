/**
 * What a training job of the example server needs in memory, estimated from its configuration
 * before it starts: the server refuses a job whose estimate is over its per-job budget (`POST /jobs`
 * answers 400 saying which fields to lower), and ends a running job whose process grows past the
 * budget anyway (jobs.ts).
 *
 * The schema bounds each field (schema.ts), but not their products: `batchSize x window x
 * hiddenSize` is what fills memory. Per recurrent layer (T steps, B sequences, H units, input width
 * D, G gates; float32):
 *
 *   forward cache   W*T*B*H   (W = lib's cacheWidth: rnn 2, lstm 8, gru 5), kept until backward
 *   output, its gradient       2*T*B*H
 *   input gradient             T*B*D
 *   kernel workspaces          2*G*T*B*H (backward's gate gradients, in the arena of each of the two
 *                                         threads that call kernels: the main one and one libuv thread)
 *   dropout masks              2*T*B*H   (when dropout > 0)
 *
 * plus the embedding's output (T*B*E) and the output layer's logits, their gradient and softmax
 * (3*T*B*V for a char-lm's per-step output, 3*B*C for a classifier), all of it twice: a step's
 * arrays are garbage once the next step starts, but their memory returns only when the garbage
 * collector runs. Then the parameters four times (weights, gradients, Adam's two moments), the data
 * (the text as a string, its characters, ids and windows), and the process itself
 * ({@link RUNTIME_BYTES}). Where only the data decides (the vocabulary, the number of labels), the
 * largest value the schema allows is used. A classifier's T is `train.maxLen`, its longest text.
 * Measured (LSTM 256, batch 64, window 128, 300,000 characters, in a child process): estimate
 * 559 MiB, peak resident size 325 MiB; a tiny job (LSTM 32, batch 16, window 32) 208 MiB against 126 MiB.
 */
import { cacheWidth } from '../../lib/index.js';
import { type JobConfig, parameterCount } from './schema.js';

/** What the process needs before it holds any job data: Node, tsx, the addon, V8's slack. */
export const RUNTIME_BYTES = 200 << 20;

/** A job's estimated memory, in bytes, by part. */
export interface MemoryEstimate {
  readonly total: number;
  /** The layers' activations, caches, workspaces and their gradients. */
  readonly activations: number;
  /** Weights, gradients and Adam's moments. */
  readonly parameters: number;
  /** The text and what is built from it. */
  readonly data: number;
  readonly runtime: number;
}

const GATES = { rnn: 1, lstm: 4, gru: 3 } as const;

/** The estimate for `config` on a data file of `dataBytes` bytes (see the module comment). */
export function estimateJobMemory(config: JobConfig, dataBytes: number): MemoryEstimate {
  const m = config.model;
  const t = config.train;
  const lm = config.task === 'char-lm';
  const T = lm ? t.window : t.maxLen;
  const B = t.batchSize;
  const H = m.hiddenSize;
  const W = cacheWidth[m.cell];
  const G = GATES[m.cell];
  const vocab = lm ? 256 : t.maxVocab;
  const outputs = lm ? vocab : Math.max(config.labelNames?.length ?? 0, 1000);
  let floats = T * B * m.embedding;
  for (let l = 0; l < m.layers; l++) {
    const D = l === 0 ? m.embedding : H;
    floats += T * B * ((W + 2 + 2 * G + (m.dropout > 0 ? 2 : 0)) * H + D);
  }
  floats += 3 * (lm ? T * B : B) * outputs;
  const activations = 2 * 4 * floats;
  const parameters = 4 * 4 * parameterCount(m, vocab, lm ? vocab : (config.labelNames?.length ?? 2));
  // char-lm: the file as a UTF-16 string, then per character kept a slot of the character array,
  // an id, and its input and target in the windows; classifier: ~16 bytes per byte of text (the
  // string, rows, words, ids).
  const data = lm ? 2 * dataBytes + 24 * Math.min(t.maxChars, dataBytes) : 16 * dataBytes;
  return { total: activations + parameters + data + RUNTIME_BYTES, activations, parameters, data, runtime: RUNTIME_BYTES };
}

/** Bytes for a message: `1.5 GiB`, `820 MiB`. */
export function formatBytes(n: number): string {
  return n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.max(1, Math.round(n / 2 ** 20))} MiB`;
}

/** Why a job over `budget` is refused: its estimate, what dominates, and what to lower. */
export function overBudgetMessage(config: JobConfig, e: MemoryEstimate, budget: number): string {
  const lm = config.task === 'char-lm';
  const product = `train.batchSize ${config.train.batchSize} x ${lm ? `train.window ${config.train.window}` : `train.maxLen ${config.train.maxLen}`} x model.hiddenSize ${config.model.hiddenSize}${config.model.layers > 1 ? ` x ${config.model.layers} layers` : ''}`;
  return (
    `needs about ${formatBytes(e.total)} to train (activations ${formatBytes(e.activations)}: ${product}; parameters ${formatBytes(e.parameters)}; data ${formatBytes(e.data)}), ` +
    `above this server's per-job budget of ${formatBytes(budget)}: lower train.batchSize, ${lm ? 'train.window' : 'train.maxLen'} or model.hiddenSize`
  );
}

/**
 * The most disk a configuration's model can take, for the quota: the weights as float32, the
 * header, and the sidecar with its vocabulary (~32 bytes a word).
 */
export function modelFileBound(config: JobConfig): number {
  const lm = config.task === 'char-lm';
  const vocab = lm ? 256 : config.train.maxVocab;
  return 4 * parameterCount(config.model, vocab, lm ? vocab : Math.max(config.labelNames?.length ?? 0, 1000)) + 32 * vocab + (64 << 10);
}

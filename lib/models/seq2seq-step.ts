/**
 * The decode step of an encoder-decoder: the {@link Seq2SeqStepper} a search (lib/decode/seq2seq.ts)
 * advances. The encoder runs once per batch of sources; then every step moves all rows (every
 * hypothesis of every sentence) by one token through ONE fused attention-decoder call (T = 1,
 * no cache, states written in place) and one generator call, then a log-softmax.
 *
 * Rows are time-major like everything else: memory `[S, R, E]` (row j*R + r), keys `[S, R, Kw]`,
 * states `[L, R, H]`, the attentional vector (input feeding) `[R, H]`. `start(k)` makes R = N*k rows
 * (row n*k + i is hypothesis i of sentence n); `reorder(index)` gathers rows (a beam's survivors, or
 * fewer rows when sentences finish). The keys (W_k m_j) are computed by the first step and then
 * carried, so a step costs the cells, the scores over S and the generator, not a pass over the memory.
 */
import type { BackendName } from '../backend/index.js';
import { ValueError } from '../errors.js';
import { type AttnDecoderForwardArgs, attnDecoderForward } from '../ops/attention.js';
import { linearForward } from '../ops/nn.js';

/** What the encoder gives the decoder: memory, lengths and the decoder's initial states, and the way back. */
export interface Encoded {
  /** Sentences B. */
  readonly batch: number;
  /** Source length S (the longest). */
  readonly srcLen: number;
  /** `[S, B, E]`, zero past each length. */
  readonly memory: Float32Array;
  /** `[B]`, each in [1, S]. */
  readonly lengths: Int32Array;
  /** `[L, B, H]` the decoder's initial states. */
  readonly h0: Float32Array;
  readonly c0: Float32Array | null;
  /** Back from the memory's and the initial states' gradients into the encoder's parameters. */
  backward(dMemory: Float32Array, dh0: Float32Array, dc0: Float32Array | null): Promise<void>;
}

/** What the stepper needs of the model: sizes, the op arguments over its weights, the output weights. */
export interface StepperModel {
  readonly config: {
    readonly targetVocabSize: number;
    readonly bos: number;
    readonly eos: number;
    readonly decoder: { readonly embeddingDim: number; readonly hiddenSize: number; readonly numLayers: number; readonly cell: string };
  };
  /** The decoder op's sizes for a batch (T, B, S). */
  decoderSizes(T: number, B: number, S: number): Omit<AttnDecoderForwardArgs, 'x' | 'memory' | 'layers' | 'attn'>;
  decoderWeights(): Pick<AttnDecoderForwardArgs, 'layers' | 'attn'>;
  outputWeights(): { readonly embedding: Float32Array; readonly weight: Float32Array; readonly bias: Float32Array };
}

/** Gathers rows of a `[blocks, R, width]` array: out[(blk*R' + r)*width ...] = a[(blk*R + index[r])*width ...]. */
function gatherRows(a: Float32Array, blocks: number, rows: number, width: number, index: Int32Array): Float32Array {
  const R2 = index.length;
  const out = new Float32Array(blocks * R2 * width);
  for (let blk = 0; blk < blocks; blk++) {
    for (let r = 0; r < R2; r++) {
      const src = (blk * rows + index[r]) * width;
      out.set(a.subarray(src, src + width), (blk * R2 + r) * width);
    }
  }
  return out;
}

/** The stepper over one encoded batch (see the module comment). Implements lib/decode/seq2seq.ts's `Seq2SeqStepper`. */
export class EncoderDecoderStepper {
  readonly vocabSize: number;
  readonly sentences: number;
  readonly sourceLengths: Int32Array;
  readonly srcLen: number;
  readonly bos: number;
  readonly eos: number;
  private R = 0;
  private memory: Float32Array;
  private lengths: Int32Array;
  private keys: Float32Array | null = null;
  private h: Float32Array;
  private c: Float32Array | null;
  private feed: Float32Array;

  constructor(
    private readonly model: StepperModel,
    private readonly enc: Encoded,
    private readonly backend: BackendName,
  ) {
    const cfg = model.config;
    this.vocabSize = cfg.targetVocabSize;
    this.sentences = enc.batch;
    this.sourceLengths = enc.lengths;
    this.srcLen = enc.srcLen;
    this.bos = cfg.bos;
    this.eos = cfg.eos;
    this.memory = enc.memory;
    this.lengths = enc.lengths;
    this.h = enc.h0;
    this.c = enc.c0;
    this.feed = new Float32Array(enc.batch * cfg.decoder.hiddenSize);
    this.R = enc.batch;
  }

  /** Current rows. */
  get rows(): number {
    return this.R;
  }

  /** Makes N*k rows from the encoder's state: row n*k + i is hypothesis i of sentence n. */
  start(k: number): void {
    if (!Number.isInteger(k) || k < 1) throw new ValueError(`expected an integer >= 1, got ${k}`, 'k');
    const N = this.enc.batch;
    const index = new Int32Array(N * k);
    for (let n = 0; n < N; n++) index.fill(n, n * k, (n + 1) * k);
    this.R = N;
    this.memory = this.enc.memory;
    this.lengths = this.enc.lengths;
    this.keys = null;
    this.h = this.enc.h0;
    this.c = this.enc.c0;
    this.feed = new Float32Array(N * this.model.config.decoder.hiddenSize);
    this.reorder(index);
  }

  /** Advances every row by tokens[r]: log-probabilities `[rows, V]` and, when asked, the attention `[rows, S]`. */
  async step(tokens: Int32Array, withAttention: boolean): Promise<{ logProbs: Float32Array; attention: Float32Array | null }> {
    const R = this.R;
    if (!(tokens instanceof Int32Array) || tokens.length !== R) {
      throw new ValueError(`expected an Int32Array of ${R} ids (one per row)`, 'tokens');
    }
    const { decoder, targetVocabSize: V } = this.model.config;
    const D = decoder.embeddingDim;
    const H = decoder.hiddenSize;
    const out = this.model.outputWeights();
    const x = new Float32Array(R * D);
    for (let r = 0; r < R; r++) {
      const id = tokens[r];
      if (!(id >= 0 && id < V)) throw new ValueError(`row ${r}: expected an id in [0, ${V}), got ${id}`, 'tokens');
      x.set(out.embedding.subarray(id * D, (id + 1) * D), r * D);
    }
    const backend = { backend: this.backend };
    const yOut = new Float32Array(R * H);
    const res = await attnDecoderForward.async(
      {
        ...this.model.decoderSizes(1, R, this.srcLen),
        ...this.model.decoderWeights(),
        x,
        memory: this.memory,
        srcLengths: this.lengths,
        h0: this.h,
        c0: this.c,
        feed0: this.feed,
        keys: this.keys,
        keepCache: false,
        returnAttention: withAttention,
        yOut,
        hOut: this.h,
        cOut: this.c,
      },
      backend,
    );
    this.keys = res.keys;
    this.feed = yOut;
    const logits = await linearForward.async(
      { rows: R, inFeatures: H, outFeatures: V, x: yOut, weight: out.weight, bias: out.bias },
      backend,
    );
    logSoftmaxRows(logits, R, V);
    return { logProbs: logits, attention: withAttention ? res.attention : null };
  }

  /** New row r continues old row index[r] (index may be shorter than rows: rows are dropped). */
  reorder(index: Int32Array): void {
    const R = this.R;
    if (!(index instanceof Int32Array)) throw new ValueError('expected an Int32Array of row indices', 'index');
    for (let r = 0; r < index.length; r++) {
      if (!(index[r] >= 0 && index[r] < R)) throw new ValueError(`entry ${r}: expected a row in [0, ${R}), got ${index[r]}`, 'index');
    }
    const { hiddenSize: H, numLayers: L } = this.model.config.decoder;
    const S = this.srcLen;
    // widths from the arrays themselves: memory [S, R, E], keys [S, R, Kw]
    this.memory = gatherRows(this.memory, S, R, this.memory.length / (S * R), index);
    if (this.keys) this.keys = gatherRows(this.keys, S, R, this.keys.length / (S * R), index);
    this.h = gatherRows(this.h, L, R, H, index);
    if (this.c) this.c = gatherRows(this.c, L, R, H, index);
    this.feed = gatherRows(this.feed, 1, R, H, index);
    this.lengths = Int32Array.from(index, (i) => this.lengths[i]);
    this.R = index.length;
  }
}

/** In place: each row of `[rows, V]` logits becomes its log-softmax (max-shifted, float64 sums). */
export function logSoftmaxRows(a: Float32Array, rows: number, V: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (a[o + v] > m) m = a[o + v];
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(a[o + v] - m);
    const z = m + Math.log(s);
    for (let v = 0; v < V; v++) a[o + v] -= z;
  }
}

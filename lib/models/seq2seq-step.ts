/**
 * The decode step of an encoder-decoder: the {@link Seq2SeqStepper} a search (lib/decode/seq2seq.ts)
 * advances. The encoder runs once per batch of sources; then every step moves all rows (every
 * hypothesis of every sentence) by one token through ONE fused native call: the decoder's cells,
 * the attention over the sentence's memory, the output layer and the log-softmax
 * (lib/ops/attention.ts's decode-step options).
 *
 * Rows are time-major like everything else: states `[L, rows, H]`, the attentional vector (input
 * feeding) `[rows, H]`. The memory `[S, N, E]` and its keys `[S, N, Kw]` stay one column per sentence:
 * row r reads column `sentenceOf[r]` (`memoryIndex`), so hypotheses share their sentence's memory
 * instead of copying it. `start(k)` makes N*k rows (row n*k + i is hypothesis i of sentence n);
 * `reorder(index)` only records the gather, which the next step's call does as it reads the states
 * (`stateIndex`): no copy of the states in JS. The keys (W_k m_j) are computed by the first step
 * and then passed back. Every per-token array (the embedded tokens, the states, the outputs) lives in
 * buffers allocated once per `start` and swapped between steps (a call's outputs must not overlap its
 * inputs).
 */
import type { BackendName } from '../backend/index.js';
import { ValueError } from '../errors.js';
import { type AttnDecoderForwardArgs, attnDecoderForward } from '../ops/attention.js';

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

/** Two buffers of `cap` floats used in turn: `next(n)` gives a view of n floats of the one not read last. */
class Swap {
  private readonly bufs: [Float32Array, Float32Array];
  private at = 0;
  constructor(cap: number) {
    this.bufs = [new Float32Array(cap), new Float32Array(cap)];
  }
  next(n: number): Float32Array {
    this.at ^= 1;
    return this.bufs[this.at].subarray(0, n);
  }
}

/** The stepper over one encoded batch (see the module comment). Implements lib/decode/seq2seq.ts's `Seq2SeqStepper`. */
export class EncoderDecoderStepper {
  readonly vocabSize: number;
  readonly sentences: number;
  readonly sourceLengths: Int32Array;
  readonly srcLen: number;
  readonly bos: number;
  readonly eos: number;
  /** The call's arguments that do not change between steps (sizes, weights, the memory, the output layer). */
  private readonly fixed: Omit<AttnDecoderForwardArgs, 'batch' | 'x'>;
  private readonly embedding: Float32Array;
  private R = 0;
  /** Row r's sentence (its memory column). */
  private sentenceOf = new Int32Array(0);
  /** Pending reorder: row r continues stored state row stateIndex[r]; null = row r. */
  private stateIndex: Int32Array | null = null;
  /** Rows of the stored states. */
  private P = 0;
  private keys: Float32Array | null = null;
  private h: Float32Array = new Float32Array(0);
  private c: Float32Array | null = null;
  private feed: Float32Array | null = null;
  /** Rows the buffers hold. */
  private cap = 0;
  private buffers!: { x: Float32Array; h: Swap; c: Swap | null; feed: Swap; logProbs: Float32Array; attention: Float32Array };

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
    const out = model.outputWeights();
    this.embedding = out.embedding;
    this.fixed = {
      ...model.decoderSizes(1, enc.batch, enc.srcLen),
      ...model.decoderWeights(),
      memory: enc.memory,
      srcLengths: enc.lengths,
      memoryBatch: enc.batch,
      keepCache: false,
      vocabSize: cfg.targetVocabSize,
      vocabWeight: out.weight,
      vocabBias: out.bias,
    };
    this.start(1);
  }

  /** Current rows. */
  get rows(): number {
    return this.R;
  }

  /** Makes N*k rows from the encoder's state: row n*k + i is hypothesis i of sentence n. */
  start(k: number): void {
    if (!Number.isInteger(k) || k < 1) throw new ValueError(`expected an integer >= 1, got ${k}`, 'k');
    const N = this.enc.batch;
    const R = N * k;
    this.sentenceOf = Int32Array.from({ length: R }, (_, r) => Math.floor(r / k));
    // The encoder's states are the stored rows (one per sentence); the first step gathers them.
    this.h = this.enc.h0;
    this.c = this.enc.c0;
    this.feed = null;
    this.P = N;
    this.stateIndex = k === 1 ? null : this.sentenceOf.slice();
    // the keys depend on the memory alone: those of an earlier start stay valid
    this.R = R;
    this.allocate(R);
  }

  /** Buffers for `rows` rows (new ones: the current states may live in the old). */
  private allocate(rows: number): void {
    const { decoder, targetVocabSize: V } = this.model.config;
    const { embeddingDim: D, hiddenSize: H, numLayers: L } = decoder;
    this.cap = rows;
    this.buffers = {
      x: new Float32Array(rows * D),
      h: new Swap(L * rows * H),
      c: this.enc.c0 ? new Swap(L * rows * H) : null,
      feed: new Swap(rows * H),
      logProbs: new Float32Array(rows * V),
      attention: new Float32Array(rows * this.srcLen),
    };
  }

  /**
   * Advances every row by tokens[r]: log-probabilities `[rows, V]` and, when asked, the attention
   * `[rows, S]` (the stepper's buffers, valid until the next step).
   */
  async step(tokens: Int32Array, withAttention: boolean): Promise<{ logProbs: Float32Array; attention: Float32Array | null }> {
    const R = this.R;
    if (!(tokens instanceof Int32Array) || tokens.length !== R) {
      throw new ValueError(`expected an Int32Array of ${R} ids (one per row)`, 'tokens');
    }
    const { decoder, targetVocabSize: V } = this.model.config;
    const { embeddingDim: D, hiddenSize: H, numLayers: L } = decoder;
    if (R > this.cap) this.allocate(R); // a reorder that repeated rows
    const buf = this.buffers;
    const x = buf.x.subarray(0, R * D);
    for (let r = 0; r < R; r++) {
      const id = tokens[r];
      if (!(id >= 0 && id < V)) throw new ValueError(`row ${r}: expected an id in [0, ${V}), got ${id}`, 'tokens');
      x.set(this.embedding.subarray(id * D, (id + 1) * D), r * D);
    }
    const hOut = buf.h.next(L * R * H);
    const cOut = buf.c ? buf.c.next(L * R * H) : null;
    const yOut = buf.feed.next(R * H);
    const res = await attnDecoderForward.async(
      {
        ...this.fixed,
        batch: R,
        x,
        memoryIndex: this.sentenceOf,
        h0: this.h,
        c0: this.c,
        feed0: this.feed,
        stateRows: this.P,
        stateIndex: this.stateIndex,
        keys: this.keys,
        returnAttention: withAttention,
        attentionOut: withAttention ? buf.attention.subarray(0, R * this.srcLen) : null,
        yOut,
        hOut,
        cOut,
        logProbsOut: buf.logProbs.subarray(0, R * V),
      },
      { backend: this.backend },
    );
    this.keys = res.keys;
    this.h = hOut;
    this.c = cOut;
    this.feed = yOut;
    this.P = R;
    this.stateIndex = null;
    return { logProbs: res.logProbs!, attention: res.attention };
  }

  /** New row r continues old row index[r] (index may be shorter than rows: rows are dropped). */
  reorder(index: Int32Array): void {
    const R = this.R;
    if (!(index instanceof Int32Array)) throw new ValueError('expected an Int32Array of row indices', 'index');
    for (let r = 0; r < index.length; r++) {
      if (!(index[r] >= 0 && index[r] < R)) throw new ValueError(`entry ${r}: expected a row in [0, ${R}), got ${index[r]}`, 'index');
    }
    const pending = this.stateIndex;
    this.stateIndex = Int32Array.from(index, (i) => (pending ? pending[i] : i));
    this.sentenceOf = Int32Array.from(index, (i) => this.sentenceOf[i]);
    this.R = index.length;
  }
}

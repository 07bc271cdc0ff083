/**
 * A fake {@link Seq2SeqStepper} for the search tests: the log-probabilities of a row are a fixed
 * function of (sentence id, target prefix), drawn from a seeded generator keyed by both (or read
 * from a table), so that an exhaustive enumeration over every sequence can reproduce exactly what
 * a search sees. Each row keeps its prefix; `reorder` permutes the prefixes (and checks its index).
 * It records every step's row count, and the largest row count, for the batching tests.
 */
import { logSoftmax } from '../../lib/decode/loop.js';
import type { Seq2SeqStepper } from '../../lib/decode/seq2seq.js';
import { Rng } from '../../lib/random.js';

/** What the fake model gives for one (sentence, prefix): float32 log-probs [V] and attention over the sentence's own source [srcLen_n]. */
export interface FakeModel {
  readonly V: number;
  readonly bos: number;
  readonly eos: number;
  logProbs(sentence: number, prefix: readonly number[]): Float32Array;
  attention(sentence: number, prefix: readonly number[], srcLen: number): Float32Array;
}

function hash(parts: readonly number[]): number {
  let h = 2166136261;
  for (const p of parts) {
    h ^= p + 0x9e37;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}

/** A seeded fake: logits uniform in [-spread, spread] per (seed, sentence, prefix), eos logit shifted by `eosBias`. */
export function randomModel(V: number, seed: number, { spread = 2, eosBias = 0, eos = 0, bos = 1 } = {}): FakeModel {
  const cache = new Map<string, Float32Array>();
  return {
    V,
    bos,
    eos,
    logProbs(sentence, prefix) {
      const key = `${sentence}:${prefix.join(',')}`;
      let lp = cache.get(key);
      if (!lp) {
        const rng = new Rng(hash([seed, sentence, prefix.length, ...prefix]));
        const logits = Float32Array.from({ length: V }, (_, v) => (2 * rng.uniform() - 1) * spread + (v === eos ? eosBias : 0));
        lp = logSoftmax(logits);
        cache.set(key, lp);
      }
      return lp;
    },
    attention(sentence, prefix, srcLen) {
      const rng = new Rng(hash([seed + 7, sentence, prefix.length, ...prefix]));
      const w = Array.from({ length: srcLen }, () => Math.exp(3 * rng.uniform()));
      const sum = w.reduce((a, b) => a + b, 0);
      return Float32Array.from(w, (x) => x / sum);
    },
  };
}

/**
 * A fake from a table: `table[prefix.join(',')]` = probabilities [V] (the same for every sentence),
 * `fallback` for a prefix not in it; attention uniform.
 */
export function tableModel(
  V: number,
  table: Readonly<Record<string, readonly number[]>>,
  { eos = 0, bos = 1, fallback }: { eos?: number; bos?: number; fallback?: readonly number[] } = {},
): FakeModel {
  return {
    V,
    bos,
    eos,
    logProbs(_sentence, prefix) {
      const p = table[prefix.join(',')] ?? fallback;
      if (!p) throw new Error(`no table row for prefix [${prefix.join(',')}]`);
      return Float32Array.from(p, (x) => Math.log(x));
    },
    attention(_sentence, _prefix, srcLen) {
      return new Float32Array(srcLen).fill(1 / Math.max(srcLen, 1));
    },
  };
}

/** The stepper over `ids` (the model's sentence ids) with their source lengths. */
export class FakeStepper implements Seq2SeqStepper {
  readonly vocabSize: number;
  readonly sentences: number;
  readonly sourceLengths: Int32Array;
  readonly srcLen: number;
  readonly bos: number;
  readonly eos: number;
  /** Rows of every step, in order. */
  readonly stepRows: number[] = [];
  /** The most rows ever held. */
  maxRows = 0;
  /** Steps that asked for attention. */
  attentionAsked = 0;
  private prefixes: number[][] = [];
  private sentenceOf: number[] = [];
  private started = false;

  constructor(
    readonly model: FakeModel,
    readonly ids: readonly number[],
    lengths: readonly number[],
    private readonly options: { giveAttention?: boolean } = {},
  ) {
    this.vocabSize = model.V;
    this.sentences = ids.length;
    this.sourceLengths = Int32Array.from(lengths);
    this.srcLen = Math.max(0, ...lengths);
    this.bos = model.bos;
    this.eos = model.eos;
  }

  get rows(): number {
    return this.prefixes.length;
  }

  start(k: number): void {
    this.prefixes = [];
    this.sentenceOf = [];
    for (let n = 0; n < this.sentences; n++) {
      for (let i = 0; i < k; i++) {
        this.prefixes.push([]);
        this.sentenceOf.push(n);
      }
    }
    this.started = true;
    this.maxRows = Math.max(this.maxRows, this.rows);
  }

  async step(tokens: Int32Array, withAttention: boolean): Promise<{ logProbs: Float32Array; attention: Float32Array | null }> {
    if (!this.started) throw new Error('step before start');
    if (tokens.length !== this.rows) throw new Error(`step: ${tokens.length} tokens for ${this.rows} rows`);
    this.stepRows.push(this.rows);
    const V = this.vocabSize;
    const S = this.srcLen;
    const logProbs = new Float32Array(this.rows * V);
    const attention = withAttention && this.options.giveAttention !== false ? new Float32Array(this.rows * S) : null;
    if (withAttention) this.attentionAsked++;
    for (let r = 0; r < this.rows; r++) {
      const p = this.prefixes[r]; // every token fed so far, bos first
      if (p.length === 0 && tokens[r] !== this.bos) throw new Error(`step: row ${r} starts with ${tokens[r]}, not bos`);
      p.push(tokens[r]);
      const n = this.sentenceOf[r];
      const prefix = p.slice(1); // the target tokens so far (bos excluded)
      logProbs.set(this.model.logProbs(this.ids[n], prefix), r * V);
      if (attention) attention.set(this.model.attention(this.ids[n], prefix, this.sourceLengths[n]), r * S);
    }
    await Promise.resolve();
    return { logProbs, attention };
  }

  reorder(index: Int32Array): void {
    for (const i of index) if (!(i >= 0 && i < this.rows)) throw new Error(`reorder: index ${i} outside [0, ${this.rows})`);
    this.prefixes = Array.from(index, (i) => this.prefixes[i].slice());
    this.sentenceOf = Array.from(index, (i) => this.sentenceOf[i]);
    this.maxRows = Math.max(this.maxRows, this.rows);
  }
}

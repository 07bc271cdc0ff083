/**
 * Choosing the next token from one row of logits (unnormalized log-probabilities, `Float32Array [V]`):
 * {@link greedy} (argmax) and {@link sample} (softmax with temperature, optional top-k and top-p
 * filtering, then one categorical draw from a seeded {@link Rng}); `...Batch` versions take `[B, V]`
 * rows. {@link probabilities} gives the exact distribution {@link sample} draws from.
 *
 * The pipeline, in the order Hugging Face transformers applies its logits warpers
 * (`TemperatureLogitsWarper`, then `TopKLogitsWarper`, then `TopPLogitsWarper`; transformers
 * `generation/logits_process.py`):
 * 1. temperature: `p_i ∝ exp((l_i - max l) / temperature)`, in float64 (subtracting the max first
 *    keeps every exponent <= 0, so it cannot overflow for any temperature > 0);
 * 2. top-k: keep the tokens whose logit is >= the k-th largest logit. Ties at the boundary are ALL
 *    kept (so more than k tokens may survive), exactly as transformers' `TopKLogitsWarper`
 *    (`scores < topk(scores, k).values[..., -1]` are removed). `topK` >= V keeps every token;
 * 3. top-p (nucleus sampling, Holtzman et al. 2020, "The Curious Case of Neural Text
 *    Degeneration", https://arxiv.org/abs/1904.09751): on the distribution renormalized over the
 *    top-k survivors, keep the smallest set of most probable tokens whose cumulative probability is
 *    >= p (always at least the most probable token). Ties at the boundary are all kept, so the set
 *    depends on the probabilities only, never on token order. `topP = 1` keeps every token;
 * 4. renormalize over the kept set and draw once with {@link Rng.categorical} (one `uniform()` per
 *    draw, so a seed fixes every choice).
 *
 * Logits may contain `-Infinity` (a token that can never be chosen, the usual way to mask one);
 * NaN or `+Infinity`, or a row where every logit is `-Infinity`, is a ValueError naming `logits`.
 */
import { types } from 'node:util';

import { ShapeError, ValueError } from '../errors.js';
import { defaultRng, Rng } from '../random.js';
import { describe } from '../check.js';

/** How {@link sample} shapes the distribution before drawing. */
export interface SamplingOptions {
  /**
   * Divides the logits: below 1 sharpens the distribution, above 1 flattens it. A finite number
   * > 0; 0 is refused (the limit is argmax: use {@link greedy} or the `'greedy'` strategy). Tiny
   * positive values are handled without overflow. Default: 1.
   */
  readonly temperature?: number;
  /** Keep only the tokens whose logit is among the k largest (ties at the boundary kept). An integer >= 1. Default: no top-k filtering. */
  readonly topK?: number;
  /** Nucleus sampling: keep the most probable tokens until their cumulative probability reaches `topP`. In (0, 1]. Default: 1 (no filtering). */
  readonly topP?: number;
}

/** Options of {@link sample} and {@link sampleBatch}. */
export interface SampleOptions extends SamplingOptions {
  /** The generator of the draw. Default: the process-wide {@link defaultRng}. */
  readonly rng?: Rng;
}

/** Normalized sampling options (validated). */
interface Checked {
  readonly temperature: number;
  readonly topK: number | null;
  readonly topP: number;
}

/** Validates {@link SamplingOptions}; each error names its field. */
export function checkSamplingOptions(options: unknown, name: string = 'options'): Checked {
  if (typeof name !== 'string' || name === '') name = 'options';
  if (options === undefined) return { temperature: 1, topK: null, topP: 1 };
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, name);
  const o = options as SamplingOptions;
  const t = o.temperature;
  let temperature = 1;
  if (t !== undefined) {
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
      throw new ValueError(`expected a finite number > 0, got ${describe(t)}`, 'temperature');
    }
    if (t === 0) throw new ValueError("expected a number > 0, got 0 (for the argmax, use greedy / the 'greedy' strategy)", 'temperature');
    temperature = t;
  }
  let topK: number | null = null;
  if (o.topK !== undefined) {
    const k = o.topK;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1)
      throw new ValueError(`expected an integer >= 1, got ${describe(k)}`, 'topK');
    topK = k;
  }
  let topP = 1;
  if (o.topP !== undefined) {
    const p = o.topP;
    if (typeof p !== 'number' || !(p > 0 && p <= 1)) throw new ValueError(`expected a number in (0, 1], got ${describe(p)}`, 'topP');
    topP = p;
  }
  return { temperature, topK, topP };
}

function checkRng(rng: unknown): Rng {
  if (rng === undefined) return defaultRng();
  if (!(rng instanceof Rng)) throw new ValueError(`expected an Rng, got ${describe(rng)}`, 'rng');
  return rng;
}

function checkLogits(logits: unknown): Float32Array {
  if (!types.isFloat32Array(logits)) throw new ValueError(`expected a Float32Array, got ${describe(logits)}`, 'logits');
  if (logits.length === 0) throw new ShapeError('expected at least one logit, got an empty array', 'logits');
  return logits;
}

/** The max of row `[off, off + V)`; throws on NaN, +Infinity, or an all -Infinity row. */
function rowMax(logits: Float32Array, off: number, V: number, row: string): number {
  let m = -Infinity;
  for (let i = 0; i < V; i++) {
    const l = logits[off + i];
    if (Number.isNaN(l) || l === Infinity) throw new ValueError(`${row}[${i}] is ${l}: expected finite numbers or -Infinity`, 'logits');
    if (l > m) m = l;
  }
  if (m === -Infinity) throw new ValueError(`every logit of ${row} is -Infinity: no token can be chosen`, 'logits');
  return m;
}

function argmaxRow(logits: Float32Array, off: number, V: number, row: string): number {
  rowMax(logits, off, V, row);
  let best = 0;
  for (let i = 1; i < V; i++) if (logits[off + i] > logits[off + best]) best = i;
  return best;
}

/** The filtered, renormalized distribution of one row (float64, zeros outside the kept set). */
function distributionRow(logits: Float32Array, off: number, V: number, o: Checked, row: string): Float64Array {
  const m = rowMax(logits, off, V, row);
  const p = new Float64Array(V);
  // Top-k on the logits (temperature is monotonic, so it does not change the set).
  let kth = -Infinity;
  if (o.topK !== null && o.topK < V) {
    const sorted = Float64Array.from(logits.subarray(off, off + V)).sort();
    kth = sorted[V - o.topK];
  }
  let sum = 0;
  for (let i = 0; i < V; i++) {
    const l = logits[off + i];
    // (l - m) <= 0, divided by a positive temperature: exp never overflows; the max gives exp(0) = 1.
    const e = l >= kth ? Math.exp((l - m) / o.temperature) : 0;
    p[i] = e;
    sum += e;
  }
  for (let i = 0; i < V; i++) p[i] /= sum;
  if (o.topP < 1) {
    // Most probable first; the probability at which the cumulative sum first reaches topP is the
    // threshold, and every token at least that probable is kept (ties at the boundary included).
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
    let cum = 0;
    let threshold = 0;
    for (const i of order) {
      cum += p[i];
      threshold = p[i];
      if (cum >= o.topP) break;
    }
    let kept = 0;
    for (let i = 0; i < V; i++) {
      if (p[i] >= threshold) kept += p[i];
      else p[i] = 0;
    }
    for (let i = 0; i < V; i++) p[i] /= kept;
  }
  return p;
}

/**
 * The index of the largest logit (the lowest index among equal maxima). NaN or +Infinity, or an
 * all -Infinity row, is a ValueError naming `logits`.
 */
export function greedy(logits: Float32Array): number {
  const l = checkLogits(logits);
  return argmaxRow(l, 0, l.length, 'logits');
}

/**
 * The distribution {@link sample} draws from: softmax of `logits / temperature`, restricted to the
 * top-k then top-p set and renormalized (float64, `[V]`, zero outside the kept set; sums to 1 up to
 * rounding). See the module comment for the exact rules.
 */
export function probabilities(logits: Float32Array, options?: SamplingOptions): Float64Array {
  const l = checkLogits(logits);
  return distributionRow(l, 0, l.length, checkSamplingOptions(options), 'logits');
}

/** Draws one token id from {@link probabilities}`(logits, options)` with `options.rng` (one uniform draw). */
export function sample(logits: Float32Array, options?: SampleOptions): number {
  const l = checkLogits(logits);
  const o = checkSamplingOptions(options);
  const rng = checkRng(options?.rng);
  return rng.categorical(distributionRow(l, 0, l.length, o, 'logits'));
}

function checkRows(logits: unknown, vocabSize: unknown): { l: Float32Array; V: number; B: number } {
  if (typeof vocabSize !== 'number' || !Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new ValueError(`expected an integer >= 1, got ${describe(vocabSize)}`, 'vocabSize');
  }
  const l = checkLogits(logits);
  if (l.length % vocabSize !== 0) {
    throw new ShapeError(`expected a length divisible by vocabSize = ${vocabSize} ([batch, vocabSize] rows), got ${l.length}`, 'logits');
  }
  return { l, V: vocabSize, B: l.length / vocabSize };
}

/** {@link greedy} on each row of `logits [B, vocabSize]` (row-major): `[B]` ids. */
export function greedyBatch(logits: Float32Array, vocabSize: number): Int32Array {
  const { l, V, B } = checkRows(logits, vocabSize);
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) out[b] = argmaxRow(l, b * V, V, `row ${b}`);
  return out;
}

/**
 * {@link sample} on each row of `logits [B, vocabSize]` (row-major): `[B]` ids, drawn in row order
 * from the one generator (row b takes the generator's b-th uniform draw of this call). Every row is
 * validated before any draw, so a bad row leaves the generator untouched.
 */
export function sampleBatch(logits: Float32Array, vocabSize: number, options?: SampleOptions): Int32Array {
  const { l, V, B } = checkRows(logits, vocabSize);
  const o = checkSamplingOptions(options);
  const rng = checkRng(options?.rng);
  const dists: Float64Array[] = [];
  for (let b = 0; b < B; b++) dists.push(distributionRow(l, b * V, V, o, `row ${b}`));
  return Int32Array.from(dists, (d) => rng.categorical(d));
}

/** `log softmax(logits)[index]` at temperature 1, in float64 (the model's own log-probability of a token). */
export function logProbability(logits: Float32Array, index: number): number {
  const l = checkLogits(logits);
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= l.length) {
    throw new ValueError(`expected an integer in [0, ${l.length}), got ${describe(index)}`, 'index');
  }
  const m = rowMax(l, 0, l.length, 'logits');
  let sum = 0;
  for (let i = 0; i < l.length; i++) sum += Math.exp(l[i] - m);
  return l[index] - m - Math.log(sum);
}

/**
 * The seeded random number generator behind every random draw in gated: weight initialization,
 * dropout masks, shuffling, sampling. One algorithm, fixed here, so that a seed gives the same
 * numbers on every platform and every version that does not say otherwise.
 *
 * Algorithm: xoshiro128** 1.1 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c),
 * 128 bits of state as four uint32 words, period 2^128 - 1, all arithmetic in 32-bit integers
 * (`Math.imul`, `>>>`). Seeding runs splitmix32 (a Weyl sequence with step 0x9e3779b9 through a
 * two-round xorshift-multiply hash from Wellons' hash-prospector: shifts 16, 15, 15, multipliers
 * 0x21f0aaad, 0x735a2d97; a bijection) over the seed, so that nearby seeds give unrelated
 * streams and the state is never all zero.
 */

import { allocF32, describe, isDetached, MAX_ELEMENTS } from './check.js';
import { ValueError } from './errors.js';

/** Serializable state of an {@link Rng}: plain numbers, safe for JSON and checkpoints. */
export interface RngState {
  /** Always `'xoshiro128**'`; lets a checkpoint reader refuse a state from another generator. */
  readonly algorithm: 'xoshiro128**';
  /** The four state words, each an integer in [0, 2^32), not all zero. */
  readonly s: readonly [number, number, number, number];
  /** The cached second normal deviate of the polar method, or `null` when none is cached. */
  readonly spare: number | null;
}

const TWO_POW_32 = 4294967296;
const GOLDEN_GAMMA = 0x9e3779b9;

/** splitmix32 output function: a bijection on uint32 with good avalanche (hash-prospector constants). */
function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x21f0aaad);
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function checkSeed(seed: number, name: string): void {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new ValueError(`expected an integer in [0, 2^53), got ${describe(seed)}`, name);
  }
}

function checkFinite(x: number, name: string): void {
  if (typeof x !== 'number' || !Number.isFinite(x)) {
    throw new ValueError(`expected a finite number, got ${describe(x)}`, name);
  }
}

function checkCount(n: number, name: string): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_ELEMENTS) {
    throw new ValueError(`expected an integer in [0, 2^31-1], got ${describe(n)}`, name);
  }
}

/** An array or typed array (not detached) to read numbers from; a ValueError naming `name` otherwise. */
function checkArrayLike(a: unknown, name: string): void {
  const ok = Array.isArray(a) || (ArrayBuffer.isView(a) && !(a instanceof DataView) && !isDetached(a.buffer));
  if (!ok) throw new ValueError(`expected an array or a typed array, got ${describe(a)}`, name);
}

/** `v` as an {@link Rng}; a ValueError naming `name` for anything else. */
export function checkRng(v: unknown, name: string): Rng {
  if (!(v instanceof Rng)) throw new ValueError(`expected an Rng, got ${describe(v)}`, name);
  return v;
}

/**
 * A seeded xoshiro128** generator. Not cryptographic. Create one per independent purpose, or
 * derive streams with {@link Rng.split}; the process-wide one is {@link defaultRng}.
 *
 * ```ts
 * const rng = new Rng(42);
 * rng.uniform();            // [0, 1)
 * rng.normalArray(16, 0, 0.1);
 * const saved = rng.state(); // ... later: rng.setState(saved) resumes the exact same stream
 * ```
 */
export class Rng {
  // Four words of state, kept as separate fields: faster than an array in V8's hot loop.
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  /**
   * @param seed integer in [0, 2^53); default 0. Expanded to the four state words by splitmix32
   *   (see {@link Rng.seed}).
   */
  constructor(seed = 0) {
    this.seed(seed);
  }

  /** Re-seeds in place, exactly as `new Rng(seed)` would; also drops the cached normal deviate. */
  seed(seed: number): void {
    checkSeed(seed, 'seed');
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    // Word i is mix32((lo + i*gamma) ^ key(hi)): a splitmix32 stream over the low half, keyed by
    // the high half, so every word depends on the whole seed. For one key, mix32 is a bijection
    // and the four inputs differ, so two words are never both zero (no all-zero state).
    const key = mix32((hi + 0x6a09e667) >>> 0);
    this.s0 = mix32(((lo + GOLDEN_GAMMA) >>> 0) ^ key);
    this.s1 = mix32(((lo + 2 * GOLDEN_GAMMA) >>> 0) ^ key);
    this.s2 = mix32(((lo + 3 * GOLDEN_GAMMA) >>> 0) ^ key);
    this.s3 = mix32(((lo + 4 * GOLDEN_GAMMA) >>> 0) ^ key);
    this.spare = null;
  }

  /** Next raw output: an integer in [0, 2^32). Every other draw is built on this one. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ s1) >>> 0;
    this.s1 = (s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * Uniform in [0, 1) with 32 bits of resolution (one raw draw; multiples of 2^-32). Enough for
   * float32 weights and dropout; never returns 1.
   */
  uniform(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /**
   * Uniform integer in [0, n), without modulo bias (rejection of the top partial range).
   * @param n integer in [1, 2^32].
   */
  int(n: number): number {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new ValueError(`expected an integer in [1, 2^32], got ${describe(n)}`, 'n');
    }
    // Largest multiple of n that fits in 2^32: draws at or above it would favour small values.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /**
   * Normal deviate by Marsaglia's polar method. Each accepted pair yields two deviates; the second
   * is cached (and is part of {@link state}) for the next call.
   * @param mean default 0.
   * @param std standard deviation, >= 0; default 1.
   */
  normal(mean = 0, std = 1): number {
    checkFinite(mean, 'mean');
    checkFinite(std, 'std');
    if (std < 0) throw new ValueError(`expected >= 0, got ${std}`, 'std');
    return mean + std * this.standardNormal();
  }

  private standardNormal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    let u: number;
    let v: number;
    let r: number;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      r = u * u + v * v;
    } while (r >= 1 || r === 0);
    const f = Math.sqrt((-2 * Math.log(r)) / r);
    this.spare = v * f;
    return u * f;
  }

  /**
   * Draws one index with probability proportional to `weights[i]` (e.g. a softmax output when
   * sampling text). Weights need not sum to 1.
   * @param weights non-negative finite numbers with a positive sum.
   */
  categorical(weights: ArrayLike<number>): number {
    checkArrayLike(weights, 'weights');
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
        throw new ValueError(`expected a non-negative finite number, got ${describe(w)}`, `weights[${i}]`);
      }
      total += w;
    }
    if (!(total > 0)) throw new ValueError('expected a positive sum', 'weights');
    let x = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i];
      if (x < 0) return i;
    }
    // Rounding can leave x a hair above zero: return the last index with non-zero weight.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
    return weights.length - 1;
  }

  /**
   * Shuffles in place (Fisher–Yates, from the end) and returns the same array.
   * Works on arrays and typed arrays.
   */
  shuffle<A extends { length: number; [index: number]: unknown }>(array: A): A {
    checkArrayLike(array, 'array');
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /**
   * A random permutation of 0..n-1.
   * @param n non-negative integer.
   */
  permutation(n: number): Int32Array {
    checkCount(n, 'n');
    let p: Int32Array;
    try {
      p = new Int32Array(n);
    } catch {
      throw new ValueError(`cannot allocate ${n} integers`, 'n');
    }
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * `n` uniform draws in [lo, hi) as float32 (rounding to float32 may give exactly `hi`).
   * @param n non-negative integer.
   * @param lo default 0.
   * @param hi default 1; must be >= lo.
   */
  uniformArray(n: number, lo = 0, hi = 1): Float32Array {
    checkCount(n, 'n');
    checkFinite(lo, 'lo');
    checkFinite(hi, 'hi');
    if (hi < lo) throw new ValueError(`expected >= lo (${lo}), got ${hi}`, 'hi');
    const out = allocF32({ value: n, formula: `n = ${n}` }, 'n');
    const span = hi - lo;
    for (let i = 0; i < n; i++) out[i] = lo + span * this.uniform();
    return out;
  }

  /**
   * `n` normal draws as float32.
   * @param n non-negative integer.
   * @param mean default 0.
   * @param std default 1; must be >= 0.
   */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    checkCount(n, 'n');
    checkFinite(mean, 'mean');
    checkFinite(std, 'std');
    if (std < 0) throw new ValueError(`expected >= 0, got ${std}`, 'std');
    const out = allocF32({ value: n, formula: `n = ${n}` }, 'n');
    for (let i = 0; i < n; i++) out[i] = mean + std * this.standardNormal();
    return out;
  }

  /** A copy of the full state (including the cached normal deviate); see {@link setState}. */
  state(): RngState {
    return { algorithm: 'xoshiro128**', s: [this.s0, this.s1, this.s2, this.s3], spare: this.spare };
  }

  /**
   * Restores a state from {@link state} (possibly after a JSON round trip): the stream continues
   * exactly where it was. Throws ValueError naming the bad field.
   */
  setState(state: RngState): void {
    if (typeof state !== 'object' || state === null) throw new ValueError('expected an object', 'state');
    if (state.algorithm !== 'xoshiro128**') {
      throw new ValueError(`expected 'xoshiro128**', got ${describe(state.algorithm)}`, 'state.algorithm');
    }
    const s: unknown = state.s;
    if (!Array.isArray(s) || s.length !== 4) throw new ValueError('expected an array of 4 numbers', 'state.s');
    for (let i = 0; i < 4; i++) {
      const w: unknown = s[i];
      if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w >= TWO_POW_32) {
        throw new ValueError(`expected an integer in [0, 2^32), got ${describe(w)}`, `state.s[${i}]`);
      }
    }
    if ((s[0] | s[1] | s[2] | s[3]) === 0) throw new ValueError('the all-zero state is not allowed', 'state.s');
    const spare: unknown = state.spare;
    if (spare !== null && (typeof spare !== 'number' || !Number.isFinite(spare))) {
      throw new ValueError(`expected a finite number or null, got ${describe(spare)}`, 'state.spare');
    }
    this.s0 = s[0] as number;
    this.s1 = s[1] as number;
    this.s2 = s[2] as number;
    this.s3 = s[3] as number;
    this.spare = spare;
  }

  /**
   * Derives an independent stream: the child starts at this generator's current state, and this
   * generator jumps 2^64 draws ahead (xoshiro's jump polynomial). The two streams cannot overlap
   * unless one of them draws 2^64 numbers. Deterministic: same parent state, same child.
   */
  split(): Rng {
    const child = new Rng(0);
    child.setState({ algorithm: 'xoshiro128**', s: [this.s0, this.s1, this.s2, this.s3], spare: null });
    this.jump();
    return child;
  }

  /** Same as {@link split}. */
  fork(): Rng {
    return this.split();
  }

  /** Advances the state by 2^64 draws (reference `jump()` of xoshiro128**). */
  private jump(): void {
    const JUMP = [0x8764000b, 0xf542d2d3, 0x6fa035c3, 0x77f2db5b];
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    for (const word of JUMP) {
      for (let b = 0; b < 32; b++) {
        if ((word >>> b) & 1) {
          t0 ^= this.s0;
          t1 ^= this.s1;
          t2 ^= this.s2;
          t3 ^= this.s3;
        }
        this.nextUint32();
      }
    }
    this.s0 = t0 >>> 0;
    this.s1 = t1 >>> 0;
    this.s2 = t2 >>> 0;
    this.s3 = t3 >>> 0;
    this.spare = null;
  }
}

/**
 * The seed the process-wide generator starts from. Fixed (not time-based) on purpose: a program
 * that never calls {@link setSeed} still gives the same results on every run.
 */
export const DEFAULT_SEED = 0x5eed;

const processRng = new Rng(DEFAULT_SEED);

/**
 * The process-wide generator every gated function uses when not given an `rng` option. The same
 * object for the life of the process ({@link setSeed} reseeds it in place), so holding a reference
 * is safe.
 */
export function defaultRng(): Rng {
  return processRng;
}

/**
 * Reseeds the process-wide generator ({@link defaultRng}); like `torch.manual_seed`.
 * @param seed integer in [0, 2^53).
 */
export function setSeed(seed: number): void {
  processRng.seed(seed);
}

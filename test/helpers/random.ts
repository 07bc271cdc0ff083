/**
 * Seeded random numbers for tests: the same seed gives the same arrays on every run and machine.
 *
 *   const rng = new Rng(42);
 *   const x = rng.randn(T * B * D);            // Float32Array, standard normal
 *   const w = rng.uniform(4 * H * D, -0.5, 0.5, Float64Array);
 */

/**
 * mulberry32: a tiny 32-bit PRNG (period 2^32), good enough for test data. Returns a function that
 * yields uniform floats in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A float array constructor the makers accept: Float32Array (default) or Float64Array. */
export type FloatArrayCtor = Float32ArrayConstructor | Float64ArrayConstructor;
/** The instance type of a {@link FloatArrayCtor}. */
export type FloatArrayOf<C extends FloatArrayCtor> = C extends Float64ArrayConstructor ? Float64Array : Float32Array;

/** A seeded generator of numbers and typed arrays. */
export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** A uniform float in [lo, hi). */
  float(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** A standard normal draw (Box-Muller). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1], so log(u) is finite
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** `length` draws from N(0, scale^2), as a Float32Array (default) or the given array type. */
  randn<C extends FloatArrayCtor = Float32ArrayConstructor>(length: number, scale = 1, ctor?: C): FloatArrayOf<C> {
    const out = makeArray(length, ctor);
    for (let i = 0; i < length; i++) out[i] = scale * this.normal();
    return out;
  }

  /** `length` draws from U[lo, hi), as a Float32Array (default) or the given array type. */
  uniform<C extends FloatArrayCtor = Float32ArrayConstructor>(length: number, lo = -1, hi = 1, ctor?: C): FloatArrayOf<C> {
    const out = makeArray(length, ctor);
    for (let i = 0; i < length; i++) out[i] = this.float(lo, hi);
    return out;
  }
}

function makeArray<C extends FloatArrayCtor>(length: number, ctor: C | undefined): FloatArrayOf<C> {
  return (ctor ? new ctor(length) : new Float32Array(length)) as FloatArrayOf<C>;
}

/** Option and input checks shared by the layers (each error names the option or argument). */
import { ValueError } from '../errors.js';
import { checkSize, describe } from '../validate.js';
import type { Kind, Value } from './values.js';

/** An integer >= 1 (and <= 2^31-1). */
export function positiveInt(v: unknown, name: string): number {
  const n = checkSize(v, name);
  if (n < 1) throw new ValueError(`expected an integer >= 1, got ${describe(v)}`, name);
  return n;
}

/** The options object of a layer factory (undefined: empty). */
export function optionsObject<O extends object>(o: O | undefined, name: string): Partial<O> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new ValueError(`expected an object, got ${describe(o)}`, name);
  return o;
}

/** One of `allowed`, or `dflt` when undefined. */
export function oneOf<T extends string>(v: unknown, allowed: readonly T[], dflt: T, name: string): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ValueError(`expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}`, name);
  }
  return v as T;
}

/** A boolean, or `dflt` when undefined. */
export function boolOr(v: unknown, dflt: boolean, name: string): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(v)}`, name);
  return v;
}

/** A rate in [0, 1), or 0 when undefined. */
export function rate(v: unknown, name: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new ValueError(`expected a number in [0, 1), got ${describe(v)}`, name);
  return v;
}

/** Throws unless `x` is a value of one of `kinds` with `features` features (when it has features). */
export function checkInput(x: Value, kinds: readonly Kind[], features: number, layer: string): void {
  if (typeof x !== 'object' || x === null || !kinds.includes(x.kind)) {
    const got = typeof x === 'object' && x !== null && typeof x.kind === 'string' ? `a ${x.kind}` : describe(x);
    throw new ValueError(`${layer} expects ${kinds.map((k) => `a ${k}`).join(' or ')}, got ${got}`, 'x');
  }
  if (x.kind !== 'tokens' && x.features !== features) {
    throw new ValueError(`${layer} was built for ${features} input features, got ${x.features}`, 'x.features');
  }
}

/** Throws unless the layer was built. */
export function checkBuilt(built: boolean, layer: string): void {
  if (!built) throw new ValueError(`${layer} is not built: call build(inputFeatures, rng) first (a model's build does)`, 'layer');
}

/** Throws when a built layer is built again for another input size. */
export function checkRebuild(previous: number, next: number, layer: string): void {
  if (previous !== next) {
    throw new ValueError(`${layer} is already built for ${previous} input features, got ${next}`, 'inputFeatures');
  }
}

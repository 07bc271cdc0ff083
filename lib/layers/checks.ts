/** The layers' own checks: the input of a forward call and the build state (the rest is lib/check.ts). */
import { describe } from '../check.js';
import { ValueError } from '../errors.js';
import type { Kind, Value } from './values.js';

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

/** The layers' own checks: the input of a forward call and the build state (the rest is lib/check.ts). */
import { backendName, checkSize, describe, objectArgs } from '../check.js';
import { ValueError } from '../errors.js';
import { checkRng } from '../random.js';
import { checkValue, type Kind, type Value } from './values.js';

/** Throws unless `x` is a value of one of `kinds` with `features` features (when it has features). */
export function checkInput(x: Value, kinds: readonly Kind[], features: number, layer: string): void {
  if (typeof x !== 'object' || x === null || !kinds.includes(x.kind)) {
    const got = typeof x === 'object' && x !== null && typeof x.kind === 'string' ? `a ${x.kind}` : describe(x);
    throw new ValueError(`${layer} expects ${kinds.map((k) => `a ${k}`).join(' or ')}, got ${got}`, 'x');
  }
  if (x.kind !== 'tokens' && x.features !== features) {
    throw new ValueError(`${layer} was built for ${features} input features, got ${describe(x.features)}`, 'x.features');
  }
  // The rest of a float value (sizes, data), for one built by hand rather than by sequence() / vector().
  if (x.kind !== 'tokens') checkValue(x, x.kind, features, 'x');
}

/** Throws unless `ctx` is a forward context: an object with a boolean `training`, an {@link Rng} `rng` and a backend name. */
export function checkContext(ctx: unknown): void {
  const c = objectArgs(ctx, 'ctx');
  if (typeof c.training !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(c.training)}`, 'ctx.training');
  checkRng(c.rng, 'ctx.rng');
  backendName(c.backend, 'ctx.backend');
}

/** Throws unless the layer was built. */
export function checkBuilt(built: boolean, layer: string): void {
  if (!built) throw new ValueError(`${layer} is not built: call build(inputFeatures, rng) first (a model's build does)`, 'layer');
}

/**
 * The arguments of a layer's `build`: `inputFeatures` a size (an integer in [0, 2^31-1]) and `rng` an
 * {@link Rng}, null or undefined (no initialization); a ValueError naming the argument otherwise.
 */
export function checkBuildArgs(inputFeatures: unknown, rng: unknown): void {
  checkSize(inputFeatures, 'inputFeatures');
  if (rng !== null && rng !== undefined) checkRng(rng, 'rng');
}

/** Throws when a built layer is built again for another input size. */
export function checkRebuild(previous: number, next: number, layer: string): void {
  if (previous !== next) {
    throw new ValueError(`${layer} is already built for ${previous} input features, got ${next}`, 'inputFeatures');
  }
}

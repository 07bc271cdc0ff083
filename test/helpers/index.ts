/**
 * Shared test utilities: seeded random arrays (random.ts) and tolerance asserts (close.ts).
 * The list of backends to parametrize over is in backends.ts (imported on its own: it loads the
 * native addon when there is one).
 */
export { Rng, mulberry32, type FloatArrayCtor, type FloatArrayOf } from './random.js';
export { expectClose, maxAbsDiff, type Tolerance } from './close.js';
export { errorOf } from './errors.js';

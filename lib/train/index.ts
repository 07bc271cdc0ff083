/** Training: optimizers, schedules, metrics, the fit / evaluate / predict loop, and the raw kernels. */
export * from './optimizers.js';
export * from './metrics.js';
export * from './fit.js';
export { losses, optimizers as stepKernels } from './kernels.js';
export type * from './kernels.js';

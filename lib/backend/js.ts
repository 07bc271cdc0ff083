/**
 * The pure-TypeScript backend: the readable reference the native backend is tested against, and the
 * baseline of the benchmarks. A thin typed adapter over the generic kernels of lib/js/, which here
 * always compute in float32 storage (every array they allocate has the type of `args.x`).
 *
 * The `...Async` variants run the synchronous kernel on the calling thread and then resolve: this
 * backend blocks the event loop for the whole call.
 */
import type { Backend } from './types.js';
import { rnnBackward, rnnForward } from '../js/rnn.js';
import { lstmBackward, lstmForward } from '../js/lstm.js';
import { gruBackward, gruForward } from '../js/gru.js';

/** The pure-JS implementation of {@link Backend}. Arguments are trusted (lib/ops.ts validated them). */
export const jsBackend: Backend = {
  name: 'js',
  rnnForward: (args) => rnnForward(args),
  rnnBackward: (args) => rnnBackward(args),
  lstmForward: (args) => lstmForward(args),
  lstmBackward: (args) => lstmBackward(args),
  gruForward: (args) => gruForward(args),
  gruBackward: (args) => gruBackward(args),
  // Blocking: these run inline and resolve (or reject with the kernel's error) afterwards.
  rnnForwardAsync: async (args) => rnnForward(args),
  rnnBackwardAsync: async (args) => rnnBackward(args),
  lstmForwardAsync: async (args) => lstmForward(args),
  lstmBackwardAsync: async (args) => lstmBackward(args),
  gruForwardAsync: async (args) => gruForward(args),
  gruBackwardAsync: async (args) => gruBackward(args),
};

/**
 * The pure-TypeScript backend: the readable reference the native backend is tested against, and the
 * baseline of the benchmarks. A thin typed adapter over the generic kernels of lib/js/, which here
 * always compute in float32 storage (every array they allocate has the type of `args.x`).
 *
 * The `...Async` variants run the synchronous kernel on the calling thread and then resolve: this
 * backend blocks the event loop for the whole call.
 */
import type {
  Backend, ForwardResult, GruForwardArgs, GruForwardResult, LstmForwardArgs, LstmForwardResult,
  RnnForwardArgs, RnnForwardResult,
} from './types.js';
import { rnnBackward, rnnForward } from '../js/rnn.js';
import { lstmBackward, lstmForward } from '../js/lstm.js';
import { gruBackward, gruForward } from '../js/gru.js';

// The kernels return a cache exactly when `keepCache` is not false, which is what ForwardResult
// states; the casts only restate that for the generic argument type.
function rnn<A extends RnnForwardArgs>(args: A): ForwardResult<A, RnnForwardResult> {
  return rnnForward<Float32Array>(args) as ForwardResult<A, RnnForwardResult>;
}
function lstm<A extends LstmForwardArgs>(args: A): ForwardResult<A, LstmForwardResult> {
  return lstmForward<Float32Array>(args) as ForwardResult<A, LstmForwardResult>;
}
function gru<A extends GruForwardArgs>(args: A): ForwardResult<A, GruForwardResult> {
  return gruForward<Float32Array>(args) as ForwardResult<A, GruForwardResult>;
}

/** The pure-JS implementation of {@link Backend}. Arguments are trusted (lib/ops.ts validated them). */
export const jsBackend: Backend = {
  name: 'js',
  rnnForward: rnn,
  rnnBackward: (args) => rnnBackward(args),
  lstmForward: lstm,
  lstmBackward: (args) => lstmBackward(args),
  gruForward: gru,
  gruBackward: (args) => gruBackward(args),
  // Blocking: these run inline and resolve (or reject with the kernel's error) afterwards.
  rnnForwardAsync: async (args) => rnn(args),
  rnnBackwardAsync: async (args) => rnnBackward(args),
  lstmForwardAsync: async (args) => lstm(args),
  lstmBackwardAsync: async (args) => lstmBackward(args),
  gruForwardAsync: async (args) => gru(args),
  gruBackwardAsync: async (args) => gruBackward(args),
};

/**
 * The fused whole-sequence ops: one call runs a cell over all time steps (forward) or back through
 * them (BPTT backward). Every op validates its arguments (lib/validate.ts) before any backend runs,
 * so both backends raise the same {@link ShapeError} / {@link ValueError} for the same mistake.
 *
 * The `...Async` variants return Promises. With the native backend the work runs on a libuv worker
 * thread and the event loop keeps running; with the js backend it runs inline before resolving.
 * Inputs must not be modified (or their buffers transferred or resized) until the promise settles:
 * the native kernel reads them while JavaScript runs. A buffer detached or resized meanwhile rejects
 * the promise with a ValueError naming the argument once the kernel ends, but cannot stop the kernel
 * from reading memory the array no longer owns (native/binding/worker.h). Validation errors reject
 * the promise.
 */
import { ValueError } from './errors.js';
import { defaultBackend, getBackend } from './backend/index.js';
import type {
  Backend, BackendName, ForwardResult, GruBackwardArgs, GruForwardArgs, GruForwardResult, GruGrads,
  LstmBackwardArgs, LstmForwardArgs, LstmForwardResult, LstmGrads, RnnBackwardArgs,
  RnnForwardArgs, RnnForwardResult, RnnGrads,
} from './backend/types.js';
import {
  describe, validateGruBackward, validateGruForward, validateLstmBackward, validateLstmForward,
  validateRnnBackward, validateRnnForward,
} from './validate.js';

/** Options every op accepts. */
export interface OpOptions {
  /**
   * Which implementation runs the op: `'native'` (the C++ addon), `'js'` (pure TypeScript), or any
   * {@link Backend} object. Default: the process default (see `setDefaultBackend`; initially
   * `'native'`).
   */
  readonly backend?: BackendName | Backend;
}

const methods = [
  'rnnForward', 'rnnBackward', 'lstmForward', 'lstmBackward', 'gruForward', 'gruBackward',
] as const;

function resolveBackend(options: OpOptions | undefined): Backend {
  if (options === undefined || options === null) return defaultBackend();
  if (typeof options !== 'object') {
    throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  }
  const b: unknown = options.backend;
  if (b === undefined) return defaultBackend();
  if (b === 'native' || b === 'js') return getBackend(b);
  if (typeof b === 'object' && b !== null) {
    const candidate = b as Partial<Record<string, unknown>>;
    if (methods.every((m) => typeof candidate[m] === 'function' && typeof candidate[`${m}Async`] === 'function')) {
      return b as Backend;
    }
  }
  throw new ValueError(`expected 'native', 'js' or a Backend object, got ${describe(b)}`, 'options.backend');
}

/** The fused sequence ops. See lib/backend/types.ts for the argument conventions and shapes. */
export interface Ops {
  /**
   * Simple RNN over a whole sequence: `y [T,B,H]`, `hN [B,H]` and the cache for backward (`null`
   * with `keepCache: false`, for inference: see {@link ForwardResult}).
   */
  rnnForward<A extends RnnForwardArgs>(args: A, options?: OpOptions): ForwardResult<A, RnnForwardResult>;
  /** Gradients of a simple RNN (BPTT) from the forward's cache and the output gradients. */
  rnnBackward(args: RnnBackwardArgs, options?: OpOptions): RnnGrads;
  /** LSTM over a whole sequence: `y`, `hN`, `cN` and the cache. */
  lstmForward<A extends LstmForwardArgs>(args: A, options?: OpOptions): ForwardResult<A, LstmForwardResult>;
  /** Gradients of an LSTM (BPTT). */
  lstmBackward(args: LstmBackwardArgs, options?: OpOptions): LstmGrads;
  /** GRU over a whole sequence: `y`, `hN` and the cache. */
  gruForward<A extends GruForwardArgs>(args: A, options?: OpOptions): ForwardResult<A, GruForwardResult>;
  /** Gradients of a GRU (BPTT). */
  gruBackward(args: GruBackwardArgs, options?: OpOptions): GruGrads;
  /** {@link Ops.rnnForward} off the main thread (native). Do not modify inputs until it settles. */
  rnnForwardAsync<A extends RnnForwardArgs>(args: A, options?: OpOptions): Promise<ForwardResult<A, RnnForwardResult>>;
  /** {@link Ops.rnnBackward} off the main thread (native). Do not modify inputs until it settles. */
  rnnBackwardAsync(args: RnnBackwardArgs, options?: OpOptions): Promise<RnnGrads>;
  /** {@link Ops.lstmForward} off the main thread (native). Do not modify inputs until it settles. */
  lstmForwardAsync<A extends LstmForwardArgs>(args: A, options?: OpOptions): Promise<ForwardResult<A, LstmForwardResult>>;
  /** {@link Ops.lstmBackward} off the main thread (native). Do not modify inputs until it settles. */
  lstmBackwardAsync(args: LstmBackwardArgs, options?: OpOptions): Promise<LstmGrads>;
  /** {@link Ops.gruForward} off the main thread (native). Do not modify inputs until it settles. */
  gruForwardAsync<A extends GruForwardArgs>(args: A, options?: OpOptions): Promise<ForwardResult<A, GruForwardResult>>;
  /** {@link Ops.gruBackward} off the main thread (native). Do not modify inputs until it settles. */
  gruBackwardAsync(args: GruBackwardArgs, options?: OpOptions): Promise<GruGrads>;
}

/** The fused sequence ops, validated and dispatched to the chosen backend. */
export const ops: Ops = Object.freeze({
  rnnForward<A extends RnnForwardArgs>(args: A, options?: OpOptions): ForwardResult<A, RnnForwardResult> {
    validateRnnForward(args);
    return resolveBackend(options).rnnForward<A>(args);
  },
  rnnBackward(args: RnnBackwardArgs, options?: OpOptions): RnnGrads {
    validateRnnBackward(args);
    return resolveBackend(options).rnnBackward(args);
  },
  lstmForward<A extends LstmForwardArgs>(args: A, options?: OpOptions): ForwardResult<A, LstmForwardResult> {
    validateLstmForward(args);
    return resolveBackend(options).lstmForward<A>(args);
  },
  lstmBackward(args: LstmBackwardArgs, options?: OpOptions): LstmGrads {
    validateLstmBackward(args);
    return resolveBackend(options).lstmBackward(args);
  },
  gruForward<A extends GruForwardArgs>(args: A, options?: OpOptions): ForwardResult<A, GruForwardResult> {
    validateGruForward(args);
    return resolveBackend(options).gruForward<A>(args);
  },
  gruBackward(args: GruBackwardArgs, options?: OpOptions): GruGrads {
    validateGruBackward(args);
    return resolveBackend(options).gruBackward(args);
  },
  async rnnForwardAsync<A extends RnnForwardArgs>(args: A, options?: OpOptions): Promise<ForwardResult<A, RnnForwardResult>> {
    validateRnnForward(args);
    return resolveBackend(options).rnnForwardAsync<A>(args);
  },
  async rnnBackwardAsync(args: RnnBackwardArgs, options?: OpOptions): Promise<RnnGrads> {
    validateRnnBackward(args);
    return resolveBackend(options).rnnBackwardAsync(args);
  },
  async lstmForwardAsync<A extends LstmForwardArgs>(args: A, options?: OpOptions): Promise<ForwardResult<A, LstmForwardResult>> {
    validateLstmForward(args);
    return resolveBackend(options).lstmForwardAsync<A>(args);
  },
  async lstmBackwardAsync(args: LstmBackwardArgs, options?: OpOptions): Promise<LstmGrads> {
    validateLstmBackward(args);
    return resolveBackend(options).lstmBackwardAsync(args);
  },
  async gruForwardAsync<A extends GruForwardArgs>(args: A, options?: OpOptions): Promise<ForwardResult<A, GruForwardResult>> {
    validateGruForward(args);
    return resolveBackend(options).gruForwardAsync<A>(args);
  },
  async gruBackwardAsync(args: GruBackwardArgs, options?: OpOptions): Promise<GruGrads> {
    validateGruBackward(args);
    return resolveBackend(options).gruBackwardAsync(args);
  },
});

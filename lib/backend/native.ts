/**
 * The native implementation of {@link Backend}: allocates the outputs, hands everything to the addon
 * (native/binding/binding.cc) in one object, and maps the addon's error codes to typed errors:
 * `ERR_GATED_SHAPE` -> {@link ShapeError}, `ERR_GATED_VALUE` -> {@link ValueError},
 * `ERR_GATED_NATIVE` (a kernel failed, e.g. out of memory) -> {@link NativeError}.
 *
 * Arguments arrive validated by lib/ops.ts; the addon checks them again.
 * The `...Async` methods run the kernel on a libuv worker thread. The caller must not write to, or
 * transfer, any input array until the returned promise settles (the addon holds references so the
 * arrays stay alive, but it reads them while JavaScript keeps running).
 */
import { GatedError, NativeError, ShapeError, ValueError } from '../errors.js';
import { loadAddon, type NativeCallArgs, type NativeCellOp } from '../native.js';
import type {
  Backend, ForwardResult, GruBackwardArgs, GruForwardArgs, GruForwardResult, GruGrads,
  LstmBackwardArgs, LstmForwardArgs, LstmForwardResult, LstmGrads, RnnBackwardArgs, RnnForwardArgs,
  RnnForwardResult, RnnGrads, SeqBackwardExtra, SeqForwardArgs, SeqForwardResult, SeqGrads,
} from './types.js';
import { cacheSize } from './types.js';

type OpName = 'rnnForward' | 'rnnBackward' | 'lstmForward' | 'lstmBackward' | 'gruForward' | 'gruBackward';

/** Turns an addon error (message `"<argument>: <text>"`, `code`) into gated's typed error. */
export function mapNativeError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof GatedError) return err;
  const code = (err as { code?: unknown }).code;
  const match = /^([A-Za-z_$][\w$.[\]]*): ([\s\S]*)$/.exec(err.message);
  const argument = match ? match[1] : undefined;
  const text = match ? match[2] : err.message;
  let mapped: GatedError;
  if (code === 'ERR_GATED_SHAPE') mapped = new ShapeError(text, argument);
  else if (code === 'ERR_GATED_VALUE') mapped = new ValueError(text, argument);
  else if (code === 'ERR_GATED_NATIVE') mapped = new NativeError(text, argument);
  else return err;
  Object.defineProperty(mapped, 'cause', { value: err, enumerable: false, configurable: true, writable: true });
  return mapped;
}

function callSync(op: OpName, fields: NativeCallArgs): void {
  const fn: NativeCellOp = loadAddon()[op];
  try {
    fn({ ...fields, async: false });
  } catch (err) {
    throw mapNativeError(err);
  }
}

async function callAsync(op: OpName, fields: NativeCallArgs): Promise<void> {
  const fn: NativeCellOp = loadAddon()[op];
  try {
    await fn({ ...fields, async: true });
  } catch (err) {
    throw mapNativeError(err);
  }
}

function toInt32(lengths: SeqForwardArgs['lengths']): Int32Array | null {
  if (lengths === undefined || lengths === null) return null;
  return lengths instanceof Int32Array ? lengths : Int32Array.from(lengths);
}

/** The input fields every cell shares, in the addon's names. */
function inputs(a: SeqForwardArgs): NativeCallArgs {
  return {
    seqLen: a.seqLen,
    batch: a.batch,
    inputSize: a.inputSize,
    hiddenSize: a.hiddenSize,
    x: a.x,
    weightIh: a.weightIh,
    weightHh: a.weightHh,
    biasIh: a.biasIh ?? null,
    biasHh: a.biasHh ?? null,
    h0: a.h0 ?? null,
    lengths: toInt32(a.lengths),
    reverse: a.reverse ?? false,
  };
}

function backwardInputs(a: SeqBackwardExtra): NativeCallArgs {
  return { cache: a.cache, dy: a.dy ?? null, dhN: a.dhN ?? null };
}

/**
 * An output array for the addon to fill. The kernels overwrite every element of every output they
 * are given (native/cells.h; native/tests/cells_test.cc pre-fills outputs with poison to prove it),
 * so large ones are allocated without the zero fill of `new Float32Array(n)`: for a training step's
 * 16 MB cache that fill is a whole extra pass over memory. Small ones keep the plain constructor.
 */
function outputArray(n: number): Float32Array {
  if (n < 16384) return new Float32Array(n);
  const bytes = Buffer.allocUnsafeSlow(4 * n); // its own ArrayBuffer, byteOffset 0, not pooled
  return new Float32Array(bytes.buffer, bytes.byteOffset, n);
}

/** A forward result before its type is narrowed by the arguments: the cache may be absent. */
type AnyForward<R extends SeqForwardResult> = Omit<R, 'cache'> & { readonly cache: Float32Array | null };

/**
 * Forward outputs [T,B,H], [B,H] and the cache (null when `keepCache` is false: the addon then runs
 * its inference mode and allocates nothing per call, see native/cells.h).
 */
function forwardOutputs(cell: 'rnn' | 'lstm' | 'gru', a: SeqForwardArgs): AnyForward<RnnForwardResult> {
  const keepCache = a.keepCache ?? true;
  return {
    y: outputArray(a.seqLen * a.batch * a.hiddenSize),
    hN: outputArray(a.batch * a.hiddenSize),
    cache: keepCache ? outputArray(cacheSize(cell, a)) : null,
  };
}

/** Backward outputs for G gates; bias gradients only where biases were given. */
function gradOutputs(gates: number, a: SeqForwardArgs): SeqGrads {
  const gh = gates * a.hiddenSize;
  return {
    dx: outputArray(a.seqLen * a.batch * a.inputSize),
    dh0: outputArray(a.batch * a.hiddenSize),
    dWeightIh: outputArray(gh * a.inputSize),
    dWeightHh: outputArray(gh * a.hiddenSize),
    dBiasIh: a.biasIh ? outputArray(gh) : null,
    dBiasHh: a.biasHh ? outputArray(gh) : null,
  };
}

// ---- one builder per op: (fields for the addon, result object) ----

type Prepared<R> = readonly [NativeCallArgs, R];

function rnnForwardCall(a: RnnForwardArgs): Prepared<AnyForward<RnnForwardResult>> {
  const out = forwardOutputs('rnn', a);
  return [{ ...inputs(a), nonlinearity: a.nonlinearity ?? 'tanh', keepCache: out.cache !== null, ...out }, out];
}

function rnnBackwardCall(a: RnnBackwardArgs): Prepared<RnnGrads> {
  const out = gradOutputs(1, a);
  return [{ ...inputs(a), ...backwardInputs(a), nonlinearity: a.nonlinearity ?? 'tanh', ...out }, out];
}

function lstmForwardCall(a: LstmForwardArgs): Prepared<AnyForward<LstmForwardResult>> {
  const out = { ...forwardOutputs('lstm', a), cN: outputArray(a.batch * a.hiddenSize) };
  const fields = { ...inputs(a), c0: a.c0 ?? null, weightPeephole: a.weightPeephole ?? null, keepCache: out.cache !== null };
  return [{ ...fields, ...out }, out];
}

function lstmBackwardCall(a: LstmBackwardArgs): Prepared<LstmGrads> {
  const out: LstmGrads = {
    ...gradOutputs(4, a),
    dc0: outputArray(a.batch * a.hiddenSize),
    dWeightPeephole: a.weightPeephole ? outputArray(3 * a.hiddenSize) : null,
  };
  return [
    {
      ...inputs(a),
      ...backwardInputs(a),
      c0: a.c0 ?? null,
      weightPeephole: a.weightPeephole ?? null,
      dcN: a.dcN ?? null,
      ...out,
    },
    out,
  ];
}

function gruForwardCall(a: GruForwardArgs): Prepared<AnyForward<GruForwardResult>> {
  const out = forwardOutputs('gru', a);
  return [{ ...inputs(a), resetAfter: a.resetAfter ?? true, keepCache: out.cache !== null, ...out }, out];
}

function gruBackwardCall(a: GruBackwardArgs): Prepared<GruGrads> {
  const out = gradOutputs(3, a);
  return [{ ...inputs(a), ...backwardInputs(a), resetAfter: a.resetAfter ?? true, ...out }, out];
}

function sync<A, R>(op: OpName, prepare: (a: A) => Prepared<R>): (a: A) => R {
  return (a) => {
    const [fields, out] = prepare(a);
    callSync(op, fields);
    return out;
  };
}

function async_<A, R>(op: OpName, prepare: (a: A) => Prepared<R>): (a: A) => Promise<R> {
  return async (a) => {
    const [fields, out] = prepare(a);
    await callAsync(op, fields);
    return out;
  };
}

/**
 * The forward ops, typed by their arguments ({@link ForwardResult}): the prepared outputs carry a
 * cache exactly when `keepCache` is not false, which is what the result type states.
 */
function forwardSync<Args extends SeqForwardArgs, R extends SeqForwardResult>(
  op: OpName, prepare: (a: Args) => Prepared<AnyForward<R>>,
): <A extends Args>(a: A) => ForwardResult<A, R> {
  const run = sync(op, prepare);
  return <A extends Args>(a: A) => run(a) as ForwardResult<A, R>;
}

function forwardAsync<Args extends SeqForwardArgs, R extends SeqForwardResult>(
  op: OpName, prepare: (a: Args) => Prepared<AnyForward<R>>,
): <A extends Args>(a: A) => Promise<ForwardResult<A, R>> {
  const run = async_(op, prepare);
  return async <A extends Args>(a: A) => (await run(a)) as ForwardResult<A, R>;
}

/**
 * The native addon as a {@link Backend}. Every method throws a {@link NativeError} (with the loader's
 * error as `cause`) when the addon could not be loaded.
 */
export const nativeBackend: Backend = {
  name: 'native',
  rnnForward: forwardSync<RnnForwardArgs, RnnForwardResult>('rnnForward', rnnForwardCall),
  rnnBackward: sync('rnnBackward', rnnBackwardCall),
  lstmForward: forwardSync<LstmForwardArgs, LstmForwardResult>('lstmForward', lstmForwardCall),
  lstmBackward: sync('lstmBackward', lstmBackwardCall),
  gruForward: forwardSync<GruForwardArgs, GruForwardResult>('gruForward', gruForwardCall),
  gruBackward: sync('gruBackward', gruBackwardCall),
  rnnForwardAsync: forwardAsync<RnnForwardArgs, RnnForwardResult>('rnnForward', rnnForwardCall),
  rnnBackwardAsync: async_('rnnBackward', rnnBackwardCall),
  lstmForwardAsync: forwardAsync<LstmForwardArgs, LstmForwardResult>('lstmForward', lstmForwardCall),
  lstmBackwardAsync: async_('lstmBackward', lstmBackwardCall),
  gruForwardAsync: forwardAsync<GruForwardArgs, GruForwardResult>('gruForward', gruForwardCall),
  gruBackwardAsync: async_('gruBackward', gruBackwardCall),
};

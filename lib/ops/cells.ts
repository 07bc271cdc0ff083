/**
 * The fused whole-sequence cell ops: one call runs a simple RNN, LSTM or GRU over all time steps
 * (forward) or back through them (BPTT backward). Each is an op of lib/ops/op.ts: the arguments are
 * checked here (lib/check.ts's vocabulary) before either backend runs, so both raise the same
 * {@link ShapeError} / {@link ValueError} for the same mistake; the native kernels are
 * native/{rnn,lstm,gru}.cc, the twins lib/js/{rnn,lstm,gru}.ts.
 *
 * Conventions (the same as native/cells.h, which states the math):
 * - Weights use PyTorch's layout and gate order: `weightIh [G*H, D]`, `weightHh [G*H, H]`,
 *   `biasIh`, `biasHh` `[G*H]`. RNN G=1; LSTM G=4 (i, f, g, o); GRU G=3 (r, z, n).
 * - Data is time-major: `x [T, B, D]`, `y [T, B, H]`, states `[B, H]`, all row-major Float32Array.
 * - `lengths[b]` in [0, T]: outputs at t >= lengths[b] are zero, the state is carried unchanged,
 *   `hN` is the state after the sequence's own last step. `reverse` runs each sequence from its own
 *   last valid step back to 0.
 * - `cache` is what forward keeps for backward; its layout is lib/ops/layout.ts's table (the same
 *   for both backends).
 * - Sizes are integers in [0, 2^31-1]; a product of sizes above that is a ShapeError. Optional
 *   arrays may be `undefined` or `null`.
 */
import type { NativeCallArgs } from '../backend/addon.js';
import { type Factor, type Fields, checkBool, checkF32, checkSize, lengths as checkLengths, objectArgs, oneOf, product } from '../check.js';
import { gruBackward, gruForward } from '../js/gru.js';
import { lstmBackward, lstmForward } from '../js/lstm.js';
import { rnnBackward, rnnForward } from '../js/rnn.js';
import { type Cell, GATES, type SeqSizes, cacheSize, cacheWidth } from './layout.js';
import { type Alloc, defineOp, type Op, type OpPlan, outputArray } from './op.js';

export type { SeqSizes } from './layout.js';

/** Arguments every cell's forward takes. */
export interface SeqForwardArgs extends SeqSizes {
  /** Input `[T, B, D]`, time-major. */
  readonly x: Float32Array;
  /** Input-to-hidden weights `[G*H, D]`. */
  readonly weightIh: Float32Array;
  /** Hidden-to-hidden weights `[G*H, H]`. */
  readonly weightHh: Float32Array;
  /** Input bias `[G*H]`. Default: none (zero). */
  readonly biasIh?: Float32Array | null;
  /** Hidden bias `[G*H]`. Default: none (zero). */
  readonly biasHh?: Float32Array | null;
  /** Initial hidden state `[B, H]`. Default: zeros. */
  readonly h0?: Float32Array | null;
  /** Valid steps of each sequence `[B]`, each an integer in [0, T]. Default: all T. */
  readonly lengths?: Int32Array | readonly number[] | null;
  /** Run each sequence backwards in time (the second half of a bidirectional layer). Default: false. */
  readonly reverse?: boolean;
  /**
   * Keep the activations backward needs and return them as `cache` (`8*T*B*H` floats for an LSTM).
   * `false` is inference: no cache is allocated or written, the result's `cache` is `null` (and its
   * type says so when the literal `false` is passed, so it cannot reach a backward call), and `y`,
   * `hN`, `cN` are exactly the same as with a cache. Backward ignores this field. Default: `true`.
   */
  readonly keepCache?: boolean;
}

/** Arguments every cell's backward takes besides its forward's. */
export interface SeqBackwardExtra {
  /** The `cache` returned by the forward call with the same arguments. */
  readonly cache: Float32Array;
  /** Gradient of the loss with respect to `y`, `[T, B, H]`. Default: zeros. */
  readonly dy?: Float32Array | null;
  /** Gradient with respect to the final hidden state `hN`, `[B, H]`. Default: zeros. */
  readonly dhN?: Float32Array | null;
}

export interface SeqForwardResult {
  /** Outputs `[T, B, H]` (zero at steps past a sequence's length). */
  readonly y: Float32Array;
  /** Final hidden state `[B, H]`. */
  readonly hN: Float32Array;
  /** Saved activations for backward (layout: native/cells.h). See {@link ForwardResult} for `keepCache: false`. */
  readonly cache: Float32Array;
}

/**
 * What a forward call with arguments `A` returns: `R` (the cell's result) when the cache is kept, and
 * `R` with `cache: null` when `A` has `keepCache: false`. A `keepCache` typed as plain `boolean`
 * gives `R` (the check is by type, so pass the literal `false` for inference). The tuple form keeps
 * the check from distributing (an argument typed `never` still gives an object type).
 */
export type ForwardResult<A, R extends SeqForwardResult> = [A] extends [{ readonly keepCache: false }]
  ? Omit<R, 'cache'> & { readonly cache: null }
  : R;

export interface SeqGrads {
  /** `[T, B, D]` */
  readonly dx: Float32Array;
  /** `[B, H]` */
  readonly dh0: Float32Array;
  /** `[G*H, D]` */
  readonly dWeightIh: Float32Array;
  /** `[G*H, H]` */
  readonly dWeightHh: Float32Array;
  /** `[G*H]`, present when `biasIh` was given. */
  readonly dBiasIh: Float32Array | null;
  /** `[G*H]`, present when `biasHh` was given. */
  readonly dBiasHh: Float32Array | null;
}

// ---- simple RNN (Elman) ----
export type RnnNonlinearity = 'tanh' | 'relu';
export interface RnnForwardArgs extends SeqForwardArgs {
  /** Activation of the new state. Default: `'tanh'`. */
  readonly nonlinearity?: RnnNonlinearity;
}
export type RnnBackwardArgs = RnnForwardArgs & SeqBackwardExtra;
export type RnnForwardResult = SeqForwardResult;
export type RnnGrads = SeqGrads;

// ---- LSTM ----
export interface LstmForwardArgs extends SeqForwardArgs {
  /** Initial cell state `[B, H]`. Default: zeros. */
  readonly c0?: Float32Array | null;
  /** Peephole weights `[3H]` in ONNX order (p_i, p_o, p_f). Default: no peepholes. */
  readonly weightPeephole?: Float32Array | null;
}
export interface LstmBackwardArgs extends LstmForwardArgs, SeqBackwardExtra {
  /** Gradient with respect to the final cell state `cN`, `[B, H]`. Default: zeros. */
  readonly dcN?: Float32Array | null;
}
export interface LstmForwardResult extends SeqForwardResult {
  /** Final cell state `[B, H]`. */
  readonly cN: Float32Array;
}
export interface LstmGrads extends SeqGrads {
  /** `[B, H]` */
  readonly dc0: Float32Array;
  /** `[3H]`, present when `weightPeephole` was given. */
  readonly dWeightPeephole: Float32Array | null;
}

// ---- GRU ----
export interface GruForwardArgs extends SeqForwardArgs {
  /**
   * Where the reset gate applies. `true` (PyTorch, cuDNN, Keras default):
   * `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`. `false` (Cho et al. 2014, ONNX default):
   * `n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)`. Default: `true`.
   */
  readonly resetAfter?: boolean;
}
export type GruBackwardArgs = GruForwardArgs & SeqBackwardExtra;
export type GruForwardResult = SeqForwardResult;
export type GruGrads = SeqGrads;

// ---------------------------------------------------------------------------------------------
// validation

/** Checks what every cell's forward and backward share; returns the sizes and the lengths as an Int32Array. */
function checkSeq(cell: Cell, f: Fields): SeqSizes & { readonly lengths: Int32Array | null } {
  const seqLen = checkSize(f.seqLen, 'seqLen');
  const batch = checkSize(f.batch, 'batch');
  const inputSize = checkSize(f.inputSize, 'inputSize');
  const hiddenSize = checkSize(f.hiddenSize, 'hiddenSize');
  const T: Factor = ['seqLen', seqLen];
  const B: Factor = ['batch', batch];
  const D: Factor = ['inputSize', inputSize];
  const H: Factor = ['hiddenSize', hiddenSize];
  const G: Factor[] = GATES[cell] === 1 ? [] : [[String(GATES[cell]), GATES[cell]]];
  checkF32(f, 'x', product('x', [T, B, D]), true);
  checkF32(f, 'weightIh', product('weightIh', [...G, H, D]), true);
  checkF32(f, 'weightHh', product('weightHh', [...G, H, H]), true);
  checkF32(f, 'biasIh', product('biasIh', [...G, H]), false);
  checkF32(f, 'biasHh', product('biasHh', [...G, H]), false);
  checkF32(f, 'h0', product('h0', [B, H]), false);
  const lengths = checkLengths(f.lengths, batch, seqLen);
  checkBool(f, 'reverse');
  checkBool(f, 'keepCache');
  if (cell === 'rnn') oneOf(f.nonlinearity, ['tanh', 'relu'] as const, 'tanh', 'nonlinearity');
  if (cell === 'lstm') {
    checkF32(f, 'c0', product('c0', [B, H]), false);
    checkF32(f, 'weightPeephole', product('weightPeephole', [['3', 3], H]), false);
  }
  if (cell === 'gru') checkBool(f, 'resetAfter');
  return { seqLen, batch, inputSize, hiddenSize, lengths };
}

function checkBackwardExtra(cell: Cell, f: Fields, s: SeqSizes): void {
  const T: Factor = ['seqLen', s.seqLen];
  const B: Factor = ['batch', s.batch];
  const H: Factor = ['hiddenSize', s.hiddenSize];
  const W = cacheWidth[cell];
  checkF32(f, 'cache', product('cache', [[String(W), W], T, B, H]), true);
  checkF32(f, 'dy', product('dy', [T, B, H]), false);
  checkF32(f, 'dhN', product('dhN', [B, H]), false);
  if (cell === 'lstm') checkF32(f, 'dcN', product('dcN', [B, H]), false);
}

// ---------------------------------------------------------------------------------------------
// the native calls: the addon's fields (native/binding/binding.cc) and the outputs it writes

/** The input fields every cell shares, in the addon's names. */
function inputs(a: SeqForwardArgs, lengths: Int32Array | null): NativeCallArgs {
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
    lengths,
    reverse: a.reverse ?? false,
  };
}

/** The cell-specific input fields, defaults filled in. */
function cellFields(cell: Cell, a: CellArgs): NativeCallArgs {
  if (cell === 'rnn') return { nonlinearity: a.nonlinearity ?? 'tanh' };
  if (cell === 'lstm') return { c0: a.c0 ?? null, weightPeephole: a.weightPeephole ?? null };
  return { resetAfter: a.resetAfter ?? true };
}

type CellArgs = RnnForwardArgs & LstmForwardArgs & GruForwardArgs;
type AnyForward = { readonly y: Float32Array; readonly hN: Float32Array; readonly cN?: Float32Array; readonly cache: Float32Array | null };
type AnyGrads = SeqGrads & { readonly dc0?: Float32Array; readonly dWeightPeephole?: Float32Array | null };

/** Forward outputs `[T,B,H]`, `[B,H]` (and `cN`), the cache unless `keepCache` is false (the addon then allocates nothing per call). */
function forwardCall(
  cell: Cell,
  a: CellArgs,
  lengths: Int32Array | null,
  alloc: Alloc,
): { fields: NativeCallArgs; result: () => AnyForward } {
  const keepCache = a.keepCache ?? true;
  const out: AnyForward = {
    y: alloc(a.seqLen * a.batch * a.hiddenSize),
    hN: alloc(a.batch * a.hiddenSize),
    ...(cell === 'lstm' ? { cN: alloc(a.batch * a.hiddenSize) } : {}),
    cache: keepCache ? alloc(cacheSize(cell, a)) : null,
  };
  return { fields: Object.assign(inputs(a, lengths), cellFields(cell, a), { keepCache }, out), result: () => out };
}

/** Backward outputs for the cell; bias gradients only where biases were given. */
function backwardCall(
  cell: Cell,
  a: CellArgs & SeqBackwardExtra & { dcN?: Float32Array | null },
  lengths: Int32Array | null,
  alloc: Alloc,
): { fields: NativeCallArgs; result: () => AnyGrads } {
  const gh = GATES[cell] * a.hiddenSize;
  const out: AnyGrads = {
    dx: alloc(a.seqLen * a.batch * a.inputSize),
    dh0: alloc(a.batch * a.hiddenSize),
    dWeightIh: alloc(gh * a.inputSize),
    dWeightHh: alloc(gh * a.hiddenSize),
    dBiasIh: a.biasIh ? alloc(gh) : null,
    dBiasHh: a.biasHh ? alloc(gh) : null,
    ...(cell === 'lstm' ? { dc0: alloc(a.batch * a.hiddenSize), dWeightPeephole: a.weightPeephole ? alloc(3 * a.hiddenSize) : null } : {}),
  };
  const extra = { cache: a.cache, dy: a.dy ?? null, dhN: a.dhN ?? null, ...(cell === 'lstm' ? { dcN: a.dcN ?? null } : {}) };
  return { fields: Object.assign(inputs(a, lengths), cellFields(cell, a), extra, out), result: () => out };
}

// ---------------------------------------------------------------------------------------------
// the ops

function forwardOp(cell: Cell, js: (a: CellArgs) => AnyForward): Op<CellArgs, AnyForward> {
  return defineOp(`${cell}Forward`, (args: CellArgs): OpPlan<AnyForward> => {
    const f = objectArgs(args);
    const { lengths } = checkSeq(cell, f);
    return { js: () => js(args), native: (alloc) => forwardCall(cell, args, lengths, alloc) };
  });
}

function backwardOp(cell: Cell, js: (a: CellArgs & SeqBackwardExtra) => AnyGrads): Op<CellArgs & SeqBackwardExtra, AnyGrads> {
  return defineOp(`${cell}Backward`, (args: CellArgs & SeqBackwardExtra): OpPlan<AnyGrads> => {
    const f = objectArgs(args);
    const s = checkSeq(cell, f);
    checkBackwardExtra(cell, f, s);
    return { js: () => js(args), native: (alloc) => backwardCall(cell, args, s.lengths, alloc) };
  });
}

/** The six cell ops, untyped by cell (lib/ops/index.ts gives each its own signature). */
export const cellOps = {
  rnnForward: forwardOp('rnn', (a) => rnnForward<Float32Array>(a)),
  rnnBackward: backwardOp('rnn', (a) => rnnBackward<Float32Array>(a)),
  lstmForward: forwardOp('lstm', (a) => lstmForward<Float32Array>(a)),
  lstmBackward: backwardOp('lstm', (a) => lstmBackward<Float32Array>(a)),
  gruForward: forwardOp('gru', (a) => gruForward<Float32Array>(a)),
  gruBackward: backwardOp('gru', (a) => gruBackward<Float32Array>(a)),
} as const;

/**
 * @internal The native call of a cell op WITHOUT the TypeScript checks (outputs allocated from the
 * sizes as given): for tests that prove the addon checks every argument itself.
 */
export function uncheckedNativeCall(
  op: keyof typeof cellOps,
  args: CellArgs & Partial<SeqBackwardExtra>,
): { fields: NativeCallArgs; result: () => unknown } {
  const cell = op.replace(/(Forward|Backward)$/, '') as Cell;
  const lengths =
    args.lengths === undefined || args.lengths === null
      ? null
      : args.lengths instanceof Int32Array
        ? args.lengths
        : Int32Array.from(args.lengths);
  return op.endsWith('Forward')
    ? forwardCall(cell, args, lengths, outputArray)
    : backwardCall(cell, args as CellArgs & SeqBackwardExtra, lengths, outputArray);
}

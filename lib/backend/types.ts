/**
 * The contract between the public `ops` API and its two implementations: the native addon
 * (lib/backend/native.ts) and the pure-TypeScript reference (lib/backend/js.ts).
 *
 * Conventions (the same as native/cells.h, which states the math):
 * - Weights use PyTorch's layout and gate order: `weightIh [G*H, D]`, `weightHh [G*H, H]`,
 *   `biasIh`, `biasHh` `[G*H]`. RNN G=1; LSTM G=4 (i, f, g, o); GRU G=3 (r, z, n).
 * - Data is time-major: `x [T, B, D]`, `y [T, B, H]`, states `[B, H]`, all row-major Float32Array.
 * - `lengths[b]` in [0, T]: outputs at t >= lengths[b] are zero, the state is carried unchanged,
 *   `hN` is the state after the sequence's own last step. `reverse` runs each sequence from its own
 *   last valid step back to 0.
 * - `cache` is what forward keeps for backward; its layout is documented in native/cells.h and is the
 *   same for both backends.
 */
import { ValueError } from '../errors.js';
import { checkSize, describe } from '../validate.js';


/** Sizes of one whole-sequence call. All are non-negative integers. */
export interface SeqSizes {
  /** Number of time steps T. */
  readonly seqLen: number;
  /** Number of sequences B. */
  readonly batch: number;
  /** Features per input step D. */
  readonly inputSize: number;
  /** Hidden units H. */
  readonly hiddenSize: number;
}

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

export type BackendName = 'native' | 'js';

/**
 * One implementation of the kernels. Arguments reaching a Backend have already been validated by
 * lib/ops.ts (types, lengths, ranges), so a backend may trust them; the native binding checks them
 * again because a crash there would take the process down.
 */
export interface Backend {
  readonly name: BackendName;
  rnnForward<A extends RnnForwardArgs>(args: A): ForwardResult<A, RnnForwardResult>;
  rnnBackward(args: RnnBackwardArgs): RnnGrads;
  lstmForward<A extends LstmForwardArgs>(args: A): ForwardResult<A, LstmForwardResult>;
  lstmBackward(args: LstmBackwardArgs): LstmGrads;
  gruForward<A extends GruForwardArgs>(args: A): ForwardResult<A, GruForwardResult>;
  gruBackward(args: GruBackwardArgs): GruGrads;
  /** The same calls off the main thread (native: a libuv worker; js: runs inline, then resolves). */
  rnnForwardAsync<A extends RnnForwardArgs>(args: A): Promise<ForwardResult<A, RnnForwardResult>>;
  rnnBackwardAsync(args: RnnBackwardArgs): Promise<RnnGrads>;
  lstmForwardAsync<A extends LstmForwardArgs>(args: A): Promise<ForwardResult<A, LstmForwardResult>>;
  lstmBackwardAsync(args: LstmBackwardArgs): Promise<LstmGrads>;
  gruForwardAsync<A extends GruForwardArgs>(args: A): Promise<ForwardResult<A, GruForwardResult>>;
  gruBackwardAsync(args: GruBackwardArgs): Promise<GruGrads>;
}

/** Cache sizes in floats (native/cells.h). */
export const cacheWidth = { rnn: 2, lstm: 8, gru: 5 } as const;
/** Floats in the forward cache of `cell` for the sizes `s` (what backward's `cache` must hold). */
export function cacheSize(cell: keyof typeof cacheWidth, s: SeqSizes): number {
  if (!Object.hasOwn(cacheWidth, cell as PropertyKey)) throw new ValueError(`expected 'rnn', 'lstm' or 'gru', got ${describe(cell)}`, 'cell');
  if (typeof s !== 'object' || s === null) throw new ValueError(`expected an object { seqLen, batch, hiddenSize }, got ${describe(s)}`, 'sizes');
  return cacheWidth[cell] * checkSize(s.seqLen, 'seqLen') * checkSize(s.batch, 'batch') * checkSize(s.hiddenSize, 'hiddenSize');
}

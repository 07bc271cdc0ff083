/**
 * The decode step as one call: a recurrent cell's step (T = 1) for B rows, optionally followed by the
 * output layer (dense + log-softmax + top-k). What greedy decoding, sampling and beam search run per
 * token; a beam step is the same call over `batch * beams` rows with `groupSize: beams` and the
 * beams' scores as `rowScores`, its states reordered by `stateIndex`.
 *
 *   const step = new DecodeStep({ cell: 'lstm', inputSize: 256, hiddenSize: 512, outputSize: 8000 }, weights);
 *   const r = step.run({ batch: 5, x, h, c, topK: 4 });  // r.h, r.c [5*512], r.topValues/topIndices [5*4]
 *
 * Weights are PyTorch's layout (lib/backend/types.ts): `weightIh [G*H, D]`, `weightHh [G*H, H]`,
 * biases `[G*H]`, `weightPeephole [3H]` (lstm), the output layer `weightOut [V, H]`, `biasOut [V]`.
 * The native backend packs them once (native/step.h) and reuses the packed copy while
 * {@link DecodeStep.version} stays the same: after changing any weight array in place, call
 * {@link DecodeStep.weightsChanged}. The packed copy takes about the weights' size again.
 *
 * Results: each row's result depends on that row alone (bit-identical for any batch, position and
 * thread count); the cell's values are those of the sequence ops (`ops.lstmForward`, ...) with
 * seqLen 1. Log-probabilities are float32; top-k candidates are `rowScores[r] + logProbs[r, v]`,
 * best first, index `(r % groupSize) * outputSize + v` within the group; ties: the lower index first;
 * NaN ranks last.
 *
 * Inputs must not be changed until an async step settles (as for every async op).
 */
import { types } from 'node:util';

import { addonOp, type NativeCallArgs } from '../backend/addon.js';
import { type Backend, mapNativeError, type Plan, resolveBackend } from '../backend/index.js';
import { checkBool, checkF32, checkInt, checkSize, describe, type Extent, type Fields, objectArgs, product, rowIndex } from '../check.js';
import { ValueError } from '../errors.js';
import { type JsStepConfig, type JsStepWeights64, stepForward as jsStepForward, toFloat64Weights } from '../js/step.js';
import type { OpOptions } from './op.js';

/** The cell of a {@link DecodeStep} and its sizes. */
export type DecodeStepConfig = {
  /** Features of the step's input x (an embedding, plus an attention context when concatenated). */
  readonly inputSize: number;
  /** Hidden units (>= 1). */
  readonly hiddenSize: number;
  /** Outputs of the dense output layer (the vocabulary); 0 or absent: no output layer. */
  readonly outputSize?: number;
} & (
  | { readonly cell: 'lstm' }
  | { readonly cell: 'gru'; /** Default true (PyTorch's form). */ readonly resetAfter?: boolean }
  | { readonly cell: 'rnn'; /** Default 'tanh'. */ readonly nonlinearity?: 'tanh' | 'relu' }
);

/** A {@link DecodeStep}'s weights (PyTorch layout). */
export interface DecodeStepWeights {
  /** `[G*H, D]` (G = 4 lstm, 3 gru, 1 rnn). */
  readonly weightIh: Float32Array;
  /** `[G*H, H]`. */
  readonly weightHh: Float32Array;
  /** `[G*H]`, absent = zero. */
  readonly biasIh?: Float32Array | null;
  /** `[G*H]`, absent = zero. */
  readonly biasHh?: Float32Array | null;
  /** lstm only: `[3H]` (p_i, p_o, p_f), absent = no peepholes. */
  readonly weightPeephole?: Float32Array | null;
  /** `[V, H]`, required when outputSize > 0. */
  readonly weightOut?: Float32Array | null;
  /** `[V]`, absent = zero. */
  readonly biasOut?: Float32Array | null;
}

/** One step's input. */
export interface DecodeStepInput {
  /** Rows of this step (B). */
  readonly batch: number;
  /** `[B, D]`. */
  readonly x: Float32Array;
  /** The state: `[stateRows, H]` (stateRows = B unless `stateIndex` is given). */
  readonly h: Float32Array;
  /** lstm: the cell state `[stateRows, H]`, absent = zeros. */
  readonly c?: Float32Array | null;
  /** `[B]`: row r reads state row `stateIndex[r]` (beam reordering); absent = row r. */
  readonly stateIndex?: Int32Array | null;
  /** State rows (default `batch`); only with `stateIndex`. */
  readonly stateRows?: number;
  /** Where to write h `[B, H]` (may be `h` itself: the rows are gathered first); default a new array. */
  readonly hOut?: Float32Array;
  /** lstm: where to write c `[B, H]` (may be `c`); default a new array. */
  readonly cOut?: Float32Array;
  /** true: return the log-probabilities `[B, V]` (a new array), or the array to write them to. Default false. */
  readonly logProbs?: boolean | Float32Array;
  /** Best candidates per row group (default 0: none). */
  readonly topK?: number;
  /** Rows per group for the top-k (the beams of one sentence); divides `batch`. Default 1. */
  readonly groupSize?: number;
  /** `[B]` added to each row's log-probabilities before the top-k (the beams' scores); absent = 0. */
  readonly rowScores?: Float32Array | null;
}

/** What a step returns. */
export interface DecodeStepResult {
  /** `[B, H]`. */
  readonly h: Float32Array;
  /** `[B, H]` (lstm), else null. */
  readonly c: Float32Array | null;
  /** `[B, V]` when asked for, else null. */
  readonly logProbs: Float32Array | null;
  /** `[B / groupSize, topK]`, best first; null when topK is 0. */
  readonly topValues: Float32Array | null;
  /** `[B / groupSize, topK]`: `(r % groupSize) * outputSize + v`; null when topK is 0. */
  readonly topIndices: Int32Array | null;
}

/** Options of a {@link DecodeStep}: the backend ('native', 'js' or a Backend object; default the process default). */
export type DecodeStepOptions = OpOptions;

const GATES = { lstm: 4, gru: 3, rnn: 1 } as const;
const MAX_VERSION = Number.MAX_SAFE_INTEGER;

/** One model's decode step (cell + optional output layer) with its packed weights. */
export class DecodeStep {
  readonly config: JsStepConfig;
  readonly weights: DecodeStepWeights;
  readonly backend: Backend;
  #version = 0;
  #cache: object | null = null;
  #js: { version: number; weights: JsStepWeights64 } | null = null;

  constructor(config: DecodeStepConfig, weights: DecodeStepWeights, options?: DecodeStepOptions) {
    const c = objectArgs(config, 'config');
    const cell = c.cell;
    if (cell !== 'lstm' && cell !== 'gru' && cell !== 'rnn') {
      throw new ValueError(`expected 'lstm', 'gru' or 'rnn', got ${describe(cell)}`, 'config.cell');
    }
    const nonlinearity = cell === 'rnn' && c.nonlinearity !== undefined ? c.nonlinearity : 'tanh';
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
      throw new ValueError(`expected 'tanh' or 'relu', got ${describe(nonlinearity)}`, 'config.nonlinearity');
    }
    const resetAfter = cell === 'gru' ? checkBool(c, 'resetAfter', true) : true;
    const D = checkSize(c.inputSize, 'config.inputSize');
    const H = checkInt(c.hiddenSize, 'config.hiddenSize', 1, 2 ** 31 - 1);
    const V = c.outputSize === undefined ? 0 : checkSize(c.outputSize, 'config.outputSize');
    this.config = { cell, nonlinearity, resetAfter, inputSize: D, hiddenSize: H, outputSize: V };
    this.weights = weights;
    this.#checkWeights();
    this.backend = resolveBackend(options === undefined ? undefined : objectArgs(options, 'options').backend, 'options.backend');
    if (this.backend.name === 'native') this.#cache = callAddon('stepCreateCache', {}) as object;
  }

  /** The weights version: bumped by {@link weightsChanged}; the packed copy is keyed to it. */
  get version(): number {
    return this.#version;
  }

  /** Call after changing any weight array in place: the next step repacks the weights. */
  weightsChanged(): void {
    this.#version = this.#version >= MAX_VERSION ? 0 : this.#version + 1;
  }

  /** Bytes of the native packed copy (0 before the first native step, and on the 'js' backend). */
  packedBytes(): number {
    return this.#cache ? (callAddon('stepCacheInfo', this.#cache as NativeCallArgs) as { packedBytes: number }).packedBytes : 0;
  }

  /** One step, on the calling thread. */
  run(input: DecodeStepInput): DecodeStepResult {
    return this.backend.run('stepForward', this.#plan(input));
  }

  /**
   * One step on a worker thread (the event loop keeps running); inputs must not change until it
   * settles. The hand-off to the worker and back costs tens of microseconds (45-100 us more than
   * {@link run} on this project's machines), as much as a small step itself: use `run` for steps that
   * take well under a millisecond, `runAsync` where the event loop must not wait.
   */
  async runAsync(input: DecodeStepInput): Promise<DecodeStepResult> {
    return this.backend.runAsync('stepForward', this.#plan(input));
  }

  /** The op's plan (lib/ops/op.ts): both backends write the outputs allocated here. */
  #plan(input: DecodeStepInput): Plan<DecodeStepResult> {
    const { fields, result } = this.#prepare(input);
    return {
      js: () => {
        this.#runJs(fields);
        return result;
      },
      native: () => ({ fields, result: () => result }),
    };
  }

  /** The weights' checks (at construction, and per step through the fast path of {@link f32}). */
  #checkWeights(): void {
    const w = objectArgs(this.weights, 'weights');
    const { cell, inputSize: D, hiddenSize: H, outputSize: V } = this.config;
    const G = GATES[cell];
    const gh = () =>
      product('biasIh', [
        ['G', G],
        ['hiddenSize', H],
      ]);
    f32(
      w,
      'weightIh',
      G * H * D,
      () =>
        product('weightIh', [
          ['G', G],
          ['hiddenSize', H],
          ['inputSize', D],
        ]),
      true,
    );
    f32(
      w,
      'weightHh',
      G * H * H,
      () =>
        product('weightHh', [
          ['G', G],
          ['hiddenSize', H],
          ['hiddenSize', H],
        ]),
      true,
    );
    f32(w, 'biasIh', G * H, gh, false);
    f32(w, 'biasHh', G * H, gh, false);
    if (cell === 'lstm')
      f32(
        w,
        'weightPeephole',
        3 * H,
        () =>
          product('weightPeephole', [
            ['3', 3],
            ['hiddenSize', H],
          ]),
        false,
      );
    else if (w.weightPeephole !== undefined && w.weightPeephole !== null)
      throw new ValueError('only an lstm takes weightPeephole', 'weights.weightPeephole');
    if (V > 0) {
      f32(
        w,
        'weightOut',
        V * H,
        () =>
          product('weightOut', [
            ['outputSize', V],
            ['hiddenSize', H],
          ]),
        true,
      );
      f32(w, 'biasOut', V, () => product('biasOut', [['outputSize', V]]), false);
    }
  }

  /**
   * Checks one step's input and allocates its outputs; the fields of the native call. Runs per token,
   * so the checks take the fast path of {@link f32} and the messages are built only on failure.
   */
  #prepare(input: DecodeStepInput): { fields: NativeCallArgs; result: DecodeStepResult } {
    const { cell, inputSize: D, hiddenSize: H, outputSize: V } = this.config;
    const i = objectArgs(input, 'input');
    const B = checkSize(i.batch, 'batch');
    const { index, count: rows } = rowIndex(i, 'stateIndex', 'stateRows', B);
    const state = () =>
      product('h', [
        ['stateRows', rows],
        ['hiddenSize', H],
      ]);
    const out = () =>
      product('hOut', [
        ['batch', B],
        ['hiddenSize', H],
      ]);
    f32(
      i,
      'x',
      B * D,
      () =>
        product('x', [
          ['batch', B],
          ['inputSize', D],
        ]),
      true,
    );
    f32(i, 'h', rows * H, state, true);
    const lstm = cell === 'lstm';
    if (lstm) f32(i, 'c', rows * H, state, false);
    else if (i.c !== undefined && i.c !== null) throw new ValueError('only an lstm has a cell state', 'c');
    const hOut = i.hOut === undefined ? new Float32Array(B * H) : f32(i, 'hOut', B * H, out, true)!;
    const cOut = !lstm ? null : i.cOut === undefined ? new Float32Array(B * H) : f32(i, 'cOut', B * H, out, true);
    let logProbs: Float32Array | null = null;
    if (i.logProbs !== undefined && i.logProbs !== false) {
      if (V === 0) throw new ValueError('expected no logProbs without an output layer (outputSize 0)', 'logProbs');
      logProbs =
        i.logProbs === true
          ? new Float32Array(B * V)
          : f32(
              i,
              'logProbs',
              B * V,
              () =>
                product('logProbs', [
                  ['batch', B],
                  ['outputSize', V],
                ]),
              true,
            );
    }
    const topK = i.topK === undefined ? 0 : checkSize(i.topK, 'topK');
    const groupSize = i.groupSize === undefined ? 1 : checkInt(i.groupSize, 'groupSize', 1, 2 ** 31 - 1);
    if (B % groupSize !== 0) throw new ValueError(`expected a divisor of batch (${B}), got ${groupSize}`, 'groupSize');
    if (topK > groupSize * V) throw new ValueError(`expected at most groupSize*outputSize = ${groupSize * V}, got ${topK}`, 'topK');
    const rowScores = topK > 0 ? f32(i, 'rowScores', B, () => product('rowScores', [['batch', B]]), false) : null;
    const top = (B / groupSize) * topK;
    const topValues = topK > 0 ? new Float32Array(top) : null;
    const topIndices = topK > 0 ? new Int32Array(top) : null;
    this.#checkWeights();
    const w = this.weights;
    const fields: NativeCallArgs = {
      cache: this.#cache,
      version: this.#version,
      cell,
      nonlinearity: cell === 'rnn' ? this.config.nonlinearity : undefined,
      resetAfter: cell === 'gru' ? this.config.resetAfter : undefined,
      inputSize: D,
      hiddenSize: H,
      outputSize: V,
      weightIh: w.weightIh,
      weightHh: w.weightHh,
      biasIh: w.biasIh,
      biasHh: w.biasHh,
      weightPeephole: lstm ? w.weightPeephole : undefined,
      weightOut: V > 0 ? w.weightOut : undefined,
      biasOut: V > 0 ? w.biasOut : undefined,
      batch: B,
      stateRows: rows,
      x: i.x,
      h: i.h,
      c: lstm ? i.c : undefined,
      stateIndex: index,
      hOut,
      cOut,
      logProbs,
      topK,
      groupSize,
      rowScores,
      topValues,
      topIndices,
    };
    return { fields, result: { h: hOut, c: cOut, logProbs, topValues, topIndices } };
  }

  #runJs(args: NativeCallArgs): void {
    if (!this.#js || this.#js.version !== this.#version) this.#js = { version: this.#version, weights: toFloat64Weights(this.weights) };
    const a = args as Record<string, unknown>;
    jsStepForward(this.config, this.#js.weights, {
      batch: a.batch as number,
      x: a.x as Float32Array,
      h: a.h as Float32Array,
      c: (a.c as Float32Array | null | undefined) ?? null,
      stateIndex: a.stateIndex as Int32Array | null,
      hOut: a.hOut as Float32Array,
      cOut: a.cOut as Float32Array | null,
      logProbs: a.logProbs as Float32Array | null,
      topK: a.topK as number,
      groupSize: a.groupSize as number,
      rowScores: a.rowScores as Float32Array | null,
      topValues: a.topValues as Float32Array | null,
      topIndices: a.topIndices as Int32Array | null,
    });
  }
}

/**
 * `fields[name]` as a Float32Array of exactly `n` elements (null when optional and absent). The
 * common case (a Float32Array of the right, non-zero length on a fixed-length buffer: a detached one
 * has length 0) is decided without building anything; everything else goes to checkF32 with the
 * extent, which words the error.
 */
function f32(fields: Fields, name: string, n: number, extent: () => Extent, required: boolean): Float32Array | null {
  const v = fields[name];
  if (n > 0 && types.isFloat32Array(v) && v.length === n && (v.buffer as { resizable?: unknown }).resizable !== true) return v;
  return checkF32(fields, name, extent(), required);
}

/** A direct addon call (the cache's create / info), its errors typed. */
function callAddon(name: string, arg: NativeCallArgs): unknown {
  try {
    return addonOp(name)(arg);
  } catch (err) {
    throw mapNativeError(err);
  }
}

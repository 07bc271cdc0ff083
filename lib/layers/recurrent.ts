/**
 * The recurrent layers `rnn`, `lstm`, `gru`: cell adapters over the stack driver
 * (lib/layers/stack.ts), one fused whole-sequence op (lib/ops/cells.ts) forward and one backward per
 * layer and direction.
 *
 * Layout and names follow torch.nn.RNN/LSTM/GRU, so a PyTorch `state_dict` maps by name: per layer l
 * and direction (`''`, `'_reverse'`): `weight_ih_l{l}` `[G*H, in]`, `weight_hh_l{l}` `[G*H, H]`,
 * `bias_ih_l{l}`, `bias_hh_l{l}` `[G*H]` (G = 1, 4, 3; gates i,f,g,o and r,z,n), and for a peephole
 * LSTM `weight_peephole_l{l}` `[3H]` (ONNX order p_i, p_o, p_f; PyTorch has none).
 *
 * Initialization: Glorot uniform for each gate's input weights, orthogonal recurrent weights, zero
 * biases but the LSTM forget gate's `bias_ih` (1), zero peepholes.
 *
 * Jordan networks (the previous OUTPUT fed back into the state) are lib/layers/jordan.ts, the same
 * driver over another cell.
 */
import { boolOr, oneOf, options as checkOptions, positiveInt } from '../check.js';
import { cellOps, type RnnNonlinearity } from '../ops/cells.js';
import { type Cell, GATES } from '../ops/layout.js';
import type { Rng } from '../random.js';
import { glorotUniform, orthogonalSteps } from './init.js';
import type { JsonValue, Layer } from './layer.js';
import {
  type CellGrads,
  type CellRun,
  type CellStep,
  type RecurrentCell,
  type RecurrentKinds,
  RecurrentStack,
  STACK_KEYS,
  type StackOptions,
  stackConfig,
} from './stack.js';

export type { MergeMode, RecurrentKinds, RecurrentOutput } from './stack.js';

/** Options every recurrent layer takes. */
export interface RecurrentOptions extends StackOptions {
  /** Hidden units H per direction. Required. */
  readonly hiddenSize: number;
}

/** Options of {@link rnn}. */
export interface RnnOptions extends RecurrentOptions {
  /** The state's activation. Default: `'tanh'`. */
  readonly nonlinearity?: RnnNonlinearity;
}

/** Options of {@link lstm}. */
export interface LstmOptions extends RecurrentOptions {
  /** Peephole connections (Gers & Schmidhuber 2000), `weight_peephole_l{l}` `[3H]`, zero-initialized. Default: false. */
  readonly peepholes?: boolean;
}

/** Options of {@link gru}. */
export interface GruOptions extends RecurrentOptions {
  /** PyTorch's reset-after form (true) or Cho et al.'s reset-before (false). Default: true. */
  readonly resetAfter?: boolean;
}

/**
 * `O` exactly: a key that `Allowed` does not have (a misspelled option) is a compile error, which a
 * `const O extends Allowed` parameter alone would let through.
 */
export type Exact<O, Allowed> = O & { readonly [K in Exclude<keyof O, keyof Allowed>]: never };

/** One layer-direction of an RNN, LSTM or GRU. */
class GatedCell implements RecurrentCell {
  readonly widthName = 'hiddenSize';
  readonly plainNames = false;
  readonly cellState: boolean;

  constructor(
    readonly type: Cell,
    readonly width: number,
    private readonly extra: { readonly nonlinearity?: RnnNonlinearity; readonly peepholes?: boolean; readonly resetAfter?: boolean },
  ) {
    this.cellState = type === 'lstm';
  }

  get config(): { readonly [key: string]: JsonValue } {
    return { hiddenSize: this.width, ...this.extra } as { readonly [key: string]: JsonValue };
  }

  parameters(inputSize: number) {
    const GH = GATES[this.type] * this.width;
    return [
      { name: 'weight_ih', shape: [GH, inputSize] },
      { name: 'weight_hh', shape: [GH, this.width] },
      { name: 'bias_ih', shape: [GH] },
      { name: 'bias_hh', shape: [GH] },
      ...(this.extra.peepholes ? [{ name: 'weight_peephole', shape: [3 * this.width] }] : []),
    ];
  }

  *initialize(values: readonly Float32Array[], inputSize: number, rng: Rng): Generator<undefined, void, void> {
    const H = this.width;
    const [wih, whh, bih] = values;
    for (let g = 0; g < GATES[this.type]; g++) {
      glorotUniform(rng, wih, g * H * inputSize, H, inputSize, inputSize, H);
      yield;
      yield* orthogonalSteps(rng, whh, g * H * H, H);
      yield;
    }
    // LSTM forget gate (block 1 of i,f,g,o): bias_ih = 1, bias_hh = 0, so the sum starts at 1
    // (Jozefowicz et al. 2015): the cell remembers by default early in training.
    if (this.type === 'lstm') bih.fill(1, H, 2 * H);
  }

  async forward(w: readonly Float32Array[], run: CellRun): Promise<CellStep> {
    const [weightIh, weightHh, biasIh, biasHh, weightPeephole] = w;
    const o = { backend: run.backend, workspace: run.workspace };
    const args = {
      seqLen: run.seqLen,
      batch: run.batch,
      inputSize: run.inputSize,
      hiddenSize: this.width,
      x: run.x,
      weightIh,
      weightHh,
      biasIh,
      biasHh,
      h0: run.h0,
      lengths: run.lengths,
      reverse: run.reverse,
      keepCache: run.keepCache,
      ...(this.type === 'rnn' ? { nonlinearity: this.extra.nonlinearity } : {}),
      ...(this.type === 'gru' ? { resetAfter: this.extra.resetAfter } : {}),
      ...(this.type === 'lstm' ? { c0: run.c0, weightPeephole: weightPeephole ?? null } : {}),
    };
    const f = await cellOps[`${this.type}Forward`].async(args, o);
    return {
      y: f.y,
      hN: f.hN,
      cN: f.cN ?? null,
      backward: async (dy, dhN, dcN): Promise<CellGrads> => {
        const g = await cellOps[`${this.type}Backward`].async(
          { ...args, cache: f.cache as Float32Array, dy, dhN, ...(this.cellState ? { dcN } : {}) },
          o,
        );
        const dParams = [g.dWeightIh, g.dWeightHh, g.dBiasIh, g.dBiasHh, ...(weightPeephole ? [g.dWeightPeephole ?? null] : [])];
        return { dx: g.dx, dh0: g.dh0, dc0: g.dc0 ?? null, dParams };
      },
    };
  }
}

const KEYS = { rnn: ['nonlinearity'], lstm: ['peepholes'], gru: ['resetAfter'] } as const;

function recurrent(type: Cell, options: unknown): Layer {
  const o = checkOptions(options, ['hiddenSize', ...STACK_KEYS, ...KEYS[type]], 'options', '');
  const hiddenSize = positiveInt(o.hiddenSize, 'hiddenSize');
  const stack = stackConfig(o);
  const extra =
    type === 'rnn'
      ? { nonlinearity: oneOf(o.nonlinearity, ['tanh', 'relu'] as const, 'tanh', 'nonlinearity') }
      : type === 'lstm'
        ? { peepholes: boolOr(o.peepholes, false, 'peepholes') }
        : { resetAfter: boolOr(o.resetAfter, true, 'resetAfter') };
  return new RecurrentStack(new GatedCell(type, hiddenSize, extra), stack);
}

/**
 * Simple (Elman) RNN: `h = act(W_ih x + b_ih + W_hh h + b_hh)`, torch.nn.RNN's parameters.
 * Sequence -> Sequence (or Vector with `returnSequences: false`).
 */
export function rnn<const O extends RnnOptions>(options: Exact<O, RnnOptions>): Layer<RecurrentKinds<O>> {
  return recurrent('rnn', options) as unknown as Layer<RecurrentKinds<O>>;
}

/** LSTM (gates i, f, g, o; optional peepholes), torch.nn.LSTM's parameters. */
export function lstm<const O extends LstmOptions>(options: Exact<O, LstmOptions>): Layer<RecurrentKinds<O>> {
  return recurrent('lstm', options) as unknown as Layer<RecurrentKinds<O>>;
}

/** GRU (gates r, z, n; reset-after by default), torch.nn.GRU's parameters. */
export function gru<const O extends GruOptions>(options: Exact<O, GruOptions>): Layer<RecurrentKinds<O>> {
  return recurrent('gru', options) as unknown as Layer<RecurrentKinds<O>>;
}

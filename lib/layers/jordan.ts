/**
 * The Jordan network layer (Jordan 1986): the previous step's OUTPUT is fed back into the hidden
 * units,
 *
 *   h_t = act(W_ih x_t + b_ih + W_hy y_{t-1} + b_hh),   y_t = act_out(W_ho h_t + b_ho).
 *
 * Per layer and direction one fused op forward and one backward (lib/ops/jordan.ts, native/jordan.h),
 * through the ops' `...Async` variants: with the native backend the event loop keeps running.
 *
 * A cell adapter over the stack driver (lib/layers/stack.ts), so the options are those of
 * rnn/lstm/gru with the same meaning, except that what a Jordan layer passes on and carries is its
 * output y (`outputSize` O features per direction), not its hidden state: stacked layers (layer l > 0 takes the two directions' outputs concatenated,
 * `D*O` features, with `dropout` on that input), a reverse direction (the op's `reverse: true` with the
 * same `lengths`: each sequence runs from its own last valid step back to 0), `mergeMode` on the last
 * layer's output, `returnSequences: false` (a Vector: the last layer's final output, at each
 * sequence's own length, directions merged), `returnState` (the final state, also given whenever
 * the forward context has `keepState`, for stateful training and streaming), an initial state, and
 * `stateInput` (one-to-many).
 *
 * The state ({@link RecurrentState}) is what the recurrence needs: the output fed back, per layer and
 * direction. `h` is `[L*D, B, O]` (layer-major, forward before reverse, as PyTorch's `h_n`): in an
 * initial state, the y_{-1} of each layer and direction; in a final state, the output after each
 * sequence's own last step (its y_{-1} when its length is 0). `c` is always null (an initial state's
 * `c` is ignored, as for rnn and gru).
 *
 * Parameters, per layer and direction: `weight_ih [H, in]`, `weight_hy [H, O]`, `weight_ho [O, H]`
 * (Glorot uniform), `bias_ih [H]`, `bias_hh [H]`, `bias_ho [O]` (zeros), in that order. A plain layer
 * (one layer, one direction) names them so, unsuffixed, as it always has (saved models load); a
 * stacked or bidirectional one names every set PyTorch-style, `weight_ih_l{l}` and
 * `weight_ih_l{l}_reverse`.
 */
import { oneOf, options as checkOptions, positiveInt } from '../check.js';
import { type JordanActivation, type JordanOutputActivation, jordanBackward, jordanForward } from '../ops/jordan.js';
import type { Rng } from '../random.js';
import { glorotUniform } from './init.js';
import type { Layer } from './layer.js';
import type { Exact } from './recurrent.js';
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

/**
 * Kinds of {@link jordan} with options `O`: a Sequence in (a Vector with `stateInput`), a Sequence
 * out (a Vector with `returnSequences: false`). Without `O`: Sequence -> Sequence.
 */
export type JordanKinds<O = object> = RecurrentKinds<O>;

/** Options of {@link jordan}. */
export interface JordanOptions extends StackOptions {
  /** Hidden units H of each layer and direction. Required. */
  readonly hiddenSize: number;
  /** Output features O of each layer and direction: what is fed back and passed on. Required. */
  readonly outputSize: number;
  /** Hidden activation. Default: `'tanh'`. */
  readonly activation?: JordanActivation;
  /** Output activation. Default: `'tanh'`. */
  readonly outputActivation?: JordanOutputActivation;
}

/** One layer-direction of a Jordan network. */
class JordanCell implements RecurrentCell {
  readonly type = 'jordan';
  readonly widthName = 'outputSize';
  readonly cellState = false;
  readonly plainNames = true;

  constructor(
    private readonly hiddenSize: number,
    readonly width: number,
    private readonly activation: JordanActivation,
    private readonly outputActivation: JordanOutputActivation,
  ) {}

  get config() {
    return { hiddenSize: this.hiddenSize, outputSize: this.width, activation: this.activation, outputActivation: this.outputActivation };
  }

  parameters(inputSize: number) {
    const H = this.hiddenSize;
    const O = this.width;
    return [
      { name: 'weight_ih', shape: [H, inputSize] },
      { name: 'weight_hy', shape: [H, O] },
      { name: 'weight_ho', shape: [O, H] },
      { name: 'bias_ih', shape: [H] },
      { name: 'bias_hh', shape: [H] },
      { name: 'bias_ho', shape: [O] },
    ];
  }

  /** Glorot-uniform weights (fan in / fan out of each map), zero biases. */
  initialize(values: readonly Float32Array[], inputSize: number, rng: Rng): void {
    this.parameters(inputSize).forEach(({ shape }, k) => {
      if (shape.length === 2) glorotUniform(rng, values[k], 0, shape[0], shape[1], shape[1], shape[0]);
    });
  }

  async forward(w: readonly Float32Array[], run: CellRun): Promise<CellStep> {
    const [weightIh, weightHy, weightHo, biasIh, biasHh, biasHo] = w;
    const o = { backend: run.backend };
    const args = {
      seqLen: run.seqLen,
      batch: run.batch,
      inputSize: run.inputSize,
      hiddenSize: this.hiddenSize,
      outputSize: this.width,
      x: run.x,
      weightIh,
      weightHy,
      weightHo,
      biasIh,
      biasHh,
      biasHo,
      lengths: run.lengths,
      reverse: run.reverse,
      activation: this.activation,
      outputActivation: this.outputActivation,
    };
    const f = await jordanForward.async({ ...args, y0: run.h0, keepCache: run.keepCache }, o);
    return {
      y: f.y,
      hN: f.yN,
      cN: null,
      backward: async (dy, dhN): Promise<CellGrads> => {
        const g = await jordanBackward.async({ ...args, cache: f.cache as Float32Array, dy, dyN: dhN }, o);
        return { dx: g.dx, dh0: g.dy0, dc0: null, dParams: [g.dWeightIh, g.dWeightHy, g.dWeightHo, g.dBiasIh, g.dBiasHh, g.dBiasHo] };
      },
    };
  }
}

/**
 * A Jordan network: Sequence -> Sequence of `outputSize` features (`2*outputSize` bidirectional with
 * `'concat'`), the output of each step fed back into the next step's hidden units; or a Vector (the
 * final output) with `returnSequences: false`. Options, state layout and parameter names: the top of
 * lib/layers/jordan.ts.
 */
export function jordan<const O extends JordanOptions>(options: Exact<O, JordanOptions>): Layer<JordanKinds<O>> {
  const o = checkOptions(options, ['hiddenSize', 'outputSize', 'activation', 'outputActivation', ...STACK_KEYS], 'options', '');
  const cell = new JordanCell(
    positiveInt(o.hiddenSize, 'hiddenSize'),
    positiveInt(o.outputSize, 'outputSize'),
    oneOf(o.activation, ['tanh', 'relu'] as const, 'tanh', 'activation'),
    oneOf(o.outputActivation, ['tanh', 'sigmoid', 'linear'] as const, 'tanh', 'outputActivation'),
  );
  return new RecurrentStack(cell, stackConfig(o)) as unknown as Layer<JordanKinds<O>>;
}

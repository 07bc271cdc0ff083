/**
 * The Jordan network layer (Jordan 1986): the previous step's OUTPUT is fed back into the hidden
 * state. One fused op per batch forward and one backward (lib/nn/jordan.ts, native/jordan.h).
 *
 *   h_t = act(W_ih x_t + b_ih + W_hy y_{t-1} + b_hh),   y_t = act_out(W_ho h_t + b_ho)
 *
 * Sequence -> Sequence of `outputSize` features per step. An initial state given to forward is the
 * output fed back at the first step (`h` of the RecurrentState, `[B * outputSize]`).
 */
import { ValueError } from '../errors.js';
import { jordanBackward, jordanForward, type JordanActivation, type JordanOutputActivation } from '../nn/jordan.js';
import type { Rng } from '../random.js';
import { checkBuilt, checkInput, checkRebuild, oneOf, optionsObject, positiveInt } from './checks.js';
import { glorotUniform } from './init.js';
import {
  addInto, type ForwardContext, type Layer, type LayerConfig, type LayerPlan, type LayerStep, type Parameter, parameter,
  type RecurrentState,
} from './layer.js';
import { type Sequence, type Value, withData } from './values.js';

/** Kinds of {@link jordan}: a Sequence in, a Sequence out. */
export type JordanKinds = { readonly sequence: 'sequence' };

/** Options of {@link jordan}. */
export interface JordanOptions {
  /** Hidden units H. Required. */
  readonly hiddenSize: number;
  /** Output features O (also what is fed back). Required. */
  readonly outputSize: number;
  /** Hidden activation. Default: `'tanh'`. */
  readonly activation?: JordanActivation;
  /** Output activation. Default: `'tanh'`. */
  readonly outputActivation?: JordanOutputActivation;
}

class JordanLayer implements Layer<JordanKinds> {
  readonly kinds: JordanKinds = { sequence: 'sequence' };
  readonly type = 'jordan';
  private readonly hiddenSize: number;
  private readonly outputSize: number;
  private readonly activation: JordanActivation;
  private readonly outputActivation: JordanOutputActivation;
  private params: Parameter[] = [];
  private inputFeatures = -1;

  constructor(options: JordanOptions) {
    const o = optionsObject(options, 'options');
    this.hiddenSize = positiveInt(o.hiddenSize, 'hiddenSize');
    this.outputSize = positiveInt(o.outputSize, 'outputSize');
    this.activation = oneOf(o.activation, ['tanh', 'relu'] as const, 'tanh', 'activation');
    this.outputActivation = oneOf(o.outputActivation, ['tanh', 'sigmoid', 'linear'] as const, 'tanh', 'outputActivation');
  }

  get config(): LayerConfig {
    return {
      hiddenSize: this.hiddenSize, outputSize: this.outputSize,
      activation: this.activation, outputActivation: this.outputActivation,
    };
  }

  plan(inputFeatures: number): LayerPlan {
    const H = this.hiddenSize;
    const O = this.outputSize;
    return {
      outputFeatures: O,
      parameters: [
        { name: 'weight_ih', shape: [H, inputFeatures] },
        { name: 'weight_hy', shape: [H, O] },
        { name: 'weight_ho', shape: [O, H] },
        { name: 'bias_ih', shape: [H] },
        { name: 'bias_hh', shape: [H] },
        { name: 'bias_ho', shape: [O] },
      ],
    };
  }

  build(inputFeatures: number, rng: Rng): number {
    if (this.params.length > 0) {
      checkRebuild(this.inputFeatures, inputFeatures, 'jordan');
      return this.outputSize;
    }
    this.params = this.plan(inputFeatures).parameters.map(({ name, shape }) => {
      const v = new Float32Array(shape.reduce((p, s) => p * s, 1));
      // Glorot-uniform weights (fan in / fan out of each map), zero biases.
      if (shape.length === 2) glorotUniform(rng, v, 0, shape[0], shape[1], shape[1], shape[0]);
      return parameter(name, v, shape);
    });
    this.inputFeatures = inputFeatures;
    return this.outputSize;
  }

  parameters(): readonly Parameter[] {
    return this.params;
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  async forward(x: Value, ctx: ForwardContext, initialState?: RecurrentState | null): Promise<LayerStep> {
    checkBuilt(this.params.length > 0, 'jordan');
    checkInput(x, ['sequence'], this.inputFeatures, 'jordan');
    const v = x as Sequence;
    const O = this.outputSize;
    let y0: Float32Array | null = null;
    if (initialState) {
      if (initialState.h.length !== v.batch * O) {
        throw new ValueError(`expected h of length batch*outputSize = ${v.batch}*${O}, got ${initialState.h.length}`, 'initialState');
      }
      y0 = initialState.h;
    }
    const [wIh, wHy, wHo, bIh, bHh, bHo] = this.params;
    const common = {
      seqLen: v.seqLen, batch: v.batch, inputSize: this.inputFeatures, hiddenSize: this.hiddenSize, outputSize: O,
      x: v.data, weightIh: wIh.value, weightHy: wHy.value, weightHo: wHo.value,
      biasIh: bIh.value, biasHh: bHh.value, biasHo: bHo.value,
      lengths: v.lengths, activation: this.activation, outputActivation: this.outputActivation,
    };
    const backend = { backend: ctx.backend };
    const f = jordanForward({ ...common, y0 }, backend);
    let dInit: RecurrentState | null = null;
    return {
      y: withData(v, f.y, O),
      state: null,
      backward: async (dy, dState) => {
        const g = jordanBackward({ ...common, cache: f.cache as Float32Array, dy, dyN: dState?.h ?? null }, backend);
        addInto(wIh.grad, g.dWeightIh);
        addInto(wHy.grad, g.dWeightHy);
        addInto(wHo.grad, g.dWeightHo);
        addInto(bIh.grad, g.dBiasIh);
        addInto(bHh.grad, g.dBiasHh);
        addInto(bHo.grad, g.dBiasHo);
        dInit = { h: g.dy0, c: null };
        return g.dx;
      },
      initialStateGrad: () => dInit,
    };
  }
}

/**
 * A Jordan network: Sequence -> Sequence of `outputSize` features, the output of each step fed
 * back into the next step's hidden units. Parameters (PyTorch-style names): `weight_ih [H, D]`,
 * `weight_hy [H, O]`, `weight_ho [O, H]` (Glorot uniform), `bias_ih [H]`, `bias_hh [H]`,
 * `bias_ho [O]` (zeros).
 */
export function jordan(options: JordanOptions): Layer<JordanKinds> {
  return new JordanLayer(options);
}

/**
 * The Jordan network layer (Jordan 1986): the previous step's OUTPUT is fed back into the hidden
 * units,
 *
 *   h_t = act(W_ih x_t + b_ih + W_hy y_{t-1} + b_hh),   y_t = act_out(W_ho h_t + b_ho).
 *
 * Per layer and direction one fused op forward and one backward (lib/nn/jordan.ts, native/jordan.h),
 * through the ops' `...Async` variants: with the native backend the event loop keeps running.
 *
 * The options are those of rnn/lstm/gru (lib/layers/recurrent.ts), with the same meaning, except that
 * what a Jordan layer passes on and carries is its output y (`outputSize` O features per direction),
 * not its hidden state: stacked layers (layer l > 0 takes the two directions' outputs concatenated,
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
import { ShapeError, ValueError } from '../errors.js';
import {
  type JordanActivation, type JordanBackwardArgs, type JordanOutputActivation, jordanBackwardAsync, jordanForwardAsync,
} from '../nn/jordan.js';
import type { Rng } from '../random.js';
import { describe } from '../validate.js';
import { applyMask, dropoutMask } from './basic.js';
import { boolOr, checkBuilt, checkInput, checkRebuild, oneOf, optionsObject, positiveInt, rate } from './checks.js';
import { concatHalves, merge, splitHalves, stateToVector, unmerge, vectorToState } from './directions.js';
import { glorotUniform } from './init.js';
import {
  addInto, type ForwardContext, type Layer, type LayerConfig, type LayerPlan, type LayerStep, type Parameter, parameter,
  type RecurrentState,
} from './layer.js';
import type { MergeMode, RecurrentKinds } from './recurrent.js';
import type { Sequence, Value, Vector } from './values.js';

/**
 * Kinds of {@link jordan} with options `O`: a Sequence in (a Vector with `stateInput`), a Sequence
 * out (a Vector with `returnSequences: false`). Without `O`: Sequence -> Sequence.
 */
export type JordanKinds<O = object> = RecurrentKinds<O>;

/** Options of {@link jordan}. */
export interface JordanOptions {
  /** Hidden units H of each layer and direction. Required. */
  readonly hiddenSize: number;
  /** Output features O of each layer and direction: what is fed back and passed on. Required. */
  readonly outputSize: number;
  /** Hidden activation. Default: `'tanh'`. */
  readonly activation?: JordanActivation;
  /** Output activation. Default: `'tanh'`. */
  readonly outputActivation?: JordanOutputActivation;
  /** Stacked layers L; layer l > 0 takes the outputs of layer l-1 (`D*O` features). Default: 1. */
  readonly numLayers?: number;
  /** Dropout rate on the input of every layer but the first, training only. Default: 0. */
  readonly dropout?: number;
  /** Run a second stack backwards in time (each sequence within its own length) and merge the two. Default: false. */
  readonly bidirectional?: boolean;
  /** How a bidirectional output is merged: features `2*O` for `'concat'`, `O` otherwise. Default: `'concat'`. */
  readonly mergeMode?: MergeMode;
  /**
   * `true`: the output is the last layer's Sequence of outputs y. `false`: a Vector, the last layer's
   * final output (after each sequence's own last step; both directions merged). Default: true.
   */
  readonly returnSequences?: boolean;
  /**
   * Also give the final state (`LayerStep.state`: the fed-back output of every layer and direction,
   * `[L*D, B, O]`; given anyway when the forward context has `keepState`). Default: false.
   */
  readonly returnState?: boolean;
  /**
   * One-to-many: the layer takes a Vector `[B, L*D*O]` that sets the initial state (the y_{-1} of every
   * layer and direction, in `h` order) and runs `steps` steps with no input features (the first
   * layer's `weight_ih` is then `[H, 0]`). Default: none (the layer takes a Sequence).
   */
  readonly stateInput?: { readonly steps: number } | null;
}

interface NormalizedOptions {
  readonly hiddenSize: number;
  readonly outputSize: number;
  readonly activation: JordanActivation;
  readonly outputActivation: JordanOutputActivation;
  readonly numLayers: number;
  readonly dropout: number;
  readonly directions: number;
  readonly mergeMode: MergeMode;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly steps: number | null;
}

function normalize(options: JordanOptions): NormalizedOptions {
  const o = optionsObject(options, 'options');
  const si = o.stateInput;
  let steps: number | null = null;
  if (si !== undefined && si !== null) {
    if (typeof si !== 'object') throw new ValueError(`expected an object { steps }, got ${describe(si)}`, 'stateInput');
    steps = positiveInt(si.steps, 'stateInput.steps');
  }
  return {
    hiddenSize: positiveInt(o.hiddenSize, 'hiddenSize'),
    outputSize: positiveInt(o.outputSize, 'outputSize'),
    activation: oneOf(o.activation, ['tanh', 'relu'] as const, 'tanh', 'activation'),
    outputActivation: oneOf(o.outputActivation, ['tanh', 'sigmoid', 'linear'] as const, 'tanh', 'outputActivation'),
    numLayers: o.numLayers === undefined ? 1 : positiveInt(o.numLayers, 'numLayers'),
    dropout: rate(o.dropout, 'dropout'),
    directions: boolOr(o.bidirectional, false, 'bidirectional') ? 2 : 1,
    mergeMode: oneOf(o.mergeMode, ['concat', 'sum', 'mean'] as const, 'concat', 'mergeMode'),
    returnSequences: boolOr(o.returnSequences, true, 'returnSequences'),
    returnState: boolOr(o.returnState, false, 'returnState'),
    steps,
  };
}

/** The parameters of one layer and direction, in `parameters()` order. */
interface DirParams {
  readonly weightIh: Parameter;
  readonly weightHy: Parameter;
  readonly weightHo: Parameter;
  readonly biasIh: Parameter;
  readonly biasHh: Parameter;
  readonly biasHo: Parameter;
}

/** What forward keeps for one layer (per direction: its backward's arguments, the cache included). */
interface LayerTape {
  readonly inputSize: number;
  readonly mask: Float32Array | null;
  readonly args: JordanBackwardArgs[];
}

class JordanLayer implements Layer {
  readonly kinds: { readonly sequence?: 'sequence' | 'vector'; readonly vector?: 'sequence' | 'vector' };
  readonly type = 'jordan';
  private readonly o: NormalizedOptions;
  private params: DirParams[][] = []; // [layer][direction]
  private inputFeatures = -1;

  constructor(options: JordanOptions) {
    this.o = normalize(options);
    const out = this.o.returnSequences ? 'sequence' : 'vector';
    this.kinds = this.o.steps !== null ? { vector: out } : { sequence: out };
  }

  /**
   * The first four options always; the recurrent options only where they differ from their defaults.
   * A model file written before those options existed lists only the first four, and the loader
   * (lib/models/serialize.ts) wants a config to list exactly the keys of the layer it makes.
   */
  get config(): LayerConfig {
    const o = this.o;
    return {
      hiddenSize: o.hiddenSize,
      outputSize: o.outputSize,
      activation: o.activation,
      outputActivation: o.outputActivation,
      ...(o.numLayers !== 1 ? { numLayers: o.numLayers } : {}),
      ...(o.dropout !== 0 ? { dropout: o.dropout } : {}),
      ...(o.directions === 2 ? { bidirectional: true } : {}),
      ...(o.mergeMode !== 'concat' ? { mergeMode: o.mergeMode } : {}),
      ...(!o.returnSequences ? { returnSequences: false } : {}),
      ...(o.returnState ? { returnState: true } : {}),
      ...(o.steps !== null ? { stateInput: { steps: o.steps } } : {}),
    };
  }

  /** `weight_ih` for a plain layer, `weight_ih_l1_reverse` in a stacked or bidirectional one. */
  private suffix(l: number, d: number): string {
    if (this.o.numLayers === 1 && this.o.directions === 1) return '';
    return `_l${l}${d === 1 ? '_reverse' : ''}`;
  }

  private layerInputSize(l: number, inputFeatures: number): number {
    if (l > 0) return this.o.directions * this.o.outputSize;
    return this.o.steps !== null ? 0 : inputFeatures;
  }

  plan(inputFeatures: number): LayerPlan {
    const { hiddenSize: H, outputSize: O, numLayers: L, directions: D } = this.o;
    const parameters: { name: string; shape: number[] }[] = [];
    for (let l = 0; l < L; l++) {
      const inSize = this.layerInputSize(l, inputFeatures);
      for (let d = 0; d < D; d++) {
        const sfx = this.suffix(l, d);
        parameters.push(
          { name: `weight_ih${sfx}`, shape: [H, inSize] },
          { name: `weight_hy${sfx}`, shape: [H, O] },
          { name: `weight_ho${sfx}`, shape: [O, H] },
          { name: `bias_ih${sfx}`, shape: [H] },
          { name: `bias_hh${sfx}`, shape: [H] },
          { name: `bias_ho${sfx}`, shape: [O] },
        );
      }
    }
    return { outputFeatures: this.outputFeatures, parameters };
  }

  /** Features of the initial state per sequence: L*D*O. */
  private get stateWidth(): number {
    return this.o.numLayers * this.o.directions * this.o.outputSize;
  }

  private get outputFeatures(): number {
    return this.o.directions === 2 && this.o.mergeMode === 'concat' ? 2 * this.o.outputSize : this.o.outputSize;
  }

  build(inputFeatures: number, rng: Rng): number {
    if (this.inputFeatures >= 0) {
      checkRebuild(this.inputFeatures, inputFeatures, 'jordan');
      return this.outputFeatures;
    }
    if (this.o.steps !== null && inputFeatures !== this.stateWidth) {
      throw new ValueError(`a jordan layer with stateInput takes numLayers*directions*outputSize = ${this.stateWidth} input features (its initial state), got ${inputFeatures}`, 'inputFeatures');
    }
    const made = this.plan(inputFeatures).parameters.map(({ name, shape }) => {
      const v = new Float32Array(shape.reduce((p, s) => p * s, 1));
      // Glorot-uniform weights (fan in / fan out of each map), zero biases.
      if (shape.length === 2) glorotUniform(rng, v, 0, shape[0], shape[1], shape[1], shape[0]);
      return parameter(name, v, shape);
    });
    const { numLayers: L, directions: D } = this.o;
    for (let l = 0; l < L; l++) {
      const dirs: DirParams[] = [];
      for (let d = 0; d < D; d++) {
        const [weightIh, weightHy, weightHo, biasIh, biasHh, biasHo] = made.slice((l * D + d) * 6, (l * D + d + 1) * 6);
        dirs.push({ weightIh, weightHy, weightHo, biasIh, biasHh, biasHo });
      }
      this.params.push(dirs);
    }
    this.inputFeatures = inputFeatures;
    return this.outputFeatures;
  }

  parameters(): readonly Parameter[] {
    const out: Parameter[] = [];
    for (const dirs of this.params) {
      for (const p of dirs) out.push(p.weightIh, p.weightHy, p.weightHo, p.biasIh, p.biasHh, p.biasHo);
    }
    return out;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad.fill(0);
  }

  async forward(x: Value, ctx: ForwardContext, initialState?: RecurrentState | null): Promise<LayerStep> {
    checkBuilt(this.inputFeatures >= 0, 'jordan');
    const { hiddenSize: H, outputSize: O, numLayers: L, directions: D, steps } = this.o;
    checkInput(x, [steps !== null ? 'vector' : 'sequence'], this.inputFeatures, 'jordan');
    const B = x.batch;
    const T = steps ?? (x as Sequence).seqLen;
    const lengths = x.kind === 'sequence' ? x.lengths : null;
    const stateLen = L * D * B * O;
    // Initial fed-back outputs [L*D, B, O]: from the Vector input (stateInput), the caller, or zeros.
    let y0All: Float32Array | null = initialState?.h ?? null;
    if (x.kind === 'vector') {
      if (initialState) throw new ValueError('a layer with stateInput takes its initial state from its input', 'initialState');
      y0All = vectorToState(x.data, B, L * D, O);
    }
    if (y0All && y0All.length !== stateLen) {
      throw new ShapeError(`expected length ${stateLen} (numLayers*directions*batch*outputSize), got ${y0All.length}`, 'initialState.h');
    }
    const slice = (all: Float32Array | null, k: number) => (all ? all.subarray(k * B * O, (k + 1) * B * O) : null);
    const backend = { backend: ctx.backend };

    const tapes: LayerTape[] = [];
    const finals: Float32Array[][] = []; // [layer][direction] yN
    let lastYs: Float32Array[] = [];
    let input = x.kind === 'sequence' ? x.data : new Float32Array(0);
    for (let l = 0; l < L; l++) {
      const inputSize = this.layerInputSize(l, this.inputFeatures);
      let mask: Float32Array | null = null;
      if (l > 0 && ctx.training && this.o.dropout > 0) {
        mask = dropoutMask(ctx.rng, input.length, this.o.dropout);
        input = applyMask(input, mask);
      }
      const args: JordanBackwardArgs[] = [];
      const ys: Float32Array[] = [];
      const yNs: Float32Array[] = [];
      for (let d = 0; d < D; d++) {
        const p = this.params[l][d];
        const a = {
          seqLen: T, batch: B, inputSize, hiddenSize: H, outputSize: O, x: input,
          weightIh: p.weightIh.value, weightHy: p.weightHy.value, weightHo: p.weightHo.value,
          biasIh: p.biasIh.value, biasHh: p.biasHh.value, biasHo: p.biasHo.value,
          lengths, reverse: d === 1, activation: this.o.activation, outputActivation: this.o.outputActivation,
        };
        // Directions run one after the other: the kernels' thread pool serves one call at a time.
        const f = await jordanForwardAsync({ ...a, y0: slice(y0All, l * D + d) }, backend);
        args.push({ ...a, cache: f.cache as Float32Array });
        ys.push(f.y);
        yNs.push(f.yN);
      }
      tapes.push({ inputSize, mask, args });
      finals.push(yNs);
      lastYs = ys;
      input = D === 2 ? concatHalves(ys[0], ys[1], T * B, O) : ys[0];
    }

    const F = this.outputFeatures;
    const y: Sequence | Vector = this.o.returnSequences
      ? { kind: 'sequence', data: merge(this.o.mergeMode, lastYs, T * B, O), seqLen: T, batch: B, features: F, lengths }
      : { kind: 'vector', data: merge(this.o.mergeMode, finals[L - 1], B, O), batch: B, features: F };
    let state: RecurrentState | null = null;
    if (this.o.returnState || ctx.keepState) {
      const h = new Float32Array(stateLen);
      finals.forEach((dirs, l) => dirs.forEach((yN, d) => h.set(yN, (l * D + d) * B * O)));
      state = { h, c: null };
    }

    let initialGrad: RecurrentState | null = null;
    const backward = async (dy: Float32Array, dState?: RecurrentState | null): Promise<Float32Array | null> => {
      if (dy.length !== y.data.length) throw new ShapeError(`expected length ${y.data.length} (the output's), got ${dy.length}`, 'dy');
      const dStateH = dState?.h ?? null;
      if (dStateH && dStateH.length !== stateLen) {
        throw new ShapeError(`expected length ${stateLen} (numLayers*directions*batch*outputSize), got ${dStateH.length}`, 'dState.h');
      }
      const dy0 = new Float32Array(stateLen);
      // Gradients reaching each direction's y of the current layer, and its final output.
      let dYs: (Float32Array | null)[] = this.o.returnSequences ? unmerge(this.o.mergeMode, dy, D, T * B, O) : new Array<null>(D).fill(null);
      const dLast = this.o.returnSequences ? null : unmerge(this.o.mergeMode, dy, D, B, O);
      let dInput: Float32Array = new Float32Array(0);
      for (let l = L - 1; l >= 0; l--) {
        const tape = tapes[l];
        const dx = new Float32Array(T * B * tape.inputSize);
        for (let d = 0; d < D; d++) {
          const k = l * D + d;
          let dyN: Float32Array | null = l === L - 1 && dLast ? dLast[d].slice() : null;
          if (dStateH) {
            const part = dStateH.subarray(k * B * O, (k + 1) * B * O);
            if (dyN) addInto(dyN, part);
            else dyN = part;
          }
          const g = await jordanBackwardAsync({ ...tape.args[d], dy: dYs[d], dyN }, backend);
          const p = this.params[l][d];
          addInto(p.weightIh.grad, g.dWeightIh);
          addInto(p.weightHy.grad, g.dWeightHy);
          addInto(p.weightHo.grad, g.dWeightHo);
          addInto(p.biasIh.grad, g.dBiasIh);
          addInto(p.biasHh.grad, g.dBiasHh);
          addInto(p.biasHo.grad, g.dBiasHo);
          addInto(dx, g.dx);
          dy0.set(g.dy0, k * B * O);
        }
        dInput = tape.mask ? applyMask(dx, tape.mask) : dx;
        if (l > 0) dYs = D === 2 ? splitHalves(dInput, T * B, O) : [dInput];
      }
      initialGrad = { h: dy0, c: null };
      return x.kind === 'vector' ? stateToVector(dy0, B, L * D, O) : dInput;
    };
    return { y, state, backward, initialStateGrad: () => initialGrad };
  }
}

/**
 * A Jordan network: Sequence -> Sequence of `outputSize` features (`2*outputSize` bidirectional with
 * `'concat'`), the output of each step fed back into the next step's hidden units; or a Vector (the
 * final output) with `returnSequences: false`. Options, state layout and parameter names: the top of
 * lib/layers/jordan.ts.
 */
export function jordan<const O extends JordanOptions>(options: O): Layer<JordanKinds<O>> {
  return new JordanLayer(options) as unknown as Layer<JordanKinds<O>>;
}

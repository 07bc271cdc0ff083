/**
 * The recurrent layers `rnn`, `lstm`, `gru`: stacks of fused whole-sequence ops (lib/ops.ts), one
 * forward and one backward call per layer and direction, run through the `...Async` ops.
 *
 * Layout and names follow torch.nn.RNN/LSTM/GRU, so a PyTorch `state_dict` maps by name: per layer l
 * and direction (`''`, `'_reverse'`): `weight_ih_l{l}` `[G*H, in]`, `weight_hh_l{l}` `[G*H, H]`,
 * `bias_ih_l{l}`, `bias_hh_l{l}` `[G*H]` (G = 1, 4, 3; gates i,f,g,o and r,z,n), and for a peephole
 * LSTM `weight_peephole_l{l}` `[3H]` (ONNX order p_i, p_o, p_f; PyTorch has none). Between stacked
 * layers the two directions are concatenated (PyTorch), so layer l > 0 takes `D*H` features;
 * `mergeMode` applies to the layer's output only. The reverse direction is the op's `reverse: true`
 * with the same `lengths`: each sequence runs from its own last valid step back to 0.
 *
 * Jordan networks (the previous OUTPUT fed back into the state) are in lib/layers/jordan.ts: their
 * recurrence goes through the output layer, so they have a fused op of their own (lib/nn/jordan.ts).
 */
import type {
  BackendName, GruForwardArgs, LstmForwardArgs, RnnForwardArgs, RnnNonlinearity, SeqGrads,
} from '../backend/types.js';
import { ShapeError, ValueError } from '../errors.js';
import { ops } from '../ops.js';
import type { Rng } from '../random.js';
import { describe } from '../validate.js';
import { applyMask, dropoutMask } from './basic.js';
import { boolOr, checkBuilt, checkInput, checkRebuild, oneOf, optionsObject, positiveInt, rate } from './checks.js';
import { concatHalves, merge, splitHalves, stateToVector, unmerge, vectorToState } from './directions.js';
import { glorotUniform, orthogonal } from './init.js';
import {
  addInto, type ForwardContext, type Layer, type LayerConfig, type LayerPlan, type LayerStep, type Parameter, parameter, type RecurrentState,
} from './layer.js';
import type { Sequence, Value, Vector } from './values.js';

/** How the two directions of a bidirectional layer's output are combined. */
export type MergeMode = 'concat' | 'sum' | 'mean';

/** Options every recurrent layer takes. */
export interface RecurrentOptions {
  /** Hidden units H per direction. Required. */
  readonly hiddenSize: number;
  /** Stacked layers L. Default: 1. */
  readonly numLayers?: number;
  /** Dropout rate on the input of every layer but the first, training only. Default: 0. */
  readonly dropout?: number;
  /** Run a second stack backwards in time and merge the two. Default: false. */
  readonly bidirectional?: boolean;
  /** How a bidirectional output is merged: features `2H` for `'concat'`, `H` otherwise. Default: `'concat'`. */
  readonly mergeMode?: MergeMode;
  /**
   * `true`: the output is the last layer's Sequence of hidden states. `false`: a Vector, the last
   * layer's final hidden state (at each sequence's own length; both directions merged). Default: true.
   */
  readonly returnSequences?: boolean;
  /** Also give the final state of every layer (`LayerStep.state`, PyTorch's `(h_n, c_n)`). Default: false. */
  readonly returnState?: boolean;
  /**
   * One-to-many: the layer takes a Vector `[B, L*D*H]` that sets the initial hidden state of every
   * layer and direction (in `h_0` order) and runs `steps` steps with no input features (the first
   * layer's `weight_ih` is then `[G*H, 0]`). Default: none (the layer takes a Sequence).
   */
  readonly stateInput?: { readonly steps: number } | null;
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

/** The output kind for options `O`. */
export type RecurrentOutput<O> = O extends { readonly returnSequences: false } ? 'vector' : 'sequence';
/** The kinds of a recurrent layer with options `O`: a Sequence in (a Vector with `stateInput`). */
export type RecurrentKinds<O> = O extends { readonly stateInput: { readonly steps: number } }
  ? { readonly vector: RecurrentOutput<O> }
  : { readonly sequence: RecurrentOutput<O> };

type Cell = 'rnn' | 'lstm' | 'gru';
const GATES: Record<Cell, number> = { rnn: 1, lstm: 4, gru: 3 };

/** The parameters of one layer and direction. */
interface DirParams {
  readonly weightIh: Parameter;
  readonly weightHh: Parameter;
  readonly biasIh: Parameter;
  readonly biasHh: Parameter;
  readonly peephole: Parameter | null;
}

interface CellResult {
  readonly y: Float32Array;
  readonly hN: Float32Array;
  readonly cN: Float32Array | null;
  readonly cache: Float32Array;
}

interface CellGrads extends SeqGrads {
  readonly dc0: Float32Array | null;
  readonly dWeightPeephole: Float32Array | null;
}

type CellArgs = RnnForwardArgs & LstmForwardArgs & GruForwardArgs;

async function cellForward(cell: Cell, args: CellArgs, backend: BackendName): Promise<CellResult> {
  const o = { backend };
  if (cell === 'lstm') {
    const r = await ops.lstmForwardAsync(args, o);
    return { y: r.y, hN: r.hN, cN: r.cN, cache: r.cache };
  }
  const r = cell === 'rnn' ? await ops.rnnForwardAsync(args, o) : await ops.gruForwardAsync(args, o);
  return { y: r.y, hN: r.hN, cN: null, cache: r.cache };
}

async function cellBackward(
  cell: Cell, args: CellArgs, cache: Float32Array, dy: Float32Array | null, dhN: Float32Array | null,
  dcN: Float32Array | null, backend: BackendName,
): Promise<CellGrads> {
  const o = { backend };
  if (cell === 'lstm') return ops.lstmBackwardAsync({ ...args, cache, dy, dhN, dcN }, o);
  const g = cell === 'rnn'
    ? await ops.rnnBackwardAsync({ ...args, cache, dy, dhN }, o)
    : await ops.gruBackwardAsync({ ...args, cache, dy, dhN }, o);
  return { ...g, dc0: null, dWeightPeephole: null };
}

interface NormalizedOptions {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly dropout: number;
  readonly directions: number;
  readonly mergeMode: MergeMode;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly steps: number | null;
  readonly nonlinearity: RnnNonlinearity;
  readonly peepholes: boolean;
  readonly resetAfter: boolean;
}

function normalize(cell: Cell, options: RnnOptions & LstmOptions & GruOptions): NormalizedOptions {
  const o = optionsObject(options, 'options');
  const si = o.stateInput;
  let steps: number | null = null;
  if (si !== undefined && si !== null) {
    if (typeof si !== 'object') throw new ValueError(`expected an object { steps }, got ${describe(si)}`, 'stateInput');
    steps = positiveInt(si.steps, 'stateInput.steps');
  }
  if (cell !== 'rnn' && o.nonlinearity !== undefined) throw new ValueError(`only rnn takes a nonlinearity (this is ${cell})`, 'nonlinearity');
  if (cell !== 'lstm' && o.peepholes !== undefined) throw new ValueError(`only lstm takes peepholes (this is ${cell})`, 'peepholes');
  if (cell !== 'gru' && o.resetAfter !== undefined) throw new ValueError(`only gru takes resetAfter (this is ${cell})`, 'resetAfter');
  return {
    hiddenSize: positiveInt(o.hiddenSize, 'hiddenSize'),
    numLayers: o.numLayers === undefined ? 1 : positiveInt(o.numLayers, 'numLayers'),
    dropout: rate(o.dropout, 'dropout'),
    directions: boolOr(o.bidirectional, false, 'bidirectional') ? 2 : 1,
    mergeMode: oneOf(o.mergeMode, ['concat', 'sum', 'mean'] as const, 'concat', 'mergeMode'),
    returnSequences: boolOr(o.returnSequences, true, 'returnSequences'),
    returnState: boolOr(o.returnState, false, 'returnState'),
    steps,
    nonlinearity: oneOf(o.nonlinearity, ['tanh', 'relu'] as const, 'tanh', 'nonlinearity'),
    peepholes: boolOr(o.peepholes, false, 'peepholes'),
    resetAfter: boolOr(o.resetAfter, true, 'resetAfter'),
  };
}

/** What forward keeps for one layer (per direction: its op arguments and result). */
interface LayerTape {
  readonly inputSize: number;
  readonly mask: Float32Array | null;
  readonly args: CellArgs[];
  readonly results: CellResult[];
}

class RecurrentLayer implements Layer {
  readonly kinds: { readonly sequence?: 'sequence' | 'vector'; readonly vector?: 'sequence' | 'vector' };
  readonly type: Cell;
  private readonly o: NormalizedOptions;
  private params: DirParams[][] = []; // [layer][direction]
  private inputFeatures = -1;

  constructor(cell: Cell, options: RnnOptions & LstmOptions & GruOptions) {
    this.type = cell;
    this.o = normalize(cell, options);
    const out = this.o.returnSequences ? 'sequence' : 'vector';
    this.kinds = this.o.steps !== null ? { vector: out } : { sequence: out };
  }

  get config(): LayerConfig {
    const o = this.o;
    return {
      hiddenSize: o.hiddenSize,
      numLayers: o.numLayers,
      dropout: o.dropout,
      bidirectional: o.directions === 2,
      mergeMode: o.mergeMode,
      returnSequences: o.returnSequences,
      returnState: o.returnState,
      stateInput: o.steps === null ? null : { steps: o.steps },
      ...(this.type === 'rnn' ? { nonlinearity: o.nonlinearity } : {}),
      ...(this.type === 'lstm' ? { peepholes: o.peepholes } : {}),
      ...(this.type === 'gru' ? { resetAfter: o.resetAfter } : {}),
    };
  }

  plan(inputFeatures: number): LayerPlan {
    const { hiddenSize: H, numLayers: L, directions: D, steps } = this.o;
    const G = GATES[this.type];
    const parameters: { name: string; shape: number[] }[] = [];
    for (let l = 0; l < L; l++) {
      const inSize = l === 0 ? (steps !== null ? 0 : inputFeatures) : D * H;
      for (let d = 0; d < D; d++) {
        const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
        parameters.push(
          { name: `weight_ih${sfx}`, shape: [G * H, inSize] },
          { name: `weight_hh${sfx}`, shape: [G * H, H] },
          { name: `bias_ih${sfx}`, shape: [G * H] },
          { name: `bias_hh${sfx}`, shape: [G * H] },
        );
        if (this.o.peepholes) parameters.push({ name: `weight_peephole${sfx}`, shape: [3 * H] });
      }
    }
    return { outputFeatures: this.outputFeatures, parameters };
  }

  /** Sizes of the initial state: L*D*H features per sequence. */
  private get stateWidth(): number {
    return this.o.numLayers * this.o.directions * this.o.hiddenSize;
  }

  private get outputFeatures(): number {
    return this.o.directions === 2 && this.o.mergeMode === 'concat' ? 2 * this.o.hiddenSize : this.o.hiddenSize;
  }

  build(inputFeatures: number, rng: Rng): number {
    if (this.inputFeatures >= 0) {
      checkRebuild(this.inputFeatures, inputFeatures, this.type);
      return this.outputFeatures;
    }
    const { hiddenSize: H, numLayers: L, directions: D, steps } = this.o;
    if (steps !== null && inputFeatures !== this.stateWidth) {
      throw new ValueError(`a ${this.type} with stateInput takes numLayers*directions*hiddenSize = ${this.stateWidth} input features (its initial state), got ${inputFeatures}`, 'inputFeatures');
    }
    const G = GATES[this.type];
    for (let l = 0; l < L; l++) {
      const inSize = l === 0 ? (steps !== null ? 0 : inputFeatures) : D * H;
      const dirs: DirParams[] = [];
      for (let d = 0; d < D; d++) {
        const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
        const wih = new Float32Array(G * H * inSize);
        const whh = new Float32Array(G * H * H);
        for (let g = 0; g < G; g++) {
          glorotUniform(rng, wih, g * H * inSize, H, inSize, inSize, H);
          orthogonal(rng, whh, g * H * H, H);
        }
        const bih = new Float32Array(G * H);
        // LSTM forget gate (block 1 of i,f,g,o): bias_ih = 1, bias_hh = 0, so the sum starts at 1
        // (Jozefowicz et al. 2015): the cell remembers by default early in training.
        if (this.type === 'lstm') bih.fill(1, H, 2 * H);
        dirs.push({
          weightIh: parameter(`weight_ih${sfx}`, wih, [G * H, inSize]),
          weightHh: parameter(`weight_hh${sfx}`, whh, [G * H, H]),
          biasIh: parameter(`bias_ih${sfx}`, bih, [G * H]),
          biasHh: parameter(`bias_hh${sfx}`, new Float32Array(G * H), [G * H]),
          peephole: this.o.peepholes ? parameter(`weight_peephole${sfx}`, new Float32Array(3 * H), [3 * H]) : null,
        });
      }
      this.params.push(dirs);
    }
    this.inputFeatures = inputFeatures;
    return this.outputFeatures;
  }

  parameters(): readonly Parameter[] {
    const out: Parameter[] = [];
    for (const dirs of this.params) {
      for (const p of dirs) {
        out.push(p.weightIh, p.weightHh, p.biasIh, p.biasHh);
        if (p.peephole) out.push(p.peephole);
      }
    }
    return out;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad.fill(0);
  }

  async forward(x: Value, ctx: ForwardContext, initialState?: RecurrentState | null): Promise<LayerStep> {
    checkBuilt(this.inputFeatures >= 0, this.type);
    const { hiddenSize: H, numLayers: L, directions: D, steps } = this.o;
    checkInput(x, [steps !== null ? 'vector' : 'sequence'], this.inputFeatures, this.type);
    const B = x.batch;
    const T = steps ?? (x as Sequence).seqLen;
    const lengths = x.kind === 'sequence' ? x.lengths : null;
    const isLstm = this.type === 'lstm';
    const stateLen = L * D * B * H;
    // Initial states [L*D, B, H]: from the Vector input (stateInput), the caller, or zeros.
    let h0All: Float32Array | null = initialState?.h ?? null;
    const c0All: Float32Array | null = isLstm ? initialState?.c ?? null : null;
    if (x.kind === 'vector') {
      if (initialState) throw new ValueError('a layer with stateInput takes its initial state from its input', 'initialState');
      h0All = vectorToState(x.data, B, L * D, H);
    }
    if (h0All && h0All.length !== stateLen) throw new ShapeError(`expected length ${stateLen} (numLayers*directions*batch*hiddenSize), got ${h0All.length}`, 'initialState.h');
    if (c0All && c0All.length !== stateLen) throw new ShapeError(`expected length ${stateLen} (numLayers*directions*batch*hiddenSize), got ${c0All.length}`, 'initialState.c');
    const slice = (all: Float32Array | null, k: number) => (all ? all.subarray(k * B * H, (k + 1) * B * H) : null);

    const tapes: LayerTape[] = [];
    let input = x.kind === 'sequence' ? x.data : new Float32Array(0);
    for (let l = 0; l < L; l++) {
      const inputSize = l === 0 ? (steps !== null ? 0 : this.inputFeatures) : D * H;
      let mask: Float32Array | null = null;
      if (l > 0 && ctx.training && this.o.dropout > 0) {
        mask = dropoutMask(ctx.rng, input.length, this.o.dropout);
        input = applyMask(input, mask);
      }
      const args: CellArgs[] = [];
      const results: CellResult[] = [];
      for (let d = 0; d < D; d++) {
        const p = this.params[l][d];
        const a: CellArgs = {
          seqLen: T, batch: B, inputSize, hiddenSize: H, x: input,
          weightIh: p.weightIh.value, weightHh: p.weightHh.value, biasIh: p.biasIh.value, biasHh: p.biasHh.value,
          h0: slice(h0All, l * D + d), lengths, reverse: d === 1,
          ...(this.type === 'rnn' ? { nonlinearity: this.o.nonlinearity } : {}),
          ...(this.type === 'gru' ? { resetAfter: this.o.resetAfter } : {}),
          ...(isLstm ? { c0: slice(c0All, l * D + d), weightPeephole: p.peephole?.value ?? null } : {}),
        };
        // Directions run one after the other: the kernels' thread pool serves one call at a time.
        results.push(await cellForward(this.type, a, ctx.backend));
        args.push(a);
      }
      tapes.push({ inputSize, mask, args, results });
      input = D === 2 ? concatHalves(results[0].y, results[1].y, T * B, H) : results[0].y;
    }

    const last = tapes[L - 1].results;
    const F = this.outputFeatures;
    const y: Sequence | Vector = this.o.returnSequences
      ? { kind: 'sequence', data: merge(this.o.mergeMode, last.map((r) => r.y), T * B, H), seqLen: T, batch: B, features: F, lengths }
      : { kind: 'vector', data: merge(this.o.mergeMode, last.map((r) => r.hN), B, H), batch: B, features: F };
    let state: RecurrentState | null = null;
    if (this.o.returnState || ctx.keepState) {
      const h = new Float32Array(stateLen);
      const c = isLstm ? new Float32Array(stateLen) : null;
      tapes.forEach((t, l) => t.results.forEach((r, d) => {
        h.set(r.hN, (l * D + d) * B * H);
        if (c && r.cN) c.set(r.cN, (l * D + d) * B * H);
      }));
      state = { h, c };
    }

    let initialGrad: RecurrentState | null = null;
    const backward = async (dy: Float32Array, dState?: RecurrentState | null): Promise<Float32Array | null> => {
      if (dy.length !== y.data.length) throw new ShapeError(`expected length ${y.data.length} (the output's), got ${dy.length}`, 'dy');
      const dh0 = new Float32Array(stateLen);
      const dc0 = isLstm ? new Float32Array(stateLen) : null;
      // Gradients reaching each direction's y of the current layer, and its final h.
      let dYs: (Float32Array | null)[] = this.o.returnSequences ? unmerge(this.o.mergeMode, dy, D, T * B, H) : new Array<null>(D).fill(null);
      const dhLast = this.o.returnSequences ? null : unmerge(this.o.mergeMode, dy, D, B, H);
      let dInput: Float32Array = new Float32Array(0);
      for (let l = L - 1; l >= 0; l--) {
        const tape = tapes[l];
        const dx = new Float32Array(T * B * tape.inputSize);
        for (let d = 0; d < D; d++) {
          const k = l * D + d;
          let dhN: Float32Array | null = l === L - 1 && dhLast ? dhLast[d].slice() : null;
          if (dState?.h) {
            const part = dState.h.subarray(k * B * H, (k + 1) * B * H);
            if (dhN) addInto(dhN, part);
            else dhN = part;
          }
          const dcN = dState?.c ? dState.c.subarray(k * B * H, (k + 1) * B * H) : null;
          const g = await cellBackward(this.type, tape.args[d], tape.results[d].cache, dYs[d], dhN, dcN, ctx.backend);
          const p = this.params[l][d];
          addInto(p.weightIh.grad, g.dWeightIh);
          addInto(p.weightHh.grad, g.dWeightHh);
          if (g.dBiasIh) addInto(p.biasIh.grad, g.dBiasIh);
          if (g.dBiasHh) addInto(p.biasHh.grad, g.dBiasHh);
          if (p.peephole && g.dWeightPeephole) addInto(p.peephole.grad, g.dWeightPeephole);
          addInto(dx, g.dx);
          dh0.set(g.dh0, k * B * H);
          if (dc0 && g.dc0) dc0.set(g.dc0, k * B * H);
        }
        dInput = tape.mask ? applyMask(dx, tape.mask) : dx;
        if (l > 0) dYs = D === 2 ? splitHalves(dInput, T * B, H) : [dInput];
      }
      initialGrad = { h: dh0, c: dc0 };
      return x.kind === 'vector' ? stateToVector(dh0, B, L * D, H) : dInput;
    };
    return { y, state, backward, initialStateGrad: () => initialGrad };
  }
}

/**
 * Simple (Elman) RNN: `h = act(W_ih x + b_ih + W_hh h + b_hh)`, torch.nn.RNN's parameters.
 * Sequence -> Sequence (or Vector with `returnSequences: false`).
 */
export function rnn<const O extends RnnOptions>(options: O): Layer<RecurrentKinds<O>> {
  return new RecurrentLayer('rnn', options) as unknown as Layer<RecurrentKinds<O>>;
}

/** LSTM (gates i, f, g, o; optional peepholes), torch.nn.LSTM's parameters. */
export function lstm<const O extends LstmOptions>(options: O): Layer<RecurrentKinds<O>> {
  return new RecurrentLayer('lstm', options) as unknown as Layer<RecurrentKinds<O>>;
}

/** GRU (gates r, z, n; reset-after by default), torch.nn.GRU's parameters. */
export function gru<const O extends GruOptions>(options: O): Layer<RecurrentKinds<O>> {
  return new RecurrentLayer('gru', options) as unknown as Layer<RecurrentKinds<O>>;
}

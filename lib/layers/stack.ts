/**
 * The one recurrent stack driver: stacking, directions, merge modes, dropout between layers, initial
 * and final states, lengths, `keepState` and one-to-many (`stateInput`), written once over a small
 * {@link RecurrentCell} interface (as PyTorch's `apply_layer_stack` over its cells). `rnn`, `lstm`,
 * `gru` (lib/layers/recurrent.ts) and `jordan` (lib/layers/jordan.ts) are cell adapters: each says
 * what parameters one layer-direction has, how to initialize them, and runs one fused op forward and
 * one backward per layer and direction.
 *
 * Layout (PyTorch's): per layer l and direction d (forward, then reverse), the cell's parameters are
 * named `<name>_l{l}` / `<name>_l{l}_reverse` (a Jordan layer with one layer and one direction keeps
 * its plain names). Between stacked layers the two directions are concatenated, so layer l > 0 takes
 * `D*S` features (S: the width a direction passes on, H, or a Jordan layer's O); `mergeMode` applies
 * to the last layer's output only. The reverse direction is the op's `reverse: true` with the same
 * `lengths`: each sequence runs from its own last valid step back to 0. States are
 * `[numLayers * numDirections, B, S]`, layer-major, forward before reverse (PyTorch's `h_n`), with
 * `c` for a cell that has one (LSTM).
 */
import type { BackendName } from '../backend/index.js';
import type { Workspace } from '../ops/outputs.js';
import { allocF32, boolOr, describe, oneOf, positiveInt, product, rate } from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import type { Rng } from '../random.js';
import { applyMask, dropoutMask } from './basic.js';
import { checkBuildArgs, checkBuilt, checkContext, checkInput, checkRebuild } from './checks.js';
import { concatHalves, type MergeMode, merge, splitHalves, stateToVector, unmerge, vectorToState } from './directions.js';

export type { MergeMode } from './directions.js';
import {
  addInto,
  type BuildSteps,
  type ForwardContext,
  type JsonValue,
  type Layer,
  type LayerConfig,
  type LayerPlan,
  type LayerStep,
  type Parameter,
  parameter,
  type RecurrentState,
  runBuildSteps,
  type StateSpec,
} from './layer.js';
import type { Sequence, Value, Vector } from './values.js';

/** Options every recurrent layer takes (besides its size, see each layer). */
export interface StackOptions {
  /** Stacked layers L. Default: 1. */
  readonly numLayers?: number;
  /** Dropout rate on the input of every layer but the first, training only. Default: 0. */
  readonly dropout?: number;
  /** Run a second stack backwards in time (each sequence within its own length) and merge the two. Default: false. */
  readonly bidirectional?: boolean;
  /** How a bidirectional output is merged: features `2*S` for `'concat'`, `S` otherwise. Default: `'concat'`. */
  readonly mergeMode?: MergeMode;
  /**
   * `true`: the output is the last layer's Sequence of outputs. `false`: a Vector, the last layer's
   * final output (at each sequence's own length; both directions merged). Default: true.
   */
  readonly returnSequences?: boolean;
  /** Also give the final state of every layer (`LayerStep.state`, PyTorch's `(h_n, c_n)`). Default: false. */
  readonly returnState?: boolean;
  /**
   * One-to-many: the layer takes a Vector `[B, L*D*S]` that sets the initial state of every layer and
   * direction (in `h_0` order) and runs `steps` steps with no input features (the first layer's
   * `weight_ih` is then `[G*H, 0]`). Default: none (the layer takes a Sequence).
   */
  readonly stateInput?: { readonly steps: number } | null;
}

/** The keys of {@link StackOptions}. */
export const STACK_KEYS = ['numLayers', 'dropout', 'bidirectional', 'mergeMode', 'returnSequences', 'returnState', 'stateInput'] as const;

/** The output kind for options `O`. */
export type RecurrentOutput<O> = O extends { readonly returnSequences: false } ? 'vector' : 'sequence';
/** The kinds of a recurrent layer with options `O`: a Sequence in (a Vector with `stateInput`). */
export type RecurrentKinds<O> = O extends { readonly stateInput: { readonly steps: number } }
  ? { readonly vector: RecurrentOutput<O> }
  : { readonly sequence: RecurrentOutput<O> };

/** {@link StackOptions} with every default filled in. */
export interface StackConfig {
  readonly numLayers: number;
  readonly dropout: number;
  readonly bidirectional: boolean;
  readonly mergeMode: MergeMode;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly stateInput: { readonly steps: number } | null;
}

/** Checks the stack options of `o` (an options object already checked for unknown keys). */
export function stackConfig(o: Readonly<Record<string, unknown>>): StackConfig {
  const si = o.stateInput;
  let stateInput: { steps: number } | null = null;
  if (si !== undefined && si !== null) {
    if (typeof si !== 'object') throw new ValueError(`expected an object { steps }, got ${describe(si)}`, 'stateInput');
    stateInput = { steps: positiveInt((si as { steps?: unknown }).steps, 'stateInput.steps') };
  }
  return {
    numLayers: o.numLayers === undefined ? 1 : positiveInt(o.numLayers, 'numLayers'),
    dropout: rate(o.dropout, 'dropout'),
    bidirectional: boolOr(o.bidirectional, false, 'bidirectional'),
    mergeMode: oneOf(o.mergeMode, ['concat', 'sum', 'mean'] as const, 'concat', 'mergeMode'),
    returnSequences: boolOr(o.returnSequences, true, 'returnSequences'),
    returnState: boolOr(o.returnState, false, 'returnState'),
    stateInput,
  };
}

/** One layer-direction's run over a whole sequence (what the driver gives a cell). */
export interface CellRun {
  /** Input `[T*B*inputSize]`, time-major. */
  readonly x: Float32Array;
  readonly seqLen: number;
  readonly batch: number;
  readonly inputSize: number;
  readonly lengths: Int32Array | null;
  readonly reverse: boolean;
  /** Initial state `[B*S]`, or null (zeros). */
  readonly h0: Float32Array | null;
  /** Initial cell state `[B*H]` (a cell with `cellState`), or null (zeros). */
  readonly c0: Float32Array | null;
  /** Whether backward will be called (false: no cache is kept). */
  readonly keepCache: boolean;
  readonly backend: BackendName;
  /** Where the cell's ops take their outputs from (this layer-direction's own), or null (fresh). */
  readonly workspace: Workspace | null;
}

/** What a cell's backward gives: the input and initial-state gradients, and one gradient per parameter (in order). */
export interface CellGrads {
  readonly dx: Float32Array;
  readonly dh0: Float32Array;
  readonly dc0: Float32Array | null;
  readonly dParams: readonly (Float32Array | null)[];
}

/** A cell's forward over one layer-direction: outputs, final states and the way back. */
export interface CellStep {
  /** Outputs `[T*B*S]`. */
  readonly y: Float32Array;
  /** Final state `[B*S]` (at each sequence's own length). */
  readonly hN: Float32Array;
  /** Final cell state `[B*S]`, or null. */
  readonly cN: Float32Array | null;
  backward(dy: Float32Array | null, dhN: Float32Array | null, dcN: Float32Array | null): Promise<CellGrads>;
}

/** What the stack driver needs of a cell (one layer and one direction at a time). */
export interface RecurrentCell {
  /** The layer type (`'lstm'`). */
  readonly type: string;
  /** Features a direction passes on and carries as its state h (hidden units H, a Jordan layer's outputs O). */
  readonly width: number;
  /** The option that sets {@link RecurrentCell.width} (`'hiddenSize'`, `'outputSize'`), for messages. */
  readonly widthName: string;
  /** Whether the state has a cell part `c` (LSTM). */
  readonly cellState: boolean;
  /** Whether a plain stack (one layer, one direction) names its parameters without `_l0`. */
  readonly plainNames: boolean;
  /** The cell's own options, defaults filled in (the stack's are added by the driver). */
  readonly config: { readonly [key: string]: JsonValue };
  /** One layer-direction's parameters taking `inputSize` features, in order (names without suffix). */
  parameters(inputSize: number): readonly { readonly name: string; readonly shape: readonly number[] }[];
  /**
   * Fills one layer-direction's freshly allocated parameters (in `parameters` order) from `rng`;
   * a generator (yielding between units of work, as {@link Layer.buildSteps}) where that is long.
   */
  initialize(values: readonly Float32Array[], inputSize: number, rng: Rng): Iterable<undefined> | void;
  /** Runs one layer-direction with weights `w` (in `parameters` order). */
  forward(w: readonly Float32Array[], run: CellRun): Promise<CellStep>;
}

/** What forward keeps for one layer. */
interface LayerTape {
  readonly inputSize: number;
  readonly mask: Float32Array | null;
  readonly steps: CellStep[];
}

/** A stack of cells as a {@link Layer} (see the module comment). */
export class RecurrentStack implements Layer {
  readonly kinds: { readonly sequence?: 'sequence' | 'vector'; readonly vector?: 'sequence' | 'vector' };
  readonly type: string;
  readonly causal: boolean;
  private readonly cell: RecurrentCell;
  private readonly s: StackConfig;
  private readonly dirs: number;
  private params: Parameter[][][] = []; // [layer][direction][parameter]
  private inputFeatures = -1;

  constructor(cell: RecurrentCell, stack: StackConfig) {
    this.cell = cell;
    this.type = cell.type;
    this.s = stack;
    this.dirs = stack.bidirectional ? 2 : 1;
    this.causal = !stack.bidirectional;
    const out = stack.returnSequences ? 'sequence' : 'vector';
    this.kinds = stack.stateInput !== null ? { vector: out } : { sequence: out };
  }

  get config(): LayerConfig {
    return { ...this.cell.config, ...this.s };
  }

  get state(): StateSpec {
    return { rows: this.s.numLayers * this.dirs, width: this.cell.width, cell: this.cell.cellState, input: this.s.stateInput !== null };
  }

  private suffix(l: number, d: number): string {
    if (this.cell.plainNames && this.s.numLayers === 1 && this.dirs === 1) return '';
    return `_l${l}${d === 1 ? '_reverse' : ''}`;
  }

  private layerInputSize(l: number, inputFeatures: number): number {
    if (l > 0) return this.dirs * this.cell.width;
    return this.s.stateInput !== null ? 0 : inputFeatures;
  }

  /** Features of the initial state per sequence: L*D*S. */
  private get stateWidth(): number {
    return this.s.numLayers * this.dirs * this.cell.width;
  }

  private get outputFeatures(): number {
    return this.dirs === 2 && this.s.mergeMode === 'concat' ? 2 * this.cell.width : this.cell.width;
  }

  plan(inputFeatures: number): LayerPlan {
    const parameters: { name: string; shape: readonly number[] }[] = [];
    for (let l = 0; l < this.s.numLayers; l++) {
      const inSize = this.layerInputSize(l, inputFeatures);
      for (let d = 0; d < this.dirs; d++) {
        for (const p of this.cell.parameters(inSize)) parameters.push({ name: `${p.name}${this.suffix(l, d)}`, shape: p.shape });
      }
    }
    return { outputFeatures: this.outputFeatures, parameters };
  }

  build(inputFeatures: number, rng: Rng | null): number {
    return runBuildSteps(this.buildSteps(inputFeatures, rng));
  }

  *buildSteps(inputFeatures: number, rng: Rng | null): BuildSteps {
    checkBuildArgs(inputFeatures, rng);
    if (this.inputFeatures >= 0) {
      checkRebuild(this.inputFeatures, inputFeatures, this.type);
      return this.outputFeatures;
    }
    if (this.s.stateInput !== null && inputFeatures !== this.stateWidth) {
      throw new ValueError(
        `a ${this.type} with stateInput takes numLayers*directions*${this.cell.widthName} = ${this.stateWidth} input features (its initial state), got ${inputFeatures}`,
        'inputFeatures',
      );
    }
    // Built into `params` first and stored only after the last step, so that a build stopped
    // midway (an aborted async build) leaves the layer unbuilt.
    const params: Parameter[][][] = [];
    for (let l = 0; l < this.s.numLayers; l++) {
      const inSize = this.layerInputSize(l, inputFeatures);
      const layer: Parameter[][] = [];
      for (let d = 0; d < this.dirs; d++) {
        const specs = this.cell.parameters(inSize);
        const values = specs.map((p) =>
          allocF32(
            product(
              this.cell.widthName,
              p.shape.map((n, k) => [`${p.name}${this.suffix(l, d)}.shape[${k}]`, n] as const),
            ),
            this.cell.widthName,
          ),
        );
        if (rng) {
          const steps = this.cell.initialize(values, inSize, rng);
          if (steps) yield* steps;
        }
        layer.push(specs.map((p, k) => parameter(`${p.name}${this.suffix(l, d)}`, values[k], p.shape)));
        yield;
      }
      params.push(layer);
    }
    yield this.outputFeatures;
    this.params = params;
    this.inputFeatures = inputFeatures;
    return this.outputFeatures;
  }

  parameters(): readonly Parameter[] {
    return this.params.flat(2);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad.fill(0);
  }

  async forward(x: Value, ctx: ForwardContext, initialState?: RecurrentState | null): Promise<LayerStep> {
    checkContext(ctx);
    checkBuilt(this.inputFeatures >= 0, this.type);
    const { numLayers: L, stateInput } = this.s;
    const D = this.dirs;
    const S = this.cell.width;
    checkInput(x, [stateInput !== null ? 'vector' : 'sequence'], this.inputFeatures, this.type);
    const B = x.batch;
    const T = stateInput?.steps ?? (x as Sequence).seqLen;
    const lengths = x.kind === 'sequence' ? x.lengths : null;
    const stateLen = L * D * B * S;
    const unit = this.cell.widthName;
    // Initial states [L*D, B, S]: from the Vector input (stateInput), the caller, or zeros.
    let h0All: Float32Array | null = initialState?.h ?? null;
    const c0All: Float32Array | null = this.cell.cellState ? (initialState?.c ?? null) : null;
    if (x.kind === 'vector') {
      if (initialState) throw new ValueError('a layer with stateInput takes its initial state from its input', 'initialState');
      h0All = vectorToState(x.data, B, L * D, S);
    }
    if (h0All && h0All.length !== stateLen)
      throw new ShapeError(`expected length ${stateLen} (numLayers*directions*batch*${unit}), got ${h0All.length}`, 'initialState.h');
    if (c0All && c0All.length !== stateLen)
      throw new ShapeError(`expected length ${stateLen} (numLayers*directions*batch*${unit}), got ${c0All.length}`, 'initialState.c');
    const slice = (all: Float32Array | null, k: number) => (all ? all.subarray(k * B * S, (k + 1) * B * S) : null);
    const keepCache = ctx.backward ?? true;

    const tapes: LayerTape[] = [];
    let input = x.kind === 'sequence' ? x.data : new Float32Array(0);
    for (let l = 0; l < L; l++) {
      const inputSize = this.layerInputSize(l, this.inputFeatures);
      let mask: Float32Array | null = null;
      if (l > 0 && ctx.training && this.s.dropout > 0) {
        mask = dropoutMask(ctx.rng, input.length, this.s.dropout);
        input = applyMask(input, mask);
      }
      const steps: CellStep[] = [];
      for (let d = 0; d < D; d++) {
        const w = this.params[l][d].map((p) => p.value);
        const k = l * D + d;
        // Directions run one after the other: the kernels' thread pool serves one call at a time.
        steps.push(
          await this.cell.forward(w, {
            x: input,
            seqLen: T,
            batch: B,
            inputSize,
            lengths,
            reverse: d === 1,
            h0: slice(h0All, k),
            c0: slice(c0All, k),
            keepCache,
            backend: ctx.backend,
            workspace: ctx.workspace?.for(this, k) ?? null,
          }),
        );
      }
      tapes.push({ inputSize, mask, steps });
      input = D === 2 ? concatHalves(steps[0].y, steps[1].y, T * B, S) : steps[0].y;
    }

    const last = tapes[L - 1].steps;
    const F = this.outputFeatures;
    const { mergeMode, returnSequences } = this.s;
    const y: Sequence | Vector = returnSequences
      ? {
          kind: 'sequence',
          data: merge(
            mergeMode,
            last.map((r) => r.y),
            T * B,
            S,
          ),
          seqLen: T,
          batch: B,
          features: F,
          lengths,
        }
      : {
          kind: 'vector',
          data: merge(
            mergeMode,
            last.map((r) => r.hN),
            B,
            S,
          ),
          batch: B,
          features: F,
        };
    let state: RecurrentState | null = null;
    if (this.s.returnState || ctx.keepState) {
      const h = new Float32Array(stateLen);
      const c = this.cell.cellState ? new Float32Array(stateLen) : null;
      tapes.forEach((t, l) =>
        t.steps.forEach((r, d) => {
          h.set(r.hN, (l * D + d) * B * S);
          if (c && r.cN) c.set(r.cN, (l * D + d) * B * S);
        }),
      );
      state = { h, c };
    }

    let initialGrad: RecurrentState | null = null;
    const backward = async (dy: Float32Array, dState?: RecurrentState | null): Promise<Float32Array | null> => {
      if (!keepCache) throw new ValueError('this forward ran with backward: false (inference): it has no way back', 'backward');
      if (dy.length !== y.data.length) throw new ShapeError(`expected length ${y.data.length} (the output's), got ${dy.length}`, 'dy');
      const dStateH = dState?.h ?? null;
      const dStateC = this.cell.cellState ? (dState?.c ?? null) : null;
      if (dStateH && dStateH.length !== stateLen)
        throw new ShapeError(`expected length ${stateLen} (numLayers*directions*batch*${unit}), got ${dStateH.length}`, 'dState.h');
      if (dStateC && dStateC.length !== stateLen)
        throw new ShapeError(`expected length ${stateLen} (numLayers*directions*batch*${unit}), got ${dStateC.length}`, 'dState.c');
      const dh0 = new Float32Array(stateLen);
      const dc0 = this.cell.cellState ? new Float32Array(stateLen) : null;
      // Gradients reaching each direction's y of the current layer, and its final state.
      let dYs: (Float32Array | null)[] = returnSequences ? unmerge(mergeMode, dy, D, T * B, S) : new Array<null>(D).fill(null);
      const dLast = returnSequences ? null : unmerge(mergeMode, dy, D, B, S);
      let dInput: Float32Array = new Float32Array(0);
      for (let l = L - 1; l >= 0; l--) {
        const tape = tapes[l];
        let dx: Float32Array | null = null; // the directions' input gradients summed (one: its own)
        for (let d = 0; d < D; d++) {
          const k = l * D + d;
          let dhN: Float32Array | null = l === L - 1 && dLast ? dLast[d].slice() : null;
          if (dStateH) {
            const part = dStateH.subarray(k * B * S, (k + 1) * B * S);
            if (dhN) addInto(dhN, part);
            else dhN = part;
          }
          const dcN = dStateC ? dStateC.subarray(k * B * S, (k + 1) * B * S) : null;
          const g = await tape.steps[d].backward(dYs[d], dhN, dcN);
          this.params[l][d].forEach((p, i) => {
            const dp = g.dParams[i];
            if (dp) addInto(p.grad, dp);
          });
          if (dx === null) dx = D === 1 ? g.dx : g.dx.slice();
          else addInto(dx, g.dx);
          dh0.set(g.dh0, k * B * S);
          if (dc0 && g.dc0) dc0.set(g.dc0, k * B * S);
        }
        dInput = tape.mask ? applyMask(dx!, tape.mask) : dx!;
        if (l > 0) dYs = D === 2 ? splitHalves(dInput, T * B, S) : [dInput];
      }
      initialGrad = { h: dh0, c: dc0 };
      return x.kind === 'vector' ? stateToVector(dh0, B, L * D, S) : dInput;
    };
    return { y, state, backward, initialStateGrad: () => initialGrad };
  }
}

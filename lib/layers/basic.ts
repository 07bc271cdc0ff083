/**
 * The non-recurrent layers: token inputs (`embedding`, `oneHot`), `dense` (per step on a Sequence,
 * or on a Vector) and `dropout`. Each runs one kernel call per batch (lib/nn/kernels.ts), through
 * the kernels' `...Async` twins: with the native backend the work runs on a libuv worker thread.
 */
import { allocF32, boolOr, describe, finite, oneOf, options as checkOptions, positiveInt, product, rate } from '../check.js';
import { ValueError } from '../errors.js';
import { embeddingBackward, embeddingForward, layerNormBackward, layerNormForward, linearBackward, linearForward } from '../ops/nn.js';
import type { Rng } from '../random.js';
import { checkBuildArgs, checkBuilt, checkContext, checkInput, checkRebuild } from './checks.js';
import { glorotUniform } from './init.js';
import {
  type BuildSteps,
  type ForwardContext,
  type Layer,
  type LayerConfig,
  type LayerPlan,
  type LayerStep,
  type Parameter,
  parameter,
  runBuildSteps,
} from './layer.js';
import { rowsOf, type Sequence, type Tokens, type Value, type Vector, withData } from './values.js';

/** Kinds of the layers that map a float value to the same kind. */
export type SameKinds = { readonly sequence: 'sequence'; readonly vector: 'vector' };
/** Kinds of the token input layers. */
export type TokenKinds = { readonly tokens: 'sequence' };

function step(y: Value, backward: (dy: Float32Array) => Promise<Float32Array | null>): LayerStep {
  return { y, state: null, backward, initialStateGrad: () => null };
}

// ---------------------------------------------------------------------------------------------
// embedding

/** Options of {@link embedding}. */
export interface EmbeddingOptions {
  /** Rows of the table V: every id must be in [0, V). Required. */
  readonly vocabSize: number;
  /** Features per token E. Required. */
  readonly dim: number;
  /** An id whose vector is all zeros and never trained (PyTorch's `padding_idx`). Default: none. */
  readonly paddingIndex?: number | null;
}

class EmbeddingLayer implements Layer<TokenKinds> {
  readonly state = null;
  readonly causal = true;
  readonly kinds: TokenKinds = { tokens: 'sequence' };
  readonly type = 'embedding';
  private readonly vocabSize: number;
  private readonly dim: number;
  private readonly paddingIndex: number;
  private weight: Parameter | null = null;
  private inputFeatures = -1;

  constructor(options: EmbeddingOptions) {
    const o = checkOptions(options, ['vocabSize', 'dim', 'paddingIndex'], 'options', '');
    this.vocabSize = positiveInt(o.vocabSize, 'vocabSize');
    this.dim = positiveInt(o.dim, 'dim');
    const p = o.paddingIndex;
    if (p !== undefined && p !== null && (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p >= this.vocabSize)) {
      throw new ValueError(`expected an integer in [0, vocabSize = ${this.vocabSize}), got ${describe(p)}`, 'paddingIndex');
    }
    this.paddingIndex = p ?? -1;
  }

  get config(): LayerConfig {
    return { vocabSize: this.vocabSize, dim: this.dim, paddingIndex: this.paddingIndex >= 0 ? this.paddingIndex : null };
  }

  plan(): LayerPlan {
    return { outputFeatures: this.dim, parameters: [{ name: 'weight', shape: [this.vocabSize, this.dim] }] };
  }

  build(inputFeatures: number, rng: Rng | null): number {
    return runBuildSteps(this.buildSteps(inputFeatures, rng));
  }

  *buildSteps(inputFeatures: number, rng: Rng | null): BuildSteps {
    checkBuildArgs(inputFeatures, rng);
    if (this.weight) {
      checkRebuild(this.inputFeatures, inputFeatures, 'embedding');
      return this.dim;
    }
    if (inputFeatures > this.vocabSize) {
      throw new ValueError(`expected at least the input's vocabulary size (${inputFeatures}), got ${this.vocabSize}`, 'vocabSize');
    }
    // Normal(0, 1) like nn.Embedding; the padding row starts (and stays) zero.
    const w = allocF32(
      product('vocabSize', [
        ['vocabSize', this.vocabSize],
        ['dim', this.dim],
      ]),
      'vocabSize',
    );
    if (rng) w.set(rng.normalArray(w.length));
    if (this.paddingIndex >= 0) w.fill(0, this.paddingIndex * this.dim, (this.paddingIndex + 1) * this.dim);
    yield this.dim;
    this.weight = parameter('weight', w, [this.vocabSize, this.dim]);
    this.inputFeatures = inputFeatures;
    return this.dim;
  }

  parameters(): readonly Parameter[] {
    return this.weight ? [this.weight] : [];
  }

  zeroGrad(): void {
    this.weight?.grad.fill(0);
  }

  async forward(x: Value, ctx: ForwardContext): Promise<LayerStep> {
    checkContext(ctx);
    checkBuilt(this.weight !== null, 'embedding');
    checkInput(x, ['tokens'], 0, 'embedding');
    const t = x as Tokens;
    const w = this.weight as Parameter;
    const base = { vocabSize: this.vocabSize, dim: this.dim, paddingIndex: this.paddingIndex };
    const o = { backend: ctx.backend, workspace: ctx.workspace?.for(this, 0) ?? null };
    const data = await embeddingForward.async({ ...base, ids: t.ids, weight: w.value }, o);
    const y: Sequence = { kind: 'sequence', data, seqLen: t.seqLen, batch: t.batch, features: this.dim, lengths: t.lengths };
    return step(y, async (dy) => {
      await embeddingBackward.async({ ...base, ids: t.ids, dy, dWeight: w.grad }, { backend: ctx.backend });
      return null;
    });
  }
}

/** Token ids to learned vectors: Tokens -> Sequence of `dim` features. Parameter: `weight [vocabSize, dim]`. */
export function embedding(options: EmbeddingOptions): Layer<TokenKinds> {
  return new EmbeddingLayer(options);
}

// ---------------------------------------------------------------------------------------------
// oneHot

/** Options of {@link oneHot}. */
export interface OneHotOptions {
  /** Number of classes V: every id must be in [0, V); the output has V features. Required. */
  readonly vocabSize: number;
}

class OneHotLayer implements Layer<TokenKinds> {
  readonly state = null;
  readonly causal = true;
  readonly kinds: TokenKinds = { tokens: 'sequence' };
  readonly type = 'oneHot';
  private readonly vocabSize: number;
  private inputFeatures = -1;

  constructor(options: OneHotOptions) {
    this.vocabSize = positiveInt(checkOptions(options, ['vocabSize'], 'options', '').vocabSize, 'vocabSize');
  }

  get config(): LayerConfig {
    return { vocabSize: this.vocabSize };
  }

  plan(): LayerPlan {
    return { outputFeatures: this.vocabSize, parameters: [] };
  }

  build(inputFeatures: number): number {
    checkBuildArgs(inputFeatures, null);
    if (this.inputFeatures >= 0) checkRebuild(this.inputFeatures, inputFeatures, 'oneHot');
    else if (inputFeatures > this.vocabSize) {
      throw new ValueError(`expected at least the input's vocabulary size (${inputFeatures}), got ${this.vocabSize}`, 'vocabSize');
    }
    this.inputFeatures = inputFeatures;
    return this.vocabSize;
  }

  parameters(): readonly Parameter[] {
    return [];
  }

  zeroGrad(): void {}

  async forward(x: Value): Promise<LayerStep> {
    checkBuilt(this.inputFeatures >= 0, 'oneHot');
    checkInput(x, ['tokens'], 0, 'oneHot');
    const t = x as Tokens;
    const V = this.vocabSize;
    const data = allocF32(
      product('vocabSize', [
        ['seqLen*batch', t.ids.length],
        ['vocabSize', V],
      ]),
      'vocabSize',
    );
    for (let n = 0; n < t.ids.length; n++) {
      const id = t.ids[n];
      if (!(id >= 0 && id < V)) throw new ValueError(`ids[${n}] = ${id} is outside [0, vocabSize = ${V})`, 'ids');
      data[n * V + id] = 1;
    }
    const y: Sequence = { kind: 'sequence', data, seqLen: t.seqLen, batch: t.batch, features: V, lengths: t.lengths };
    return step(y, async () => null);
  }
}

/** Token ids to one-hot vectors: Tokens -> Sequence of `vocabSize` features. No parameters. */
export function oneHot(options: OneHotOptions): Layer<TokenKinds> {
  return new OneHotLayer(options);
}

// ---------------------------------------------------------------------------------------------
// dense

/** Element-wise activations of {@link dense}. */
export type Activation = 'linear' | 'tanh' | 'relu' | 'sigmoid';

/** Options of {@link dense}. */
export interface DenseOptions {
  /** Output features. Required. */
  readonly units: number;
  /** Applied after the affine map. Default: `'linear'` (none: logits for a loss). */
  readonly activation?: Activation;
  /** Whether there is a bias. Default: true. */
  readonly useBias?: boolean;
}

/** y' = f(y) in place. */
function activate(a: Activation, y: Float32Array): void {
  if (a === 'tanh') for (let i = 0; i < y.length; i++) y[i] = Math.tanh(y[i]);
  else if (a === 'relu') for (let i = 0; i < y.length; i++) y[i] = y[i] > 0 ? y[i] : 0;
  else if (a === 'sigmoid') for (let i = 0; i < y.length; i++) y[i] = 1 / (1 + Math.exp(-y[i]));
}

/** dz = dy * f'(z), written from the activated output y (no transcendental recomputed). */
function activationGrad(a: Activation, y: Float32Array, dy: Float32Array): Float32Array {
  if (a === 'linear') return dy;
  const dz = new Float32Array(dy.length);
  if (a === 'tanh') for (let i = 0; i < dz.length; i++) dz[i] = dy[i] * (1 - y[i] * y[i]);
  else if (a === 'relu') for (let i = 0; i < dz.length; i++) dz[i] = y[i] > 0 ? dy[i] : 0;
  else for (let i = 0; i < dz.length; i++) dz[i] = dy[i] * y[i] * (1 - y[i]);
  return dz;
}

class DenseLayer implements Layer<SameKinds> {
  readonly state = null;
  readonly causal = true;
  readonly kinds: SameKinds = { sequence: 'sequence', vector: 'vector' };
  readonly type = 'dense';
  private readonly units: number;
  private readonly activation: Activation;
  private readonly useBias: boolean;
  private weight: Parameter | null = null;
  private bias: Parameter | null = null;
  private inputFeatures = -1;

  constructor(options: DenseOptions) {
    const o = checkOptions(options, ['units', 'activation', 'useBias'], 'options', '');
    this.units = positiveInt(o.units, 'units');
    this.activation = oneOf(o.activation, ['linear', 'tanh', 'relu', 'sigmoid'] as const, 'linear', 'activation');
    this.useBias = boolOr(o.useBias, true, 'useBias');
  }

  get config(): LayerConfig {
    return { units: this.units, activation: this.activation, useBias: this.useBias };
  }

  plan(inputFeatures: number): LayerPlan {
    const parameters = [{ name: 'weight', shape: [this.units, inputFeatures] }];
    if (this.useBias) parameters.push({ name: 'bias', shape: [this.units] });
    return { outputFeatures: this.units, parameters };
  }

  build(inputFeatures: number, rng: Rng | null): number {
    return runBuildSteps(this.buildSteps(inputFeatures, rng));
  }

  *buildSteps(inputFeatures: number, rng: Rng | null): BuildSteps {
    checkBuildArgs(inputFeatures, rng);
    if (this.weight) {
      checkRebuild(this.inputFeatures, inputFeatures, 'dense');
      return this.units;
    }
    const w = new Float32Array(this.units * inputFeatures);
    if (rng) glorotUniform(rng, w, 0, this.units, inputFeatures, inputFeatures, this.units);
    yield this.units;
    this.weight = parameter('weight', w, [this.units, inputFeatures]);
    this.bias = this.useBias ? parameter('bias', new Float32Array(this.units), [this.units]) : null;
    this.inputFeatures = inputFeatures;
    return this.units;
  }

  parameters(): readonly Parameter[] {
    return [this.weight, this.bias].filter((p): p is Parameter => p !== null);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad.fill(0);
  }

  async forward(x: Value, ctx: ForwardContext): Promise<LayerStep> {
    checkContext(ctx);
    checkBuilt(this.weight !== null, 'dense');
    checkInput(x, ['sequence', 'vector'], this.inputFeatures, 'dense');
    const v = x as Sequence | Vector;
    const w = this.weight as Parameter;
    const b = this.bias;
    const sizes = { rows: rowsOf(v), inFeatures: this.inputFeatures, outFeatures: this.units };
    const backend = { backend: ctx.backend, workspace: ctx.workspace?.for(this, 0) ?? null };
    const y = await linearForward.async({ ...sizes, x: v.data, weight: w.value, bias: b?.value ?? null }, backend);
    activate(this.activation, y);
    return step(withData(v, y, this.units), async (dy) => {
      const dz = activationGrad(this.activation, y, dy);
      return linearBackward.async({ ...sizes, x: v.data, weight: w.value, dy: dz, dWeight: w.grad, dBias: b?.grad ?? null }, backend);
    });
  }
}

/**
 * An affine map and an activation, per step on a Sequence or on a Vector (same kind out).
 * Parameters: `weight [units, inputFeatures]` (Glorot uniform), `bias [units]` (zeros).
 */
export function dense(options: DenseOptions): Layer<SameKinds> {
  return new DenseLayer(options);
}

// ---------------------------------------------------------------------------------------------
// dropout

/** Options of {@link dropout}. */
export interface DropoutOptions {
  /** Probability of zeroing each element, in [0, 1). Required. */
  readonly rate: number;
}

/**
 * Inverted dropout mask `[n]` drawn from `rng`: 0 with probability `p`, else 1 / (1 - p), so the
 * expected value of every element is unchanged and evaluation needs no rescaling.
 */
export function dropoutMask(rng: Rng, n: number, p: number): Float32Array {
  const mask = new Float32Array(n);
  const keep = 1 / (1 - p);
  for (let i = 0; i < n; i++) mask[i] = rng.uniform() < p ? 0 : keep;
  return mask;
}

/** a * mask, element-wise, as a new array. */
export function applyMask(a: Float32Array, mask: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] * mask[i];
  return out;
}

class DropoutLayer implements Layer<SameKinds> {
  readonly state = null;
  readonly causal = true;
  readonly kinds: SameKinds = { sequence: 'sequence', vector: 'vector' };
  readonly type = 'dropout';
  private readonly rate: number;
  private inputFeatures = -1;

  constructor(options: DropoutOptions) {
    const o = checkOptions(options, ['rate'], 'options', '');
    if (o.rate === undefined) throw new ValueError('expected a number in [0, 1), got undefined', 'rate');
    this.rate = rate(o.rate, 'rate');
  }

  get config(): LayerConfig {
    return { rate: this.rate };
  }

  plan(inputFeatures: number): LayerPlan {
    return { outputFeatures: inputFeatures, parameters: [] };
  }

  build(inputFeatures: number): number {
    checkBuildArgs(inputFeatures, null);
    if (this.inputFeatures >= 0) checkRebuild(this.inputFeatures, inputFeatures, 'dropout');
    this.inputFeatures = inputFeatures;
    return inputFeatures;
  }

  parameters(): readonly Parameter[] {
    return [];
  }

  zeroGrad(): void {}

  async forward(x: Value, ctx: ForwardContext): Promise<LayerStep> {
    checkContext(ctx);
    checkBuilt(this.inputFeatures >= 0, 'dropout');
    checkInput(x, ['sequence', 'vector'], this.inputFeatures, 'dropout');
    const v = x as Sequence | Vector;
    if (!ctx.training || this.rate === 0) return step(v, async (dy) => dy);
    const mask = dropoutMask(ctx.rng, v.data.length, this.rate);
    return step(withData(v, applyMask(v.data, mask), v.features), async (dy) => applyMask(dy, mask));
  }
}

/** Inverted dropout (training only; identity at evaluation), masks from the forward context's rng. */
export function dropout(options: DropoutOptions): Layer<SameKinds> {
  return new DropoutLayer(options);
}

// ---------------------------------------------------------------------------------------------
// layerNorm

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Added to the variance, in (0, 1]. Default: 1e-5 (PyTorch's). */
  readonly eps?: number;
  /** Learn a scale `weight [F]` (ones) and a shift `bias [F]` (zeros), as PyTorch's `elementwise_affine`. Default: true. */
  readonly elementwiseAffine?: boolean;
}

class LayerNormLayer implements Layer<SameKinds> {
  readonly state = null;
  readonly causal = true;
  readonly kinds: SameKinds = { sequence: 'sequence', vector: 'vector' };
  readonly type = 'layerNorm';
  private readonly eps: number;
  private readonly affine: boolean;
  private weight: Parameter | null = null;
  private bias: Parameter | null = null;
  private inputFeatures = -1;

  constructor(options: LayerNormOptions) {
    const o = checkOptions(options, ['eps', 'elementwiseAffine'], 'options', '');
    this.eps = finite(o.eps, 'eps', { lo: 0, hi: 1, loOpen: true }, 1e-5);
    this.affine = boolOr(o.elementwiseAffine, true, 'elementwiseAffine');
  }

  get config(): LayerConfig {
    return { eps: this.eps, elementwiseAffine: this.affine };
  }

  plan(inputFeatures: number): LayerPlan {
    return {
      outputFeatures: inputFeatures,
      parameters: this.affine
        ? [
            { name: 'weight', shape: [inputFeatures] },
            { name: 'bias', shape: [inputFeatures] },
          ]
        : [],
    };
  }

  build(inputFeatures: number): number {
    checkBuildArgs(inputFeatures, null);
    if (this.inputFeatures >= 0) {
      checkRebuild(this.inputFeatures, inputFeatures, 'layerNorm');
      return inputFeatures;
    }
    if (this.affine) {
      // Ones and zeros, as nn.LayerNorm (no random draw).
      this.weight = parameter('weight', new Float32Array(inputFeatures).fill(1), [inputFeatures]);
      this.bias = parameter('bias', new Float32Array(inputFeatures), [inputFeatures]);
    }
    this.inputFeatures = inputFeatures;
    return inputFeatures;
  }

  parameters(): readonly Parameter[] {
    return [this.weight, this.bias].filter((p): p is Parameter => p !== null);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad.fill(0);
  }

  async forward(x: Value, ctx: ForwardContext): Promise<LayerStep> {
    checkContext(ctx);
    checkBuilt(this.inputFeatures >= 0, 'layerNorm');
    checkInput(x, ['sequence', 'vector'], this.inputFeatures, 'layerNorm');
    const v = x as Sequence | Vector;
    const o = { backend: ctx.backend };
    const base = { x: v.data, rows: rowsOf(v), features: this.inputFeatures, weight: this.weight?.value ?? null };
    const f = await layerNormForward.async({ ...base, bias: this.bias?.value ?? null, eps: this.eps }, o);
    return step(withData(v, f.y, this.inputFeatures), (dy) =>
      layerNormBackward.async(
        {
          ...base,
          mean: f.mean,
          rstd: f.rstd,
          dy,
          dWeight: this.weight?.grad ?? null,
          dBias: this.bias?.grad ?? null,
        },
        o,
      ),
    );
  }
}

/**
 * Layer normalization over each step's (or row's) features, as PyTorch's `nn.LayerNorm(features)`:
 * `(x - mean) / sqrt(var + eps) * weight + bias`. Sequence -> Sequence, Vector -> Vector.
 * Parameters: `weight [F]` (ones), `bias [F]` (zeros), unless `elementwiseAffine: false`.
 */
export function layerNorm(options: LayerNormOptions = {}): Layer<SameKinds> {
  return new LayerNormLayer(options);
}

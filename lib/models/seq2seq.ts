/**
 * `encoderDecoder`: a sequence-to-sequence model with attention, the second implementation of the
 * model contract (lib/models/model.ts) after `sequential`.
 *
 *   const model = encoderDecoder({
 *     sourceVocabSize: 30, targetVocabSize: 45, bos: 1, eos: 2,
 *     encoder: { cell: 'lstm', hiddenSize: 128, bidirectional: true, embeddingDim: 64 },
 *     decoder: { cell: 'lstm', hiddenSize: 256, embeddingDim: 64, attention: 'additive' },
 *   }).build({ seed: 1 });
 *   await model.fit(seq2seqBatches(pairs, { batchSize: 64, bos: 1, eos: 2 }), { epochs: 10 });
 *   const [best] = (await model.decode([ids], { beamSize: 5 }))[0];
 *
 * The parts, in data-flow order (parameter names in brackets):
 * - source embedding [`encoder.embedding.weight`] -> encoder: a recurrent stack of any cell, stacked
 *   and optionally bidirectional [`encoder.rnn.weight_ih_l0`, ..., `_reverse`]; its outputs
 *   `[S, B, E]` (E = He, or 2 He bidirectional) are the attention's memory, masked by the source lengths.
 * - bridge from the encoder's final states to the decoder's initial states: `'passthrough'` (the
 *   states as they are: unidirectional, same layers and width), `'dense'` (per state, tanh(W [top
 *   layer's final state, both directions] + b) for every decoder layer [`bridge.h.weight`, `bridge.h.bias`,
 *   and `bridge.c.*` for an LSTM decoder]) or `'zeros'`; `'auto'` (the default) is passthrough when it
 *   fits, else dense.
 * - target embedding [`decoder.embedding.weight`] -> the attention decoder (lib/ops/attention.ts, one
 *   fused op over the whole target sequence): a unidirectional stack [`decoder.rnn.*`], attention over
 *   the memory (`'additive'` Bahdanau, Luong `'dot'`, `'general'`, `'concat'` [`decoder.attn.*`]) and
 *   the attentional vector `tanh(W_c [context; h])` [`decoder.attn.out.weight`], fed back into the
 *   next step's input (input feeding, default on).
 * - generator: logits over the target vocabulary [`generator.weight`, `generator.bias`]; with
 *   `tieEmbeddings` its weight is the target embedding's (which then needs embeddingDim = hiddenSize).
 *
 * Inputs are `{ source, target }` Tokens, time-major: `target` is what the decoder reads (teacher
 * forcing: `bos` then the target tokens), and the batch's class targets are the target tokens then
 * `eos` (`seq2seqBatches` makes both). The output is the logits Sequence `[T, B, V]` with the target's
 * lengths, so losses ignore padding. Decoding (`decode`, lib/decode/seq2seq.ts) and forced scoring
 * (`score`) are methods of the model.
 */
import { type BackendName, defaultBackendName } from '../backend/index.js';
import {
  allocF32,
  backendName,
  boolOr,
  describe,
  objectArgs,
  oneOf,
  intOr,
  options as checkOptions,
  positiveInt,
  product,
} from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import type { AtomicWriteOptions } from '../io/atomic.js';
import { logSoftmaxRows } from '../js/common.js';
import { embedding } from '../layers/basic.js';
import { glorotUniform, orthogonal } from '../layers/init.js';
import { addInto, type ForwardContext, type Layer, type LayerStep, type Parameter, parameter } from '../layers/layer.js';
import { gru, lstm, rnn } from '../layers/recurrent.js';
import { checkValue, type Sequence, tokens, type Tokens } from '../layers/values.js';
import { padBatch } from '../data/batch.js';
import {
  type BeamSearchOptions,
  beamSearch,
  type GreedySearchOptions,
  greedySearch,
  type Hypothesis,
  type SampleSearchOptions,
  sampleSearch,
} from '../decode/seq2seq.js';
import { type Encoded, EncoderDecoderStepper } from './seq2seq-step.js';
import { type AttnDecoderForwardArgs, type AttnWeights, attnDecoderBackward, attnDecoderForward } from '../ops/attention.js';
import { GATES } from '../ops/layout.js';
import { linearBackward, linearForward } from '../ops/nn.js';
import { Rng } from '../random.js';
import { evaluate, fit, predict } from '../train/fit.js';
import type { Batch, Data, Evaluation, EvaluateOptions, FitOptions, History, LossName } from '../train/types.js';
import { weightsLock } from './guard.js';
import type { InputSpecOf, Model, ModelDescription, ModelForwardOptions, ModelStep, StateSlot } from './model.js';
import { workspaceOption } from './model.js';
import { saveModelAsync } from './save.js';
import {
  ATTN_FIELDS,
  type EncoderDecoderConfig,
  type EncoderDecoderOptions,
  encoderDecoderConfig,
  memoryWidth,
  planEncoderDecoder,
  SEQ2SEQ_FORMAT,
  SEQ2SEQ_FORMAT_VERSION,
  type Seq2SeqDescription,
  seq2seqInput,
} from './seq2seq-format.js';

export {
  type BridgeKind,
  type DecoderOptions,
  type EncoderDecoderConfig,
  type EncoderDecoderOptions,
  type EncoderOptions,
  encoderDecoderConfig,
  planEncoderDecoder,
  SEQ2SEQ_FORMAT,
  SEQ2SEQ_FORMAT_VERSION,
  type Seq2SeqDescription,
} from './seq2seq-format.js';

/** The inputs of an encoder-decoder: source and (teacher-forced) target token ids. */
export type Seq2SeqInputs = { readonly source: 'tokens'; readonly target: 'tokens' };

/** What {@link EncoderDecoderModel.forward} gives beyond the contract: the attention weights `[T, B, S]` when asked for. */
export interface Seq2SeqStep extends ModelStep<'sequence'> {
  /** `[T, B, S]` (row t*B + b, source position j), or null when not asked for (`returnAttention`). */
  readonly attention: Float32Array | null;
}

/** Options of {@link EncoderDecoderModel.forward}. */
export interface Seq2SeqForwardOptions extends ModelForwardOptions {
  /** Give the attention weights. Default false. */
  readonly returnAttention?: boolean;
}

/** Options of {@link EncoderDecoderModel.decode}: the search (`method`, default `'beam'`) and its options. */
export type Seq2SeqDecodeOptions = { readonly batchSize?: number } & (
  | ({ readonly method?: 'beam' } & BeamSearchOptions)
  | ({ readonly method: 'greedy' } & GreedySearchOptions)
  | ({ readonly method: 'sample' } & SampleSearchOptions)
);

/** A built encoder-decoder (see the module comment). */
export interface EncoderDecoderModel extends Model<Seq2SeqInputs, 'sequence'> {
  /** The configuration, every default filled in. */
  readonly config: EncoderDecoderConfig;
  /**
   * Scheduled sampling in training (Bengio et al. 2015): the probability in [0, 1] that a decoder
   * input after bos is the model's own greedy prediction instead of the reference token (two passes
   * per batch, see lib/models/seq2seq.ts). Set it between epochs to follow a schedule (e.g. in
   * `fit`'s `onEpochEnd`). Not saved with the model. Default 0 (teacher forcing).
   */
  scheduledSampling: number;
  forward(x: { readonly source: Tokens; readonly target: Tokens }, options?: Seq2SeqForwardOptions): Promise<Seq2SeqStep>;
  /** @internal Runs the encoder and the bridge (decoding starts here). */
  encode(source: Tokens, ctx: ForwardContext): Promise<Encoded>;
  /** @internal The decoder's op arguments over its current weights (without the per-call inputs). */
  decoderWeights(): Pick<AttnDecoderForwardArgs, 'layers' | 'attn'>;
  /** @internal The target embedding table `[V, Dt]` and the generator's weight `[V, H]` and bias `[V]`. */
  outputWeights(): { readonly embedding: Float32Array; readonly weight: Float32Array; readonly bias: Float32Array };
  /** @internal The decoder op's sizes and options for T steps of B rows over S source positions. */
  decoderSizes(T: number, B: number, S: number): Omit<AttnDecoderForwardArgs, 'x' | 'memory' | 'layers' | 'attn'>;
  /**
   * The log-probability of each target given its source (forced decoding): the sum over the target's
   * tokens and the final eos of log P(token | source, tokens before), in inference mode. Sources and
   * targets are id arrays without bos/eos; sentences are run `batchSize` at a time (default 64).
   */
  score(
    sources: readonly (Int32Array | readonly number[])[],
    targets: readonly (Int32Array | readonly number[])[],
    options?: { readonly batchSize?: number },
  ): Promise<Float64Array>;
  /**
   * Decodes each source (ids without bos/eos) with beam search (the default), greedy search or
   * sampling (lib/decode/seq2seq.ts has every option and its semantics), `batchSize` sentences per
   * encoder call (default 32), all hypotheses of a batch advancing together one token per decoder
   * call. Resolves to, per source, its hypotheses best first (`nBest` of them for beam search).
   */
  decode(sources: readonly (Int32Array | readonly number[])[], options?: Seq2SeqDecodeOptions): Promise<Hypothesis[][]>;
  /** @internal Encodes `sources` (inference) and gives the stepper a search advances; call it under the weights' read lock. */
  stepper(sources: readonly Int32Array[], backend?: BackendName): Promise<EncoderDecoderStepper>;
}

/** The builder {@link encoderDecoder} returns. */
export interface EncoderDecoderBuilder {
  readonly config: EncoderDecoderConfig;
  /** Creates every weight (from a generator seeded with `seed`) and returns the model. */
  build(options?: { readonly seed?: number; readonly backend?: BackendName }): EncoderDecoderModel;
}

/** An encoder-decoder with attention (see the module comment); misspelled options are ValueErrors naming them. */
export function encoderDecoder(options: EncoderDecoderOptions): EncoderDecoderBuilder {
  const config = encoderDecoderConfig(options);
  return {
    config,
    build(o = {}) {
      const b = checkOptions(o, ['seed', 'backend'], 'options');
      return buildEncoderDecoder(config, {
        seed: b.seed as number | undefined,
        backend: backendName(b.backend, 'options.backend'),
        initialize: true,
      });
    },
  };
}

/** @internal Builds a model of `config`; `initialize: false` leaves every weight zero (a loader fills them). */
export function buildEncoderDecoder(
  config: EncoderDecoderConfig,
  o: { seed?: number; backend: BackendName | null; initialize: boolean },
): EncoderDecoderModel {
  return new EncoderDecoder(config, new Rng(o.seed ?? 0), o.backend, o.initialize);
}

function zeros(n: number, name: string): Float32Array {
  return allocF32(product(name, [['elements', n]]), name);
}

class EncoderDecoder implements EncoderDecoderModel {
  readonly inputKind: Seq2SeqInputs = { source: 'tokens', target: 'tokens' };
  readonly outputKind = 'sequence' as const;
  readonly outputFeatures: number;
  readonly stateSlots: readonly StateSlot[] = [];
  readonly causal = false;
  readonly stepwise = false;
  readonly rng: Rng;
  readonly config: EncoderDecoderConfig;
  private ownBackend: BackendName | null;
  private samplingRate = 0;
  private readonly srcEmb: Layer;
  private readonly encoderRnn: Layer;
  private readonly tgtEmb: Layer;
  private readonly params: Parameter[] = [];
  private readonly byName = new Map<string, Parameter>();

  constructor(config: EncoderDecoderConfig, rng: Rng, backend: BackendName | null, initialize: boolean) {
    this.config = config;
    this.rng = rng;
    this.ownBackend = backend;
    this.outputFeatures = config.targetVocabSize;
    const initRng = initialize ? rng.split() : null;
    const enc = config.encoder;
    this.srcEmb = embedding({ vocabSize: config.sourceVocabSize, dim: enc.embeddingDim });
    this.srcEmb.build(config.sourceVocabSize, initRng);
    const factory = { lstm, gru, rnn }[enc.cell] as (o: object) => Layer;
    this.encoderRnn = factory({
      hiddenSize: enc.hiddenSize,
      numLayers: enc.numLayers,
      bidirectional: enc.bidirectional,
      dropout: enc.dropout,
      returnSequences: true,
      returnState: true,
    });
    this.encoderRnn.build(enc.embeddingDim, initRng);
    this.tgtEmb = embedding({ vocabSize: config.targetVocabSize, dim: config.decoder.embeddingDim });
    const own = (prefix: string, layer: Layer): void => {
      for (const p of layer.parameters()) this.add({ ...p, name: `${prefix}.${p.name}` });
    };
    own('encoder.embedding', this.srcEmb);
    own('encoder.rnn', this.encoderRnn);
    // The rest in planEncoderDecoder's order, created here.
    const planned = planEncoderDecoder(config);
    for (const p of planned) {
      if (this.byName.has(p.name)) continue;
      if (p.name === 'decoder.embedding.weight') {
        this.tgtEmb.build(config.targetVocabSize, initRng);
        own('decoder.embedding', this.tgtEmb);
        continue;
      }
      const n = p.shape.reduce((a, b) => a * b, 1);
      this.add(parameter(p.name, zeros(n, p.name), p.shape));
    }
    // Keep planEncoderDecoder's order (a file lists them so).
    const order = new Map(planned.map((p, i) => [p.name, i]));
    this.params.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
    if (initRng) this.initialize(initRng);
  }

  private add(p: Parameter): void {
    this.params.push(p);
    this.byName.set(p.name, p);
  }

  private p(name: string): Parameter {
    const p = this.byName.get(name);
    if (!p) throw new Error(`internal: no parameter ${name}`);
    return p;
  }

  /** Glorot for input and attention weights, orthogonal recurrent blocks, LSTM forget bias 1 (as the recurrent layers). */
  private initialize(rng: Rng): void {
    const dec = this.config.decoder;
    const H = dec.hiddenSize;
    const G = GATES[dec.cell];
    for (let l = 0; l < dec.numLayers; l++) {
      const wih = this.p(`decoder.rnn.weight_ih_l${l}`);
      const inW = wih.shape[1];
      for (let g = 0; g < G; g++) {
        glorotUniform(rng, wih.value, g * H * inW, H, inW, inW, H);
        orthogonal(rng, this.p(`decoder.rnn.weight_hh_l${l}`).value, g * H * H, H);
      }
      if (dec.cell === 'lstm') this.p(`decoder.rnn.bias_ih_l${l}`).value.fill(1, H, 2 * H);
    }
    for (const p of this.params) {
      const dense =
        p.shape.length === 2 && (p.name.startsWith('decoder.attn.') || p.name.startsWith('bridge.') || p.name === 'generator.weight');
      if (dense) glorotUniform(rng, p.value, 0, p.shape[0], p.shape[1], p.shape[1], p.shape[0]);
      else if (p.name === 'decoder.attn.v') glorotUniform(rng, p.value, 0, 1, p.shape[0], p.shape[0], 1);
    }
  }

  get input(): InputSpecOf<Seq2SeqInputs> {
    return {
      source: { kind: 'tokens', features: this.config.sourceVocabSize },
      target: { kind: 'tokens', features: this.config.targetVocabSize },
    };
  }

  get backend(): BackendName {
    return this.ownBackend ?? defaultBackendName();
  }

  set backend(name: BackendName) {
    this.ownBackend = backendName(name, 'backend');
  }

  parameters(): readonly Parameter[] {
    return this.params;
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  decoderWeights(): Pick<AttnDecoderForwardArgs, 'layers' | 'attn'> {
    const dec = this.config.decoder;
    const layers = Array.from({ length: dec.numLayers }, (_, l) => ({
      weightIh: this.p(`decoder.rnn.weight_ih_l${l}`).value,
      weightHh: this.p(`decoder.rnn.weight_hh_l${l}`).value,
      biasIh: this.p(`decoder.rnn.bias_ih_l${l}`).value,
      biasHh: this.p(`decoder.rnn.bias_hh_l${l}`).value,
    }));
    const attn: Record<string, Float32Array> = { outWeight: this.p('decoder.attn.out.weight').value };
    for (const [n, field] of ATTN_FIELDS[dec.attention]) attn[field] = this.p(`decoder.attn.${n}`).value;
    return { layers, attn: attn as unknown as AttnWeights };
  }

  outputWeights(): { readonly embedding: Float32Array; readonly weight: Float32Array; readonly bias: Float32Array } {
    const embeddingW = this.p('decoder.embedding.weight').value;
    return {
      embedding: embeddingW,
      weight: this.config.tieEmbeddings ? embeddingW : this.p('generator.weight').value,
      bias: this.p('generator.bias').value,
    };
  }

  /** The decoder's op sizes and options for a batch. */
  decoderSizes(T: number, B: number, S: number) {
    const dec = this.config.decoder;
    return {
      cell: dec.cell,
      attention: dec.attention,
      inputFeed: dec.inputFeed,
      seqLen: T,
      batch: B,
      srcLen: S,
      inputSize: dec.embeddingDim,
      memorySize: memoryWidth(this.config),
      hiddenSize: dec.hiddenSize,
      attentionSize: dec.attentionSize,
      numLayers: dec.numLayers,
    } as const;
  }

  async encode(source: Tokens, ctx: ForwardContext): Promise<Encoded> {
    const { batch: B, seqLen: S } = source;
    const lengths = source.lengths ? source.lengths.slice() : new Int32Array(B).fill(S);
    lengths.forEach((n, b) => {
      if (n < 1) throw new ValueError(`sentence ${b} is empty: every source needs at least one token`, 'x.source.lengths');
    });
    const e = await this.srcEmb.forward(source, ctx);
    const r = await this.encoderRnn.forward(e.y, { ...ctx, keepState: true });
    const memory = (r.y as Sequence).data;
    const state = r.state as NonNullable<LayerStep['state']>;
    const bridged = await this.bridgeForward(state, B, ctx.backend);
    return {
      batch: B,
      srcLen: S,
      memory,
      lengths,
      h0: bridged.h0,
      c0: bridged.c0,
      backward: async (dMemory, dh0, dc0) => {
        const dState = await bridged.backward(dh0, dc0);
        const dEmb = await r.backward(dMemory, dState);
        await e.backward(dEmb as Float32Array);
      },
    };
  }

  /** The bridge (see the module comment) over the encoder's final state `[Le*dirs, B, He]`. */
  private async bridgeForward(
    state: { h: Float32Array; c: Float32Array | null },
    B: number,
    backend: BackendName,
  ): Promise<{
    h0: Float32Array;
    c0: Float32Array | null;
    backward(dh0: Float32Array, dc0: Float32Array | null): Promise<{ h: Float32Array; c: Float32Array | null }>;
  }> {
    const { encoder: enc, decoder: dec } = this.config;
    const L = dec.numLayers;
    const H = dec.hiddenSize;
    const lstmDec = dec.cell === 'lstm';
    const encRows = enc.numLayers * (enc.bidirectional ? 2 : 1);
    const stateLen = encRows * B * enc.hiddenSize;
    if (this.config.bridge === 'zeros') {
      return {
        h0: new Float32Array(L * B * H),
        c0: lstmDec ? new Float32Array(L * B * H) : null,
        backward: async () => ({ h: new Float32Array(stateLen), c: state.c ? new Float32Array(stateLen) : null }),
      };
    }
    if (this.config.bridge === 'passthrough') {
      return {
        h0: state.h,
        c0: lstmDec ? (state.c ?? new Float32Array(L * B * H)) : null,
        backward: async (dh0, dc0) => ({ h: dh0, c: state.c ? (dc0 ?? new Float32Array(stateLen)) : null }),
      };
    }
    // dense: the top layer's final state, directions side by side, per sentence: [B, dirs*He].
    const dirs = enc.bidirectional ? 2 : 1;
    const He = enc.hiddenSize;
    const top = (s: Float32Array): Float32Array => {
      const x = new Float32Array(B * dirs * He);
      for (let d = 0; d < dirs; d++) {
        const row = (enc.numLayers - 1) * dirs + d;
        for (let b = 0; b < B; b++) x.set(s.subarray((row * B + b) * He, (row * B + b + 1) * He), (b * dirs + d) * He);
      }
      return x;
    };
    const untop = (dx: Float32Array, into: Float32Array): void => {
      for (let d = 0; d < dirs; d++) {
        const row = (enc.numLayers - 1) * dirs + d;
        for (let b = 0; b < B; b++) {
          const o = (row * B + b) * He;
          for (let k = 0; k < He; k++) into[o + k] += dx[(b * dirs + d) * He + k];
        }
      }
    };
    const sizes = { rows: B, inFeatures: dirs * He, outFeatures: L * H };
    const one = async (which: 'h' | 'c', source: Float32Array) => {
      const W = this.p(`bridge.${which}.weight`);
      const bias = this.p(`bridge.${which}.bias`);
      const x = top(source);
      const z = await linearForward.async({ ...sizes, x, weight: W.value, bias: bias.value }, { backend });
      const out = new Float32Array(L * B * H); // [L, B, H] from [B, L*H]
      for (let b = 0; b < B; b++)
        for (let l = 0; l < L; l++)
          for (let k = 0; k < H; k++) {
            const t = Math.tanh(z[b * L * H + l * H + k]);
            z[b * L * H + l * H + k] = t;
            out[(l * B + b) * H + k] = t;
          }
      return {
        out,
        back: async (d: Float32Array): Promise<Float32Array> => {
          const dz = new Float32Array(B * L * H);
          for (let b = 0; b < B; b++)
            for (let l = 0; l < L; l++)
              for (let k = 0; k < H; k++) {
                const t = z[b * L * H + l * H + k];
                dz[b * L * H + l * H + k] = d[(l * B + b) * H + k] * (1 - t * t);
              }
          const dx = await linearBackward.async({ ...sizes, x, weight: W.value, dy: dz, dWeight: W.grad, dBias: bias.grad }, { backend });
          return dx as Float32Array;
        },
      };
    };
    const hb = await one('h', state.h);
    const cb = lstmDec ? await one('c', state.c ?? state.h) : null;
    return {
      h0: hb.out,
      c0: cb ? cb.out : null,
      backward: async (dh0, dc0) => {
        const dh = new Float32Array(stateLen);
        const dc = state.c ? new Float32Array(stateLen) : null;
        untop(await hb.back(dh0), dh);
        if (cb && dc0) untop(await cb.back(dc0), dc ?? dh);
        return { h: dh, c: dc };
      },
    };
  }

  async forward(x: { readonly source: Tokens; readonly target: Tokens }, options: Seq2SeqForwardOptions = {}): Promise<Seq2SeqStep> {
    const xs = objectArgs(x, 'x');
    for (const k of Object.keys(xs))
      if (k !== 'source' && k !== 'target') throw new ValueError('unknown input (known: source, target)', `x.${k}`);
    checkValue(xs.source, 'tokens', this.config.sourceVocabSize, 'x.source');
    checkValue(xs.target, 'tokens', this.config.targetVocabSize, 'x.target');
    const source = ownTokens(xs.source as Tokens);
    const target = ownTokens(xs.target as Tokens);
    if (source.batch !== target.batch) {
      throw new ShapeError(`x.source has ${source.batch} sentences, x.target ${target.batch}`, 'x.target');
    }
    const o = checkOptions(
      options,
      ['training', 'rng', 'initialStates', 'keepStates', 'backend', 'backward', 'returnAttention', 'workspace'],
      'options',
    );
    if (o.initialStates !== undefined && !(o.initialStates instanceof Map && o.initialStates.size === 0)) {
      throw new ValueError(
        'an encoder-decoder carries no state between calls (its decoder starts from the encoder)',
        'options.initialStates',
      );
    }
    const ctx: ForwardContext = {
      training: boolOr(o.training, false, 'options.training'),
      rng: (o.rng as Rng | undefined) ?? this.rng,
      backend: backendName(o.backend, 'options.backend', this.backend),
      backward: boolOr(o.backward, true, 'options.backward'),
      workspace: workspaceOption(o.workspace),
    };
    const returnAttention = boolOr(o.returnAttention, false, 'options.returnAttention');
    return weightsLock(this).read(async () => {
      const p = this.scheduledSampling;
      const read = ctx.training && p > 0 && target.seqLen > 1 ? await this.sampledTarget(source, target, ctx, p) : target;
      return this.run(source, read, ctx, returnAttention);
    });
  }

  get scheduledSampling(): number {
    return this.samplingRate;
  }

  set scheduledSampling(p: number) {
    if (typeof p !== 'number' || !(p >= 0 && p <= 1))
      throw new ValueError(`expected a number in [0, 1], got ${describe(p)}`, 'scheduledSampling');
    this.samplingRate = p;
  }

  /**
   * Scheduled sampling, two passes (the parallel form of Mihaylova & Liu 2019): a teacher-forced pass
   * without gradients gives the model's greedy prediction at every step; each decoder input after bos
   * is then replaced by the prediction for it (the argmax of the step before) with probability `p`.
   * The training pass reads the mixed inputs; gradients do not flow through the choice.
   */
  private async sampledTarget(source: Tokens, target: Tokens, ctx: ForwardContext, p: number): Promise<Tokens> {
    const logits = (await this.run(source, target, { ...ctx, backward: false }, false)).y.data;
    const { seqLen: T, batch: B } = target;
    const V = this.config.targetVocabSize;
    const ids = target.ids.slice();
    for (let t = 1; t < T; t++) {
      for (let b = 0; b < B; b++) {
        if (target.lengths && t >= target.lengths[b]) continue;
        if (ctx.rng.uniform() >= p) continue;
        const o = ((t - 1) * B + b) * V;
        let best = 0;
        for (let v = 1; v < V; v++) if (logits[o + v] > logits[o + best]) best = v;
        ids[t * B + b] = best;
      }
    }
    return { ...target, ids };
  }

  private async run(source: Tokens, target: Tokens, ctx: ForwardContext, returnAttention: boolean): Promise<Seq2SeqStep> {
    const B = source.batch;
    const T = target.seqLen;
    const V = this.config.targetVocabSize;
    const H = this.config.decoder.hiddenSize;
    // The decoder's and output layer's ops, their outputs from this model's part of the workspace.
    const backend = { backend: ctx.backend, workspace: ctx.workspace?.for(this, 0) ?? null };
    const enc = await this.encode(source, ctx);
    const emb = await this.tgtEmb.forward(target, ctx);
    const args: AttnDecoderForwardArgs = {
      ...this.decoderSizes(T, B, enc.srcLen),
      ...this.decoderWeights(),
      x: (emb.y as Sequence).data,
      memory: enc.memory,
      srcLengths: enc.lengths,
      h0: enc.h0,
      c0: enc.c0,
      keepCache: ctx.backward !== false,
      returnAttention,
    };
    const dec = await attnDecoderForward.async(args, backend);
    const out = this.outputWeights();
    const gen = { rows: T * B, inFeatures: H, outFeatures: V };
    const logits = await linearForward.async({ ...gen, x: dec.y, weight: out.weight, bias: out.bias }, backend);
    const y: Sequence = { kind: 'sequence', data: logits, seqLen: T, batch: B, features: V, lengths: target.lengths };
    const genW = this.config.tieEmbeddings ? this.p('decoder.embedding.weight') : this.p('generator.weight');
    const genB = this.p('generator.bias');
    return {
      y,
      states: new Map(),
      attention: dec.attention,
      initialStateGrads: () => new Map(),
      backward: async (dy) => {
        if (!dec.cache) throw new ValueError('forward ran with backward: false', 'backward');
        const dH = (await linearBackward.async(
          { ...gen, x: dec.y, weight: out.weight, dy, dWeight: genW.grad, dBias: genB.grad },
          backend,
        )) as Float32Array;
        const g = await attnDecoderBackward.async({ ...args, cache: dec.cache, dy: dH }, backend);
        const dec0 = this.config.decoder;
        g.dLayers.forEach((d, l) => {
          addInto(this.p(`decoder.rnn.weight_ih_l${l}`).grad, d.dWeightIh);
          addInto(this.p(`decoder.rnn.weight_hh_l${l}`).grad, d.dWeightHh);
          if (d.dBiasIh) addInto(this.p(`decoder.rnn.bias_ih_l${l}`).grad, d.dBiasIh);
          if (d.dBiasHh) addInto(this.p(`decoder.rnn.bias_hh_l${l}`).grad, d.dBiasHh);
        });
        addInto(this.p('decoder.attn.out.weight').grad, g.dAttn.dOutWeight as Float32Array);
        for (const [n, field] of ATTN_FIELDS[dec0.attention]) {
          const d = (g.dAttn as unknown as Record<string, Float32Array | undefined>)[`d${field[0].toUpperCase()}${field.slice(1)}`];
          if (d) addInto(this.p(`decoder.attn.${n}`).grad, d);
        }
        await emb.backward(g.dx);
        await enc.backward(g.dMemory, g.dh0, g.dc0);
        return null;
      },
    };
  }

  describe(): ModelDescription {
    const description: Seq2SeqDescription = {
      format: SEQ2SEQ_FORMAT,
      version: SEQ2SEQ_FORMAT_VERSION,
      input: seq2seqInput(this.config),
      config: this.config,
      parameters: this.params.map((p) => ({ name: p.name, shape: [...p.shape], dtype: 'F32' })),
    };
    return description;
  }

  async stepper(sources: readonly Int32Array[], backend: BackendName = this.backend): Promise<EncoderDecoderStepper> {
    const source = this.sourceBatch(sources, 'sources');
    const ctx: ForwardContext = { training: false, rng: this.rng, backend, backward: false };
    return new EncoderDecoderStepper(this, await this.encode(source, ctx), backend);
  }

  /** Checked id arrays as a padded time-major Tokens batch. */
  private sourceBatch(sources: readonly (Int32Array | readonly number[])[], name: string): Tokens {
    const ids = checkSentences(sources, this.config.sourceVocabSize, name, 1);
    const b = padBatch(ids);
    return tokens({ ids: b.ids, seqLen: b.seqLen, batch: b.batch, lengths: b.lengths });
  }

  async decode(sources: readonly (Int32Array | readonly number[])[], options: Seq2SeqDecodeOptions = {}): Promise<Hypothesis[][]> {
    const { method = 'beam', batchSize: bs, ...search } = objectArgs(options, 'options') as Seq2SeqDecodeOptions & Record<string, unknown>;
    const run = { beam: beamSearch, greedy: greedySearch, sample: sampleSearch }[
      oneOf(method, ['beam', 'greedy', 'sample'] as const, 'beam', 'options.method')
    ];
    const batchSize = bs === undefined ? 32 : positiveInt(bs, 'options.batchSize');
    const src = checkSentences(sources, this.config.sourceVocabSize, 'sources', 1);
    const prefix = (search as { prefix?: unknown }).prefix;
    if (Array.isArray(prefix) && prefix.length !== src.length) {
      throw new ShapeError(
        `expected ${src.length} prefixes (one per source) or one Int32Array for all, got ${prefix.length}`,
        'options.prefix',
      );
    }
    // One generator for every batch: a seed gives one stream over all sentences, not the same draws per batch.
    const s0 = search as { seed?: unknown; rng?: unknown };
    const rng = method === 'sample' && s0.seed !== undefined && s0.rng === undefined ? new Rng(intOr(s0.seed, 'options.seed', 0)) : null;
    const out: Hypothesis[][] = [];
    await weightsLock(this).read(async () => {
      for (let start = 0; start < src.length; start += batchSize) {
        const chunk = src.slice(start, start + batchSize);
        const stepper = await this.stepper(chunk);
        const o: Record<string, unknown> = { ...search };
        if (Array.isArray(prefix)) o.prefix = prefix.slice(start, start + batchSize);
        if (rng) {
          delete o.seed;
          o.rng = rng;
        }
        for (const hyps of await run(stepper, o as BeamSearchOptions)) out.push(hyps);
      }
    });
    return out;
  }

  async score(
    sources: readonly (Int32Array | readonly number[])[],
    targets: readonly (Int32Array | readonly number[])[],
    options: { readonly batchSize?: number } = {},
  ): Promise<Float64Array> {
    const o = checkOptions(options, ['batchSize'], 'options');
    const batchSize = o.batchSize === undefined ? 64 : positiveInt(o.batchSize, 'options.batchSize');
    const src = checkSentences(sources, this.config.sourceVocabSize, 'sources', 1);
    const tgt = checkSentences(targets, this.config.targetVocabSize, 'targets', 0);
    if (src.length !== tgt.length) throw new ShapeError(`expected ${src.length} targets (one per source), got ${tgt.length}`, 'targets');
    const { bos, eos, targetVocabSize: V } = this.config;
    const out = new Float64Array(src.length);
    await weightsLock(this).read(async () => {
      for (let start = 0; start < src.length; start += batchSize) {
        const idx = Array.from({ length: Math.min(batchSize, src.length - start) }, (_, i) => start + i);
        const source = this.sourceBatch(
          idx.map((i) => src[i]),
          'sources',
        );
        const tb = padBatch(idx.map((i) => Int32Array.of(bos, ...tgt[i])));
        const target = tokens({ ids: tb.ids, seqLen: tb.seqLen, batch: tb.batch, lengths: tb.lengths });
        const ctx: ForwardContext = { training: false, rng: this.rng, backend: this.backend, backward: false };
        const logProbs = (await this.run(source, target, ctx, false)).y.data;
        const B = idx.length;
        logSoftmaxRows(logProbs, target.seqLen * B, V);
        idx.forEach((i, b) => {
          const t = tgt[i];
          let sum = 0;
          for (let step = 0; step <= t.length; step++) sum += logProbs[(step * B + b) * V + (step < t.length ? t[step] : eos)];
          out[i] = sum;
        });
      }
    });
    return out;
  }

  fit<L extends LossName = 'softmaxCrossEntropy'>(
    data: Data<Batch<Seq2SeqInputs, NoInfer<L>, 'sequence'>>,
    options: FitOptions<Seq2SeqInputs, L, 'sequence'>,
  ): Promise<History> {
    return fit<Seq2SeqInputs, 'sequence', L>(this, data, options);
  }

  evaluate<L extends LossName = 'softmaxCrossEntropy'>(
    data: Iterable<Batch<Seq2SeqInputs, L, 'sequence'>> | AsyncIterable<Batch<Seq2SeqInputs, L, 'sequence'>>,
    options?: EvaluateOptions<L>,
  ): Promise<Evaluation> {
    return evaluate<Seq2SeqInputs, 'sequence', L>(this, data, options);
  }

  predict(x: { readonly source: Tokens; readonly target: Tokens }): Promise<Sequence> {
    return predict(this, x);
  }

  save(path: string, options?: AtomicWriteOptions): Promise<void> {
    return saveModelAsync(this, path, options);
  }
}

/** Sentences as checked Int32Arrays: ids in [0, V), at least `minLength` each (a ValueError naming `name[i]`). */
function checkSentences(s: unknown, V: number, name: string, minLength: number): Int32Array[] {
  if (!Array.isArray(s) || s.length === 0) throw new ValueError(`expected a non-empty array of id arrays, got ${describe(s)}`, name);
  return s.map((x: unknown, i: number) => {
    if (!(x instanceof Int32Array) && !Array.isArray(x))
      throw new ValueError(`expected an Int32Array or an array of ids, got ${describe(x)}`, `${name}[${i}]`);
    if (x.length < minLength) throw new ValueError(`expected at least ${minLength} id(s), got none`, `${name}[${i}]`);
    for (let t = 0; t < x.length; t++) {
      const v = (x as ArrayLike<unknown>)[t];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= V) {
        throw new ValueError(`expected an id in [0, ${V}), got ${describe(v)}`, `${name}[${i}][${t}]`);
      }
    }
    return Int32Array.from(x as ArrayLike<number>);
  });
}

/** A copy of a Tokens value (the caller may reuse its arrays while the call runs). */
function ownTokens(t: Tokens): Tokens {
  return { ...t, ids: t.ids.slice(), lengths: t.lengths?.slice() ?? null };
}

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
import { allocF32, backendName, boolOr, describe, objectArgs, oneOf, options as checkOptions, positiveInt, product } from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import type { AtomicWriteOptions } from '../io/atomic.js';
import { embedding } from '../layers/basic.js';
import { glorotUniform, orthogonal } from '../layers/init.js';
import { addInto, type ForwardContext, type JsonValue, type Layer, type LayerStep, type Parameter, parameter } from '../layers/layer.js';
import { gru, lstm, rnn } from '../layers/recurrent.js';
import { checkValue, type Sequence, type Tokens } from '../layers/values.js';
import {
  type AttentionKind,
  type AttnDecoderForwardArgs,
  type AttnWeights,
  attnDecoderBackward,
  attnDecoderForward,
} from '../ops/attention.js';
import { type Cell, GATES } from '../ops/layout.js';
import { linearBackward, linearForward } from '../ops/nn.js';
import { Rng } from '../random.js';
import { evaluate, fit, predict } from '../train/fit.js';
import type { Batch, Data, Evaluation, EvaluateOptions, FitOptions, History, LossName } from '../train/types.js';
import { type VocabularyJSON } from '../data/vocab.js';
import { weightsLock } from './guard.js';
import type { InputSpecOf, Model, ModelDescription, ModelForwardOptions, ModelStep, StateSlot } from './model.js';
import { saveModelAsync } from './save.js';

/** The inputs of an encoder-decoder: source and (teacher-forced) target token ids. */
export type Seq2SeqInputs = { readonly source: 'tokens'; readonly target: 'tokens' };

/** How the decoder's initial states come from the encoder's final ones (see the module comment). */
export type BridgeKind = 'auto' | 'passthrough' | 'dense' | 'zeros';

/** The encoder's options. */
export interface EncoderOptions {
  /** The recurrent cell. Default `'lstm'`. */
  readonly cell?: Cell;
  /** Hidden units per direction He. Required. */
  readonly hiddenSize: number;
  /** Stacked layers. Default 1. */
  readonly numLayers?: number;
  /** A second stack backwards in time; the memory is both directions concatenated. Default false. */
  readonly bidirectional?: boolean;
  /** Source embedding width. Required. */
  readonly embeddingDim: number;
  /** Dropout between stacked layers, training only. Default 0. */
  readonly dropout?: number;
}

/** The decoder's options. */
export interface DecoderOptions {
  /** The recurrent cell. Default `'lstm'`. */
  readonly cell?: Cell;
  /** Hidden units H (also the attentional vector's width). Required. */
  readonly hiddenSize: number;
  /** Stacked layers. Default 1. */
  readonly numLayers?: number;
  /** Target embedding width. Required. */
  readonly embeddingDim: number;
  /** The attention score. Default `'additive'` (Bahdanau). `'dot'` needs the memory width E = H. */
  readonly attention?: AttentionKind;
  /** Width A of the additive / concat scorer. Default H. */
  readonly attentionSize?: number;
  /** Feed the previous attentional vector into the next step's input (Luong et al. 2015). Default true. */
  readonly inputFeed?: boolean;
}

/** Options of {@link encoderDecoder}. */
export interface EncoderDecoderOptions {
  /** Source ids are in [0, sourceVocabSize). Required. */
  readonly sourceVocabSize: number;
  /** Target ids are in [0, targetVocabSize). Required. */
  readonly targetVocabSize: number;
  /** The id the decoder starts from. Required. */
  readonly bos: number;
  /** The id that ends an output. Required. */
  readonly eos: number;
  /** The encoder. Required. */
  readonly encoder: EncoderOptions;
  /** The decoder. Required. */
  readonly decoder: DecoderOptions;
  /** Default `'auto'`. */
  readonly bridge?: BridgeKind;
  /** Share the target embedding with the generator's weight (embeddingDim must equal the decoder's hiddenSize). Default false. */
  readonly tieEmbeddings?: boolean;
  /** Vocabularies saved with the model (`vocabulary.toJSON()`), so a loaded model can decode text. Default none. */
  readonly vocabularies?: { readonly source: VocabularyJSON; readonly target: VocabularyJSON } | null;
}

/** {@link EncoderDecoderOptions} with every default filled in: what a model file saves. */
export interface EncoderDecoderConfig {
  readonly sourceVocabSize: number;
  readonly targetVocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly encoder: Required<EncoderOptions>;
  readonly decoder: Required<DecoderOptions>;
  readonly bridge: Exclude<BridgeKind, 'auto'>;
  readonly tieEmbeddings: boolean;
  readonly vocabularies: { readonly source: VocabularyJSON; readonly target: VocabularyJSON } | null;
}

/** The model file format of an encoder-decoder. */
export const SEQ2SEQ_FORMAT = 'gated.seq2seq';
/** The version this gated writes. */
export const SEQ2SEQ_FORMAT_VERSION = 1;

const CELLS = ['lstm', 'gru', 'rnn'] as const;
const ATTENTIONS = ['additive', 'dot', 'general', 'concat'] as const;

/** Checks `options` and fills every default (errors name the option's path). */
export function encoderDecoderConfig(options: unknown, name = 'options'): EncoderDecoderConfig {
  const o = checkOptions(
    options,
    ['sourceVocabSize', 'targetVocabSize', 'bos', 'eos', 'encoder', 'decoder', 'bridge', 'tieEmbeddings', 'vocabularies'],
    name,
  );
  const at = (k: string): string => `${name}.${k}`;
  const sourceVocabSize = positiveInt(o.sourceVocabSize, at('sourceVocabSize'));
  const targetVocabSize = positiveInt(o.targetVocabSize, at('targetVocabSize'));
  const id = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= targetVocabSize) {
      throw new ValueError(`expected a target id in [0, ${targetVocabSize}), got ${describe(v)}`, at(k));
    }
    return v;
  };
  const bos = id('bos');
  const eos = id('eos');
  if (o.encoder === undefined) throw new ValueError('required: { hiddenSize, embeddingDim, ... }', at('encoder'));
  if (o.decoder === undefined) throw new ValueError('required: { hiddenSize, embeddingDim, ... }', at('decoder'));
  const e = checkOptions(o.encoder, ['cell', 'hiddenSize', 'numLayers', 'bidirectional', 'embeddingDim', 'dropout'], at('encoder'));
  const encoder: Required<EncoderOptions> = {
    cell: oneOf(e.cell, CELLS, 'lstm', at('encoder.cell')),
    hiddenSize: positiveInt(e.hiddenSize, at('encoder.hiddenSize')),
    numLayers: e.numLayers === undefined ? 1 : positiveInt(e.numLayers, at('encoder.numLayers')),
    bidirectional: boolOr(e.bidirectional, false, at('encoder.bidirectional')),
    embeddingDim: positiveInt(e.embeddingDim, at('encoder.embeddingDim')),
    dropout: e.dropout === undefined ? 0 : rateOf(e.dropout, at('encoder.dropout')),
  };
  const d = checkOptions(
    o.decoder,
    ['cell', 'hiddenSize', 'numLayers', 'embeddingDim', 'attention', 'attentionSize', 'inputFeed'],
    at('decoder'),
  );
  const H = positiveInt(d.hiddenSize, at('decoder.hiddenSize'));
  const decoder: Required<DecoderOptions> = {
    cell: oneOf(d.cell, CELLS, 'lstm', at('decoder.cell')),
    hiddenSize: H,
    numLayers: d.numLayers === undefined ? 1 : positiveInt(d.numLayers, at('decoder.numLayers')),
    embeddingDim: positiveInt(d.embeddingDim, at('decoder.embeddingDim')),
    attention: oneOf(d.attention, ATTENTIONS, 'additive', at('decoder.attention')),
    attentionSize: d.attentionSize === undefined ? H : positiveInt(d.attentionSize, at('decoder.attentionSize')),
    inputFeed: boolOr(d.inputFeed, true, at('decoder.inputFeed')),
  };
  const E = encoder.hiddenSize * (encoder.bidirectional ? 2 : 1);
  if (decoder.attention === 'dot' && E !== H) {
    throw new ValueError(
      `'dot' attention needs the memory width (${E}: encoder hiddenSize x directions) to equal the decoder's hiddenSize (${H}); use 'general'`,
      at('decoder.attention'),
    );
  }
  const fits = !encoder.bidirectional && encoder.numLayers === decoder.numLayers && encoder.hiddenSize === H;
  const bridge0 = oneOf(o.bridge, ['auto', 'passthrough', 'dense', 'zeros'] as const, 'auto', at('bridge'));
  if (bridge0 === 'passthrough' && !fits) {
    throw new ValueError(
      'passthrough needs a unidirectional encoder with the decoder\'s numLayers and hiddenSize; use "dense" (or "auto")',
      at('bridge'),
    );
  }
  const bridge = bridge0 === 'auto' ? (fits ? 'passthrough' : 'dense') : bridge0;
  const tieEmbeddings = boolOr(o.tieEmbeddings, false, at('tieEmbeddings'));
  if (tieEmbeddings && decoder.embeddingDim !== H) {
    throw new ValueError(
      `tied embeddings need decoder.embeddingDim (${decoder.embeddingDim}) = decoder.hiddenSize (${H})`,
      at('tieEmbeddings'),
    );
  }
  const vocabularies = checkVocabularies(o.vocabularies, sourceVocabSize, targetVocabSize, at('vocabularies'));
  return { sourceVocabSize, targetVocabSize, bos, eos, encoder, decoder, bridge, tieEmbeddings, vocabularies };
}

function rateOf(v: unknown, name: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new ValueError(`expected a number in [0, 1), got ${describe(v)}`, name);
  return v;
}

function checkVocabularies(v: unknown, Vs: number, Vt: number, name: string): EncoderDecoderConfig['vocabularies'] {
  if (v === undefined || v === null) return null;
  const o = checkOptions(v, ['source', 'target'], name);
  const one = (x: unknown, size: number, k: string): VocabularyJSON => {
    const j = x as VocabularyJSON;
    if (typeof x !== 'object' || x === null || j.format !== 'gated.vocabulary' || !Array.isArray(j.tokens)) {
      throw new ValueError(`expected a vocabulary's JSON (vocabulary.toJSON()), got ${describe(x)}`, `${name}.${k}`);
    }
    if (j.tokens.length !== size) {
      throw new ValueError(`expected ${size} tokens (the ${k} vocabulary size), got ${j.tokens.length}`, `${name}.${k}`);
    }
    return j;
  };
  return { source: one(o.source, Vs, 'source'), target: one(o.target, Vt, 'target') };
}

/** The memory width E of a config. */
function memoryWidth(c: EncoderDecoderConfig): number {
  return c.encoder.hiddenSize * (c.encoder.bidirectional ? 2 : 1);
}

/** Every parameter's name and shape, in model order (what `build` creates and a file must hold). */
export function planEncoderDecoder(c: EncoderDecoderConfig): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [];
  out.push({ name: 'encoder.embedding.weight', shape: [c.sourceVocabSize, c.encoder.embeddingDim] });
  const enc = c.encoder;
  const Ge = GATES[enc.cell] * enc.hiddenSize;
  for (let l = 0; l < enc.numLayers; l++) {
    for (const suffix of enc.bidirectional ? ['', '_reverse'] : ['']) {
      const inW = l === 0 ? enc.embeddingDim : enc.hiddenSize * (enc.bidirectional ? 2 : 1);
      out.push({ name: `encoder.rnn.weight_ih_l${l}${suffix}`, shape: [Ge, inW] });
      out.push({ name: `encoder.rnn.weight_hh_l${l}${suffix}`, shape: [Ge, enc.hiddenSize] });
      out.push({ name: `encoder.rnn.bias_ih_l${l}${suffix}`, shape: [Ge] });
      out.push({ name: `encoder.rnn.bias_hh_l${l}${suffix}`, shape: [Ge] });
    }
  }
  const dec = c.decoder;
  const H = dec.hiddenSize;
  const L = dec.numLayers;
  const E = memoryWidth(c);
  if (c.bridge === 'dense') {
    // From the encoder's top layer, directions side by side: [B, E] in.
    out.push({ name: 'bridge.h.weight', shape: [L * H, E] }, { name: 'bridge.h.bias', shape: [L * H] });
    if (dec.cell === 'lstm') out.push({ name: 'bridge.c.weight', shape: [L * H, E] }, { name: 'bridge.c.bias', shape: [L * H] });
  }
  out.push({ name: 'decoder.embedding.weight', shape: [c.targetVocabSize, dec.embeddingDim] });
  const G = GATES[dec.cell] * H;
  for (let l = 0; l < L; l++) {
    const inW = l === 0 ? dec.embeddingDim + (dec.inputFeed ? H : 0) : H;
    out.push({ name: `decoder.rnn.weight_ih_l${l}`, shape: [G, inW] });
    out.push({ name: `decoder.rnn.weight_hh_l${l}`, shape: [G, H] });
    out.push({ name: `decoder.rnn.bias_ih_l${l}`, shape: [G] });
    out.push({ name: `decoder.rnn.bias_hh_l${l}`, shape: [G] });
  }
  const A = dec.attentionSize;
  for (const [n, shape] of attentionParams(dec.attention, H, E, A)) out.push({ name: `decoder.attn.${n}`, shape });
  out.push({ name: 'decoder.attn.out.weight', shape: [H, E + H] });
  if (!c.tieEmbeddings) out.push({ name: 'generator.weight', shape: [c.targetVocabSize, H] });
  out.push({ name: 'generator.bias', shape: [c.targetVocabSize] });
  return out;
}

/** The scorer's parameters per attention kind: file name suffix and shape, with the op's field name. */
const ATTN_FIELDS = {
  dot: [],
  general: [['weight', 'weight']],
  concat: [
    ['weight', 'weight'],
    ['v', 'v'],
  ],
  additive: [
    ['query.weight', 'queryWeight'],
    ['query.bias', 'queryBias'],
    ['key.weight', 'keyWeight'],
    ['v', 'v'],
  ],
} as const satisfies Record<AttentionKind, readonly (readonly [string, string])[]>;

function attentionParams(kind: AttentionKind, H: number, E: number, A: number): [string, number[]][] {
  const shapes: Record<string, number[]> = {
    weight: kind === 'general' ? [H, E] : [A, H + E],
    v: [A],
    'query.weight': [A, H],
    'query.bias': [A],
    'key.weight': [A, E],
  };
  return ATTN_FIELDS[kind].map(([n]) => [n, shapes[n]]);
}

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

/** What the encoder gives the decoder: memory, lengths and the decoder's initial states, and the way back. */
export interface Encoded {
  /** Sentences B. */
  readonly batch: number;
  /** Source length S (the longest). */
  readonly srcLen: number;
  /** `[S, B, E]`, zero past each length. */
  readonly memory: Float32Array;
  /** `[B]`, each in [1, S]. */
  readonly lengths: Int32Array;
  /** `[L, B, H]` the decoder's initial states. */
  readonly h0: Float32Array;
  readonly c0: Float32Array | null;
  /** Back from the memory's and the initial states' gradients into the encoder's parameters. */
  backward(dMemory: Float32Array, dh0: Float32Array, dc0: Float32Array | null): Promise<void>;
}

/** A built encoder-decoder (see the module comment). */
export interface EncoderDecoderModel extends Model<Seq2SeqInputs, 'sequence'> {
  /** The configuration, every default filled in. */
  readonly config: EncoderDecoderConfig;
  forward(x: { readonly source: Tokens; readonly target: Tokens }, options?: Seq2SeqForwardOptions): Promise<Seq2SeqStep>;
  /** @internal Runs the encoder and the bridge (decoding starts here). */
  encode(source: Tokens, ctx: ForwardContext): Promise<Encoded>;
  /** @internal The decoder's op arguments over its current weights (without the per-call inputs). */
  decoderWeights(): Pick<AttnDecoderForwardArgs, 'layers' | 'attn'>;
  /** @internal The target embedding table `[V, Dt]` and the generator's weight `[V, H]` and bias `[V]`. */
  outputWeights(): { readonly embedding: Float32Array; readonly weight: Float32Array; readonly bias: Float32Array };
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
  private decoderSizes(T: number, B: number, S: number) {
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
      ['training', 'rng', 'initialStates', 'keepStates', 'backend', 'backward', 'returnAttention'],
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
    };
    const returnAttention = boolOr(o.returnAttention, false, 'options.returnAttention');
    const run = await weightsLock(this).read(() => this.run(source, target, ctx, returnAttention));
    return run;
  }

  private async run(source: Tokens, target: Tokens, ctx: ForwardContext, returnAttention: boolean): Promise<Seq2SeqStep> {
    const B = source.batch;
    const T = target.seqLen;
    const V = this.config.targetVocabSize;
    const H = this.config.decoder.hiddenSize;
    const backend = { backend: ctx.backend };
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
    return {
      format: SEQ2SEQ_FORMAT,
      version: SEQ2SEQ_FORMAT_VERSION,
      input: {
        source: { kind: 'tokens', features: this.config.sourceVocabSize },
        target: { kind: 'tokens', features: this.config.targetVocabSize },
      },
      config: this.config as unknown as JsonValue,
      parameters: this.params.map((p) => ({ name: p.name, shape: [...p.shape], dtype: 'F32' })),
    } as unknown as ModelDescription;
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

/** A copy of a Tokens value (the caller may reuse its arrays while the call runs). */
function ownTokens(t: Tokens): Tokens {
  return { ...t, ids: t.ids.slice(), lengths: t.lengths?.slice() ?? null };
}

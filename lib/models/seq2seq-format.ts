/**
 * The description of an encoder-decoder (format "gated.seq2seq", version 1): its options, their
 * checks and defaults ({@link encoderDecoderConfig}), the parameters a config makes
 * ({@link planEncoderDecoder}), and the reader a model file's description goes through:
 *
 *   { "format": "gated.seq2seq", "version": 1,
 *     "input": { "source": { "kind": "tokens", "features": Vs }, "target": { "kind": "tokens", "features": Vt } },
 *     "config": { every option of encoderDecoder, defaults filled in, bridge resolved },
 *     "parameters": [{ "name", "shape", "dtype" }, ...] }
 *
 * The model itself is lib/models/seq2seq.ts; this file has no model code, so that the readers
 * (lib/models/formats.ts) need not import training.
 */
import { boolOr, describe, oneOf, options as checkOptions, positiveInt } from '../check.js';
import { ValueError } from '../errors.js';
import type { ModelDescription } from './model.js';
import { bareMessage, type ExpectedKinds, type Fail, isObject, readParameterList } from './reading.js';
import { Vocabulary, type VocabularyJSON } from '../data/vocab.js';
import { type AttentionKind, type Cell, GATES } from '../ops/layout.js';

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
    let vocab: Vocabulary;
    try {
      vocab = Vocabulary.fromJSON(x);
    } catch (e) {
      throw new ValueError(`expected a vocabulary's JSON (vocabulary.toJSON()): ${bareMessage(e)}`, `${name}.${k}`);
    }
    if (vocab.size !== size) throw new ValueError(`expected ${size} tokens (the ${k} vocabulary size), got ${vocab.size}`, `${name}.${k}`);
    return vocab.toJSON();
  };
  return { source: one(o.source, Vs, 'source'), target: one(o.target, Vt, 'target') };
}

/** The memory width E of a config. */
export function memoryWidth(c: EncoderDecoderConfig): number {
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
export const ATTN_FIELDS = {
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

/** The versions of the format this gated reads. */
export const SEQ2SEQ_VERSIONS = [1] as const;

/** An encoder-decoder's description (the module comment). */
export interface Seq2SeqDescription extends ModelDescription {
  readonly config: EncoderDecoderConfig;
}

/** The input description of a config. */
export function seq2seqInput(c: EncoderDecoderConfig): Seq2SeqDescription['input'] {
  return {
    source: { kind: 'tokens', features: c.sourceVocabSize },
    target: { kind: 'tokens', features: c.targetVocabSize },
  } as unknown as Seq2SeqDescription['input'];
}

/**
 * Reads an encoder-decoder's description: its config checked as `encoderDecoder`'s options are
 * (every problem a FormatError naming `config.<path>`), the input matching it, and the parameter
 * list exactly what the config makes. Gives the canonical description and the config.
 */
export function readSeq2Seq(
  d: Record<string, unknown>,
  _version: number,
  fail: Fail,
  expected: ExpectedKinds,
): { readonly description: Seq2SeqDescription; readonly config: EncoderDecoderConfig } {
  for (const k of Object.keys(d)) {
    if (!['format', 'version', 'input', 'config', 'parameters'].includes(k)) throw fail(k, 'unknown field');
  }
  if (expected.inputKind !== undefined) {
    throw fail(
      'input',
      `expected a model taking ${expected.inputKind} (options.inputKind), got an encoder-decoder taking { source, target } tokens (loadEncoderDecoder loads it)`,
    );
  }
  if (expected.outputKind !== undefined && expected.outputKind !== 'sequence') {
    throw fail('config', `expected a model giving a ${expected.outputKind} (options.outputKind), got an encoder-decoder giving a sequence`);
  }
  if (!isObject(d.config)) throw fail('config', `expected an object, got ${describe(d.config)}`);
  if (!Array.isArray(d.parameters)) throw fail('parameters', `expected an array, got ${describe(d.parameters)}`);
  let config: EncoderDecoderConfig;
  try {
    config = encoderDecoderConfig(d.config, 'config');
  } catch (e) {
    if (e instanceof ValueError) throw fail(e.argument ?? 'config', bareMessage(e));
    throw e;
  }
  // A corrupt numLayers must not make the plan loop for billions of layers: each layer makes 4 parameters.
  for (const part of ['encoder', 'decoder'] as const) {
    if (config[part].numLayers * 4 > d.parameters.length) {
      throw fail(
        `config.${part}.numLayers`,
        `${config[part].numLayers} layers make at least ${config[part].numLayers * 4} parameters, the description lists ${d.parameters.length}`,
      );
    }
  }
  const input = seq2seqInput(config);
  if (JSON.stringify(d.input) !== JSON.stringify(input)) {
    throw fail('input', `expected ${JSON.stringify(input)} (from the config), got ${JSON.stringify(d.input) ?? 'none'}`);
  }
  const planned = planEncoderDecoder(config).map((p) => ({ ...p, owner: 'config' }));
  const parameters = readParameterList(d.parameters, planned, fail);
  return { description: { format: SEQ2SEQ_FORMAT, version: SEQ2SEQ_FORMAT_VERSION, input, config, parameters }, config };
}

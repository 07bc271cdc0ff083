/**
 * The fused attention decoder op (issue 9): an L-layer unidirectional decoder (rnn, lstm or gru) with
 * attention over an encoder memory (Luong dot, general, concat; Bahdanau additive) and Luong input
 * feeding, over a whole target sequence in ONE call (training, teacher forcing), and also the decode
 * step (T = 1, `keepCache: false`, states carried by the caller, outputs written into `yOut`, `hOut`...).
 * The decode step of a search is one call: the memory of M sentences serves B rows through
 * `memoryIndex` (no copy per hypothesis), a beam's reorder is `stateIndex` (the states are gathered
 * as they are read), and `vocabWeight` ends the call with the output layer's log-probabilities.
 * The math, per step t and row b (lib/js/attention.ts is the twin; native/attention.* the kernel):
 *
 *   in_0[t] = inputFeed ? [x[t] ; feed[t-1]] : x[t]       (feed[-1] = feed0)   in_l[t] = h_{l-1}[t]
 *   h_l[t] = cell_l(in_l[t], h_l[t-1], c_l[t-1])           (the cells of lib/ops/cells.ts, seqLen 1)
 *   q = h_{L-1}[t]; score_j = dot: q·m_j | general: q·(W m_j) | concat: v·tanh(Wq q + Wk m_j)
 *                             | additive: v·tanh(Wq q + bq + Wk m_j)
 *   alpha = softmax_j over j < srcLengths[b] (0 exactly beyond); ctx = Σ_j alpha_j m_j
 *   y[t] = feed[t] = tanh(Wc [ctx ; q])
 *
 * Layouts are time-major (PyTorch): `x [T,B,D]`, `memory [S,B,E]`, states `[L,B,H]`. The cache
 * layout is lib/ops/layout.ts attnDecoderLayout ({@link attnDecoderCacheOffsets}); both backends
 * write the same one. Gradients are new arrays (the caller adds them into its parameters' grads).
 *
 * The native call (addon exports `attnDecoderForward` / `attnDecoderBackward`) takes one object with
 * the TS argument names, defaults filled in (`srcLengths` as an Int32Array or null; `layers` an array
 * of `{ weightIh, weightHh, biasIh, biasHh }`; `attn` with the variant's weights only), and the
 * outputs allocated here: forward `y`, `attentionOut` (or null), `hN`, `cN` (lstm), `keysOut` (null when
 * keys are given or for dot), `cache` (or null); backward `dx`, `dMemory`, `dh0`, `dc0`, `dFeed0`,
 * `dLayers` (array of `{ dWeightIh, dWeightHh, dBiasIh, dBiasHh }`), `dAttn` (the variant's gradients).
 */
import type { NativeCallArgs } from '../backend/addon.js';
import {
  type Factor,
  type Fields,
  checkBool,
  checkF32,
  checkSize,
  describe,
  knownKeys,
  lengths as checkLengths,
  objectArgs,
  oneOf,
  positiveInt,
  product,
  rowIndex,
} from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import { attnDecoderBackward as jsBackward, attnDecoderForward as jsForward } from '../js/attention.js';
import {
  type AttentionKind,
  type AttnDecoderCacheOffsets,
  type AttnDecoderSizes,
  type Cell,
  GATES,
  attnDecoderLayout,
  attnKeyWidth,
} from './layout.js';
import { type Alloc, defineOp, type OpPlan } from './op.js';

export type { AttentionKind, AttnDecoderCacheOffsets, AttnDecoderSizes } from './layout.js';

/** One decoder layer's weights (PyTorch layout and gate order; no peepholes). */
export interface AttnDecoderLayer {
  /** `[G*H, in_l]`, in_0 = D + (inputFeed ? H : 0), in_l = H for l >= 1. */
  readonly weightIh: Float32Array;
  /** `[G*H, H]` */
  readonly weightHh: Float32Array;
  /** `[G*H]`, null = zero. */
  readonly biasIh?: Float32Array | null;
  /** `[G*H]`, null = zero. */
  readonly biasHh?: Float32Array | null;
}

/** The attention weights. Which are required depends on `attention`; others given are a ValueError. */
export interface AttnWeights {
  /** general: `[H, E]` (keys W m_j); concat: `[A, H + E]` (H query columns first, then E key columns). */
  readonly weight?: Float32Array | null;
  /** additive: `[A, H]` */
  readonly queryWeight?: Float32Array | null;
  /** additive: `[A]` */
  readonly queryBias?: Float32Array | null;
  /** additive: `[A, E]` */
  readonly keyWeight?: Float32Array | null;
  /** concat, additive: `[A]` */
  readonly v?: Float32Array | null;
  /** Every variant: `Wc [H, E + H]` (the context's columns first), no bias. */
  readonly outWeight: Float32Array;
}

/** The attention decoder's forward arguments. */
export interface AttnDecoderForwardArgs {
  readonly cell: Cell;
  /** gru: where the reset gate applies (lib/ops/cells.ts). Default true. */
  readonly resetAfter?: boolean;
  /** rnn: default 'tanh'. */
  readonly nonlinearity?: 'tanh' | 'relu';
  readonly attention: AttentionKind;
  /** Luong input feeding: the previous step's output is concatenated to the input. */
  readonly inputFeed: boolean;
  /** T >= 1 */
  readonly seqLen: number;
  /** B >= 1 */
  readonly batch: number;
  /** S >= 1 */
  readonly srcLen: number;
  /** D >= 0 (the target embedding's width). */
  readonly inputSize: number;
  /** E >= 1 (must equal H for dot). */
  readonly memorySize: number;
  /** H >= 1 */
  readonly hiddenSize: number;
  /** A >= 1: required for concat and additive, ignored (may be absent) otherwise. */
  readonly attentionSize?: number;
  /** L >= 1 */
  readonly numLayers: number;
  /** `[T, B, D]` */
  readonly x: Float32Array;
  /** The encoder memory `[S, B, E]` (row j*B + b). */
  readonly memory: Float32Array;
  /** Source lengths `[B]`, each in [1, S]; null = all S. */
  readonly srcLengths?: Int32Array | readonly number[] | null;
  /** `[L, B, H]`, null = zeros. */
  readonly h0?: Float32Array | null;
  /** lstm: `[L, B, H]`, null = zeros. */
  readonly c0?: Float32Array | null;
  /** The feed before step 0 `[B, H]`, null = zeros. */
  readonly feed0?: Float32Array | null;
  /** L layers. */
  readonly layers: readonly AttnDecoderLayer[];
  readonly attn: AttnWeights;
  /** Keys `[S, B, Kw]` from an earlier call over the same memory (Kw = H general, A concat/additive); null = computed. Not for dot. */
  readonly keys?: Float32Array | null;
  /** Keep the cache for backward. Default true. */
  readonly keepCache?: boolean;
  /** Return the attention weights `[T, B, S]`. Default true. */
  readonly returnAttention?: boolean;
  /** Where to write y `[T, B, H]` (decode step: no allocation per token). */
  readonly yOut?: Float32Array | null;
  /** Where to write hN `[L, B, H]` (may be h0: it is read first). */
  readonly hOut?: Float32Array | null;
  /** lstm: where to write cN `[L, B, H]` (may be c0). */
  readonly cOut?: Float32Array | null;
  /** Where to write the attention `[T, B, S]` (with returnAttention). */
  readonly attentionOut?: Float32Array | null;
  /**
   * The memory's columns M (default `batch`): with `memoryIndex`, memory is `[S, M, E]`, srcLengths
   * `[M]`, keys / the returned keys `[S, M, Kw]`. Only with memoryIndex (otherwise it must be batch).
   */
  readonly memoryBatch?: number;
  /** `[B]`, each in [0, memoryBatch): row b attends to memory column memoryIndex[b]. Needs keepCache false. */
  readonly memoryIndex?: Int32Array | null;
  /** State rows P (default `batch`): with `stateIndex`, h0 / c0 are `[L, P, H]` and feed0 `[P, H]`. */
  readonly stateRows?: number;
  /** `[B]`, each in [0, stateRows): row b continues state row stateIndex[b] (a beam's reorder). Needs keepCache false. */
  readonly stateIndex?: Int32Array | null;
  /** V >= 1: end with the output layer (needs vocabWeight). */
  readonly vocabSize?: number;
  /** `[V, H]` (PyTorch nn.Linear layout). */
  readonly vocabWeight?: Float32Array | null;
  /** `[V]`, null = zero. */
  readonly vocabBias?: Float32Array | null;
  /** Where to write the log-probabilities `[T, B, V]`. */
  readonly logProbsOut?: Float32Array | null;
}

/** The forward's result. `feedN` (to carry) is the last step of `y`. */
export interface AttnDecoderForwardResult {
  /** `[T, B, H]` */
  readonly y: Float32Array;
  /** `[T, B, S]` (0 at masked positions); null with `returnAttention: false`. */
  readonly attention: Float32Array | null;
  /** `[L, B, H]` */
  readonly hN: Float32Array;
  /** lstm `[L, B, H]`, else null. */
  readonly cN: Float32Array | null;
  /** The keys used `[S, B, Kw]` (the given ones when given); null for dot. */
  readonly keys: Float32Array | null;
  /** `attnDecoderCacheSize(args)` floats; null with `keepCache: false`. */
  readonly cache: Float32Array | null;
  /** `[T, B, V]` log_softmax(y vocabWeight^T + vocabBias) per row, with vocabSize; else null. */
  readonly logProbs: Float32Array | null;
}

/** Backward's arguments: the forward's (the same arrays) and these. */
export interface AttnDecoderBackwardArgs extends AttnDecoderForwardArgs {
  /** The forward's cache. */
  readonly cache: Float32Array;
  /** Gradient of y `[T, B, H]`, null = zero. */
  readonly dy?: Float32Array | null;
  /** `[L, B, H]`, null = zero. */
  readonly dhN?: Float32Array | null;
  /** lstm `[L, B, H]`, null = zero. */
  readonly dcN?: Float32Array | null;
  /** Gradient of the last step's feed beyond dy `[B, H]` (a caller that carries it); null = zero. */
  readonly dFeedN?: Float32Array | null;
}

/** One layer's weight gradients (null where the bias was null). */
export interface AttnDecoderLayerGrads {
  readonly dWeightIh: Float32Array;
  readonly dWeightHh: Float32Array;
  readonly dBiasIh: Float32Array | null;
  readonly dBiasHh: Float32Array | null;
}

/** The attention weights' gradients: those the variant has. */
export interface AttnGrads {
  readonly dWeight?: Float32Array;
  readonly dQueryWeight?: Float32Array;
  readonly dQueryBias?: Float32Array;
  readonly dKeyWeight?: Float32Array;
  readonly dV?: Float32Array;
  readonly dOutWeight: Float32Array;
}

/** Backward's result (new arrays). */
export interface AttnDecoderGrads {
  /** `[T, B, D]` */
  readonly dx: Float32Array;
  /** `[S, B, E]` */
  readonly dMemory: Float32Array;
  /** `[L, B, H]` */
  readonly dh0: Float32Array;
  /** lstm `[L, B, H]`, else null. */
  readonly dc0: Float32Array | null;
  /** `[B, H]` (zeros without input feeding). */
  readonly dFeed0: Float32Array;
  readonly dLayers: AttnDecoderLayerGrads[];
  readonly dAttn: AttnGrads;
}

// ---------------------------------------------------------------------------------------------
// sizes, layout

const KINDS: readonly AttentionKind[] = ['dot', 'general', 'concat', 'additive'];
const CELLS: readonly Cell[] = ['lstm', 'gru', 'rnn'];
const ATTN_KEYS = ['weight', 'queryWeight', 'queryBias', 'keyWeight', 'v', 'outWeight'] as const;
const LAYER_KEYS = ['weightIh', 'weightHh', 'biasIh', 'biasHh'];
/** The attention weights each variant takes. */
const ATTN_USES: Readonly<Record<AttentionKind, readonly (typeof ATTN_KEYS)[number][]>> = {
  dot: ['outWeight'],
  general: ['weight', 'outWeight'],
  concat: ['weight', 'v', 'outWeight'],
  additive: ['queryWeight', 'queryBias', 'keyWeight', 'v', 'outWeight'],
};

/** The checked sizes of a call (`attentionSize` 0 for dot / general). */
function checkSizes(f: Fields): Required<AttnDecoderSizes> {
  if (f.cell === undefined) throw new ValueError(`expected one of 'lstm', 'gru', 'rnn', got undefined`, 'cell');
  const cell = oneOf(f.cell, CELLS, 'lstm', 'cell');
  if (f.attention === undefined)
    throw new ValueError(`expected one of ${KINDS.map((k) => `'${k}'`).join(', ')}, got undefined`, 'attention');
  const attention = oneOf(f.attention, KINDS, 'dot', 'attention');
  if (typeof f.inputFeed !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(f.inputFeed)}`, 'inputFeed');
  const s = {
    cell,
    attention,
    inputFeed: f.inputFeed,
    seqLen: positiveInt(f.seqLen, 'seqLen'),
    batch: positiveInt(f.batch, 'batch'),
    srcLen: positiveInt(f.srcLen, 'srcLen'),
    inputSize: checkSize(f.inputSize, 'inputSize'),
    memorySize: positiveInt(f.memorySize, 'memorySize'),
    hiddenSize: positiveInt(f.hiddenSize, 'hiddenSize'),
    attentionSize: 0,
    numLayers: positiveInt(f.numLayers, 'numLayers'),
  };
  if (attention === 'concat' || attention === 'additive') s.attentionSize = positiveInt(f.attentionSize, 'attentionSize');
  else if (f.attentionSize !== undefined) positiveInt(f.attentionSize, 'attentionSize');
  if (attention === 'dot' && s.memorySize !== s.hiddenSize)
    throw new ShapeError(`dot attention needs memorySize == hiddenSize, got ${s.memorySize} and ${s.hiddenSize}`, 'memorySize');
  // the cache's total must fit too
  const total = attnDecoderLayout(s).size;
  if (total > 2 ** 31 - 1) throw new ShapeError(`the cache would hold ${total} floats, above the limit of ${2 ** 31 - 1}`, 'sizes');
  return s;
}

/** The cache layout of the attention decoder for `sizes` (checked): block offsets and total size. */
export function attnDecoderCacheOffsets(sizes: AttnDecoderSizes): AttnDecoderCacheOffsets {
  return attnDecoderLayout(checkSizes(objectArgs(sizes, 'sizes')));
}

/** Floats in the attention decoder's forward cache for `sizes` (what backward's `cache` must hold). */
export function attnDecoderCacheSize(sizes: AttnDecoderSizes): number {
  return attnDecoderCacheOffsets(sizes).size;
}

// ---------------------------------------------------------------------------------------------
// validation

interface Checked {
  readonly s: Required<AttnDecoderSizes>;
  readonly srcLengths: Int32Array | null;
  /** Memory columns M and state rows P (batch without their index), the output layer's V (0: none). */
  readonly M: number;
  readonly P: number;
  readonly V: number;
}

/** Every argument's name; the type keeps it the interface's exact list. */
const KEYS = Object.keys({
  cell: true,
  resetAfter: true,
  nonlinearity: true,
  attention: true,
  inputFeed: true,
  seqLen: true,
  batch: true,
  srcLen: true,
  inputSize: true,
  memorySize: true,
  hiddenSize: true,
  attentionSize: true,
  numLayers: true,
  x: true,
  memory: true,
  srcLengths: true,
  h0: true,
  c0: true,
  feed0: true,
  layers: true,
  attn: true,
  keys: true,
  keepCache: true,
  returnAttention: true,
  yOut: true,
  hOut: true,
  cOut: true,
  attentionOut: true,
  memoryBatch: true,
  memoryIndex: true,
  stateRows: true,
  stateIndex: true,
  vocabSize: true,
  vocabWeight: true,
  vocabBias: true,
  logProbsOut: true,
} satisfies Record<keyof AttnDecoderForwardArgs, true>);

function checkForward(f: Fields, extraKeys: readonly string[] = []): Checked {
  knownKeys(f, extraKeys.length ? [...KEYS, ...extraKeys] : KEYS, '');
  const s = checkSizes(f);
  const { cell, attention } = s;
  const T: Factor = ['seqLen', s.seqLen];
  const B: Factor = ['batch', s.batch];
  const S: Factor = ['srcLen', s.srcLen];
  const D: Factor = ['inputSize', s.inputSize];
  const E: Factor = ['memorySize', s.memorySize];
  const H: Factor = ['hiddenSize', s.hiddenSize];
  const Aw: Factor = ['attentionSize', s.attentionSize];
  const L: Factor = ['numLayers', s.numLayers];
  const G = GATES[cell];
  const GF: Factor[] = G === 1 ? [] : [[String(G), G]];
  const lstm = cell === 'lstm';
  if (cell === 'gru') checkBool(f, 'resetAfter', true);
  else if (f.resetAfter !== undefined) throw new ValueError('only a gru takes resetAfter', 'resetAfter');
  if (cell === 'rnn') oneOf(f.nonlinearity, ['tanh', 'relu'] as const, 'tanh', 'nonlinearity');
  else if (f.nonlinearity !== undefined) throw new ValueError('only an rnn takes nonlinearity', 'nonlinearity');

  // the decode step's gathers (without an index, the count is batch)
  const keepCache = checkBool(f, 'keepCache', true);
  const mem = rowIndex(f, 'memoryIndex', 'memoryBatch', s.batch);
  const st = rowIndex(f, 'stateIndex', 'stateRows', s.batch);
  for (const [name, g] of [
    ['memoryIndex', mem],
    ['stateIndex', st],
  ] as const) {
    if (g.index && keepCache) throw new ValueError("a decode step's option: expected keepCache false", name);
  }
  const M: Factor = mem.index ? ['memoryBatch', mem.count] : B;
  const P: Factor = st.index ? ['stateRows', st.count] : B;

  checkF32(f, 'x', product('x', [T, B, D]), true);
  checkF32(f, 'memory', product('memory', [S, M, E]), true);
  const srcLengths = checkLengths(f.srcLengths, mem.count, s.srcLen, 'srcLengths');
  if (srcLengths) {
    for (let b = 0; b < mem.count; b++) {
      if (srcLengths[b] < 1) throw new ValueError(`srcLengths[${b}] = ${srcLengths[b]} is not in [1, srcLen = ${s.srcLen}]`, 'srcLengths');
    }
  }
  checkF32(f, 'h0', product('h0', [L, P, H]), false);
  const onlyLstm = (name: string) => {
    if (lstm) return true;
    if (f[name] !== undefined && f[name] !== null) throw new ValueError('only an lstm has a cell state', name);
    return false;
  };
  if (onlyLstm('c0')) checkF32(f, 'c0', product('c0', [L, P, H]), false);
  checkF32(f, 'feed0', product('feed0', [P, H]), false);

  // layers
  const layers = f.layers;
  if (!Array.isArray(layers)) throw new ValueError(`expected an array of ${s.numLayers} layer objects, got ${describe(layers)}`, 'layers');
  if (layers.length !== s.numLayers) throw new ShapeError(`expected ${s.numLayers} layers (numLayers), got ${layers.length}`, 'layers');
  for (let l = 0; l < s.numLayers; l++) {
    const name = `layers[${l}]`;
    const lf = objectArgs(layers[l], name);
    knownKeys(lf, LAYER_KEYS, name);
    const inW: Factor[] = l === 0 ? (s.inputFeed ? [['(inputSize+hiddenSize)', s.inputSize + s.hiddenSize]] : [D]) : [H];
    checkNested(lf, name, 'weightIh', product(`${name}.weightIh`, [...GF, H, ...inW]), true);
    checkNested(lf, name, 'weightHh', product(`${name}.weightHh`, [...GF, H, H]), true);
    checkNested(lf, name, 'biasIh', product(`${name}.biasIh`, [...GF, H]), false);
    checkNested(lf, name, 'biasHh', product(`${name}.biasHh`, [...GF, H]), false);
  }

  // attention weights
  const af = objectArgs(f.attn, 'attn');
  knownKeys(af, ATTN_KEYS, 'attn');
  const uses = ATTN_USES[attention];
  for (const k of ATTN_KEYS) {
    if (!uses.includes(k) && af[k] !== undefined && af[k] !== null)
      throw new ValueError(`${attention} attention does not use attn.${k}`, `attn.${k}`);
  }
  const EH: Factor = ['(memorySize+hiddenSize)', s.memorySize + s.hiddenSize];
  checkNested(af, 'attn', 'outWeight', product('attn.outWeight', [H, EH]), true);
  if (attention === 'general') checkNested(af, 'attn', 'weight', product('attn.weight', [H, E]), true);
  if (attention === 'concat')
    checkNested(af, 'attn', 'weight', product('attn.weight', [Aw, ['(hiddenSize+memorySize)', s.hiddenSize + s.memorySize]]), true);
  if (attention === 'concat' || attention === 'additive') checkNested(af, 'attn', 'v', product('attn.v', [Aw]), true);
  if (attention === 'additive') {
    checkNested(af, 'attn', 'queryWeight', product('attn.queryWeight', [Aw, H]), true);
    checkNested(af, 'attn', 'queryBias', product('attn.queryBias', [Aw]), true);
    checkNested(af, 'attn', 'keyWeight', product('attn.keyWeight', [Aw, E]), true);
  }

  // keys
  const Kw = attnKeyWidth(s);
  if (Kw === 0) {
    if (f.keys !== undefined && f.keys !== null) throw new ValueError('dot attention has no keys', 'keys');
  } else {
    checkF32(f, 'keys', product('keys', [S, M, attention === 'general' ? H : Aw]), false);
  }
  const returnAttention = checkBool(f, 'returnAttention', true);

  // output arrays
  checkF32(f, 'yOut', product('yOut', [T, B, H]), false);
  checkF32(f, 'hOut', product('hOut', [L, B, H]), false);
  if (onlyLstm('cOut')) checkF32(f, 'cOut', product('cOut', [L, B, H]), false);
  if (!returnAttention && f.attentionOut !== undefined && f.attentionOut !== null)
    throw new ValueError('expected no attentionOut with returnAttention false', 'attentionOut');
  checkF32(f, 'attentionOut', product('attentionOut', [T, B, S]), false);

  // the output layer
  let V = 0;
  if (f.vocabSize !== undefined && f.vocabSize !== null) {
    V = positiveInt(f.vocabSize, 'vocabSize');
    const VF: Factor = ['vocabSize', V];
    checkF32(f, 'vocabWeight', product('vocabWeight', [VF, H]), true);
    checkF32(f, 'vocabBias', product('vocabBias', [VF]), false);
    checkF32(f, 'logProbsOut', product('logProbsOut', [T, B, VF]), false);
  } else {
    for (const name of ['vocabWeight', 'vocabBias', 'logProbsOut']) {
      if (f[name] !== undefined && f[name] !== null) throw new ValueError('expected none without a vocabSize', name);
    }
  }
  return { s, srcLengths, M: mem.count, P: st.count, V };
}

/** `obj[key]` (named `prefix.key`) as a Float32Array of `extent`. */
function checkNested(obj: Fields, prefix: string, key: string, extent: ReturnType<typeof product>, required: boolean): void {
  checkF32({ [`${prefix}.${key}`]: obj[key] }, `${prefix}.${key}`, extent, required);
}

function checkBackward(f: Fields): Checked {
  for (const name of ['memoryIndex', 'stateIndex', 'vocabSize']) {
    if (f[name] !== undefined && f[name] !== null) throw new ValueError("a decode step's option: backward takes none", name);
  }
  const c = checkForward(f, ['cache', 'dy', 'dhN', 'dcN', 'dFeedN']);
  const { s } = c;
  const B: Factor = ['batch', s.batch];
  const H: Factor = ['hiddenSize', s.hiddenSize];
  const L: Factor = ['numLayers', s.numLayers];
  const size = attnDecoderLayout(s).size;
  checkF32(f, 'cache', { value: size, formula: `attnDecoderCacheSize(sizes) = ${size}` }, true);
  checkF32(f, 'dy', product('dy', [['seqLen', s.seqLen], B, H]), false);
  checkF32(f, 'dhN', product('dhN', [L, B, H]), false);
  if (s.cell === 'lstm') checkF32(f, 'dcN', product('dcN', [L, B, H]), false);
  else if (f.dcN !== undefined && f.dcN !== null) throw new ValueError('only an lstm has a cell state', 'dcN');
  checkF32(f, 'dFeedN', product('dFeedN', [B, H]), false);
  return c;
}

// ---------------------------------------------------------------------------------------------
// the native fields

/** The input fields, defaults filled in, in the TS names. */
function inputFields(a: AttnDecoderForwardArgs, c: Checked): NativeCallArgs {
  const { s } = c;
  return {
    cell: s.cell,
    resetAfter: s.cell === 'gru' ? (a.resetAfter ?? true) : undefined,
    nonlinearity: s.cell === 'rnn' ? (a.nonlinearity ?? 'tanh') : undefined,
    attention: s.attention,
    inputFeed: s.inputFeed,
    seqLen: s.seqLen,
    batch: s.batch,
    srcLen: s.srcLen,
    inputSize: s.inputSize,
    memorySize: s.memorySize,
    hiddenSize: s.hiddenSize,
    attentionSize: s.attentionSize,
    numLayers: s.numLayers,
    x: a.x,
    memory: a.memory,
    srcLengths: c.srcLengths,
    h0: a.h0 ?? null,
    c0: s.cell === 'lstm' ? (a.c0 ?? null) : null,
    feed0: a.feed0 ?? null,
    layers: a.layers.map((l) => ({ weightIh: l.weightIh, weightHh: l.weightHh, biasIh: l.biasIh ?? null, biasHh: l.biasHh ?? null })),
    attn: Object.fromEntries(ATTN_USES[s.attention].map((k) => [k, a.attn[k] ?? null])),
    keys: s.attention === 'dot' ? null : (a.keys ?? null),
    keepCache: a.keepCache ?? true,
    returnAttention: a.returnAttention ?? true,
  };
}

/** The decode step's fields (forward only; absent ones stay off). */
function stepFields(a: AttnDecoderForwardArgs, c: Checked): NativeCallArgs {
  return {
    memoryBatch: c.M,
    memoryIndex: a.memoryIndex ?? null,
    stateRows: c.P,
    stateIndex: a.stateIndex ?? null,
    vocabSize: c.V,
    vocabWeight: c.V > 0 ? a.vocabWeight : null,
    vocabBias: c.V > 0 ? (a.vocabBias ?? null) : null,
  };
}

function forwardNative(
  a: AttnDecoderForwardArgs,
  c: Checked,
  alloc: Alloc,
): { fields: NativeCallArgs; result: () => AttnDecoderForwardResult } {
  const { s } = c;
  const R = s.seqLen * s.batch;
  const LBH = s.numLayers * s.batch * s.hiddenSize;
  const Kw = attnKeyWidth(s);
  const keysOut = Kw > 0 && !a.keys ? alloc(s.srcLen * c.M * Kw) : null;
  const out = {
    y: a.yOut ?? alloc(R * s.hiddenSize),
    attention: (a.returnAttention ?? true) ? (a.attentionOut ?? alloc(R * s.srcLen)) : null,
    hN: a.hOut ?? alloc(LBH),
    cN: s.cell === 'lstm' ? (a.cOut ?? alloc(LBH)) : null,
    cache: (a.keepCache ?? true) ? alloc(attnDecoderLayout(s).size) : null,
    logProbs: c.V > 0 ? (a.logProbsOut ?? alloc(R * c.V)) : null,
  };
  const result: AttnDecoderForwardResult = { ...out, keys: Kw === 0 ? null : (a.keys ?? keysOut) };
  // `attention` is the variant's name, so the attention output travels as `attentionOut` (its TS argument name).
  const { attention, logProbs, ...rest } = out;
  return {
    fields: Object.assign(inputFields(a, c), stepFields(a, c), rest, { attentionOut: attention, logProbsOut: logProbs, keysOut }),
    result: () => result,
  };
}

function backwardNative(a: AttnDecoderBackwardArgs, c: Checked, alloc: Alloc): { fields: NativeCallArgs; result: () => AttnDecoderGrads } {
  const { s } = c;
  const { batch: B, hiddenSize: H, numLayers: L, attentionSize: Aw, memorySize: E } = s;
  const G = GATES[s.cell] * H;
  const dLayers = a.layers.map((layer, l) => ({
    dWeightIh: alloc(G * (l === 0 ? s.inputSize + (s.inputFeed ? H : 0) : H)),
    dWeightHh: alloc(G * H),
    dBiasIh: layer.biasIh ? alloc(G) : null,
    dBiasHh: layer.biasHh ? alloc(G) : null,
  }));
  const dAttn: { -readonly [K in keyof AttnGrads]: AttnGrads[K] } = { dOutWeight: alloc(H * (E + H)) };
  if (s.attention === 'general') dAttn.dWeight = alloc(H * E);
  if (s.attention === 'concat') dAttn.dWeight = alloc(Aw * (H + E));
  if (s.attention === 'concat' || s.attention === 'additive') dAttn.dV = alloc(Aw);
  if (s.attention === 'additive') {
    dAttn.dQueryWeight = alloc(Aw * H);
    dAttn.dQueryBias = alloc(Aw);
    dAttn.dKeyWeight = alloc(Aw * E);
  }
  const out: AttnDecoderGrads = {
    dx: alloc(s.seqLen * B * s.inputSize),
    dMemory: alloc(s.srcLen * B * E),
    dh0: alloc(L * B * H),
    dc0: s.cell === 'lstm' ? alloc(L * B * H) : null,
    dFeed0: alloc(B * H),
    dLayers,
    dAttn,
  };
  const extra = {
    cache: a.cache,
    dy: a.dy ?? null,
    dhN: a.dhN ?? null,
    dcN: s.cell === 'lstm' ? (a.dcN ?? null) : null,
    dFeedN: a.dFeedN ?? null,
  };
  return { fields: Object.assign(inputFields(a, c), extra, out), result: () => out };
}

// ---------------------------------------------------------------------------------------------
// the ops

/** The twin's arguments: the checked fields with the lengths as an Int32Array. */
function twinArgs<T extends AttnDecoderForwardArgs>(a: T, c: Checked): T {
  return { ...a, attentionSize: c.s.attentionSize, srcLengths: c.srcLengths };
}

/** The attention decoder over all T steps (see the module comment); with T = 1 and carried state, the decode step. */
export const attnDecoderForward = defineOp('attnDecoderForward', (args: AttnDecoderForwardArgs): OpPlan<AttnDecoderForwardResult> => {
  const c = checkForward(objectArgs(args));
  return { js: () => jsForward<Float32Array>(twinArgs(args, c)), native: (alloc) => forwardNative(args, c, alloc) };
});

/** Gradients of {@link attnDecoderForward} from its cache (BPTT through layers, attention and input feeding). */
export const attnDecoderBackward = defineOp('attnDecoderBackward', (args: AttnDecoderBackwardArgs): OpPlan<AttnDecoderGrads> => {
  const c = checkBackward(objectArgs(args));
  return { js: () => jsBackward<Float32Array>(twinArgs(args, c)) as AttnDecoderGrads, native: (alloc) => backwardNative(args, c, alloc) };
});

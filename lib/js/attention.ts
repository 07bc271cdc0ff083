/**
 * The fused attention decoder, pure TypeScript: the readable reference for the native op
 * (lib/ops/attention.ts states the contract; /docs/ARCHITECTURE.md lists the files). An L-layer
 * unidirectional decoder (teacher forcing) with attention over an encoder memory and Luong input
 * feeding, over all T target steps in one call. Per step t and row b:
 *
 *   in_0 = inputFeed ? [x[t] ; feed[t-1]] : x[t]        in_l = h_{l-1}[t] (l >= 1)
 *   h_l[t] = cell_l(in_l, h_l[t-1], c_l[t-1])            (lib/js/{lstm,gru,rnn}.ts with seqLen 1)
 *   q = h_{L-1}[t]
 *   score_j = dot: q·m_j | general: q·(W m_j) | concat: v·tanh(Wq q + Wk m_j) | additive: v·tanh(Wq q + bq + Wk m_j)
 *   alpha = softmax over j < srcLengths[b] (0 beyond)    ctx = Σ alpha_j m_j
 *   y[t] = feed[t] = tanh(Wc [ctx ; q])
 *
 * The cells run through the whole-sequence twins with seqLen 1 (so the decoder's cell math is
 * exactly theirs); their per-step caches are copied into / out of the decoder's cache, whose layout
 * is lib/ops/layout.ts attnDecoderLayout. Backward recomputes tanh(query + keys) per step.
 * Generic over Float32Array / Float64Array: outputs take the type of `memory`.
 */
import {
  type AttentionKind,
  type Cell,
  attnDecoderLayout,
  attnKeyWidth,
  attnQueryWidth,
  cacheBlocks,
  cacheOffsets,
} from '../ops/layout.js';
import { type FloatArray, allocLike, columnSums, fillRows, gatherRows, gemmNN, gemmTN, logSoftmaxRows, transpose } from './common.js';
import { gruBackward, gruForward } from './gru.js';
import { lstmBackward, lstmForward } from './lstm.js';
import { linearForward } from './nn.js';
import { rnnBackward, rnnForward } from './rnn.js';

/** One decoder layer's weights (PyTorch layout, no peepholes). */
export interface JsAttnLayer<A extends FloatArray> {
  /** `[G*H, in_l]` */
  readonly weightIh: A;
  /** `[G*H, H]` */
  readonly weightHh: A;
  /** `[G*H]`, absent = zero. */
  readonly biasIh?: A | null;
  /** `[G*H]`, absent = zero. */
  readonly biasHh?: A | null;
}

/** The attention weights; which are present depends on the variant (lib/ops/attention.ts checks). */
export interface JsAttnWeights<A extends FloatArray> {
  /** general `[H, E]`; concat `[A, H + E]` (query columns first). */
  readonly weight?: A | null;
  /** additive `[A, H]` */
  readonly queryWeight?: A | null;
  /** additive `[A]` */
  readonly queryBias?: A | null;
  /** additive `[A, E]` */
  readonly keyWeight?: A | null;
  /** concat, additive `[A]` */
  readonly v?: A | null;
  /** `[H, E + H]` (context columns first). */
  readonly outWeight: A;
}

/** The decoder's forward arguments over any {@link FloatArray} (lib/ops/attention.ts documents each). */
export interface JsAttnDecoderForwardArgs<A extends FloatArray> {
  readonly cell: Cell;
  readonly resetAfter?: boolean;
  readonly nonlinearity?: 'tanh' | 'relu';
  readonly attention: AttentionKind;
  readonly inputFeed: boolean;
  readonly seqLen: number;
  readonly batch: number;
  readonly srcLen: number;
  readonly inputSize: number;
  readonly memorySize: number;
  readonly hiddenSize: number;
  readonly attentionSize?: number;
  readonly numLayers: number;
  /** `[T, B, D]` */
  readonly x: A;
  /** `[S, B, E]` */
  readonly memory: A;
  /** `[B]`, each in [1, S]; absent = all S. */
  readonly srcLengths?: Int32Array | readonly number[] | null;
  /** `[L, B, H]`, absent = zeros. */
  readonly h0?: A | null;
  /** lstm `[L, B, H]`, absent = zeros. */
  readonly c0?: A | null;
  /** `[B, H]`, absent = zeros. */
  readonly feed0?: A | null;
  readonly layers: readonly JsAttnLayer<A>[];
  readonly attn: JsAttnWeights<A>;
  /** `[S, B, Kw]` precomputed keys; absent = computed here. */
  readonly keys?: A | null;
  /** Default true. */
  readonly keepCache?: boolean;
  /** Default true. */
  readonly returnAttention?: boolean;
  /** Where to write y `[T, B, H]`. */
  readonly yOut?: A | null;
  /** Where to write hN `[L, B, H]` (may alias h0). */
  readonly hOut?: A | null;
  /** Where to write cN `[L, B, H]` (may alias c0). */
  readonly cOut?: A | null;
  /** Where to write the attention `[T, B, S]`. */
  readonly attentionOut?: A | null;
  /** The decode step's gathers: memory `[S, M, E]` (M = memoryBatch), row b reads column memoryIndex[b]. */
  readonly memoryBatch?: number;
  readonly memoryIndex?: Int32Array | null;
  /** h0 / c0 `[L, P, H]`, feed0 `[P, H]` (P = stateRows), row b starts from state row stateIndex[b]. */
  readonly stateRows?: number;
  readonly stateIndex?: Int32Array | null;
  /** The output layer: logProbs `[T, B, V]` = log_softmax(y vocabWeight^T + vocabBias) per row. */
  readonly vocabSize?: number;
  readonly vocabWeight?: A | null;
  readonly vocabBias?: A | null;
  readonly logProbsOut?: A | null;
}

/** The decoder's forward result. */
export interface JsAttnDecoderForwardResult<A extends FloatArray> {
  /** `[T, B, H]` */
  readonly y: A;
  /** `[T, B, S]`, null when `returnAttention` was false. */
  readonly attention: A | null;
  /** `[L, B, H]` */
  readonly hN: A;
  /** `[L, B, H]` (lstm), else null. */
  readonly cN: A | null;
  /** `[S, B, Kw]` the keys used (the given ones, when given); null for dot. */
  readonly keys: A | null;
  /** Layout: attnDecoderLayout; null when `keepCache` was false. */
  readonly cache: A | null;
  /** `[T, B, V]` with a vocabWeight, else null. */
  readonly logProbs: A | null;
}

/** Backward's arguments: the forward's plus these. */
export interface JsAttnDecoderBackwardArgs<A extends FloatArray> extends JsAttnDecoderForwardArgs<A> {
  /** The forward's cache. */
  readonly cache: A;
  /** `[T, B, H]`, absent = zero. */
  readonly dy?: A | null;
  /** `[L, B, H]`, absent = zero. */
  readonly dhN?: A | null;
  /** lstm `[L, B, H]`, absent = zero. */
  readonly dcN?: A | null;
  /** `[B, H]` gradient of the last step's feed beyond dy; absent = zero. */
  readonly dFeedN?: A | null;
}

/** One layer's weight gradients. */
export interface JsAttnLayerGrads<A extends FloatArray> {
  readonly dWeightIh: A;
  readonly dWeightHh: A;
  /** null when `biasIh` was not given. */
  readonly dBiasIh: A | null;
  /** null when `biasHh` was not given. */
  readonly dBiasHh: A | null;
}

/** The attention weights' gradients (those the variant has). */
export interface JsAttnGrads<A extends FloatArray> {
  readonly dWeight?: A;
  readonly dQueryWeight?: A;
  readonly dQueryBias?: A;
  readonly dKeyWeight?: A;
  readonly dV?: A;
  readonly dOutWeight: A;
}

/** The decoder's gradients (new arrays). */
export interface JsAttnDecoderGrads<A extends FloatArray> {
  /** `[T, B, D]` */
  readonly dx: A;
  /** `[S, B, E]` */
  readonly dMemory: A;
  /** `[L, B, H]` */
  readonly dh0: A;
  /** lstm `[L, B, H]`, else null. */
  readonly dc0: A | null;
  /** `[B, H]` (zeros without input feeding). */
  readonly dFeed0: A;
  readonly dLayers: JsAttnLayerGrads<A>[];
  readonly dAttn: JsAttnGrads<A>;
}

// ---------------------------------------------------------------------------------------------
// the cells, one step, through the whole-sequence twins

interface StepState<A extends FloatArray> {
  readonly y: A;
  readonly hN: A;
  readonly cN: A | null;
  readonly cache: A | null;
}

function cellStepForward<A extends FloatArray>(
  a: JsAttnDecoderForwardArgs<A>,
  layer: JsAttnLayer<A>,
  inputSize: number,
  x: A,
  h: A,
  c: A | null,
  keepCache: boolean,
): StepState<A> {
  const args = {
    seqLen: 1,
    batch: a.batch,
    inputSize,
    hiddenSize: a.hiddenSize,
    x,
    weightIh: layer.weightIh,
    weightHh: layer.weightHh,
    biasIh: layer.biasIh ?? null,
    biasHh: layer.biasHh ?? null,
    h0: h,
    keepCache,
  };
  if (a.cell === 'lstm') {
    const r = lstmForward<A>({ ...args, c0: c });
    return { y: r.y, hN: r.hN, cN: r.cN, cache: r.cache };
  }
  const r =
    a.cell === 'gru'
      ? gruForward<A>({ ...args, resetAfter: a.resetAfter ?? true })
      : rnnForward<A>({ ...args, nonlinearity: a.nonlinearity ?? 'tanh' });
  return { y: r.y, hN: r.hN, cN: null, cache: r.cache };
}

function cellStepBackward<A extends FloatArray>(
  a: JsAttnDecoderForwardArgs<A>,
  layer: JsAttnLayer<A>,
  inputSize: number,
  x: A,
  cache: A,
  dy: A,
  dh: A,
  dc: A | null,
): { dx: A; dh0: A; dc0: A | null; dWeightIh: A; dWeightHh: A; dBiasIh: A | null; dBiasHh: A | null } {
  const args = {
    seqLen: 1,
    batch: a.batch,
    inputSize,
    hiddenSize: a.hiddenSize,
    x,
    weightIh: layer.weightIh,
    weightHh: layer.weightHh,
    biasIh: layer.biasIh ?? null,
    biasHh: layer.biasHh ?? null,
    cache,
    dy,
    dhN: dh,
  };
  if (a.cell === 'lstm') return lstmBackward<A>({ ...args, dcN: dc });
  const g =
    a.cell === 'gru'
      ? gruBackward<A>({ ...args, resetAfter: a.resetAfter ?? true })
      : rnnBackward<A>({ ...args, nonlinearity: a.nonlinearity ?? 'tanh' });
  return { ...g, dc0: null };
}

/** Copies step t's rows of every cell block between the decoder cache and a one-step cell cache. */
function copyCellCache<A extends FloatArray>(
  cell: Cell,
  big: A,
  offsets: Readonly<Record<string, number>>,
  small: A,
  t: number,
  B: number,
  H: number,
  toBig: boolean,
): void {
  const rel = cacheOffsets(cell, B, H) as Readonly<Record<string, number>>;
  for (const [name, w] of cacheBlocks(cell)) {
    const n = B * w * H;
    const at = offsets[name] + t * n;
    if (toBig) big.set(small.subarray(rel[name], rel[name] + n), at);
    else small.set(big.subarray(at, at + n), rel[name]);
  }
}

// ---------------------------------------------------------------------------------------------
// attention pieces

/** `out [rows, n] = X [rows, k] · W^T (+ bias)` with W `[n, k]` given transposed (`wT [k, n]`). */
function affine<A extends FloatArray>(x: A, rows: number, k: number, wT: A, n: number, bias: A | null | undefined): A {
  const out = allocLike(x, rows * n);
  fillRows(out, rows, n, bias);
  gemmNN(rows, n, k, x, 0, k, wT, 0, n, out, 0, n);
  return out;
}

/** The key projection matrix `[Kw, E]` (concat: the key columns of `weight`), or null for dot. */
function keyMatrix<A extends FloatArray>(a: JsAttnDecoderForwardArgs<A>): A | null {
  const { attention, hiddenSize: H, memorySize: E, attn } = a;
  if (attention === 'dot') return null;
  if (attention === 'general') return attn.weight as A;
  if (attention === 'additive') return attn.keyWeight as A;
  const Aw = a.attentionSize ?? 0;
  const w = attn.weight as A;
  const out = allocLike(w, Aw * E);
  for (let i = 0; i < Aw; i++) out.set(w.subarray(i * (H + E) + H, (i + 1) * (H + E)), i * E);
  return out;
}

/** The query projection matrix `[A, H]` (concat: the query columns of `weight`), or null. */
function queryMatrix<A extends FloatArray>(a: JsAttnDecoderForwardArgs<A>): A | null {
  const { attention, hiddenSize: H, memorySize: E, attn } = a;
  if (attention === 'additive') return attn.queryWeight as A;
  if (attention !== 'concat') return null;
  const Aw = a.attentionSize ?? 0;
  const w = attn.weight as A;
  const out = allocLike(w, Aw * H);
  for (let i = 0; i < Aw; i++) out.set(w.subarray(i * (H + E), i * (H + E) + H), i * H);
  return out;
}

/** The keys `[S*B, Kw]` = memory · Wk^T, or null for dot. */
export function attnKeys<A extends FloatArray>(a: JsAttnDecoderForwardArgs<A>): A | null {
  const wk = keyMatrix(a);
  if (!wk) return null;
  const Kw = attnKeyWidth(a);
  return affine(a.memory, a.srcLen * a.batch, a.memorySize, transpose(wk, Kw, a.memorySize), Kw, null);
}

function lengthsOf(a: JsAttnDecoderForwardArgs<FloatArray>): Int32Array {
  const out = new Int32Array(a.batch);
  for (let b = 0; b < a.batch; b++) out[b] = a.srcLengths ? a.srcLengths[b] : a.srcLen;
  return out;
}

// ---------------------------------------------------------------------------------------------
// forward

/** The decoder over all T steps (see the module comment). */
export function attnDecoderForward<A extends FloatArray>(a: JsAttnDecoderForwardArgs<A>): JsAttnDecoderForwardResult<A> {
  const { seqLen: T, batch: B, srcLen: S, hiddenSize: H, numLayers: L } = a;
  let args = a;
  // The decode step's gathers, made explicit: the per-row memory, lengths, keys and states.
  let keysM: A | null = null;
  if (a.memoryIndex) {
    const M = a.memoryBatch ?? B;
    const idx = a.memoryIndex;
    const lens = a.srcLengths;
    keysM = a.attention === 'dot' ? null : (a.keys ?? attnKeys({ ...a, batch: M }));
    args = {
      ...args,
      memory: gatherRows(a.memory, S, M, a.memorySize, idx),
      keys: keysM && gatherRows(keysM, S, M, attnKeyWidth(a), idx),
      srcLengths: lens ? Int32Array.from(idx, (i) => lens[i]) : null,
    };
  }
  if (a.stateIndex) {
    const P = a.stateRows ?? B;
    const idx = a.stateIndex;
    args = {
      ...args,
      h0: a.h0 && gatherRows(a.h0, L, P, H, idx),
      c0: a.c0 && gatherRows(a.c0, L, P, H, idx),
      feed0: a.feed0 && gatherRows(a.feed0, 1, P, H, idx),
    };
  }
  const r = decoderForward(args);
  let logProbs: A | null = null;
  if (a.vocabWeight) {
    const V = a.vocabSize ?? 0;
    logProbs = a.logProbsOut ?? allocLike(r.y, T * B * V);
    linearForward(r.y, a.vocabWeight, a.vocabBias ?? null, T * B, H, V, logProbs);
    logSoftmaxRows(logProbs, T * B, V);
  }
  return { ...r, keys: a.memoryIndex ? keysM : r.keys, logProbs };
}

function decoderForward<A extends FloatArray>(a: JsAttnDecoderForwardArgs<A>): Omit<JsAttnDecoderForwardResult<A>, 'logProbs'> {
  const { cell, attention, inputFeed, seqLen: T, batch: B, srcLen: S, inputSize: D, memorySize: E, hiddenSize: H, numLayers: L } = a;
  const like = a.memory;
  const R = T * B;
  const lay = attnDecoderLayout(a);
  const Aw = attnQueryWidth(a);
  const Kw = attnKeyWidth(a);
  const keepCache = a.keepCache ?? true;
  const lens = lengthsOf(a);
  const lstm = cell === 'lstm';

  const y = a.yOut ?? allocLike(like, R * H);
  const attentionOut = (a.returnAttention ?? true) ? (a.attentionOut ?? allocLike(like, R * S)) : null;
  const cache = keepCache ? allocLike(like, lay.size) : null;

  const hs: A[] = [];
  const cs: (A | null)[] = [];
  for (let l = 0; l < L; l++) {
    const h = allocLike(like, B * H);
    if (a.h0) h.set(a.h0.subarray(l * B * H, (l + 1) * B * H));
    hs.push(h);
    const c = lstm ? allocLike(like, B * H) : null;
    if (c && a.c0) c.set(a.c0.subarray(l * B * H, (l + 1) * B * H));
    cs.push(c);
  }
  const feed = allocLike(like, B * H);
  if (a.feed0) feed.set(a.feed0.subarray(0, B * H));

  const keys = attention === 'dot' ? null : (a.keys ?? attnKeys(a));
  const wq = queryMatrix(a);
  const wqT = wq ? transpose(wq, Aw, H) : null;
  const bq = attention === 'additive' ? a.attn.queryBias : null;
  const v = a.attn.v;
  const wcT = transpose(a.attn.outWeight, H, E + H);
  const { memory } = a;
  const in0W = D + (inputFeed ? H : 0);
  const in0 = allocLike(like, B * in0W);
  const cq = allocLike(like, B * (E + H)); // [ctx ; q] per row
  const score = new Float64Array(S);

  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      in0.set(a.x.subarray((t * B + b) * D, (t * B + b + 1) * D), b * in0W);
      if (inputFeed) in0.set(feed.subarray(b * H, (b + 1) * H), b * in0W + D);
    }
    let input: A = in0;
    for (let l = 0; l < L; l++) {
      const inW = lay.layers[l].inputWidth;
      const st = cellStepForward(a, a.layers[l], inW, input, hs[l], cs[l], keepCache);
      if (cache && st.cache) {
        cache.set(input.subarray(0, B * inW), lay.layers[l].input + t * B * inW);
        copyCellCache(cell, cache, lay.layers[l].cell, st.cache, t, B, H, true);
      }
      hs[l] = st.hN;
      cs[l] = st.cN;
      input = st.hN;
    }
    const q = hs[L - 1];
    const query = wqT ? affine(q, B, H, wqT, Aw, bq) : null;
    for (let b = 0; b < B; b++) {
      const len = lens[b];
      let max = -Infinity;
      for (let j = 0; j < len; j++) {
        const r = j * B + b;
        let s = 0;
        if (attention === 'dot') for (let i = 0; i < H; i++) s += q[b * H + i] * memory[r * E + i];
        else if (attention === 'general') for (let i = 0; i < H; i++) s += q[b * H + i] * (keys as A)[r * H + i];
        else for (let i = 0; i < Aw; i++) s += (v as A)[i] * Math.tanh((query as A)[b * Aw + i] + (keys as A)[r * Aw + i]);
        score[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < len; j++) {
        score[j] = Math.exp(score[j] - max);
        sum += score[j];
      }
      const row = t * B + b;
      const ctxAt = b * (E + H);
      cq.fill(0, ctxAt, ctxAt + E);
      for (let j = 0; j < S; j++) {
        const al = j < len ? score[j] / sum : 0;
        if (attentionOut) attentionOut[row * S + j] = al;
        if (cache) cache[lay.alpha + row * S + j] = al;
        if (al === 0) continue;
        for (let e = 0; e < E; e++) cq[ctxAt + e] += al * memory[(j * B + b) * E + e];
      }
      cq.set(q.subarray(b * H, (b + 1) * H), ctxAt + E);
    }
    const u = affine(cq, B, E + H, wcT, H, null);
    for (let k = 0; k < B * H; k++) u[k] = Math.tanh(u[k]);
    y.set(u, t * B * H);
    if (inputFeed) feed.set(u);
    if (cache) {
      cache.set(q, lay.hTop + t * B * H);
      if (query) cache.set(query, lay.query + t * B * Aw);
      for (let b = 0; b < B; b++) cache.set(cq.subarray(b * (E + H), b * (E + H) + E), lay.ctx + (t * B + b) * E);
      cache.set(u, lay.y + t * B * H);
    }
  }
  if (cache && keys) cache.set(keys.subarray(0, S * B * Kw), lay.keys);

  const hN = a.hOut ?? allocLike(like, L * B * H);
  const cN = lstm ? (a.cOut ?? allocLike(like, L * B * H)) : null;
  for (let l = 0; l < L; l++) {
    hN.set(hs[l], l * B * H);
    if (cN) cN.set(cs[l] as A, l * B * H);
  }
  return { y, attention: attentionOut, hN, cN, keys, cache };
}

// ---------------------------------------------------------------------------------------------
// backward

/** Gradients of the decoder (BPTT through the layers, the attention and input feeding). */
export function attnDecoderBackward<A extends FloatArray>(a: JsAttnDecoderBackwardArgs<A>): JsAttnDecoderGrads<A> {
  const {
    cell,
    attention,
    inputFeed,
    seqLen: T,
    batch: B,
    srcLen: S,
    inputSize: D,
    memorySize: E,
    hiddenSize: H,
    numLayers: L,
    cache,
    memory,
  } = a;
  const like = memory;
  const lay = attnDecoderLayout(a);
  const Aw = attnQueryWidth(a);
  const Kw = attnKeyWidth(a);
  const lens = lengthsOf(a);
  const lstm = cell === 'lstm';
  const SB = S * B;
  const EH = E + H;

  const dx = allocLike(like, T * B * D);
  const dMemory = allocLike(like, SB * E);
  const dKeys = Kw > 0 ? allocLike(like, SB * Kw) : null;
  const dOutWeight = allocLike(like, H * EH);
  const dV = attention === 'concat' || attention === 'additive' ? allocLike(like, Aw) : null;
  const dWq = attention === 'concat' || attention === 'additive' ? allocLike(like, Aw * H) : null;
  const dbq = attention === 'additive' ? allocLike(like, Aw) : null;
  const wq = queryMatrix(a);
  const v = a.attn.v;
  const keysAt = lay.keys;

  const dLayers = a.layers.map((layer, l) => {
    const inW = lay.layers[l].inputWidth;
    const G = layer.weightHh.length / H;
    return {
      dWeightIh: allocLike(like, G * inW),
      dWeightHh: allocLike(like, G * H),
      dBiasIh: layer.biasIh ? allocLike(like, G) : null,
      dBiasHh: layer.biasHh ? allocLike(like, G) : null,
    };
  });
  const dh: A[] = [];
  const dc: (A | null)[] = [];
  for (let l = 0; l < L; l++) {
    const d = allocLike(like, B * H);
    if (a.dhN) d.set(a.dhN.subarray(l * B * H, (l + 1) * B * H));
    dh.push(d);
    const e = lstm ? allocLike(like, B * H) : null;
    if (e && a.dcN) e.set(a.dcN.subarray(l * B * H, (l + 1) * B * H));
    dc.push(e);
  }
  let dFeed = allocLike(like, B * H);
  if (a.dFeedN) dFeed.set(a.dFeedN.subarray(0, B * H));

  const du = allocLike(like, B * H);
  const cq = allocLike(like, B * EH);
  const dcq = allocLike(like, B * EH);
  const dq = allocLike(like, B * H);
  const dquery = Aw > 0 ? allocLike(like, B * Aw) : null;
  const dAlpha = new Float64Array(S);
  const smallCache = allocLike(like, cacheBlocks(cell).reduce((s, [, w]) => s + w, 0) * B * H);

  for (let t = T - 1; t >= 0; t--) {
    const r0 = t * B;
    // y = tanh(Wc [ctx ; q])
    for (let k = 0; k < B * H; k++) {
      const yv = cache[lay.y + r0 * H + k];
      du[k] = ((a.dy ? a.dy[r0 * H + k] : 0) + dFeed[k]) * (1 - yv * yv);
    }
    for (let b = 0; b < B; b++) {
      cq.set(cache.subarray(lay.ctx + (r0 + b) * E, lay.ctx + (r0 + b + 1) * E), b * EH);
      cq.set(cache.subarray(lay.hTop + (r0 + b) * H, lay.hTop + (r0 + b + 1) * H), b * EH + E);
    }
    gemmTN(H, EH, B, du, 0, H, cq, 0, EH, dOutWeight, 0, EH);
    dcq.fill(0);
    gemmNN(B, EH, H, du, 0, H, a.attn.outWeight, 0, EH, dcq, 0, EH);
    if (dquery) dquery.fill(0);
    for (let b = 0; b < B; b++) {
      const row = r0 + b;
      const len = lens[b];
      const qAt = lay.hTop + row * H;
      for (let i = 0; i < H; i++) dq[b * H + i] = dcq[b * EH + E + i];
      // ctx = Σ alpha_j m_j
      let dot = 0;
      for (let j = 0; j < len; j++) {
        const al = cache[lay.alpha + row * S + j];
        const m = (j * B + b) * E;
        let s = 0;
        for (let e = 0; e < E; e++) {
          s += dcq[b * EH + e] * memory[m + e];
          dMemory[m + e] += al * dcq[b * EH + e];
        }
        dAlpha[j] = s;
        dot += al * s;
      }
      // softmax, then the score
      for (let j = 0; j < len; j++) {
        const ds = cache[lay.alpha + row * S + j] * (dAlpha[j] - dot);
        const r = j * B + b;
        if (attention === 'dot') {
          for (let i = 0; i < H; i++) {
            dq[b * H + i] += ds * memory[r * E + i];
            dMemory[r * E + i] += ds * cache[qAt + i];
          }
        } else if (attention === 'general') {
          for (let i = 0; i < H; i++) {
            dq[b * H + i] += ds * cache[keysAt + r * H + i];
            (dKeys as A)[r * H + i] += ds * cache[qAt + i];
          }
        } else {
          const qr = lay.query + row * Aw;
          for (let i = 0; i < Aw; i++) {
            const th = Math.tanh(cache[qr + i] + cache[keysAt + r * Aw + i]);
            (dV as A)[i] += ds * th;
            const dpre = ds * (v as A)[i] * (1 - th * th);
            (dquery as A)[b * Aw + i] += dpre;
            (dKeys as A)[r * Aw + i] += dpre;
          }
        }
      }
    }
    if (dquery && wq && dWq) {
      gemmNN(B, H, Aw, dquery, 0, Aw, wq, 0, H, dq, 0, H);
      gemmTN(Aw, H, B, dquery, 0, Aw, cache, lay.hTop + r0 * H, H, dWq, 0, H);
      if (dbq) {
        const s = columnSums(dquery, B, Aw);
        for (let i = 0; i < Aw; i++) dbq[i] += s[i];
      }
    }
    // the layers, top to bottom
    let dIn: A = dq;
    for (let l = L - 1; l >= 0; l--) {
      const inW = lay.layers[l].inputWidth;
      copyCellCache(cell, cache, lay.layers[l].cell, smallCache, t, B, H, false);
      const inAt = lay.layers[l].input + r0 * inW;
      const x = cache.subarray(inAt, inAt + B * inW) as A;
      const g = cellStepBackward(a, a.layers[l], inW, x, smallCache, dIn, dh[l], dc[l]);
      dh[l] = g.dh0;
      dc[l] = g.dc0;
      const acc = dLayers[l];
      addInto(acc.dWeightIh, g.dWeightIh);
      addInto(acc.dWeightHh, g.dWeightHh);
      if (acc.dBiasIh && g.dBiasIh) addInto(acc.dBiasIh, g.dBiasIh);
      if (acc.dBiasHh && g.dBiasHh) addInto(acc.dBiasHh, g.dBiasHh);
      dIn = g.dx;
    }
    const nextFeed = allocLike(like, B * H);
    for (let b = 0; b < B; b++) {
      dx.set(dIn.subarray(b * in0Width(a), b * in0Width(a) + D), (r0 + b) * D);
      if (inputFeed) nextFeed.set(dIn.subarray(b * in0Width(a) + D, (b + 1) * in0Width(a)), b * H);
    }
    dFeed = nextFeed;
  }

  // keys = memory · Wk^T
  const dAttn: { -readonly [K in keyof JsAttnGrads<A>]: JsAttnGrads<A>[K] } = { dOutWeight };
  if (attention === 'general' && dKeys) {
    const w = a.attn.weight as A;
    const dW = allocLike(like, H * E);
    gemmTN(H, E, SB, dKeys, 0, H, memory, 0, E, dW, 0, E);
    gemmNN(SB, E, H, dKeys, 0, H, w, 0, E, dMemory, 0, E);
    dAttn.dWeight = dW;
  } else if (attention === 'concat' && dKeys && dWq && dV) {
    const w = a.attn.weight as A;
    const dW = allocLike(like, Aw * (H + E));
    for (let i = 0; i < Aw; i++) dW.set(dWq.subarray(i * H, (i + 1) * H), i * (H + E));
    gemmTN(Aw, E, SB, dKeys, 0, Aw, memory, 0, E, dW, H, H + E);
    gemmNN(SB, E, Aw, dKeys, 0, Aw, w, H, H + E, dMemory, 0, E);
    dAttn.dWeight = dW;
    dAttn.dV = dV;
  } else if (attention === 'additive' && dKeys && dWq && dV && dbq) {
    const dK = allocLike(like, Aw * E);
    gemmTN(Aw, E, SB, dKeys, 0, Aw, memory, 0, E, dK, 0, E);
    gemmNN(SB, E, Aw, dKeys, 0, Aw, a.attn.keyWeight as A, 0, E, dMemory, 0, E);
    dAttn.dQueryWeight = dWq;
    dAttn.dQueryBias = dbq;
    dAttn.dKeyWeight = dK;
    dAttn.dV = dV;
  }

  const dh0 = allocLike(like, L * B * H);
  const dc0 = lstm ? allocLike(like, L * B * H) : null;
  for (let l = 0; l < L; l++) {
    dh0.set(dh[l], l * B * H);
    if (dc0) dc0.set(dc[l] as A, l * B * H);
  }
  return { dx, dMemory, dh0, dc0, dFeed0: dFeed, dLayers, dAttn };
}

function in0Width(a: JsAttnDecoderForwardArgs<FloatArray>): number {
  return a.inputSize + (a.inputFeed ? a.hiddenSize : 0);
}

function addInto(acc: FloatArray, g: FloatArray): void {
  for (let i = 0; i < acc.length; i++) acc[i] += g[i];
}

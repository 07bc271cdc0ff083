/**
 * The one TypeScript table of the cells' gate counts and cache layouts (the C++ side has its view
 * structs in native/cells.h and native/jordan.h; test/ops/layout.test.ts checks the two agree through
 * the ops). The pure-TS twins (lib/js/), the ops' size checks (lib/ops/cells.ts, lib/ops/jordan.ts)
 * and the public `cacheSize` read it.
 *
 * A cache, written by forward and read by backward, is a list of blocks, each `[T*B, width]` and
 * indexed by time t (row `t*B + b`), in this order; rows at masked steps are zero:
 *
 *   rnn     [hPrev H | hNew H]                                           2*T*B*H
 *   lstm    [gates 4H (activated i,f,g,o) | hPrev H | cPrev H | c H | tanhC H]   8*T*B*H
 *   gru     [gates 3H (activated r,z,n) | hPrev H | hn H]                5*T*B*H
 *           hn = W_hn h_prev + b_hn (reset after) or r ⊙ h_prev (reset before)
 *   jordan  [yPrev O | h H | y O]                                        T*B*(2*O + H)
 */
import { checkSize, describe } from '../check.js';
import { ValueError } from '../errors.js';

/** Sizes of one whole-sequence call. All are non-negative integers. */
export interface SeqSizes {
  /** Number of time steps T. */
  readonly seqLen: number;
  /** Number of sequences B. */
  readonly batch: number;
  /** Features per input step D. */
  readonly inputSize: number;
  /** Hidden units H. */
  readonly hiddenSize: number;
}

/** The gated cells of lib/ops/cells.ts. */
export type Cell = 'rnn' | 'lstm' | 'gru';

/** Gates G per cell: weights are `[G*H, D]` and `[G*H, H]`. RNN 1; LSTM 4 (i, f, g, o); GRU 3 (r, z, n). */
export const GATES: Readonly<Record<Cell, number>> = { rnn: 1, lstm: 4, gru: 3 };

/** Each cell's cache blocks in order, with their widths in units of H. */
const BLOCKS = {
  rnn: [
    ['hPrev', 1],
    ['hNew', 1],
  ],
  lstm: [
    ['gates', 4],
    ['hPrev', 1],
    ['cPrev', 1],
    ['c', 1],
    ['tanhC', 1],
  ],
  gru: [
    ['gates', 3],
    ['hPrev', 1],
    ['hn', 1],
  ],
} as const satisfies Record<Cell, readonly (readonly [string, number])[]>;

type BlockName<C extends Cell> = (typeof BLOCKS)[C][number][0];

/** `cell`'s cache blocks in order: name and width in units of H. */
export function cacheBlocks(cell: Cell): readonly (readonly [string, number])[] {
  return BLOCKS[cell];
}

/** Cache width per row, in units of H: the cache holds `width*T*B*H` floats. */
export const cacheWidth: Readonly<Record<Cell, number>> = {
  rnn: BLOCKS.rnn.reduce((s, b) => s + b[1], 0),
  lstm: BLOCKS.lstm.reduce((s, b) => s + b[1], 0),
  gru: BLOCKS.gru.reduce((s, b) => s + b[1], 0),
};

/** Offsets, in floats, of `cell`'s cache blocks for `rows = T*B` rows of `H` units. */
export function cacheOffsets<C extends Cell>(cell: C, rows: number, H: number): Readonly<Record<BlockName<C>, number>> {
  const out: Record<string, number> = {};
  let at = 0;
  for (const [name, w] of BLOCKS[cell]) {
    out[name] = at;
    at += w * rows * H;
  }
  return out as Record<BlockName<C>, number>;
}

/** Floats in the forward cache of `cell` for the sizes `s` (what backward's `cache` must hold). */
export function cacheSize(cell: Cell, s: Pick<SeqSizes, 'seqLen' | 'batch' | 'hiddenSize'>): number {
  if (typeof cell !== 'string' || !Object.hasOwn(cacheWidth, cell))
    throw new ValueError(`expected 'rnn', 'lstm' or 'gru', got ${describe(cell)}`, 'cell');
  if (typeof s !== 'object' || s === null)
    throw new ValueError(`expected an object { seqLen, batch, hiddenSize }, got ${describe(s)}`, 'sizes');
  return cacheWidth[cell] * checkSize(s.seqLen, 'seqLen') * checkSize(s.batch, 'batch') * checkSize(s.hiddenSize, 'hiddenSize');
}

/** Offsets of the Jordan cache blocks `[yPrev O | h H | y O]` for `rows = T*B`. */
export function jordanCacheOffsets(rows: number, H: number, O: number): { readonly yPrev: number; readonly h: number; readonly y: number } {
  return { yPrev: 0, h: rows * O, y: rows * (O + H) };
}

/** Width of a Jordan cache row: `2*O + H`. */
export function jordanCacheWidth(H: number, O: number): number {
  return 2 * O + H;
}

// ---- the fused attention decoder (lib/ops/attention.ts) ----

/** The attention scores of the fused decoder: Luong dot, general, concat; Bahdanau additive. */
export type AttentionKind = 'dot' | 'general' | 'concat' | 'additive';

/** The sizes that fix the attention decoder's cache layout. */
export interface AttnDecoderSizes {
  readonly cell: Cell;
  readonly attention: AttentionKind;
  readonly inputFeed: boolean;
  /** T */
  readonly seqLen: number;
  /** B */
  readonly batch: number;
  /** S */
  readonly srcLen: number;
  /** D */
  readonly inputSize: number;
  /** E */
  readonly memorySize: number;
  /** H */
  readonly hiddenSize: number;
  /** A (concat, additive; ignored otherwise). */
  readonly attentionSize?: number;
  /** L */
  readonly numLayers: number;
}

/** Offsets, in floats, of the attention decoder's cache blocks, and its total size. */
export interface AttnDecoderCacheOffsets {
  /** Per layer: its input block `in_l [R, inW_l]` and its cell's blocks (absolute offsets). */
  readonly layers: readonly { readonly input: number; readonly inputWidth: number; readonly cell: Readonly<Record<string, number>> }[];
  /** `[R, H]` the query (top layer's output) per step. */
  readonly hTop: number;
  /** `[R, A]` (concat, additive; 0 wide otherwise). */
  readonly query: number;
  /** `[R, S]` */
  readonly alpha: number;
  /** `[R, E]` */
  readonly ctx: number;
  /** `[R, H]` the attentional output tanh(Wc [ctx; q]). */
  readonly y: number;
  /** `[S*B, Kw]` the keys (Kw: H general, A concat/additive, 0 dot). */
  readonly keys: number;
  /** Total floats. */
  readonly size: number;
}

/** Width of the attention decoder's keys: H for general, A for concat/additive, 0 for dot. */
export function attnKeyWidth(s: Pick<AttnDecoderSizes, 'attention' | 'hiddenSize' | 'attentionSize'>): number {
  if (s.attention === 'dot') return 0;
  if (s.attention === 'general') return s.hiddenSize;
  return s.attentionSize ?? 0;
}

/** Width of the attention decoder's query block: A for concat/additive, 0 for dot/general. */
export function attnQueryWidth(s: Pick<AttnDecoderSizes, 'attention' | 'attentionSize'>): number {
  return s.attention === 'concat' || s.attention === 'additive' ? (s.attentionSize ?? 0) : 0;
}

/**
 * The attention decoder's cache layout (rows R = T*B, row t*B + b), blocks in this order:
 * per layer l: `in_l [R, inW_l]` then the cell's blocks ({@link cacheOffsets} for R rows);
 * `hTop [R, H]`, `query [R, A]`, `alpha [R, S]`, `ctx [R, E]`, `y [R, H]`, `keys [S*B, Kw]`.
 * Sizes are taken as given (lib/ops/attention.ts checks them).
 */
export function attnDecoderLayout(s: AttnDecoderSizes): AttnDecoderCacheOffsets {
  const R = s.seqLen * s.batch;
  const H = s.hiddenSize;
  const layers: { input: number; inputWidth: number; cell: Record<string, number> }[] = [];
  let at = 0;
  for (let l = 0; l < s.numLayers; l++) {
    const inputWidth = l === 0 ? s.inputSize + (s.inputFeed ? H : 0) : H;
    const input = at;
    at += R * inputWidth;
    const rel = cacheOffsets(s.cell, R, H) as Record<string, number>;
    const cell: Record<string, number> = {};
    for (const k of Object.keys(rel)) cell[k] = at + rel[k];
    at += cacheWidth[s.cell] * R * H;
    layers.push({ input, inputWidth, cell });
  }
  const hTop = at;
  at += R * H;
  const query = at;
  at += R * attnQueryWidth(s);
  const alpha = at;
  at += R * s.srcLen;
  const ctx = at;
  at += R * s.memorySize;
  const y = at;
  at += R * H;
  const keys = at;
  at += s.srcLen * s.batch * attnKeyWidth(s);
  return { layers, hTop, query, alpha, ctx, y, keys, size: at };
}

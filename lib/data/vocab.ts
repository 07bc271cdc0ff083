/**
 * Token <-> id mapping for token models, and the two tokenizers the examples use.
 *
 * Ids are dense: the special tokens first (in the order pad, unk, bos, eos, skipping those turned
 * off), then the ordinary tokens. With the defaults `<pad>` is 0 and `<unk>` is 1, so a zero-filled
 * id buffer is all padding.
 */

import { describe, isDetached } from '../check.js';
import { FormatError, ValueError } from '../errors.js';

/** Which special tokens a vocabulary reserves. `null` turns one off. */
export interface SpecialTokens {
  /** Padding token; default `'<pad>'`. Gets id 0 when present. */
  readonly pad?: string | null;
  /** Stand-in for out-of-vocabulary tokens; default `'<unk>'`. Without it, encoding an unknown token throws. */
  readonly unk?: string | null;
  /** Beginning-of-sequence token; default `null` (none). */
  readonly bos?: string | null;
  /** End-of-sequence token; default `null` (none). */
  readonly eos?: string | null;
}

/** Options of {@link Vocabulary.build}. */
export interface BuildVocabularyOptions {
  /** Tokens seen fewer times are left out (and encode as unk); default 1. */
  readonly minCount?: number;
  /** Largest vocabulary size, special tokens included; default `Infinity`. */
  readonly maxSize?: number;
  /** Reserved tokens; default `{ pad: '<pad>', unk: '<unk>', bos: null, eos: null }`. */
  readonly specials?: SpecialTokens;
}

/** Options of {@link Vocabulary.encode}. */
export interface EncodeOptions {
  /** Prepend the bos id; default false. Throws ValueError if the vocabulary has no bos. */
  readonly addBos?: boolean;
  /** Append the eos id; default false. Throws ValueError if the vocabulary has no eos. */
  readonly addEos?: boolean;
}

/** Options of {@link Vocabulary.decode}. */
export interface DecodeOptions {
  /** Leave special tokens out of the result; default false. */
  readonly skipSpecials?: boolean;
}

/** The JSON form of a {@link Vocabulary} (see {@link Vocabulary.toJSON}). */
export interface VocabularyJSON {
  /** Always `'gated.vocabulary'`. */
  readonly format: 'gated.vocabulary';
  /** Format version; currently 1. */
  readonly version: 1;
  /** The special tokens, `null` where off. They are also the first entries of `tokens`. */
  readonly specials: { readonly pad: string | null; readonly unk: string | null; readonly bos: string | null; readonly eos: string | null };
  /** Every token, special ones included; the index is the id. */
  readonly tokens: readonly string[];
}

type SpecialName = 'pad' | 'unk' | 'bos' | 'eos';
const SPECIAL_NAMES: readonly SpecialName[] = ['pad', 'unk', 'bos', 'eos'];
const DEFAULT_SPECIALS = { pad: '<pad>', unk: '<unk>', bos: null, eos: null } as const;

function resolveSpecials(specials: SpecialTokens | undefined, name: string): Record<SpecialName, string | null> {
  const out: Record<SpecialName, string | null> = { ...DEFAULT_SPECIALS };
  if (specials === undefined) return out;
  if (typeof specials !== 'object' || specials === null) throw new ValueError('expected an object', name);
  for (const key of SPECIAL_NAMES) {
    const value: unknown = specials[key];
    if (value === undefined) continue;
    if (value !== null && (typeof value !== 'string' || value.length === 0)) {
      throw new ValueError(`expected a non-empty string or null, got ${describe(value)}`, `${name}.${key}`);
    }
    out[key] = value;
  }
  const seen = new Set<string>();
  for (const key of SPECIAL_NAMES) {
    const token = out[key];
    if (token === null) continue;
    if (seen.has(token)) throw new ValueError(`duplicate special token '${token}'`, `${name}.${key}`);
    seen.add(token);
  }
  return out;
}

/** A token argument: a string (a ValueError naming `token` otherwise). */
function tokenArg(token: unknown): string {
  if (typeof token !== 'string') throw new ValueError(`expected a string, got ${describe(token)}`, 'token');
  return token;
}

/**
 * A fixed mapping between tokens and integer ids. Immutable once made.
 *
 * ```ts
 * const vocab = Vocabulary.build(wordTokens(text, { lowercase: true }), { minCount: 2 });
 * const ids = vocab.encode(['call', 'me', 'ishmael']); // Int32Array
 * vocab.decode(ids);                                    // ['call', 'me', 'ishmael'] (or '<unk>')
 * ```
 */
export class Vocabulary {
  /** Every token; the index is the id. */
  readonly tokens: readonly string[];
  /** Id of the padding token, or `null` if none. */
  readonly padId: number | null;
  /** Id of the unknown token, or `null` if none (then unknown tokens throw on encode). */
  readonly unkId: number | null;
  /** Id of the beginning-of-sequence token, or `null` if none. */
  readonly bosId: number | null;
  /** Id of the end-of-sequence token, or `null` if none. */
  readonly eosId: number | null;
  private readonly specials: Record<SpecialName, string | null>;
  private readonly index: Map<string, number>;
  /** Number of special tokens: ids below this are special. */
  private readonly numSpecials: number;

  /**
   * @param tokens the ordinary tokens in id order (they get ids after the special tokens); no
   *   duplicates, none equal to a special token.
   * @param specials reserved tokens; default `{ pad: '<pad>', unk: '<unk>', bos: null, eos: null }`.
   */
  constructor(tokens: readonly string[], specials?: SpecialTokens) {
    this.specials = resolveSpecials(specials, 'specials');
    if (!Array.isArray(tokens)) throw new ValueError('expected an array of strings', 'tokens');
    const all: string[] = [];
    const ids: Record<SpecialName, number | null> = { pad: null, unk: null, bos: null, eos: null };
    for (const key of SPECIAL_NAMES) {
      const token = this.specials[key];
      if (token === null) continue;
      ids[key] = all.length;
      all.push(token);
    }
    this.numSpecials = all.length;
    this.index = new Map(all.map((t, i) => [t, i]));
    for (let i = 0; i < tokens.length; i++) {
      const token: unknown = tokens[i];
      if (typeof token !== 'string') throw new ValueError(`expected a string, got ${typeof token}`, `tokens[${i}]`);
      if (this.index.has(token)) throw new ValueError(`duplicate token '${token}'`, `tokens[${i}]`);
      this.index.set(token, all.length);
      all.push(token);
    }
    this.tokens = all;
    this.padId = ids.pad;
    this.unkId = ids.unk;
    this.bosId = ids.bos;
    this.eosId = ids.eos;
  }

  /**
   * Builds a vocabulary from a token stream. Order of ids after the specials: by count,
   * descending, then by first appearance in the stream, so the result depends only on the stream.
   * Occurrences of the special tokens in the stream are not counted (they already have ids).
   */
  static build(tokens: Iterable<string>, options: BuildVocabularyOptions = {}): Vocabulary {
    if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
    const minCount = options.minCount ?? 1;
    const maxSize = options.maxSize ?? Infinity;
    if (!Number.isInteger(minCount) || minCount < 1) {
      throw new ValueError(`expected an integer >= 1, got ${describe(minCount)}`, 'options.minCount');
    }
    if (maxSize !== Infinity && (!Number.isInteger(maxSize) || maxSize < 0)) {
      throw new ValueError(`expected a non-negative integer or Infinity, got ${describe(maxSize)}`, 'options.maxSize');
    }
    const specials = resolveSpecials(options.specials, 'options.specials');
    const specialSet = new Set(SPECIAL_NAMES.map((k) => specials[k]).filter((t): t is string => t !== null));
    if (maxSize < specialSet.size) {
      throw new ValueError(`must leave room for the ${specialSet.size} special tokens, got ${maxSize}`, 'options.maxSize');
    }
    if (
      tokens === null ||
      typeof tokens !== 'object' ||
      typeof tokens[Symbol.iterator] !== 'function' ||
      (ArrayBuffer.isView(tokens) && isDetached(tokens.buffer))
    ) {
      throw new ValueError('expected an iterable of strings', 'tokens');
    }
    // A Map iterates in insertion order = first appearance, which gives the tie-break for free
    // once the sort below is stable (Array.prototype.sort is stable since ES2019).
    const counts = new Map<string, number>();
    let position = 0;
    for (const token of tokens) {
      if (typeof token !== 'string') throw new ValueError(`expected a string, got ${typeof token}`, `tokens[${position}]`);
      position++;
      if (specialSet.has(token)) continue;
      counts.set(token, (counts.get(token) ?? 0) + 1);
    }
    const kept = [...counts].filter(([, c]) => c >= minCount).sort((a, b) => b[1] - a[1]);
    const room = maxSize - specialSet.size;
    const chosen = kept.slice(0, Math.min(kept.length, room)).map(([t]) => t);
    return new Vocabulary(chosen, specials);
  }

  /** Number of ids, special tokens included. */
  get size(): number {
    return this.tokens.length;
  }

  /** The id of `token`, or `undefined` if it is not in the vocabulary (a ValueError if it is not a string). */
  id(token: string): number | undefined {
    return this.index.get(tokenArg(token));
  }

  /** Whether `token` has its own id (a ValueError if it is not a string). */
  has(token: string): boolean {
    return this.index.has(tokenArg(token));
  }

  /** Whether `id` is one of the special tokens' ids (any integer; a ValueError for anything else). */
  isSpecial(id: number): boolean {
    if (typeof id !== 'number' || !Number.isInteger(id)) throw new ValueError(`expected an integer id, got ${describe(id)}`, 'id');
    return id >= 0 && id < this.numSpecials;
  }

  /**
   * Token ids of `tokens`. Unknown tokens map to the unk id; without an unk token they throw a
   * ValueError naming `tokens[i]`.
   */
  encode(tokens: Iterable<string>, options: EncodeOptions = {}): Int32Array {
    if (
      typeof (tokens as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== 'function' ||
      (ArrayBuffer.isView(tokens) && isDetached(tokens.buffer))
    ) {
      throw new ValueError(`expected an iterable of token strings, got ${describe(tokens)}`, 'tokens');
    }
    if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
    const out: number[] = [];
    if (options.addBos) {
      if (this.bosId === null) throw new ValueError('this vocabulary has no bos token', 'options.addBos');
      out.push(this.bosId);
    }
    let i = 0;
    for (const token of tokens) {
      const id = this.index.get(token);
      if (id !== undefined) out.push(id);
      else if (this.unkId !== null) out.push(this.unkId);
      else throw new ValueError(`unknown token ${describe(token)} and this vocabulary has no unk token`, `tokens[${i}]`);
      i++;
    }
    if (options.addEos) {
      if (this.eosId === null) throw new ValueError('this vocabulary has no eos token', 'options.addEos');
      out.push(this.eosId);
    }
    return Int32Array.from(out);
  }

  /** Tokens of `ids`. An id outside [0, size) throws a ValueError naming `ids[i]`. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string[] {
    if (!Array.isArray(ids) && !(ArrayBuffer.isView(ids) && !(ids instanceof DataView) && !isDetached(ids.buffer))) {
      throw new ValueError(`expected an array or a typed array of ids, got ${describe(ids)}`, 'ids');
    }
    if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= this.tokens.length) {
        throw new ValueError(`expected an id in [0, ${this.tokens.length}), got ${describe(id)}`, `ids[${i}]`);
      }
      if (options.skipSpecials && id < this.numSpecials) continue;
      out.push(this.tokens[id]);
    }
    return out;
  }

  /** A plain description for `JSON.stringify`; {@link fromJSON} reads it back. */
  toJSON(): VocabularyJSON {
    return { format: 'gated.vocabulary', version: 1, specials: { ...this.specials }, tokens: [...this.tokens] };
  }

  /**
   * Reads a description made by {@link toJSON} (already parsed from JSON). Throws FormatError
   * naming the field (`json.tokens[3]`, `json.specials.unk`...) when it is corrupt.
   */
  static fromJSON(json: unknown): Vocabulary {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError('expected an object', 'json');
    const obj = json as Record<string, unknown>;
    if (obj.format !== 'gated.vocabulary') {
      throw new FormatError(`expected 'gated.vocabulary', got ${describe(obj.format)}`, 'json.format');
    }
    if (obj.version !== 1) throw new FormatError(`unsupported version ${describe(obj.version)}`, 'json.version');
    const rawSpecials = obj.specials;
    if (typeof rawSpecials !== 'object' || rawSpecials === null || Array.isArray(rawSpecials)) {
      throw new FormatError('expected an object', 'json.specials');
    }
    const specials: Record<SpecialName, string | null> = { pad: null, unk: null, bos: null, eos: null };
    for (const key of SPECIAL_NAMES) {
      const value: unknown = (rawSpecials as Record<string, unknown>)[key];
      if (value !== null && (typeof value !== 'string' || value.length === 0)) {
        throw new FormatError(`expected a non-empty string or null, got ${describe(value)}`, `json.specials.${key}`);
      }
      specials[key] = value;
    }
    const tokens = obj.tokens;
    if (!Array.isArray(tokens)) throw new FormatError('expected an array of strings', 'json.tokens');
    const ordered = SPECIAL_NAMES.map((k) => specials[k]).filter((t): t is string => t !== null);
    for (let i = 0; i < tokens.length; i++) {
      if (typeof tokens[i] !== 'string') throw new FormatError(`expected a string, got ${typeof tokens[i]}`, `json.tokens[${i}]`);
    }
    for (let i = 0; i < ordered.length; i++) {
      if (tokens[i] !== ordered[i]) {
        throw new FormatError(`expected special token '${ordered[i]}', got ${describe(tokens[i])}`, `json.tokens[${i}]`);
      }
    }
    const seen = new Set<string>();
    for (let i = 0; i < tokens.length; i++) {
      if (seen.has(tokens[i] as string)) throw new FormatError(`duplicate token ${describe(tokens[i])}`, `json.tokens[${i}]`);
      seen.add(tokens[i] as string);
    }
    return new Vocabulary(tokens.slice(ordered.length) as string[], specials);
  }
}

/**
 * Splits text into characters by Unicode code point (so an emoji or other astral character is one
 * token, not two UTF-16 halves). Combining marks stay separate code points; normalize the text
 * first (`text.normalize('NFC')`) if that matters.
 */
export function charTokens(text: string): string[] {
  if (typeof text !== 'string') throw new ValueError(`expected a string, got ${typeof text}`, 'text');
  return Array.from(text);
}

/** Options of {@link wordTokens}. */
export interface WordTokenOptions {
  /** Lowercase every token (`String.prototype.toLowerCase`, locale-independent); default false. */
  readonly lowercase?: boolean;
}

/**
 * A word is a run of letters, marks and digits, with inner apostrophes (`don't`, `whale's`);
 * anything else that is not white space is a one-character token of its own (punctuation,
 * symbols, dashes: `slow-moving` gives `slow`, `-`, `moving`). Control and format characters
 * (\p{C}, e.g. the stray U+0085 in the IMDB sentences) are dropped like white space.
 */
const WORD_PATTERN = /[\p{L}\p{M}\p{N}]+(?:['\u2019][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}\p{C}]/gu;

/**
 * Splits text into words and punctuation with one documented regex (see `WORD_PATTERN` in the
 * source): words are runs of letters/marks/digits that may contain inner apostrophes (' or ’);
 * every other non-space character is its own token. White space and control characters are dropped.
 * `wordTokens("Call me Ishmael. Don't!")` gives `['Call', 'me', 'Ishmael', '.', "Don't", '!']`.
 */
export function wordTokens(text: string, options: WordTokenOptions = {}): string[] {
  if (typeof text !== 'string') throw new ValueError(`expected a string, got ${typeof text}`, 'text');
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const source = options.lowercase ? text.toLowerCase() : text;
  return source.match(WORD_PATTERN) ?? [];
}

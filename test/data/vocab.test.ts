import { existsSync, readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { FormatError, ValueError } from '../../lib/errors.js';
import { Vocabulary, charTokens, wordTokens } from '../../lib/data/index.js';
import { errorOf } from '../helpers/index.js';

const DATA = new URL('../../../shared/data/', import.meta.url);
const HAVE_DATA = existsSync(DATA);
if (!HAVE_DATA) console.warn(`vocab tests on real data skipped: ${DATA.pathname} not found`);

describe('tokenizers', () => {
  it('charTokens splits by code point, not UTF-16 unit', () => {
    const text = 'a😀b—é';
    expect(text.length).toBe(6);
    expect(charTokens(text)).toEqual(['a', '😀', 'b', '—', 'é']);
    expect(charTokens('')).toEqual([]);
  });

  it('wordTokens golden: words, inner apostrophes, punctuation as single characters', () => {
    expect(wordTokens('Call me Ishmael. Some years ago—never mind how long precisely—having')).toEqual([
      'Call',
      'me',
      'Ishmael',
      '.',
      'Some',
      'years',
      'ago',
      '—',
      'never',
      'mind',
      'how',
      'long',
      'precisely',
      '—',
      'having',
    ]);
    expect(wordTokens('Don\'t! The whale’s 3.5-ton jaw... ("ok")')).toEqual([
      "Don't",
      '!',
      'The',
      'whale’s',
      '3',
      '.',
      '5',
      '-',
      'ton',
      'jaw',
      '.',
      '.',
      '.',
      '(',
      '"',
      'ok',
      '"',
      ')',
    ]);
  });

  it('wordTokens lowercase option, and drops control characters like U+0085', () => {
    expect(wordTokens('The script is\u0085was THERE', { lowercase: true })).toEqual(['the', 'script', 'is', 'was', 'there']);
    expect(wordTokens("  'quoted'  ")).toEqual(["'", 'quoted', "'"]);
    expect(wordTokens('')).toEqual([]);
  });

  it('tokenizers reject non-strings', () => {
    expect(errorOf(() => charTokens(3 as unknown as string))).toBeInstanceOf(ValueError);
    expect(errorOf(() => wordTokens(null as unknown as string)).argument).toBe('text');
  });
});

describe('Vocabulary', () => {
  const stream = ['b', 'a', 'c', 'a', 'b', 'd', 'e', 'e', 'e'];

  it('build order: specials first, then count desc, ties by first appearance', () => {
    const v = Vocabulary.build(stream);
    expect(v.tokens).toEqual(['<pad>', '<unk>', 'e', 'b', 'a', 'c', 'd']);
    expect(v.size).toBe(7);
    expect([v.padId, v.unkId, v.bosId, v.eosId]).toEqual([0, 1, null, null]);
  });

  it('minCount and maxSize (maxSize counts the specials)', () => {
    expect(Vocabulary.build(stream, { minCount: 2 }).tokens).toEqual(['<pad>', '<unk>', 'e', 'b', 'a']);
    expect(Vocabulary.build(stream, { maxSize: 4 }).tokens).toEqual(['<pad>', '<unk>', 'e', 'b']);
    expect(Vocabulary.build(stream, { maxSize: 2 }).tokens).toEqual(['<pad>', '<unk>']);
  });

  it('configurable specials: bos/eos added, unk or pad turned off; specials in the stream are not counted', () => {
    const v = Vocabulary.build(['<eos>', 'x', '<eos>', 'y', 'y'], { specials: { bos: '<s>', eos: '<eos>' } });
    expect(v.tokens).toEqual(['<pad>', '<unk>', '<s>', '<eos>', 'y', 'x']);
    expect([v.padId, v.unkId, v.bosId, v.eosId]).toEqual([0, 1, 2, 3]);
    expect(Array.from(v.encode(['x', 'q'], { addBos: true, addEos: true }))).toEqual([2, 5, 1, 3]);
    const tags = Vocabulary.build(['nn', 'vb', 'nn'], { specials: { pad: null, unk: null } });
    expect(tags.tokens).toEqual(['nn', 'vb']);
    expect(tags.padId).toBeNull();
  });

  it('encode maps unknown tokens to unk; decode inverts encode for known tokens', () => {
    const v = Vocabulary.build(stream);
    const ids = v.encode(['a', 'zzz', 'e']);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(Array.from(ids)).toEqual([4, 1, 2]);
    const known = ['d', 'a', 'b', 'e', 'c'];
    expect(v.decode(v.encode(known))).toEqual(known);
    expect(v.decode([0, 4, 1, 0], { skipSpecials: true })).toEqual(['a']);
    expect(v.id('c')).toBe(5);
    expect(v.id('nope')).toBeUndefined();
    expect(v.has('<pad>')).toBe(true);
    expect(v.isSpecial(1)).toBe(true);
    expect(v.isSpecial(2)).toBe(false);
  });

  it('typed errors: no unk, no bos, bad ids, bad options, duplicates', () => {
    const noUnk = Vocabulary.build(stream, { specials: { unk: null } });
    const e = errorOf(() => noUnk.encode(['a', 'zzz']));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.argument).toBe('tokens[1]');
    expect(errorOf(() => noUnk.encode(['a'], { addBos: true })).argument).toBe('options.addBos');
    expect(errorOf(() => noUnk.decode([0, 99])).argument).toBe('ids[1]');
    expect(errorOf(() => noUnk.decode([1.5])).argument).toBe('ids[0]');
    expect(errorOf(() => Vocabulary.build(stream, { minCount: 0 })).argument).toBe('options.minCount');
    expect(errorOf(() => Vocabulary.build(stream, { maxSize: 1 })).argument).toBe('options.maxSize');
    expect(errorOf(() => Vocabulary.build(stream, { maxSize: Number.NaN })).argument).toBe('options.maxSize');
    expect(errorOf(() => Vocabulary.build(stream, { specials: { pad: 'x', unk: 'x' } })).argument).toBe('options.specials.unk');
    expect(errorOf(() => Vocabulary.build('abc' as unknown as string[])).argument).toBe('tokens');
    expect(errorOf(() => new Vocabulary(['a', 'b', 'a'])).argument).toBe('tokens[2]');
    expect(errorOf(() => new Vocabulary(['<unk>'])).argument).toBe('tokens[0]');
  });

  it('toJSON/fromJSON round trip through JSON text', () => {
    const v = Vocabulary.build(stream, { specials: { eos: '</s>' } });
    const back = Vocabulary.fromJSON(JSON.parse(JSON.stringify(v)));
    expect(back.tokens).toEqual(v.tokens);
    expect([back.padId, back.unkId, back.bosId, back.eosId]).toEqual([v.padId, v.unkId, v.bosId, v.eosId]);
    expect(back.encode(['c', '?', '</s>'])).toEqual(v.encode(['c', '?', '</s>']));
  });

  it('fromJSON: a corrupt description gives FormatError naming the field', () => {
    const good = JSON.parse(JSON.stringify(Vocabulary.build(stream))) as Record<string, unknown>;
    const cases: [unknown, string][] = [
      [null, 'json'],
      [[], 'json'],
      [{ ...good, format: 'other' }, 'json.format'],
      [{ ...good, version: 2 }, 'json.version'],
      [{ ...good, specials: 'x' }, 'json.specials'],
      [{ ...good, specials: { pad: '<pad>', unk: 3, bos: null, eos: null } }, 'json.specials.unk'],
      [{ ...good, tokens: 'abc' }, 'json.tokens'],
      [{ ...good, tokens: ['<pad>', '<unk>', 'e', 5] }, 'json.tokens[3]'],
      [{ ...good, tokens: ['<unk>', '<pad>', 'e'] }, 'json.tokens[0]'],
      [{ ...good, tokens: ['<pad>', '<unk>', 'e', 'e'] }, 'json.tokens[3]'],
    ];
    for (const [json, field] of cases) {
      const e = errorOf(() => Vocabulary.fromJSON(json));
      expect(e, field).toBeInstanceOf(FormatError);
      expect(e.argument).toBe(field);
    }
  });

  it.skipIf(!HAVE_DATA)('character vocabulary of Moby Dick: 83 characters (README) + 2 specials', () => {
    const text = readFileSync(new URL('text/moby-dick.txt', DATA), 'utf8');
    const v = Vocabulary.build(charTokens(text));
    expect(v.size).toBe(85);
    // The most frequent character of English prose is the space.
    expect(v.tokens[2]).toBe(' ');
    const sample = charTokens(text.slice(0, 500));
    expect(v.decode(v.encode(sample)).join('')).toBe(text.slice(0, 500));
  });
});

/**
 * lib/decode/metrics.ts: edit distances, error rates and sacreBLEU-compatible corpus BLEU against
 * values derived by hand (the arithmetic is in the comments), including the example of sacreBLEU's
 * README (BLEU = 48.53 82.4/50.0/45.5/37.5, BP = 0.943, hyp_len = 17, ref_len = 18).
 */
import { describe, expect, it } from 'vitest';

import { corpusBleu, editDistance, errorRate, sentenceErrorRate, tokenize13a } from '../../lib/decode/metrics.js';
import { ShapeError, ValueError } from '../../lib/errors.js';
import { errorOf } from '../helpers/index.js';

describe('editDistance', () => {
  it('Levenshtein over characters, words and ids', () => {
    // kitten -> sitten (k/s) -> sittin (e/i) -> sitting (+g): 3
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance([], [1, 2])).toBe(2);
    expect(editDistance([1, 2, 3], [])).toBe(3);
    expect(editDistance(Int32Array.of(1, 2, 3), Int32Array.of(1, 2, 3))).toBe(0);
    // the cat sat / the cat sat down: one insertion; a b c d / b c d a: delete a, insert a: 2
    expect(editDistance('the cat sat'.split(' '), 'the cat sat down'.split(' '))).toBe(1);
    expect(editDistance(['a', 'b', 'c', 'd'], ['b', 'c', 'd', 'a'])).toBe(2);
    expect(editDistance('ab', 'ba')).toBe(2); // no transpositions (Levenshtein, not Damerau)
  });

  it('refuses what is not a sequence', () => {
    expect(errorOf(() => editDistance(3 as never, [1])).argument).toBe('a');
    expect(errorOf(() => editDistance([1], null as never)).argument).toBe('b');
  });
});

describe('errorRate, sentenceErrorRate', () => {
  it('sums the distances over the summed reference lengths', () => {
    // d(a b c, a x c) = 1, d(d, d e) = 1: 2 / (3 + 2) = 0.4 (WER)
    const hyps = [['a', 'b', 'c'], ['d']];
    const refs = [
      ['a', 'x', 'c'],
      ['d', 'e'],
    ];
    expect(errorRate(hyps, refs)).toBe(0.4);
    expect(sentenceErrorRate(hyps, refs)).toBe(1);
    // PER over phoneme ids: d([1 2 3 4], [1 2 3 4]) = 0, d([5 6], [5 7 6]) = 1: 1 / 7; one sentence of 2 wrong
    expect(errorRate([Int32Array.of(1, 2, 3, 4), Int32Array.of(5, 6)], [Int32Array.of(1, 2, 3, 4), Int32Array.of(5, 7, 6)])).toBe(1 / 7);
    expect(sentenceErrorRate([Int32Array.of(1, 2, 3, 4), Int32Array.of(5, 6)], [Int32Array.of(1, 2, 3, 4), Int32Array.of(5, 7, 6)])).toBe(
      0.5,
    );
    // insertions can take it above 1: d(a a a, a) = 2 over 1
    expect(errorRate([['a', 'a', 'a']], [['a']])).toBe(2);
  });

  it('errors name the argument', () => {
    const e = errorOf(() => errorRate([[1]], []));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.argument).toBe('refs');
    expect(errorOf(() => errorRate([[]], [[]])).argument).toBe('refs');
    expect(errorOf(() => sentenceErrorRate([], [])).argument).toBe('hyps');
    expect(errorOf(() => errorRate([[1], 2 as never], [[1], [2]])).argument).toBe('hyps[1]');
  });
});

describe('tokenize13a', () => {
  it('splits punctuation as mteval-v13a', () => {
    expect(tokenize13a('Hello, world.')).toBe('Hello , world .');
    // $ and ? are split; the apostrophe is not; 3.50 keeps its period (between digits); the comma after 0 is split off (followed by a space)
    expect(tokenize13a("It costs $3.50, isn't it?")).toBe("It costs $ 3.50 , isn't it ?");
    // a dash after a digit is split, between letters it is not
    expect(tokenize13a('1-2 a-b')).toBe('1 - 2 a-b');
    // 1,000 keeps its comma; a period at the end is split; "5." before a space is split (followed by a non-digit)
    expect(tokenize13a('1,000 in 5. Go')).toBe('1,000 in 5 . Go');
    expect(tokenize13a('&quot;Hi&quot; &amp; &lt;b&gt;')).toBe('" Hi " & < b >');
    expect(tokenize13a('a<skipped>b  (x) [y] {z} ~/^_`@')).toBe('ab ( x ) [ y ] { z } ~ / ^ _ ` @');
    expect(tokenize13a('hyphen-\nated\nlines')).toBe('hyphenated lines');
    expect(tokenize13a('   ')).toBe('');
  });
});

describe('corpusBleu', () => {
  it("sacreBLEU README's example: 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)", () => {
    const hyps = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];
    const refs = [
      ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
      ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
    ];
    const b = corpusBleu(hyps, refs);
    // Tokens: 6 + 4 + 7 = 17; closest references 6, 5 (5 and 5), 7: 18.
    // Unigrams 6 + 2 (It, .) + 6 (all but just) = 14 / 17; bigrams 5 + 0 + 2 (The man, man had) = 7 / 14;
    // trigrams 4 + 0 + 1 (The man had) = 5 / 11; 4-grams 3 + 0 + 0 = 3 / 8.
    expect(b.counts).toEqual([14, 7, 5, 3]);
    expect(b.totals).toEqual([17, 14, 11, 8]);
    expect(b.sysLen).toBe(17);
    expect(b.refLen).toBe(18);
    // BP = exp(1 - 18/17) = exp(-0.0588235) = 0.9428731
    expect(b.bp).toBeCloseTo(0.9428731, 6);
    expect(b.precisions.map((p) => p.toFixed(1))).toEqual(['82.4', '50.0', '45.5', '37.5']);
    // logs: -0.1941560 - 0.6931472 - 0.7884574 - 0.9808293 = -2.6565899; / 4 = -0.6641475;
    // exp = 0.5147121; * 0.9428731 = 0.4853083 -> 48.53
    expect(b.score).toBeCloseTo(48.53083, 4);
    expect(b.score.toFixed(2)).toBe('48.53');
  });

  it("'exp' smoothing (the default) and the others, on a zero-match order", () => {
    // a b c d e vs a b x d e: unigrams 4/5, bigrams (a b, d e) 2/4, trigrams 0/3, 4-grams 0/2; BP = 1.
    const h = ['a b c d e'];
    const r = ['a b x d e'];
    // exp: p3 = 100 / (2 * 3) = 16.667, p4 = 100 / (4 * 2) = 12.5;
    // exp((ln 0.8 + ln 0.5 + ln(1/6) + ln(1/8)) / 4) = exp((-0.2231436 - 0.6931472 - 1.7917595 - 2.0794415) / 4)
    //   = exp(-1.1968729) = 0.3021375 -> 30.21375
    const e = corpusBleu(h, r);
    expect(e.counts).toEqual([4, 2, 0, 0]);
    expect(e.precisions[2]).toBeCloseTo(100 / 6, 10);
    expect(e.precisions[3]).toBe(12.5);
    expect(e.score).toBeCloseTo(30.21375, 4);
    // none: p3 = 0, log taken as -9999999999: 0
    expect(corpusBleu(h, r, { smooth: 'none' }).score).toBe(0);
    // floor 0.1: p3 = 10 / 3, p4 = 10 / 2 = 5: exp((-0.2231436 - 0.6931472 - 3.4011974 - 2.9957323) / 4) = exp(-1.8283051) = 0.1606857
    expect(corpusBleu(h, r, { smooth: 'floor' }).score).toBeCloseTo(16.06857, 4);
    // add-k 1 on orders >= 2: 4/5, 3/5, 1/4, 1/3; product 0.04, 0.04^(1/4) = 0.4472136
    expect(corpusBleu(h, r, { smooth: 'add-k' }).score).toBeCloseTo(44.72136, 4);
  });

  it('an order with no n-gram at all gives 0 (unless effectiveOrder); no match at all gives 0', () => {
    // the cat / the cat sat: 2/2, 1/1, then no trigram: 0. BP = exp(1 - 3/2) = 0.6065307.
    const b = corpusBleu(['the cat'], ['the cat sat']);
    expect(b.score).toBe(0);
    expect(b.bp).toBeCloseTo(0.6065307, 6);
    // effective order 2: exp((ln 100 + ln 100) / 2) * 0.6065307 = 60.65307
    expect(corpusBleu(['the cat'], ['the cat sat'], { effectiveOrder: true }).score).toBeCloseTo(60.65307, 4);
    const z = corpusBleu(['x y z w'], ['a b c d']);
    expect(z.score).toBe(0);
    expect(z.precisions).toEqual([0, 0, 0, 0]);
  });

  it('closest reference length, the shorter on a tie; clipping by the largest reference count', () => {
    // hypothesis 4 tokens, references 3 and 5 tokens: both 1 away, the shorter (3) counts: BP = 1.
    const b = corpusBleu(['a a a a'], [['a a a'], ['a b c d e']]);
    expect(b.refLen).toBe(3);
    expect(b.bp).toBe(1);
    // unigram a: 4 in the hypothesis, at most 3 in one reference: 3 / 4. bigram a a: 3, at most 2: 2 / 3.
    expect(b.counts.slice(0, 2)).toEqual([3, 2]);
  });

  it('one reference per hypothesis as a plain string array; lowercase; tokenize none', () => {
    expect(corpusBleu(['The cat sat on the mat .'], ['The cat sat on the mat .']).score).toBeCloseTo(100, 10);
    expect(corpusBleu(['THE CAT SAT ON THE MAT'], ['the cat sat on the mat']).score).toBe(0);
    expect(corpusBleu(['THE CAT SAT ON THE MAT'], ['the cat sat on the mat'], { lowercase: true }).score).toBeCloseTo(100, 10);
    // 13a splits "mat." into "mat ." (7 tokens, all match); none keeps "mat." (6 tokens, vs "mat" in the reference)
    const t = corpusBleu(['the cat sat on a mat.'], ['the cat sat on a mat .']);
    expect(t.sysLen).toBe(7);
    expect(corpusBleu(['the cat sat on a mat.'], ['the cat sat on a mat .'], { tokenize: 'none' }).sysLen).toBe(6);
  });

  it('errors name the argument', () => {
    expect(errorOf(() => corpusBleu(['a'], ['a', 'b'])).argument).toBe('refs');
    expect(errorOf(() => corpusBleu(['a'], [['a'], ['a', 'b']])).argument).toBe('refs[1]');
    expect(errorOf(() => corpusBleu(['a', 3 as never], ['a', 'b'])).argument).toBe('hyps[1]');
    expect(errorOf(() => corpusBleu(['a'], ['a'], { smooth: 'add1' as never })).argument).toBe('options.smooth');
    const e = errorOf(() => corpusBleu(['a'], ['a'], { lowercse: true } as never));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.argument).toBe('options.lowercse');
    expect(errorOf(() => corpusBleu(['a'], ['a'], { smoothValue: -1 })).argument).toBe('options.smoothValue');
  });
});

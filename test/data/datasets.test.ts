import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FormatError, ValueError } from '../../lib/errors.js';
import { Rng } from '../../lib/random.js';
import {
  kFold,
  parseLabelledTsv,
  parseParallelTsv,
  parseTaggedCorpus,
  parseTimeSeriesCsv,
  readLabelledTsv,
  readParallelTsv,
  readTaggedCorpus,
  readText,
  readTimeSeriesCsv,
  trainTestSplit,
} from '../../lib/data/index.js';
import { errorOf } from '../helpers/index.js';

/** The shared data sets, read in place (never copied into the project). */
const DATA = new URL('../../../shared/data/', import.meta.url);
const HAVE_DATA = existsSync(DATA);
if (!HAVE_DATA) console.warn(`dataset reader tests on real files skipped: ${DATA.pathname} not found`);

function expectFormatError(fn: () => unknown, argument: string): void {
  const e = errorOf(fn);
  expect(e).toBeInstanceOf(FormatError);
  expect(e.argument).toBe(argument);
}

describe.skipIf(!HAVE_DATA)('readers on ../shared/data', () => {
  it.each(['amazon', 'imdb', 'yelp'])('sentiment/%s.tsv: 1,000 sentences, 500 per label', async (name) => {
    const rows = await readLabelledTsv(new URL(`sentiment/${name}.tsv`, DATA));
    expect(rows.length).toBe(1000);
    expect(rows.filter((r) => r.label === 1).length).toBe(500);
    expect(rows.filter((r) => r.label === 0).length).toBe(500);
    expect(rows.every((r) => r.text.length > 0)).toBe(true);
  });

  it('sentiment/imdb.tsv keeps the U+0085 inside a sentence (not a line break)', async () => {
    const rows = await readLabelledTsv(new URL('sentiment/imdb.tsv', DATA));
    expect(rows.some((r) => r.text.includes('\u0085'))).toBe(true);
  });

  it('pos/brown-train.txt: 51,583 sentences, 1,043,800 tokens, non-empty tags, words with "/"', async () => {
    const sentences = await readTaggedCorpus(new URL('pos/brown-train.txt', DATA));
    expect(sentences.length).toBe(51583);
    let tokens = 0;
    let slashWords = 0;
    for (const s of sentences) {
      expect(s.words.length).toBe(s.tags.length);
      tokens += s.words.length;
      for (const t of s.tags) if (t.length === 0 || t.includes('/')) throw new Error(`bad tag '${t}'`);
      for (const w of s.words) if (w.includes('/')) slashWords++;
    }
    expect(tokens).toBe(1043800);
    expect(slashWords).toBeGreaterThan(0);
    expect(sentences[0].words.slice(0, 3)).toEqual(['The', 'Fulton', 'County']);
    expect(sentences[0].tags.slice(0, 3)).toEqual(['at', 'np-tl', 'nn-tl']);
  });

  it('pos/brown-dev.txt: 2,815 sentences', async () => {
    expect((await readTaggedCorpus(new URL('pos/brown-dev.txt', DATA))).length).toBe(2815);
  });

  it('timeseries/AirPassengers.csv: 144 monthly values from 112', async () => {
    const s = await readTimeSeriesCsv(new URL('timeseries/AirPassengers.csv', DATA));
    expect(s.value.length).toBe(144);
    expect(s.time.length).toBe(144);
    expect(s.value[0]).toBe(112);
    expect(s.value[143]).toBe(432);
    expect(s.time[0]).toBe(1949);
    expect(s.time[1] as number).toBeCloseTo(1949 + 1 / 12, 9);
  });

  it('every timeseries/*.csv parses with numeric times', async () => {
    const expected: Record<string, number> = {
      'AirPassengers.csv': 144,
      'LakeHuron.csv': 98,
      'Nile.csv': 100,
      'co2.csv': 468,
      'lynx.csv': 114,
      'nottem.csv': 240,
      'sunspot.month.csv': 3177,
      'sunspot.year.csv': 289,
    };
    for (const [file, n] of Object.entries(expected)) {
      const s = await readTimeSeriesCsv(new URL(`timeseries/${file}`, DATA));
      expect(s.value.length, file).toBe(n);
      expect(
        s.time.every((t) => typeof t === 'number'),
        file,
      ).toBe(true);
    }
  });

  it('translation and g2p pairs', async () => {
    const counts: [string, number][] = [
      ['translation/es-en-train.tsv', 7786],
      ['translation/es-en-dev.tsv', 435],
      ['g2p/cmudict-train.tsv', 120397],
      ['g2p/cmudict-dev.tsv', 6660],
    ];
    for (const [file, n] of counts) expect((await readParallelTsv(new URL(file, DATA))).length, file).toBe(n);
    const train = await readParallelTsv(new URL('translation/es-en-train.tsv', DATA));
    expect(train[0].source).toBe('EN el principio crió Dios los cielos y la tierra.');
    const g2p = await readParallelTsv(join(DATA.pathname, 'g2p/cmudict-dev.tsv'));
    expect(g2p[0]).toEqual({ source: 'AAKER', target: 'AA1 K ER0' });
  });

  it('text/moby-dick.txt: over a million characters', async () => {
    const text = await readText(new URL('text/moby-dick.txt', DATA));
    expect(text.length).toBeGreaterThan(1e6);
    expect(text.startsWith('CHAPTER 1. Loomings.')).toBe(true);
  });
});

describe('line handling: BOM, CRLF, trailing newline, blank lines', () => {
  it('parseLabelledTsv', () => {
    const rows = parseLabelledTsv('\uFEFF1\tGood.\r\n0\tBad.\r\n\r\n1\tFine\n');
    expect(rows).toEqual([
      { label: 1, text: 'Good.' },
      { label: 0, text: 'Bad.' },
      { label: 1, text: 'Fine' },
    ]);
  });

  it('parseTaggedCorpus splits on the last "/"', () => {
    const s = parseTaggedCorpus('\uFEFFThe/at 1/2/cd and/or/cc ./.\r\n\nHe/pps ran/vbd\n');
    expect(s).toEqual([
      { words: ['The', '1/2', 'and/or', '.'], tags: ['at', 'cd', 'cc', '.'] },
      { words: ['He', 'ran'], tags: ['pps', 'vbd'] },
    ]);
  });

  it('parseTimeSeriesCsv: quoted or bare header, numeric or string times', () => {
    expect(parseTimeSeriesCsv('\uFEFF"time","value"\r\n1949,112\r\n1949.5,-1.5e2\r\n')).toEqual({
      time: [1949, 1949.5],
      value: Float32Array.from([112, -150]),
    });
    const s = parseTimeSeriesCsv('time,value\n2020-01,3\n2020-02,4\n');
    expect(s.time).toEqual(['2020-01', '2020-02']);
  });

  it('parseParallelTsv', () => {
    expect(parseParallelTsv('a b\tx y\r\nc\td')).toEqual([
      { source: 'a b', target: 'x y' },
      { source: 'c', target: 'd' },
    ]);
  });

  describe('readers on temporary files', () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'gated-data-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('readText drops the BOM and turns CRLF into LF', async () => {
      const file = join(dir, 'crlf.txt');
      await writeFile(file, '\uFEFFline one\r\nline two\r\n\r\n');
      expect(await readText(file)).toBe('line one\nline two\n\n');
    });

    it('a malformed line names the path and line number', async () => {
      const file = join(dir, 'bad.tsv');
      await writeFile(file, '1\tok\n\n0 no tab here\n');
      const e = await readLabelledTsv(file).then(
        () => null,
        (err: unknown) => err as FormatError,
      );
      expect(e).toBeInstanceOf(FormatError);
      expect(e?.argument).toBe(`${file}:3`);
      expect(e?.message).toMatch(/bad\.tsv:3: expected LABEL<TAB>SENTENCE/);
    });

    it('a bad path argument is a ValueError; a missing file rejects with ENOENT', async () => {
      await expect(readText(42 as unknown as string)).rejects.toBeInstanceOf(ValueError);
      await expect(readText(join(dir, 'missing.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});

describe('malformed lines give FormatError naming source:line', () => {
  it('labelled TSV', () => {
    expectFormatError(() => parseLabelledTsv('1\tok\nx\tbad label', 'f.tsv'), 'f.tsv:2');
    expectFormatError(() => parseLabelledTsv('1\tok\n1\ta\tb'), '<text>:2');
    expectFormatError(() => parseLabelledTsv('1\t'), '<text>:1');
    expectFormatError(() => parseLabelledTsv('-1\tneg'), '<text>:1');
  });

  it('tagged corpus', () => {
    expectFormatError(() => parseTaggedCorpus('a/b c', 'brown'), 'brown:1');
    expectFormatError(() => parseTaggedCorpus('a/b\nc/', 'brown'), 'brown:2');
    expectFormatError(() => parseTaggedCorpus('/x', 'brown'), 'brown:1');
  });

  it('time series CSV', () => {
    expectFormatError(() => parseTimeSeriesCsv('t,v\n1,2', 'ts'), 'ts:1');
    expectFormatError(() => parseTimeSeriesCsv('time,value\n1,NA', 'ts'), 'ts:2');
    expectFormatError(() => parseTimeSeriesCsv('time,value\n1,2\n2,', 'ts'), 'ts:3');
    expectFormatError(() => parseTimeSeriesCsv('time,value\n1,2,3', 'ts'), 'ts:2');
    expectFormatError(() => parseTimeSeriesCsv('', 'ts'), 'ts:1');
  });

  it('parallel TSV', () => {
    expectFormatError(() => parseParallelTsv('a\tb\nonly one field', 'p'), 'p:2');
    expectFormatError(() => parseParallelTsv('\tb', 'p'), 'p:1');
  });
});

describe('trainTestSplit and kFold', () => {
  it('trainTestSplit: disjoint, covering, round(n * testFraction) test items, seeded', () => {
    const s = trainTestSplit(10, { testFraction: 0.3, rng: new Rng(4) });
    expect(s.test.length).toBe(3);
    expect(s.train.length).toBe(7);
    expect([...s.train, ...s.test].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(trainTestSplit(10, { testFraction: 0.3, rng: new Rng(4) })).toEqual(s);
    expect(trainTestSplit(1000, { rng: new Rng(4) }).test.length).toBe(200);
    expect(trainTestSplit(5, { testFraction: 0 }).test.length).toBe(0);
  });

  it('kFold: test sets partition 0..n-1, sizes differ by at most one', () => {
    const folds = kFold(10, 3, new Rng(2));
    expect(folds.map((f) => f.test.length)).toEqual([3, 3, 4]);
    const allTest = folds.flatMap((f) => Array.from(f.test)).sort((a, b) => a - b);
    expect(allTest).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const f of folds) {
      expect(f.train.length + f.test.length).toBe(10);
      const test = new Set(f.test);
      expect(Array.from(f.train).some((i) => test.has(i))).toBe(false);
    }
  });

  it('typed errors', () => {
    expect(errorOf(() => trainTestSplit(-1)).argument).toBe('n');
    expect(errorOf(() => trainTestSplit(10, { testFraction: 1.5 })).argument).toBe('options.testFraction');
    expect(errorOf(() => trainTestSplit(10, { testFraction: Number.NaN })).argument).toBe('options.testFraction');
    expect(errorOf(() => kFold(10, 1)).argument).toBe('k');
    expect(errorOf(() => kFold(3, 4)).argument).toBe('k');
    expect(errorOf(() => kFold(2.5, 2))).toBeInstanceOf(ValueError);
  });
});

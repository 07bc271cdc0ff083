/**
 * Readers for the line formats of the shared data sets (../shared/data/README.md), and index
 * helpers for splitting a data set. Each reader takes a path (no built-in locations), reads UTF-8,
 * and returns plain typed structures; each has a `parse*` twin that takes the text itself.
 *
 * Common rules for every line format: a leading BOM is dropped; lines end with `\n` or `\r\n`
 * (only those: other Unicode line separators, like the U+0085 inside some IMDB sentences, are
 * data); blank lines (empty or white space only) are skipped; a malformed line throws a
 * FormatError whose `argument` is `path:line` (1-based line number).
 */

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { describe as describeValue, MAX_ELEMENTS } from '../check.js';

import { FormatError, ValueError } from '../errors.js';
import { toFileError } from '../io/atomic.js';
import { checkRng, defaultRng, type Rng } from '../random.js';

/** A file location: a path string or a `file:` URL. */
export type DataPath = string | URL;

function describe(path: DataPath): string {
  return path instanceof URL ? fileURLToPath(path) : path;
}

async function readUtf8(path: DataPath): Promise<string> {
  if ((typeof path !== 'string' || path === '') && !(path instanceof URL))
    throw new ValueError('expected a non-empty path string or a URL', 'path');
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw toFileError(error, describe(path), `cannot read ${describe(path)}`);
  }
}

function checkText(text: unknown, source: unknown): asserts text is string {
  if (typeof text !== 'string') throw new ValueError(`expected a string, got ${typeof text}`, 'text');
  if (typeof source !== 'string') throw new ValueError(`expected a string (a name for messages), got ${describeValue(source)}`, 'source');
}

/** Lines of `text` with their 1-based numbers; BOM dropped, `\r\n` accepted, blank lines skipped. */
function* lines(text: string): Generator<[line: string, lineNo: number]> {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const parts = body.split('\n');
  for (let i = 0; i < parts.length; i++) {
    let line = parts[i];
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    yield [line, i + 1];
  }
}

function formatError(source: string, lineNo: number, message: string): FormatError {
  return new FormatError(message, `${source}:${lineNo}`);
}

/** Splits a TSV line that must have exactly two non-empty fields. */
function twoFields(line: string, source: string, lineNo: number, what: string): [string, string] {
  const fields = line.split('\t');
  if (fields.length !== 2) {
    throw formatError(source, lineNo, `expected ${what} (2 tab-separated fields), got ${fields.length} field(s)`);
  }
  if (fields[0] === '' || fields[1] === '') throw formatError(source, lineNo, `expected ${what} with both fields non-empty`);
  return [fields[0], fields[1]];
}

// ---------------------------------------------------------------------------------------------
// Labelled sentences: LABEL<TAB>SENTENCE

/** One labelled sentence. */
export interface LabelledText {
  /** Class label, a non-negative integer (sentiment: 0 negative, 1 positive). */
  readonly label: number;
  /** The sentence, as in the file. */
  readonly text: string;
}

/**
 * Parses `LABEL<TAB>SENTENCE` lines (the sentiment sets). The label must be a non-negative
 * integer written in digits.
 * @param source the name used in error messages; default `'<text>'`.
 */
export function parseLabelledTsv(text: string, source = '<text>'): LabelledText[] {
  checkText(text, source);
  const out: LabelledText[] = [];
  for (const [line, lineNo] of lines(text)) {
    const [label, sentence] = twoFields(line, source, lineNo, 'LABEL<TAB>SENTENCE');
    if (!/^\d+$/.test(label)) throw formatError(source, lineNo, `expected a non-negative integer label, got '${label}'`);
    out.push({ label: Number(label), text: sentence });
  }
  return out;
}

/** Reads a `LABEL<TAB>SENTENCE` file (e.g. `sentiment/imdb.tsv`); see {@link parseLabelledTsv}. */
export async function readLabelledTsv(path: DataPath): Promise<LabelledText[]> {
  return parseLabelledTsv(await readUtf8(path), describe(path));
}

// ---------------------------------------------------------------------------------------------
// Tagged sentences: word/tag word/tag ...

/** One tagged sentence; `words[i]` has tag `tags[i]`. */
export interface TaggedSentence {
  /** The words, as in the file. */
  readonly words: string[];
  /** One non-empty tag per word. */
  readonly tags: string[];
}

/**
 * Parses one sentence per line of space-separated `word/tag` tokens (the Brown corpus). A word may
 * itself contain '/' (`1/2/cd`), so each token splits at its LAST '/'; word and tag must both be
 * non-empty.
 * @param source the name used in error messages; default `'<text>'`.
 */
export function parseTaggedCorpus(text: string, source = '<text>'): TaggedSentence[] {
  checkText(text, source);
  const out: TaggedSentence[] = [];
  for (const [line, lineNo] of lines(text)) {
    const words: string[] = [];
    const tags: string[] = [];
    for (const token of line.trim().split(/[ \t]+/)) {
      const slash = token.lastIndexOf('/');
      if (slash <= 0 || slash === token.length - 1) {
        throw formatError(source, lineNo, `expected word/tag, got '${token}'`);
      }
      words.push(token.slice(0, slash));
      tags.push(token.slice(slash + 1));
    }
    out.push({ words, tags });
  }
  return out;
}

/** Reads a `word/tag` corpus file (e.g. `pos/brown-train.txt`); see {@link parseTaggedCorpus}. */
export async function readTaggedCorpus(path: DataPath): Promise<TaggedSentence[]> {
  return parseTaggedCorpus(await readUtf8(path), describe(path));
}

// ---------------------------------------------------------------------------------------------
// Time series: time,value

/** A series read from a `time,value` CSV. */
export interface TimeSeries {
  /** The time column: numbers when every entry is numeric (R's fractional years), else the strings. */
  readonly time: number[] | string[];
  /** The value column. */
  readonly value: Float32Array;
}

/** Strips one pair of surrounding double quotes, as R's write.csv puts around strings. */
function unquote(field: string): string {
  const f = field.trim();
  return f.length >= 2 && f.startsWith('"') && f.endsWith('"') ? f.slice(1, -1) : f;
}

/** A strict decimal number: `Number('')` and `Number(' ')` are 0, and 'NA' must not pass silently. */
function parseNumber(field: string): number | null {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(field)) return null;
  return Number(field);
}

/**
 * Parses a two-column CSV whose first line is the header `time,value` (quotes optional).
 * Values must be finite decimal numbers (a missing value such as `NA` is a FormatError).
 * @param source the name used in error messages; default `'<text>'`.
 */
export function parseTimeSeriesCsv(text: string, source = '<text>'): TimeSeries {
  checkText(text, source);
  const times: string[] = [];
  const values: number[] = [];
  let header = true;
  for (const [line, lineNo] of lines(text)) {
    const fields = line.split(',').map(unquote);
    if (header) {
      if (fields.length !== 2 || fields[0] !== 'time' || fields[1] !== 'value') {
        throw formatError(source, lineNo, `expected the header 'time,value', got '${line}'`);
      }
      header = false;
      continue;
    }
    if (fields.length !== 2) throw formatError(source, lineNo, `expected 2 comma-separated fields, got ${fields.length}`);
    if (fields[0] === '') throw formatError(source, lineNo, 'expected a time, got an empty field');
    const value = parseNumber(fields[1]);
    if (value === null || !Number.isFinite(value)) {
      throw formatError(source, lineNo, `expected a finite number, got '${fields[1]}'`);
    }
    times.push(fields[0]);
    values.push(value);
  }
  if (header) throw formatError(source, 1, "expected the header 'time,value', got an empty file");
  const numericTimes = times.map(parseNumber);
  const time = numericTimes.every((t): t is number => t !== null) ? numericTimes : times;
  return { time, value: Float32Array.from(values) };
}

/** Reads a `time,value` CSV (e.g. `timeseries/AirPassengers.csv`); see {@link parseTimeSeriesCsv}. */
export async function readTimeSeriesCsv(path: DataPath): Promise<TimeSeries> {
  return parseTimeSeriesCsv(await readUtf8(path), describe(path));
}

// ---------------------------------------------------------------------------------------------
// Parallel text: SOURCE<TAB>TARGET

/** One source/target pair. */
export interface ParallelPair {
  /** First column (translation: Spanish; g2p: the word). */
  readonly source: string;
  /** Second column (translation: English; g2p: the phonemes). */
  readonly target: string;
}

/**
 * Parses `SOURCE<TAB>TARGET` lines (translation and g2p sets); both fields must be non-empty.
 * @param source the name used in error messages; default `'<text>'`.
 */
export function parseParallelTsv(text: string, source = '<text>'): ParallelPair[] {
  checkText(text, source);
  const out: ParallelPair[] = [];
  for (const [line, lineNo] of lines(text)) {
    const [src, tgt] = twoFields(line, source, lineNo, 'SOURCE<TAB>TARGET');
    out.push({ source: src, target: tgt });
  }
  return out;
}

/** Reads a `SOURCE<TAB>TARGET` file (e.g. `translation/es-en-train.tsv`, `g2p/cmudict-train.tsv`). */
export async function readParallelTsv(path: DataPath): Promise<ParallelPair[]> {
  return parseParallelTsv(await readUtf8(path), describe(path));
}

// ---------------------------------------------------------------------------------------------
// Plain text

/**
 * Reads a whole UTF-8 text file (e.g. `text/moby-dick.txt`): BOM dropped, `\r\n` turned into `\n`,
 * everything else (blank lines included) kept as is.
 */
export async function readText(path: DataPath): Promise<string> {
  const text = await readUtf8(path);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return body.replace(/\r\n/g, '\n');
}

// ---------------------------------------------------------------------------------------------
// Splits

/** Options of {@link trainTestSplit}. */
export interface TrainTestSplitOptions {
  /** Fraction of the items for the test set, in [0, 1]; `round(n * testFraction)` items. Default 0.2. */
  readonly testFraction?: number;
  /** Generator for the shuffle; default {@link defaultRng}. */
  readonly rng?: Rng;
}

/** Disjoint index sets that together cover 0..n-1. */
export interface IndexSplit {
  /** Training item indices, in random order. */
  readonly train: Int32Array;
  /** Held-out item indices, in random order. */
  readonly test: Int32Array;
}

function checkCount(n: unknown, name: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_ELEMENTS) {
    throw new ValueError(`expected an integer in [0, 2^31-1], got ${describeValue(n)}`, name);
  }
}

/**
 * A random train/test split of the indices 0..n-1.
 * @param n number of items, a non-negative integer.
 */
export function trainTestSplit(n: number, options: TrainTestSplitOptions = {}): IndexSplit {
  checkCount(n, 'n');
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describeValue(options)}`, 'options');
  const testFraction = options.testFraction ?? 0.2;
  if (typeof testFraction !== 'number' || !(testFraction >= 0 && testFraction <= 1)) {
    throw new ValueError(`expected a number in [0, 1], got ${describeValue(testFraction)}`, 'options.testFraction');
  }
  const rng = options.rng === undefined ? defaultRng() : checkRng(options.rng, 'options.rng');
  const order = rng.permutation(n);
  const nTest = Math.round(n * testFraction);
  return { train: order.slice(nTest), test: order.slice(0, nTest) };
}

/**
 * k-fold cross-validation folds over the indices 0..n-1: the test sets partition the items (sizes
 * differ by at most one), and each fold's train set is everything else.
 * @param n number of items, a non-negative integer >= k.
 * @param k number of folds, an integer >= 2.
 * @param rng default {@link defaultRng}.
 */
export function kFold(n: number, k: number, rng: Rng = defaultRng()): IndexSplit[] {
  checkCount(n, 'n');
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 2) {
    throw new ValueError(`expected an integer >= 2, got ${describeValue(k)}`, 'k');
  }
  if (k > n) throw new ValueError(`expected at most n (${n}) folds, got ${k}`, 'k');
  const order = checkRng(rng, 'rng').permutation(n);
  const folds: IndexSplit[] = [];
  for (let i = 0; i < k; i++) {
    // Fold i's test set is order[floor(i*n/k) .. floor((i+1)*n/k)): sizes differ by at most one.
    const lo = Math.floor((i * n) / k);
    const hi = Math.floor(((i + 1) * n) / k);
    const train = new Int32Array(n - (hi - lo));
    train.set(order.subarray(0, lo), 0);
    train.set(order.subarray(hi), lo);
    folds.push({ train, test: order.slice(lo, hi) });
  }
  return folds;
}

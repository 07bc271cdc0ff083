/**
 * What the example server accepts: the job configuration, the generate and classify requests, model
 * names, and data paths, each checked field by field. Every refusal is a {@link RequestError} whose
 * message starts with the field at fault and says what was expected and what came:
 *
 *   model.hiddenSize: expected an integer in [1, 4096], got "x"
 *   train.window: only for task 'char-lm' (a classifier takes train.maxLen)
 *   data: expected a path relative to the data folder, got an absolute path
 *
 * Unknown fields are refused too (a typo such as `model.hidden` would otherwise be silently ignored).
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';

import { RequestError } from './http.js';

// ---------------------------------------------------------------------------------------------
// limits

/** The bounds every request is checked against (documented in server.ts). */
export const LIMITS = {
  hiddenSize: 4096,
  layers: 8,
  embedding: 2048,
  epochs: 100,
  batchSize: 1024,
  window: 1024,
  maxLen: 1024,
  maxChars: 5_000_000,
  maxExamples: 1_000_000,
  maxVocab: 100_000,
  /** Parameters of one model (weights; Adam keeps 3 more copies while training). */
  parameters: 20_000_000,
  /** Largest data file a job may read, in bytes. */
  dataBytes: 64 << 20,
  promptChars: 1000,
  maxTokens: 2000,
  classifyTexts: 256,
  textChars: 20_000,
} as const;

// ---------------------------------------------------------------------------------------------
// field checks

type Obj = Readonly<Record<string, unknown>>;

/** A short rendering of a value for an error message: `"x"`, `1.5`, `null`, `an array`, `an object`. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'an object';
  if (typeof v === 'string') {
    const s = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
    return s;
  }
  return String(v);
}

function bad(field: string, message: string): RequestError {
  return new RequestError(400, message, field);
}

function object(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, `expected an object, got ${show(v)}`);
  return v as Obj;
}

/** A key worth echoing in an error: a plain identifier (so never `__proto__`, markup or control characters). */
const PLAIN_KEY = /^[A-Za-z][A-Za-z0-9]{0,39}$/;

function known(o: Obj, prefix: string, keys: readonly string[], elsewhere: Readonly<Record<string, string>> = {}): void {
  for (const k of Object.keys(o)) {
    if (keys.includes(k)) continue;
    if (Object.hasOwn(elsewhere, k)) throw bad(prefix ? `${prefix}.${k}` : k, elsewhere[k]);
    // The caller's key is named only when it is a plain identifier: what the client sent is not
    // echoed back (`__proto__`, HTML, very long keys).
    if (!PLAIN_KEY.test(k)) throw bad(prefix || 'body', `a field with an unexpected name (known: ${keys.join(', ')})`);
    throw bad(prefix ? `${prefix}.${k}` : k, `unknown field (known: ${keys.join(', ')})`);
  }
}

function int(o: Obj, key: string, prefix: string, lo: number, hi: number, dflt?: number): number {
  const field = prefix ? `${prefix}.${key}` : key;
  const v = o[key];
  if (v === undefined) {
    if (dflt !== undefined) return dflt;
    throw bad(field, `required: an integer in [${lo}, ${hi}]`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    throw bad(field, `expected an integer in [${lo}, ${hi}], got ${show(v)}`);
  return v;
}

function num(
  o: Obj,
  key: string,
  prefix: string,
  range: { readonly lo: number; readonly hi: number; readonly loOpen?: boolean },
  dflt: number,
): number {
  const field = prefix ? `${prefix}.${key}` : key;
  const v = o[key];
  if (v === undefined) return dflt;
  const text = `${range.loOpen ? '(' : '['}${range.lo}, ${range.hi}]`;
  if (typeof v !== 'number' || !Number.isFinite(v) || v > range.hi || (range.loOpen ? v <= range.lo : v < range.lo)) {
    throw bad(field, `expected a number in ${text}, got ${show(v)}`);
  }
  return v;
}

function choice<T extends string>(o: Obj, key: string, prefix: string, values: readonly T[], dflt?: T): T {
  const field = prefix ? `${prefix}.${key}` : key;
  const v = o[key];
  if (v === undefined) {
    if (dflt !== undefined) return dflt;
    throw bad(field, `required: one of ${values.map((x) => `'${x}'`).join(', ')}`);
  }
  if (typeof v !== 'string' || !values.includes(v as T))
    throw bad(field, `expected one of ${values.map((x) => `'${x}'`).join(', ')}, got ${show(v)}`);
  return v as T;
}

function bool(o: Obj, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw bad(key, `expected true or false, got ${show(v)}`);
  return v;
}

function text(v: unknown, field: string, maxChars: number, allowEmpty = false): string {
  if (typeof v !== 'string') throw bad(field, `expected a string, got ${show(v)}`);
  if (!allowEmpty && v.length === 0) throw bad(field, 'expected a non-empty string');
  if (v.length > maxChars) throw bad(field, `expected at most ${maxChars} characters, got ${v.length}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// names

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Checks a model name: 1-64 characters of `[A-Za-z0-9_.-]`, starting with a letter or digit (so it is a safe file name). */
export function checkModelName(v: unknown, field = 'name'): string {
  if (typeof v !== 'string' || !NAME.test(v)) {
    throw bad(field, `expected 1-64 characters of [A-Za-z0-9_.-] starting with a letter or digit, got ${show(v)}`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// data paths

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** A data file checked to lie inside the data folder. */
export interface DataFile {
  /** The path as given, relative to the data folder (`text/moby-dick.txt`). */
  readonly relative: string;
  /** Its real path (symbolic links resolved), inside the data folder. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
}

/**
 * Resolves `rel` (a request's `data` field) to a regular file inside `dataDir`, or throws a
 * RequestError: 400 for anything but a relative path of plain segments (`/`-separated, each of
 * `[A-Za-z0-9_.-]` not starting with a dot: so no absolute path, no `..`, no `\`, no `%`, no hidden
 * file), 404 when no such file exists, 403 when its real path (symbolic links resolved with
 * realpath) leaves the data folder, 400 when it is not a regular file, 413 above
 * {@link LIMITS}.dataBytes. Messages name the path as given, never the server's absolute paths.
 */
export async function resolveDataFile(dataDir: string, rel: unknown, field = 'data'): Promise<DataFile> {
  if (typeof rel !== 'string' || rel === '')
    throw bad(field, `expected a path relative to the data folder (e.g. "text/moby-dick.txt"), got ${show(rel)}`);
  if (rel.length > 512) throw bad(field, `expected a path of at most 512 characters, got ${rel.length}`);
  if (isAbsolute(rel) || rel.startsWith('/') || rel.startsWith('\\') || /^[A-Za-z]:/.test(rel)) {
    throw bad(field, 'expected a path relative to the data folder, got an absolute path');
  }
  const segments = rel.split('/');
  for (const s of segments) {
    if (s === '..' || s === '.') throw bad(field, `expected a path inside the data folder: '${s}' segments are not allowed`);
    if (!SEGMENT.test(s)) {
      throw bad(field, `expected '/'-separated names of [A-Za-z0-9_.-] not starting with a dot, got ${show(rel)}`);
    }
  }
  const root = await realpath(dataDir);
  let real: string;
  try {
    real = await realpath(join(root, ...segments));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new RequestError(404, `no file ${show(rel)} in the data folder`, field);
    if (code === 'EACCES' || code === 'EPERM') throw new RequestError(403, `${show(rel)} cannot be read (permission denied)`, field);
    if (code === 'ELOOP') throw bad(field, `${show(rel)} is a loop of symbolic links`);
    throw error;
  }
  if (!real.startsWith(root.endsWith(sep) ? root : root + sep))
    throw new RequestError(403, `${show(rel)} resolves outside the data folder (a symbolic link?)`, field);
  const st = await stat(real);
  if (!st.isFile()) throw bad(field, `${show(rel)} is not a regular file`);
  if (st.size > LIMITS.dataBytes)
    throw new RequestError(413, `${show(rel)} is ${st.size} bytes, above the limit of ${LIMITS.dataBytes}`, field);
  return { relative: rel, path: real, size: st.size };
}

// ---------------------------------------------------------------------------------------------
// jobs

/** What a job trains. */
export type Task = 'char-lm' | 'classifier';
/** The recurrent cell of a job's model. */
export type CellName = 'lstm' | 'gru' | 'rnn';

/** `model` of a job configuration. */
export interface ModelConfig {
  /** Default `'lstm'`. */
  readonly cell: CellName;
  /** Hidden units, [1, 4096]. Default 128. */
  readonly hiddenSize: number;
  /** Stacked recurrent layers, [1, 8]. Default 1. */
  readonly layers: number;
  /** Embedding dimension, [1, 2048]. Default 64. */
  readonly embedding: number;
  /** Dropout between stacked layers (and before the classifier's output), [0, 0.9]. Default 0. */
  readonly dropout: number;
}

/** `train` of a job configuration (the fields of both tasks; each task reads its own). */
export interface TrainConfig {
  /** Passes over the data, [1, 100]. Default 1. */
  readonly epochs: number;
  /** Sequences per batch (char-lm: parallel tracks), [1, 1024]. Default 32. */
  readonly batchSize: number;
  /** Adam's learning rate, (0, 1]. Default 0.003. */
  readonly lr: number;
  /** Global gradient-norm clip, (0, 1000]. Default 5. */
  readonly clipNorm: number;
  /** Share of the data held out to score the model, [0, 0.5]. Default 0.05 (char-lm), 0.1 (classifier). */
  readonly validation: number;
  /** Seed of the weights, the split and the batch order, [0, 2^31). Default 1. */
  readonly seed: number;
  /** char-lm: steps per truncated-BPTT window, [1, 1024]. Default 64. */
  readonly window: number;
  /** char-lm: characters read from the start of the file, [100, 5e6]. Default 200,000. */
  readonly maxChars: number;
  /** classifier: tokens kept per text, [1, 1024]. Default 100. */
  readonly maxLen: number;
  /** classifier: examples used (a seeded sample), [10, 1e6]. Default: all. */
  readonly maxExamples: number | null;
  /** classifier: words seen fewer times become `<unk>`, [1, 1000]. Default 1. */
  readonly minCount: number;
  /** classifier: largest vocabulary, [10, 100000]. Default 20,000. */
  readonly maxVocab: number;
}

/** A checked job configuration (every default filled in). */
export interface JobConfig {
  readonly task: Task;
  /** The data file, relative to the data folder. */
  readonly data: string;
  /** The name the trained model is saved under; null: `<task>-<job id>`. */
  readonly name: string | null;
  readonly model: ModelConfig;
  readonly train: TrainConfig;
  /** classifier: a name for each label id (`["negative", "positive"]`); null: the ids as strings. */
  readonly labelNames: readonly string[] | null;
}

const CHAR_ONLY = {
  window: "only for task 'char-lm' (a classifier takes train.maxLen)",
  maxChars: "only for task 'char-lm' (a classifier takes train.maxExamples)",
};
const CLASSIFIER_ONLY = {
  maxLen: "only for task 'classifier' (a char-lm takes train.window)",
  maxExamples: "only for task 'classifier' (a char-lm takes train.maxChars)",
  minCount: "only for task 'classifier'",
  maxVocab: "only for task 'classifier'",
};

/** Weights of a model of this configuration with a vocabulary of `vocab` and `outputs` output units. */
export function parameterCount(m: ModelConfig, vocab: number, outputs: number): number {
  const G = m.cell === 'lstm' ? 4 : m.cell === 'gru' ? 3 : 1;
  const H = m.hiddenSize;
  let n = vocab * m.embedding;
  for (let l = 0; l < m.layers; l++) n += G * H * ((l === 0 ? m.embedding : H) + H) + 2 * G * H;
  return n + H * outputs + outputs;
}

/** Checks a `POST /jobs` body; see {@link JobConfig} for every field, its range and default. */
export function parseJobConfig(body: unknown): JobConfig {
  const o = object(body, 'body');
  known(o, '', ['task', 'data', 'name', 'model', 'train', 'labelNames']);
  const task = choice<Task>(o, 'task', '', ['char-lm', 'classifier']);
  if (o.data === undefined) throw bad('data', 'required: a path relative to the data folder (e.g. "text/moby-dick.txt")');
  const data = text(o.data, 'data', 512);
  const name = o.name === undefined ? null : checkModelName(o.name);

  const mo = object(o.model ?? {}, 'model');
  known(mo, 'model', ['cell', 'hiddenSize', 'layers', 'embedding', 'dropout']);
  const model: ModelConfig = {
    cell: choice<CellName>(mo, 'cell', 'model', ['lstm', 'gru', 'rnn'], 'lstm'),
    hiddenSize: int(mo, 'hiddenSize', 'model', 1, LIMITS.hiddenSize, 128),
    layers: int(mo, 'layers', 'model', 1, LIMITS.layers, 1),
    embedding: int(mo, 'embedding', 'model', 1, LIMITS.embedding, 64),
    dropout: num(mo, 'dropout', 'model', { lo: 0, hi: 0.9 }, 0),
  };

  const to = object(o.train ?? {}, 'train');
  const common = ['epochs', 'batchSize', 'lr', 'clipNorm', 'validation', 'seed'];
  const lm = task === 'char-lm';
  known(
    to,
    'train',
    lm ? [...common, 'window', 'maxChars'] : [...common, 'maxLen', 'maxExamples', 'minCount', 'maxVocab'],
    lm ? CLASSIFIER_ONLY : CHAR_ONLY,
  );
  const train: TrainConfig = {
    epochs: int(to, 'epochs', 'train', 1, LIMITS.epochs, 1),
    batchSize: int(to, 'batchSize', 'train', 1, LIMITS.batchSize, 32),
    lr: num(to, 'lr', 'train', { lo: 0, hi: 1, loOpen: true }, 3e-3),
    clipNorm: num(to, 'clipNorm', 'train', { lo: 0, hi: 1000, loOpen: true }, 5),
    validation: num(to, 'validation', 'train', { lo: 0, hi: 0.5 }, lm ? 0.05 : 0.1),
    seed: int(to, 'seed', 'train', 0, 2 ** 31 - 1, 1),
    window: lm ? int(to, 'window', 'train', 1, LIMITS.window, 64) : 0,
    maxChars: lm ? int(to, 'maxChars', 'train', 100, LIMITS.maxChars, 200_000) : 0,
    maxLen: lm ? 0 : int(to, 'maxLen', 'train', 1, LIMITS.maxLen, 100),
    maxExamples: lm || to.maxExamples === undefined ? null : int(to, 'maxExamples', 'train', 10, LIMITS.maxExamples),
    minCount: lm ? 1 : int(to, 'minCount', 'train', 1, 1000, 1),
    maxVocab: lm ? 0 : int(to, 'maxVocab', 'train', 10, LIMITS.maxVocab, 20_000),
  };

  let labelNames: string[] | null = null;
  if (o.labelNames !== undefined) {
    if (lm) throw bad('labelNames', "only for task 'classifier'");
    if (!Array.isArray(o.labelNames) || o.labelNames.length < 2 || o.labelNames.length > 1000) {
      throw bad('labelNames', `expected an array of 2 to 1000 strings (the name of label 0, 1, ...), got ${show(o.labelNames)}`);
    }
    labelNames = o.labelNames.map((v, i) => text(v, `labelNames[${i}]`, 100));
  }

  // A bound on memory: the vocabulary is not known before the data is read, so take its largest
  // likely size (256 characters; maxVocab words). The job checks the real count again.
  const vocab = lm ? 256 : train.maxVocab;
  const params = parameterCount(model, vocab, lm ? vocab : (labelNames?.length ?? 2));
  if (params > LIMITS.parameters) {
    throw bad(
      'model',
      `about ${params.toLocaleString('en-US')} parameters, above the limit of ${LIMITS.parameters.toLocaleString('en-US')}: lower model.hiddenSize, model.layers or model.embedding${lm ? '' : ' (or train.maxVocab)'}`,
    );
  }
  return { task, data, name, model, train, labelNames };
}

// ---------------------------------------------------------------------------------------------
// generate and classify

/** A checked `POST /models/:name/generate` body. */
export interface GenerateRequest {
  /** The text to continue, 1 to 1000 characters. Required. */
  readonly prompt: string;
  /** Characters to generate, [1, 2000]. Default 200. */
  readonly maxTokens: number;
  /** Sampling temperature, [0, 10]; 0 is greedy (the most likely character every step). Default 1. */
  readonly temperature: number;
  /** Keep only the k most likely characters, [1, 100000]. Default: no limit. */
  readonly topK: number | null;
  /** Nucleus sampling, (0, 1]. Default 1 (off). */
  readonly topP: number;
  /** Seed of the draws, [0, 2^32). Default: a random one (reported in the `done` event). */
  readonly seed: number | null;
  /** Prompt characters outside the model's vocabulary: `'error'` (a 400 listing them) or `'map'` (to `<unk>`). Default `'error'`. */
  readonly unknown: 'error' | 'map';
  /** `true`: server-sent events, one `token` event per character; `false`: one JSON response. Default true. */
  readonly stream: boolean;
}

/** Checks a generate body (see {@link GenerateRequest}). */
export function parseGenerateRequest(body: unknown): GenerateRequest {
  const o = object(body, 'body');
  known(o, '', ['prompt', 'maxTokens', 'temperature', 'topK', 'topP', 'seed', 'unknown', 'stream']);
  if (o.prompt === undefined) throw bad('prompt', 'required: the text to continue');
  const prompt = text(o.prompt, 'prompt', LIMITS.promptChars);
  return {
    prompt,
    maxTokens: int(o, 'maxTokens', '', 1, LIMITS.maxTokens, 200),
    temperature: num(o, 'temperature', '', { lo: 0, hi: 10 }, 1),
    topK: o.topK === undefined ? null : int(o, 'topK', '', 1, 100_000),
    topP: num(o, 'topP', '', { lo: 0, hi: 1, loOpen: true }, 1),
    seed: o.seed === undefined ? null : int(o, 'seed', '', 0, 2 ** 32 - 1),
    unknown: choice(o, 'unknown', '', ['error', 'map'], 'error'),
    stream: bool(o, 'stream', true),
  };
}

/** Checks a classify body: `{ text }` or `{ texts: [...] }` (1 to 256 texts of at most 20,000 characters). */
export function parseClassifyRequest(body: unknown): { readonly texts: readonly string[]; readonly single: boolean } {
  const o = object(body, 'body');
  known(o, '', ['text', 'texts']);
  if (o.text !== undefined && o.texts !== undefined) throw bad('texts', 'give text or texts, not both');
  if (o.text !== undefined) return { texts: [text(o.text, 'text', LIMITS.textChars)], single: true };
  if (o.texts === undefined) throw bad('text', 'required: a string (or texts: an array of strings)');
  if (!Array.isArray(o.texts) || o.texts.length === 0 || o.texts.length > LIMITS.classifyTexts) {
    throw bad(
      'texts',
      `expected an array of 1 to ${LIMITS.classifyTexts} strings, got ${Array.isArray(o.texts) ? `${o.texts.length} items` : show(o.texts)}`,
    );
  }
  return { texts: o.texts.map((t, i) => text(t, `texts[${i}]`, LIMITS.textChars)), single: false };
}

/**
 * Reading a model file's description: the `__metadata__` format and version, the JSON, and the
 * format's own reader, which checks every field and gives the description in canonical form (every
 * option present, defaults filled in for fields an older version lacked) with what it takes to build
 * the model. Nothing is allocated by size before the description is known to fit the file's tensors
 * (lib/models/load.ts checks them).
 *
 * The formats (one reader each):
 *   "gated.sequential"  versions 1 and 2 (lib/models/sequential-format.ts). Version 2 lists every
 *                       option of every layer; version 1 files (before the Jordan layer listed its
 *                       defaulted options) load with the missing options at their defaults.
 *   "gated.seq2seq"     version 1 (lib/models/seq2seq-format.ts): an encoder-decoder's config.
 *
 * Every problem is a {@link FormatError} whose `argument` names the field at fault.
 */
import { describe } from '../check.js';
import type { ModelDescription } from './model.js';
import { type ExpectedKinds, type Fail, failIn, isObject, quote } from './reading.js';
import { METADATA_KEYS } from './save.js';
import { type EncoderDecoderConfig, readSeq2Seq, SEQ2SEQ_FORMAT, SEQ2SEQ_VERSIONS } from './seq2seq-format.js';
import { readSequential, SEQUENTIAL_FORMAT, SEQUENTIAL_VERSIONS, type SequentialParts } from './sequential-format.js';

/** A read description: canonical, with the parts its format builds a model from (lib/models/load.ts builds it). */
export type ReadModel =
  | { readonly format: typeof SEQUENTIAL_FORMAT; readonly description: ModelDescription; readonly sequential: SequentialParts }
  | { readonly format: typeof SEQ2SEQ_FORMAT; readonly description: ModelDescription; readonly config: EncoderDecoderConfig };

export type { ExpectedKinds, Fail } from './reading.js';

/** The model formats this version reads: name -> versions and reader. */
const FORMATS = {
  [SEQUENTIAL_FORMAT]: {
    versions: SEQUENTIAL_VERSIONS,
    read: (d, v, fail, expected) => ({ format: SEQUENTIAL_FORMAT, ...readSequential(d, v, fail, expected) }),
  },
  [SEQ2SEQ_FORMAT]: {
    versions: SEQ2SEQ_VERSIONS,
    read: (d, v, fail, expected) => ({ format: SEQ2SEQ_FORMAT, ...readSeq2Seq(d, v, fail, expected) }),
  },
} as const satisfies Record<
  string,
  { versions: readonly number[]; read: (d: Record<string, unknown>, v: number, fail: Fail, expected: ExpectedKinds) => ReadModel }
>;

/** Reads the description in a file's metadata (see the module comment). */
export function readModelMetadata(meta: Readonly<Record<string, string>>, source: string, expected: ExpectedKinds): ReadModel {
  const fail = failIn(source);
  const metaArg = (k: string): string => `__metadata__[${JSON.stringify(k)}]`;
  const format = meta[METADATA_KEYS.format];
  if (format === undefined)
    throw fail(metaArg(METADATA_KEYS.format), 'missing: not a gated model file (a plain safetensors file loads with loadStateDict)');
  if (!Object.hasOwn(FORMATS, format))
    throw fail(metaArg(METADATA_KEYS.format), `expected ${Object.keys(FORMATS).map(quote).join(' or ')}, got ${quote(format)}`);
  const f = FORMATS[format as keyof typeof FORMATS];
  const version = meta[METADATA_KEYS.version];
  if (!f.versions.map(String).includes(version ?? '')) {
    throw fail(
      metaArg(METADATA_KEYS.version),
      `expected ${f.versions.map((v) => quote(String(v))).join(' or ')} (the versions this gated reads), got ${version === undefined ? 'none' : quote(version)}`,
    );
  }
  const text = meta[METADATA_KEYS.model];
  if (text === undefined) throw fail(metaArg(METADATA_KEYS.model), 'missing: the file has no model description');
  return readDescription(text, format, Number(version), fail, expected);
}

/** Reads a description's JSON text, of `format` and `version` as the metadata says. */
export function readDescription(text: string, format: string, version: number, fail: Fail, expected: ExpectedKinds): ReadModel {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    throw fail('description', `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(d)) throw fail('description', `expected a JSON object, got ${describe(d)}`);
  if (d.format !== format) throw fail('format', `expected ${quote(format)}, got ${describe(d.format)}`);
  if (d.version !== version) throw fail('version', `expected ${version}, got ${describe(d.version)}`);
  return FORMATS[format as keyof typeof FORMATS].read(d, version, fail, expected);
}

/** Reads a description's JSON text whose own `format` and `version` fields say what it is (a checkpoint's). */
export function readDescriptionText(text: string, fail: Fail, expected: ExpectedKinds): ReadModel {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    throw fail('description', `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const format = isObject(d) ? d.format : undefined;
  if (typeof format !== 'string' || !Object.hasOwn(FORMATS, format))
    throw fail('format', `expected ${Object.keys(FORMATS).map(quote).join(' or ')}, got ${describe(format)}`);
  const version = (d as Record<string, unknown>).version;
  if (!(FORMATS[format as keyof typeof FORMATS].versions as readonly unknown[]).includes(version)) {
    throw fail(
      'version',
      `expected ${FORMATS[format as keyof typeof FORMATS].versions.join(' or ')} (the versions this gated reads), got ${describe(version)}`,
    );
  }
  return readDescription(text, format, version as number, fail, expected);
}

/**
 * The safetensors format (https://github.com/huggingface/safetensors), the format of PyTorch and
 * Hugging Face checkpoints. A file is:
 *
 *   bytes 0..8        N, the header length, unsigned 64-bit little-endian
 *   bytes 8..8+N      the header: UTF-8 JSON, `{"__metadata__": {str: str}, "<name>": {"dtype": "F32",
 *                     "shape": [2, 3], "data_offsets": [begin, end]}, ...}`, possibly padded with spaces
 *   bytes 8+N..       the data section; each tensor's `[begin, end)` is relative to its start; the
 *                     tensors are little-endian, row-major, and together cover it exactly, without gaps
 *                     or overlaps.
 *
 * Writing follows the reference (Rust) implementation byte for byte: compact JSON, `__metadata__`
 * first, tensors ordered by dtype (8-byte types first, the reference's dtype order) then by name
 * (so names come out sorted within each dtype), the header padded with
 * spaces so that N is a multiple of 8. The data section then starts 8-aligned and every tensor
 * starts at a multiple of its element size, so a reader can view it in place without copying.
 *
 * Writing also records the CRC-32 of the data section in `__metadata__["gated.data_crc32"]` (8 hex
 * digits; `checksum: false` leaves it out, and the bytes are then the reference's exactly). CRC-32
 * because it catches every single-bit flip and every burst up to 32 bits, and Node ships it
 * (zlib.crc32, ~3.4 GB/s here against ~0.9 GB/s for the best CRC-32C in plain TypeScript).
 *
 * Reading accepts any valid file: any key order, any padding, any data order, and validates every
 * field before it touches the data (see {@link decodeSafetensors}); it bounds what a header may cost
 * (size, nesting, tensor count) and verifies the checksum when the file has one.
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { TextDecoder, TextEncoder } from 'node:util';
import { crc32 } from 'node:zlib';
import { isDetached } from '../check.js';
import { FormatError, ShapeError, ValueError } from '../errors.js';
import { type AtomicWriteOptions, FileError, toFileError, writeFileAtomic, writeFileAtomicAsync } from './atomic.js';

// ---------------------------------------------------------------------------------------------
// Types

/** The typed array that holds each dtype's elements. F16 and BF16 are raw bit patterns. */
export interface DtypeArrays {
  BOOL: Uint8Array;
  U8: Uint8Array;
  I8: Int8Array;
  I16: Int16Array;
  U16: Uint16Array;
  /** IEEE half precision, as raw bits; {@link toFloat32} converts. */
  F16: Uint16Array;
  /** bfloat16 (the top half of a float32), as raw bits; {@link toFloat32} converts. */
  BF16: Uint16Array;
  I32: Int32Array;
  U32: Uint32Array;
  F32: Float32Array;
  I64: BigInt64Array;
  U64: BigUint64Array;
  F64: Float64Array;
}

/**
 * A safetensors dtype this module reads and writes. The spec's 8-bit and sub-byte float types
 * (F8_E4M3, F8_E5M2, F4, ...) and complex types are not supported: a file containing them is
 * rejected with a FormatError.
 */
export type Dtype = keyof DtypeArrays;

/** A tensor of one dtype: row-major `data` of `product(shape)` elements. */
export interface TensorOf<D extends Dtype> {
  /** The element type, e.g. `'F32'`. */
  readonly dtype: D;
  /** Dimensions, outermost first; `[]` is a scalar (one element). */
  readonly shape: readonly number[];
  /** The elements, row-major, `product(shape)` of them, in the typed array of `dtype` ({@link DtypeArrays}). */
  readonly data: DtypeArrays[D];
}

/** A tensor: a union discriminated on `dtype`, so `t.dtype === 'F32'` narrows `t.data` to Float32Array. */
export type Tensor = { [D in Dtype]: TensorOf<D> }[Dtype];

/** What a safetensors file holds. */
export interface SafetensorsContent {
  /** Tensors by name, in the order of the file's header. */
  tensors: Record<string, Tensor>;
  /**
   * The free-form `__metadata__` string map (`{}` when the file has none), without the checksum
   * entry ({@link CHECKSUM_KEY}), which belongs to the container.
   */
  metadata: Record<string, string>;
  /** What became of the data section's checksum ({@link ChecksumStatus}). */
  checksum: ChecksumStatus;
}

/**
 * `'verified'`: the file records a CRC-32 of its data section and the data matches it (a mismatch is
 * a FormatError); `'absent'`: the file records none (files from PyTorch, or written with
 * `checksum: false`); `'unverified'`: it records one, and `verifyChecksum: false` skipped the check.
 */
export type ChecksumStatus = 'verified' | 'absent' | 'unverified';

/** Options of {@link encodeSafetensors} (and, with the atomic-write options, of {@link saveSafetensors}). */
export interface SafetensorsWriteOptions {
  /**
   * Record the CRC-32 of the data section in `__metadata__` ({@link CHECKSUM_KEY}) so that a reader
   * can tell a corrupt file (a flipped bit) from a good one. Costs one pass over the data (~3 GB/s).
   * Default: true; false writes exactly what the reference implementation writes.
   */
  readonly checksum?: boolean;
}

type TypedArrayConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => DtypeArrays[Dtype];

/**
 * Element size, array class, and `rank`: the position of the dtype in the reference implementation's
 * `Dtype` enum, which is in increasing alignment order. Writing sorts by descending rank, then name,
 * exactly as the reference does, so that every tensor starts aligned.
 */
const DTYPES: {
  readonly [D in Dtype]: { readonly size: number; readonly array: TypedArrayConstructor; readonly rank: number };
} = {
  BOOL: { size: 1, array: Uint8Array, rank: 0 },
  U8: { size: 1, array: Uint8Array, rank: 1 },
  I8: { size: 1, array: Int8Array, rank: 2 },
  // (ranks 3 and 4: F8_E5M2, F8_E4M3, not supported)
  I16: { size: 2, array: Int16Array, rank: 5 },
  U16: { size: 2, array: Uint16Array, rank: 6 },
  F16: { size: 2, array: Uint16Array, rank: 7 },
  BF16: { size: 2, array: Uint16Array, rank: 8 },
  I32: { size: 4, array: Int32Array, rank: 9 },
  U32: { size: 4, array: Uint32Array, rank: 10 },
  F32: { size: 4, array: Float32Array, rank: 11 },
  F64: { size: 8, array: Float64Array, rank: 12 },
  I64: { size: 8, array: BigInt64Array, rank: 13 },
  U64: { size: 8, array: BigUint64Array, rank: 14 },
};

/** The format's limit on the header (the reference implementation's MAX_HEADER_SIZE). */
const FORMAT_MAX_HEADER_BYTES = 100_000_000;

/** How deep a valid header nests: the header object, a tensor (or `__metadata__`) object, a shape or offsets array. */
const MAX_DEPTH = 3;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Serialize tensors to safetensors bytes. The output is deterministic: the same tensors and
 * metadata give the same bytes, whatever the key order of the objects passed in. With
 * `checksum: false` they are the same bytes as the reference implementation (Python
 * `safetensors.torch.save_file`) writes for the same tensors; by default the CRC-32 of the data
 * section is added to `__metadata__` as {@link CHECKSUM_KEY} (any value passed for that key is
 * replaced), which every reader ignores or, like this module's, verifies.
 *
 * @param tensors Tensors by name. A name may be any string except `__metadata__`; at most
 *   {@link DEFAULT_MAX_TENSORS} of them, and a header of at most {@link DEFAULT_MAX_HEADER_BYTES}
 *   (what readers accept by default).
 * @param metadata Optional string-to-string map stored as `__metadata__` (keys written sorted).
 *   Omitted from the file when `undefined` and there is no checksum; written (even empty) when given.
 * @param options `checksum` ({@link SafetensorsWriteOptions}).
 * @throws {ValueError} unknown dtype, `data` of the wrong typed-array class, reserved name,
 *   non-string metadata, too many tensors, a header over the limit.
 * @throws {ShapeError} a shape that is not a list of non-negative integers, or whose element count
 *   differs from `data.length`.
 */
export function encodeSafetensors(
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
  options?: SafetensorsWriteOptions,
): Uint8Array {
  if (options !== undefined && !isPlainObject(options))
    throw new ValueError(`expected an options object, got ${describe(options)}`, 'options');
  const parts = encodeParts(tensors, metadata, checksumOption(options?.checksum));
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * The file as a list of chunks: the length prefix and header, then each tensor's bytes (views of the
 * caller's arrays on little-endian machines), so that saving never builds a second copy of the data.
 */
function encodeParts(tensors: Record<string, Tensor>, metadata: Record<string, string> | undefined, checksum: boolean): Uint8Array[] {
  if (!isPlainObject(tensors)) throw new ValueError('expected an object of tensors by name', 'tensors');
  const names = Object.keys(tensors);
  if (names.length > DEFAULT_MAX_TENSORS) {
    throw new ValueError(`${names.length} tensors, over the ${DEFAULT_MAX_TENSORS} readers accept by default`, 'tensors');
  }

  const entries = names.map((name) => {
    const tensor = checkTensor(name, tensors[name]);
    return { name, tensor, rank: DTYPES[tensor.dtype].rank, bytes: littleEndianBytes(tensor.data) };
  });
  // The reference order: descending dtype rank (largest elements first, keeping every tensor
  // aligned), then by name.
  entries.sort((a, b) => b.rank - a.rank || compareCodePoints(a.name, b.name));

  let crc: string | undefined;
  if (checksum) {
    let value = 0;
    for (const { bytes } of entries) value = crcUpdate(value, bytes);
    crc = hex32(value);
  }
  const fields: string[] = [];
  if (metadata !== undefined || crc !== undefined) fields.push(`"__metadata__":${metadataJson(metadata, crc)}`);
  let offset = 0;
  for (const { name, tensor, bytes } of entries) {
    const end = offset + bytes.byteLength;
    fields.push(
      `${JSON.stringify(name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(',')}],` + `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }

  const header = new TextEncoder().encode(`{${fields.join(',')}}`);
  // Pad with spaces to a multiple of 8 so the data section starts 8-aligned (as the reference does).
  const headerLength = header.byteLength + ((8 - (header.byteLength % 8)) % 8);
  if (headerLength > DEFAULT_MAX_HEADER_BYTES) {
    throw new ValueError(
      `header would be ${headerLength} bytes, over the ${DEFAULT_MAX_HEADER_BYTES}-byte limit readers apply by default`,
      'tensors',
    );
  }
  const prefix = new Uint8Array(8 + headerLength).fill(0x20, 8 + header.byteLength);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerLength), true);
  prefix.set(header, 8);
  return [prefix, ...entries.map((e) => e.bytes)];
}

function checkTensor(name: string, tensor: unknown): Tensor {
  const arg = `tensors[${JSON.stringify(name)}]`;
  if (name === '__metadata__') throw new ValueError('the name __metadata__ is reserved by the format', arg);
  if (!isPlainObject(tensor)) throw new ValueError('expected a tensor {dtype, shape, data}', arg);
  const { dtype, shape, data } = tensor as { dtype: unknown; shape: unknown; data: unknown };
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) {
    throw new ValueError(
      `unsupported dtype ${typeof dtype === 'string' ? dtype : describe(dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`,
      `${arg}.dtype`,
    );
  }
  const { array } = DTYPES[dtype as Dtype];
  if (!(data instanceof array)) {
    throw new ValueError(`dtype ${dtype} needs a ${array.name}, got ${describe(data)}`, `${arg}.data`);
  }
  if (isDetached(data.buffer)) throw new ValueError('its buffer is detached (transferred)', `${arg}.data`);
  const count = elementCount(shape);
  if (count === undefined) {
    throw new ShapeError('expected an array of non-negative integers (with a safe-integer product)', `${arg}.shape`);
  }
  if (count !== data.length) {
    throw new ShapeError(`shape [${(shape as number[]).join(', ')}] has ${count} elements, data has ${data.length}`, `${arg}.data`);
  }
  return tensor as unknown as Tensor;
}

/** The `__metadata__` object: the caller's map (may be undefined) and the checksum entry, keys sorted. */
function metadataJson(metadata: Record<string, string> | undefined, crc: string | undefined): string {
  if (metadata !== undefined && !isPlainObject(metadata)) throw new ValueError('expected an object of strings', 'metadata');
  const pairs: [string, string][] = [];
  for (const key of metadata === undefined ? [] : Object.keys(metadata)) {
    const value: unknown = metadata![key];
    if (typeof value !== 'string') throw new ValueError(`expected a string, got ${describe(value)}`, `metadata[${JSON.stringify(key)}]`);
    if (key !== CHECKSUM_KEY) pairs.push([key, value]);
  }
  if (crc !== undefined) pairs.push([CHECKSUM_KEY, crc]);
  pairs.sort((a, b) => compareCodePoints(a[0], b[0]));
  return `{${pairs.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',')}}`;
}

function checksumOption(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw new ValueError(`expected a boolean, got ${describeValue(value)}`, 'options.checksum');
  return value;
}

/** The array's bytes in little-endian order: a view on little-endian machines, a swapped copy otherwise. */
function littleEndianBytes(data: DtypeArrays[Dtype]): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1 ? view : swapBytes(view.slice(), data.BYTES_PER_ELEMENT);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Parse safetensors bytes. Everything is validated before use, and every problem is a
 * {@link FormatError} (with `argument` `'bytes'`) that says what is wrong: a short file, a header
 * length over the limit or past the end, a header that is not UTF-8 JSON starting with `{`, nested
 * deeper than the format's 3 levels or naming more tensors than the limit, duplicate keys (anywhere
 * in the header), unknown fields or dtypes, bad shapes or offsets, a byte count that does not match
 * the shape, tensors that overlap or leave gaps, trailing bytes, non-string metadata, a data section
 * that does not match its checksum.
 *
 * Cost: time linear in the input, and never more memory than a small multiple of the input. The
 * length prefix is checked before the header is looked at, and the header's nesting depth and
 * tensor count before JSON.parse builds anything from it; what remains costs at most ~15 times the
 * header's size, for the densest header there is (measured on Zen 5, Node 20: 100,000 minimal
 * zero-size tensors, a 5.7 MB header, decode in ~0.9 s and add ~86 MB of RSS, of which ~30 MB stay
 * with the result). With the default limits ({@link DEFAULT_MAX_HEADER_BYTES},
 * {@link DEFAULT_MAX_TENSORS}) no header costs more than that. The data section costs its size
 * (tensors are views of it) and one CRC-32 pass when the file records a checksum.
 *
 * No copy is made where none is needed: a tensor whose bytes are aligned for its type is a view of
 * `bytes` (it shares memory with it and keeps it alive); an unaligned one (or any tensor on a
 * big-endian machine) is copied.
 *
 * @param bytes The whole file.
 * @throws {FormatError} the bytes are not a valid safetensors file, or exceed the limits.
 * @throws {ValueError} `bytes` is not a Uint8Array, or an option is out of range.
 */
export function decodeSafetensors(bytes: Uint8Array, options?: SafetensorsReadOptions): SafetensorsContent {
  if (!(bytes instanceof Uint8Array)) throw new ValueError(`expected a Uint8Array, got ${describe(bytes)}`, 'bytes');
  const limits = readLimits(options);
  const fail = failIn('bytes');
  const headerLength = headerLengthOf(bytes, bytes.byteLength, limits, fail);
  const dataStart = 8 + headerLength;
  const layout = parseHeader(bytes.subarray(8, dataStart), bytes.byteLength - dataStart, limits, fail);
  const computed = layout.checksum !== undefined && limits.verifyChecksum ? crcUpdate(0, bytes.subarray(dataStart)) : undefined;
  return contentOf(bytes, dataStart, layout, checkChecksum(layout, computed, fail));
}

/** Limits and checks applied when reading (decodeSafetensors, loadSafetensors, loadSafetensorsAsync). */
export interface SafetensorsReadOptions {
  /**
   * Largest header accepted, in bytes: an integer in [2, 100,000,000] (the format's own limit).
   * Default: {@link DEFAULT_MAX_HEADER_BYTES} (16 MiB).
   */
  readonly maxHeaderBytes?: number;
  /** Most tensors a file may hold: a positive integer. Default: {@link DEFAULT_MAX_TENSORS} (100,000). */
  readonly maxTensors?: number;
  /**
   * Check the data section against the CRC-32 stored in `__metadata__["gated.data_crc32"]` when the
   * file has one (files gated writes do; files from PyTorch have none and load unchecked either way).
   * Default: true.
   */
  readonly verifyChecksum?: boolean;
}

/**
 * The default header limit: 16 MiB. The format allows 100 MB, but real headers are far smaller: a
 * tensor's entry is ~100 bytes, so even {@link DEFAULT_MAX_TENSORS} tensors fit in ~10 MB, and the
 * largest metadata found in public files (LoRA training logs, embedded thumbnails) is a few MB.
 * Beyond the tensor limit, the rest of a header can only be metadata strings, which cost about their
 * size, so this default bounds what any header costs to ~100 MB.
 */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024;

/**
 * The default limit on the number of tensors in a file: 100,000. Checkpoint shards of the largest
 * public models hold a few thousand; each tensor costs ~0.9 KB of memory and ~9 us while decoding.
 */
export const DEFAULT_MAX_TENSORS = 100_000;

/** The `__metadata__` key holding the data section's CRC-32 (8 lowercase hex digits). */
export const CHECKSUM_KEY = 'gated.data_crc32';

interface Limits {
  readonly maxHeaderBytes: number;
  readonly maxTensors: number;
  readonly verifyChecksum: boolean;
}

function readLimits(options: SafetensorsReadOptions | undefined): Limits {
  if (options === undefined) return { maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES, maxTensors: DEFAULT_MAX_TENSORS, verifyChecksum: true };
  if (!isPlainObject(options)) throw new ValueError(`expected an options object, got ${describe(options)}`, 'options');
  const { maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES, maxTensors = DEFAULT_MAX_TENSORS, verifyChecksum = true } = options;
  if (!isSize(maxHeaderBytes) || maxHeaderBytes < 2 || maxHeaderBytes > FORMAT_MAX_HEADER_BYTES) {
    throw new ValueError(
      `expected an integer in [2, ${FORMAT_MAX_HEADER_BYTES}], got ${describeValue(maxHeaderBytes)}`,
      'options.maxHeaderBytes',
    );
  }
  if (!isSize(maxTensors) || maxTensors < 1) {
    throw new ValueError(`expected a positive integer, got ${describeValue(maxTensors)}`, 'options.maxTensors');
  }
  if (typeof verifyChecksum !== 'boolean') {
    throw new ValueError(`expected a boolean, got ${describeValue(verifyChecksum)}`, 'options.verifyChecksum');
  }
  return { maxHeaderBytes, maxTensors, verifyChecksum };
}

type Fail = (message: string) => FormatError;

/** FormatErrors naming `source` (the file path, or 'bytes'). */
function failIn(source: string): Fail {
  return (message) => new FormatError(message, source);
}

interface Entry {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** What the header says: the tensors (in header order), the metadata and the stored checksum. */
interface Layout {
  readonly entries: Entry[];
  readonly metadata: Record<string, string>;
  readonly checksum: number | undefined;
}

/**
 * Step 1: the header length from the first 8 bytes of a file of `total` bytes (`prefix` may be
 * shorter when the file is), checked against the limit and the file's size.
 */
function headerLengthOf(prefix: Uint8Array, total: number, limits: Limits, fail: Fail): number {
  if (total < 8) throw fail(`file is ${total} bytes, shorter than the 8-byte header length`);
  const declared = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(limits.maxHeaderBytes)) {
    throw fail(
      `header length ${declared} is over the ${limits.maxHeaderBytes}-byte limit (corrupt, not a safetensors file, or a header larger than options.maxHeaderBytes allows)`,
    );
  }
  const headerLength = Number(declared);
  if (8 + headerLength > total) {
    throw fail(`header length ${headerLength} runs past the end of the file (${total} bytes)`);
  }
  return headerLength;
}

/** Step 2: the header's bytes, for a data section of `dataLength` bytes. Reads nothing else. */
function parseHeader(headerBytes: Uint8Array, dataLength: number, limits: Limits, fail: Fail): Layout {
  // The reference rejects anything but '{' here; it also keeps a stray text file from parsing as one.
  if (headerBytes.byteLength === 0 || headerBytes[0] !== 0x7b) throw fail('header does not start with "{"');

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw fail('header is not valid UTF-8');
  }
  // Depth and tensor count first: JSON.parse would build whatever the text describes.
  const duplicate = scanHeader(text, limits.maxTensors, fail);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw fail(`header is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isPlainObject(header)) throw fail('header is not a JSON object');
  // JSON.parse silently keeps the last of duplicate keys; a duplicate tensor name would hide data.
  if (duplicate !== undefined) {
    const key = quote(duplicate.key);
    throw fail(duplicate.depth === 1 ? `duplicate tensor name ${key}` : `duplicate key ${key} in the header`);
  }

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const name of Object.keys(header)) {
    const value = (header as Record<string, unknown>)[name];
    if (name === '__metadata__') metadata = parseMetadata(value, fail);
    else entries.push(parseEntry(name, value, dataLength, fail));
  }

  // The spec requires the tensors to tile the data section exactly: walk them in offset order.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: Entry | undefined;
  for (const entry of byOffset) {
    if (entry.begin < cursor) {
      const where = (e: Entry): string => `tensor ${quote(e.name)} (bytes ${e.begin}..${e.end})`;
      throw fail(`${where(entry)} overlaps ${where(previous!)}`);
    }
    if (entry.begin > cursor) {
      throw fail(`bytes ${cursor}..${entry.begin} of the data section belong to no tensor (a gap before ${quote(entry.name)})`);
    }
    cursor = entry.end;
    previous = entry;
  }
  if (cursor !== dataLength) {
    throw fail(
      `${dataLength - cursor} trailing bytes after the last tensor (data section is ${dataLength} bytes, tensors cover ${cursor})`,
    );
  }
  return { entries, metadata, checksum: takeChecksum(metadata, fail) };
}

/** Removes CHECKSUM_KEY from the metadata and returns its value (undefined when absent). */
function takeChecksum(metadata: Record<string, string>, fail: Fail): number | undefined {
  if (!Object.hasOwn(metadata, CHECKSUM_KEY)) return undefined;
  const text = metadata[CHECKSUM_KEY];
  delete metadata[CHECKSUM_KEY];
  if (!/^[0-9a-f]{8}$/.test(text))
    throw fail(`__metadata__ value of ${quote(CHECKSUM_KEY)} is not 8 lowercase hex digits (got ${quote(text)})`);
  return parseInt(text, 16);
}

/** Whether the data was verified; a mismatch is a FormatError. `computed`: undefined when not computed. */
function checkChecksum(layout: Layout, computed: number | undefined, fail: Fail): ChecksumStatus {
  if (layout.checksum === undefined) return 'absent';
  if (computed === undefined) return 'unverified';
  if (computed !== layout.checksum) {
    throw fail(
      `the data section is corrupt: its CRC-32 is ${hex32(computed)}, the header records ${hex32(layout.checksum)} (${CHECKSUM_KEY})`,
    );
  }
  return 'verified';
}

/** Step 3: the tensors, views of (or aligned copies from) the whole file's bytes. */
function contentOf(bytes: Uint8Array, dataStart: number, layout: Layout, checksum: ChecksumStatus): SafetensorsContent {
  const tensors: Record<string, Tensor> = {};
  for (const entry of layout.entries) {
    const data = tensorData(bytes, dataStart + entry.begin, entry.end - entry.begin, entry.dtype);
    defineEntry(tensors, entry.name, { dtype: entry.dtype, shape: entry.shape, data } as Tensor);
  }
  return { tensors, metadata: layout.metadata, checksum };
}

const TENSOR_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);

function parseEntry(name: string, info: unknown, dataLength: number, fail: (m: string) => FormatError): Entry {
  const what = `tensor ${quote(name)}`;
  if (!isPlainObject(info)) throw fail(`${what}: expected an object {dtype, shape, data_offsets}`);
  for (const key of Object.keys(info)) {
    if (!TENSOR_FIELDS.has(key)) throw fail(`${what}: unknown field ${quote(key)}`);
  }
  const { dtype, shape, data_offsets: offsets } = info as { dtype: unknown; shape: unknown; data_offsets: unknown };

  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) {
    const got = typeof dtype === 'string' ? quote(dtype) : dtype === undefined ? '(missing)' : `of type ${describe(dtype)}`;
    throw fail(`${what}: unknown or unsupported dtype ${got} (supported: ${Object.keys(DTYPES).join(', ')})`);
  }
  const count = elementCount(shape);
  if (count === undefined) {
    throw fail(`${what}: shape must be an array of non-negative integers with a safe-integer product`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
    throw fail(`${what}: data_offsets must be [begin, end], two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`${what}: data_offsets [${begin}, ${end}] has begin > end`);
  if (end > dataLength) {
    throw fail(`${what}: data_offsets end ${end} is beyond the data section (${dataLength} bytes)`);
  }
  const expected = count * DTYPES[dtype as Dtype].size;
  if (end - begin !== expected) {
    throw fail(`${what}: shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${expected} bytes, data_offsets span ${end - begin}`);
  }
  return { name, dtype: dtype as Dtype, shape: shape as number[], begin, end };
}

function parseMetadata(value: unknown, fail: (m: string) => FormatError): Record<string, string> {
  // The reference treats a null __metadata__ as absent.
  if (value === null) return {};
  if (!isPlainObject(value)) throw fail('__metadata__ must be an object of strings');
  const metadata: Record<string, string> = {};
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (typeof item !== 'string') throw fail(`__metadata__ value of ${quote(key)} is not a string`);
    defineEntry(metadata, key, item);
  }
  return metadata;
}

/** A view of the tensor's bytes when aligned (no copy), else an aligned copy; byte-swapped on big-endian machines. */
function tensorData(bytes: Uint8Array, start: number, byteLength: number, dtype: Dtype): DtypeArrays[Dtype] {
  const { size, array } = DTYPES[dtype];
  const absolute = bytes.byteOffset + start;
  if (LITTLE_ENDIAN && absolute % size === 0) return new array(bytes.buffer, absolute, byteLength / size);
  // Not `bytes.slice`: on a Node Buffer that returns a view, not a copy.
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(start, start + byteLength));
  if (!LITTLE_ENDIAN) swapBytes(copy, size);
  return new array(copy.buffer, 0, byteLength / size);
}

/**
 * One bounded pass over the header text, before JSON.parse: fails when objects and arrays nest
 * deeper than the format's 3 levels (the header object, a tensor or `__metadata__` object, a shape or
 * offsets array) or when the top level names more than `maxTensors` tensors, and returns the first
 * duplicate key of any object (meaningful once JSON.parse has accepted the text; depth 1 is the
 * top-level object, i.e. tensor names). An explicit stack and an end check on every index, so no
 * input can overflow the call stack or run past the text; the key Sets of closed objects are reused,
 * so it holds the top level's names and O(depth) more.
 */
function scanHeader(text: string, maxTensors: number, fail: Fail): { key: string; depth: number } | undefined {
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  const spare: Set<string>[] = [];
  let duplicate: { key: string; depth: number } | undefined;
  let tensors = 0;
  let atKey = false; // true right after '{' or an object's ','
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < n && text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c /* \ */) {
          escaped = true;
          j++; // skip the escaped character, which may be a quote
        }
        j++;
      }
      if (j >= n) return duplicate; // an unterminated string: JSON.parse rejects the text
      const top = stack[stack.length - 1];
      if (atKey && top) {
        let key: string;
        try {
          // Compare keys as decoded strings: "a" and "\u0061" are the same key.
          key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        } catch {
          return duplicate; // a bad escape: JSON.parse rejects the text
        }
        if (stack.length === 1 && key !== '__metadata__' && ++tensors > maxTensors) {
          throw fail(`the header names more than ${maxTensors} tensors (the limit, options.maxTensors)`);
        }
        if (duplicate === undefined && top.has(key)) duplicate = { key, depth: stack.length };
        top.add(key);
        atKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length === MAX_DEPTH) {
        throw fail(`the header nests objects and arrays deeper than the format's ${MAX_DEPTH} levels`);
      }
      stack.push(c === 0x7b ? (spare.pop() ?? new Set()) : null);
      atKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      const closed = stack.pop();
      if (closed) {
        closed.clear();
        spare.push(closed);
      }
    } else if (c === 0x2c /* , */) {
      atKey = stack.length > 0 && stack[stack.length - 1] !== null;
    }
  }
  return duplicate;
}

// ---------------------------------------------------------------------------------------------
// Files

/** Options of {@link saveSafetensors} and {@link saveSafetensorsAsync}. */
export interface SafetensorsSaveOptions extends AtomicWriteOptions, SafetensorsWriteOptions {}

/**
 * Write tensors to a safetensors file, atomically (see {@link writeFileAtomic}): after a crash the
 * file is either the old one or the new one, never a partial write. The tensor data is written
 * straight from the given arrays, without an intermediate copy of the whole file, with the CRC-32 of
 * the data section in `__metadata__` unless `options.checksum` is false ({@link encodeSafetensors}).
 *
 * @param path Target file; its directory must exist.
 * @param tensors Tensors by name (see {@link encodeSafetensors}).
 * @param metadata Optional `__metadata__` string map.
 * @param options `checksum`, and the atomic-write options (`fsync`, `mode`).
 * @throws {ValueError | ShapeError} invalid tensors, as {@link encodeSafetensors}.
 * @throws {FileError} the file cannot be written.
 */
export function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
  options?: SafetensorsSaveOptions,
): void {
  const { checksum, atomic } = splitSaveOptions(options);
  writeFileAtomic(path, encodeParts(tensors, metadata, checksum), atomic);
}

/** Async version of {@link saveSafetensors}. */
export async function saveSafetensorsAsync(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
  options?: SafetensorsSaveOptions,
): Promise<void> {
  const { checksum, atomic } = splitSaveOptions(options);
  await writeFileAtomicAsync(path, encodeParts(tensors, metadata, checksum), atomic);
}

function splitSaveOptions(options: SafetensorsSaveOptions | undefined): { checksum: boolean; atomic: AtomicWriteOptions } {
  if (options === undefined) return { checksum: true, atomic: {} };
  if (!isPlainObject(options)) throw new ValueError(`expected an options object, got ${describe(options)}`, 'options');
  const { checksum, ...atomic } = options;
  return { checksum: checksumOption(checksum), atomic };
}

/**
 * Read a safetensors file. The 8-byte prefix and the header are read and checked first, so a file
 * that is not safetensors, or whose header exceeds the limits, costs a few reads, not its size; then
 * the file is read into one buffer of its own, the data section's checksum verified when the file
 * has one, and the tensors are views of that buffer (no second copy; see {@link decodeSafetensors}
 * for validation, limits and alignment). Memory: the file's size plus at most a small multiple of
 * its header.
 *
 * @param options Limits and checks ({@link SafetensorsReadOptions}).
 * @throws {FileError} the file cannot be read (missing, a directory, permission...).
 * @throws {FormatError} the file is not valid safetensors, exceeds the limits, or its data does not
 *   match its checksum; `argument` is `path`.
 */
export function loadSafetensors(path: string, options?: SafetensorsReadOptions): SafetensorsContent {
  checkPath(path);
  const limits = readLimits(options);
  const fail = failIn(path);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const plan = loadPlan(fstatSync(fd).size, limits, path);
    for (let step = plan.next(); ; step = plan.next()) {
      if (step.done) return step.value;
      const { into, position } = step.value;
      for (let offset = 0; offset < into.byteLength;) {
        const n = readSync(fd, into, offset, into.byteLength - offset, position + offset);
        if (n === 0) throw shrank(fail, position + offset);
        offset += n;
      }
    }
  } catch (error) {
    throw toFileError(error, path, 'cannot read');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Async version of {@link loadSafetensors}; the checksum runs chunk by chunk between reads. */
export async function loadSafetensorsAsync(path: string, options?: SafetensorsReadOptions): Promise<SafetensorsContent> {
  checkPath(path);
  const limits = readLimits(options);
  const fail = failIn(path);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const plan = loadPlan((await handle.stat()).size, limits, path);
    for (let step = plan.next(); ; step = plan.next()) {
      if (step.done) return step.value;
      const { into, position } = step.value;
      for (let offset = 0; offset < into.byteLength;) {
        const { bytesRead } = await handle.read(into, offset, into.byteLength - offset, position + offset);
        if (bytesRead === 0) throw shrank(fail, position + offset);
        offset += bytesRead;
      }
    }
  } catch (error) {
    throw toFileError(error, path, 'cannot read');
  } finally {
    if (handle !== undefined) await handle.close();
  }
}

/** A read the loader needs: fill all of `into` from the file, starting at byte `position`. */
interface ReadRequest {
  readonly into: Uint8Array;
  readonly position: number;
}

/**
 * How a file of `size` bytes is loaded, shared by the sync and async loaders as a generator of the
 * reads it needs (the loaders do the I/O): the 8-byte prefix, then the header, both checked before
 * the buffer for the whole file is allocated; then the data section, chunk by chunk, each chunk
 * checksummed as it arrives.
 */
function* loadPlan(size: number, limits: Limits, path: string): Generator<ReadRequest, SafetensorsContent, void> {
  const fail = failIn(path);
  const prefix = new Uint8Array(Math.min(size, 8));
  yield { into: prefix, position: 0 };
  const headerLength = headerLengthOf(prefix, size, limits, fail);
  const dataStart = 8 + headerLength;
  const header = new Uint8Array(headerLength);
  yield { into: header, position: 8 };
  const layout = parseHeader(header, size - dataStart, limits, fail);

  const bytes = allocateFor(size, path);
  bytes.set(prefix);
  bytes.set(header, 8);
  const verify = layout.checksum !== undefined && limits.verifyChecksum;
  let crc = 0;
  for (let at = dataStart; at < size; at += READ_CHUNK) {
    const chunk = bytes.subarray(at, Math.min(size, at + READ_CHUNK));
    yield { into: chunk, position: at };
    if (verify) crc = crcUpdate(crc, chunk);
  }
  return contentOf(bytes, dataStart, layout, checkChecksum(layout, verify ? crc : undefined, fail));
}

function shrank(fail: Fail, at: number): FormatError {
  return fail(`the file ended at byte ${at} while it was read (it shrank after it was opened)`);
}

/** The data section is read (and checksummed) in chunks of 64 MiB: ~20 ms of CRC-32 each. */
const READ_CHUNK = 64 << 20;

/** A fresh buffer (offset 0, so the data section is 8-aligned) for a file of `size` bytes. */
function allocateFor(size: number, path: string): Uint8Array {
  if (size > bufferConstants.MAX_LENGTH) {
    throw new FileError(`file is ${size} bytes, larger than the ${bufferConstants.MAX_LENGTH} bytes one buffer can hold`, path);
  }
  return new Uint8Array(size);
}

function checkPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0) throw new ValueError('expected a non-empty file path string', 'path');
}

// ---------------------------------------------------------------------------------------------
// Conversion

let f16Table: Float32Array | undefined;

/** float32 value of each of the 65536 half-precision bit patterns (256 KiB, built on first use). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  f16Table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    f16Table[h] =
      exponent === 0
        ? sign * mantissa * 2 ** -24 // zero and subnormals
        : exponent === 31
          ? mantissa
            ? NaN
            : sign * Infinity
          : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return f16Table;
}

/**
 * The tensor's values as a Float32Array (the layers' storage type), e.g. to load F16/BF16 PyTorch
 * checkpoints. F16 and BF16 convert exactly (every value, subnormals, infinities and NaN, is a
 * float32); F64 and integers round to the nearest float32; BOOL gives 0 and 1.
 * An F32 tensor's own `data` is returned as is, not copied.
 */
export function toFloat32(tensor: Tensor): Float32Array {
  if (typeof tensor !== 'object' || tensor === null || !ArrayBuffer.isView((tensor as { data?: unknown }).data)) {
    throw new ValueError(`expected a tensor { dtype, shape, data }, got ${describe(tensor)}`, 'tensor');
  }
  if (isDetached(tensor.data.buffer)) throw new ValueError('its buffer is detached (transferred)', 'tensor.data');
  switch (tensor.dtype) {
    case 'F32':
      return tensor.data;
    case 'F16': {
      const table = halfTable();
      const out = new Float32Array(tensor.data.length);
      for (let i = 0; i < out.length; i++) out[i] = table[tensor.data[i]];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top 16 bits of a float32: shift the bits into place.
      const out = new Float32Array(tensor.data.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < bits.length; i++) bits[i] = tensor.data[i] << 16;
      return out;
    }
    case 'BOOL':
      return Float32Array.from(tensor.data, (x) => (x === 0 ? 0 : 1));
    case 'I64':
    case 'U64': {
      const out = new Float32Array(tensor.data.length);
      for (let i = 0; i < out.length; i++) out[i] = Number(tensor.data[i]);
      return out;
    }
    default:
      // Number-valued typed arrays: the constructor converts each element.
      return new Float32Array(tensor.data);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A plain (non-array, non-null) object, e.g. what JSON.parse gives for `{...}`. */
function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The product of a shape, or undefined if it is not a list of sizes or the product is not a safe integer. */
function elementCount(shape: unknown): number | undefined {
  if (!Array.isArray(shape)) return undefined;
  let count = 1;
  for (const dim of shape) {
    if (!isSize(dim)) return undefined;
    count *= dim;
    if (!Number.isSafeInteger(count)) return undefined;
  }
  return count;
}

/** Set `object[key]` as an own data property, even for `__proto__` (a plain assignment would set the prototype). */
function defineEntry<T>(object: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Order strings by code point, i.e. by their UTF-8 bytes, as the reference implementation sorts names. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++; // both strings hold the same surrogate pair here
  }
  return a.length - b.length;
}

/** Reverse the bytes of each `size`-byte element, in place (big-endian machines only). */
function swapBytes(bytes: Uint8Array, size: number): Uint8Array {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  return bytes;
}

/** A key or name for an error message: JSON-quoted, cut short if very long. */
function quote(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 120 ? `${quoted.slice(0, 100)}..." (${name.length} chars)` : quoted;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

/** A number as itself, anything else as {@link describe} says. */
function describeValue(value: unknown): string {
  return typeof value === 'number' ? String(value) : describe(value);
}

/**
 * `crc` extended by `bytes` (CRC-32, zlib's). Empty input is skipped: zlib.crc32 given a view of a
 * zero-length ArrayBuffer (a null data pointer) returns 0 instead of `crc` (Node 20.20).
 */
function crcUpdate(crc: number, bytes: Uint8Array): number {
  return bytes.byteLength === 0 ? crc : crc32(bytes, crc);
}

/** A CRC-32 as 8 lowercase hex digits. */
function hex32(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}

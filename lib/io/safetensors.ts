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
 * Reading accepts any valid file: any key order, any padding, any data order, and validates every
 * field before it touches the data (see {@link decodeSafetensors}).
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { TextDecoder, TextEncoder } from 'node:util';
import { FormatError, ShapeError, ValueError } from '../errors.js';
import {
  type AtomicWriteOptions,
  FileError,
  toFileError,
  writeFileAtomic,
  writeFileAtomicAsync,
} from './atomic.js';

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
  /** The free-form `__metadata__` string map (`{}` when the file has none). */
  metadata: Record<string, string>;
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

/** The reference implementation's limit (MAX_HEADER_SIZE); also bounds what a corrupt length makes us decode. */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Serialize tensors to safetensors bytes. The output is deterministic: the same tensors and
 * metadata give the same bytes, whatever the key order of the objects passed in, and the same bytes
 * as the reference implementation (Python `safetensors.torch.save_file`) for the same tensors.
 *
 * @param tensors Tensors by name. A name may be any string except `__metadata__`.
 * @param metadata Optional string-to-string map stored as `__metadata__` (keys written sorted).
 *   Omitted from the file when `undefined`; written (even empty) when given.
 * @throws {ValueError} unknown dtype, `data` of the wrong typed-array class, reserved name, non-string metadata.
 * @throws {ShapeError} a shape that is not a list of non-negative integers, or whose element count
 *   differs from `data.length`.
 */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const parts = encodeParts(tensors, metadata);
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
function encodeParts(tensors: Record<string, Tensor>, metadata: Record<string, string> | undefined): Uint8Array[] {
  if (!isPlainObject(tensors)) throw new ValueError('expected an object of tensors by name', 'tensors');

  const entries = Object.keys(tensors).map((name) => {
    const tensor = checkTensor(name, tensors[name]);
    return { name, tensor, rank: DTYPES[tensor.dtype].rank, bytes: littleEndianBytes(tensor.data) };
  });
  // The reference order: descending dtype rank (largest elements first, keeping every tensor
  // aligned), then by name.
  entries.sort((a, b) => b.rank - a.rank || compareCodePoints(a.name, b.name));

  const fields: string[] = [];
  if (metadata !== undefined) fields.push(`"__metadata__":${metadataJson(metadata)}`);
  let offset = 0;
  for (const { name, tensor, bytes } of entries) {
    const end = offset + bytes.byteLength;
    fields.push(
      `${JSON.stringify(name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(',')}],` +
        `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }

  const header = new TextEncoder().encode(`{${fields.join(',')}}`);
  // Pad with spaces to a multiple of 8 so the data section starts 8-aligned (as the reference does).
  const headerLength = header.byteLength + ((8 - (header.byteLength % 8)) % 8);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new ValueError(`header would be ${headerLength} bytes, over the format's ${MAX_HEADER_BYTES}-byte limit`, 'tensors');
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
    throw new ValueError(`unsupported dtype ${String(dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`, `${arg}.dtype`);
  }
  const { array } = DTYPES[dtype as Dtype];
  if (!(data instanceof array)) {
    throw new ValueError(`dtype ${dtype} needs a ${array.name}, got ${describe(data)}`, `${arg}.data`);
  }
  const count = elementCount(shape);
  if (count === undefined) {
    throw new ShapeError('expected an array of non-negative integers (with a safe-integer product)', `${arg}.shape`);
  }
  if (count !== data.length) {
    throw new ShapeError(`shape [${(shape as number[]).join(', ')}] has ${count} elements, data has ${data.length}`, `${arg}.data`);
  }
  return tensor as unknown as Tensor;
}

function metadataJson(metadata: Record<string, string>): string {
  if (!isPlainObject(metadata)) throw new ValueError('expected an object of strings', 'metadata');
  const keys = Object.keys(metadata).sort(compareCodePoints);
  const fields = keys.map((key) => {
    const value: unknown = metadata[key];
    if (typeof value !== 'string') throw new ValueError(`expected a string, got ${describe(value)}`, `metadata[${JSON.stringify(key)}]`);
    return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  });
  return `{${fields.join(',')}}`;
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
 * length over 100 MB or past the end, a header that is not UTF-8 JSON starting with `{`, duplicate
 * keys (anywhere in the header), unknown fields or dtypes, bad shapes or offsets, a byte count
 * that does not match the shape, tensors that overlap or leave gaps, trailing bytes, non-string
 * metadata. It never allocates more than the input's size and runs in time linear in it.
 *
 * No copy is made where none is needed: a tensor whose bytes are aligned for its type is a view of
 * `bytes` (it shares memory with it and keeps it alive); an unaligned one (or any tensor on a
 * big-endian machine) is copied.
 *
 * @param bytes The whole file.
 * @throws {FormatError} the bytes are not a valid safetensors file.
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContent {
  if (!(bytes instanceof Uint8Array)) throw new ValueError(`expected a Uint8Array, got ${describe(bytes)}`, 'bytes');
  return decode(bytes, 'bytes');
}

interface Entry {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** @param source what FormatError names: the file path, or 'bytes'. */
function decode(bytes: Uint8Array, source: string): SafetensorsContent {
  const fail = (message: string): FormatError => new FormatError(message, source);

  if (bytes.byteLength < 8) {
    throw fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  }
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw fail(`header length ${declared} is over the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.byteLength) {
    throw fail(`header length ${headerLength} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  // The reference rejects anything but '{' here; it also keeps a stray text file from parsing as one.
  if (headerLength === 0 || bytes[8] !== 0x7b) throw fail('header does not start with "{"');

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw fail(`header is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isPlainObject(header)) throw fail('header is not a JSON object');
  // JSON.parse silently keeps the last of duplicate keys; a duplicate tensor name would hide data.
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) {
    const key = quote(duplicate.key);
    throw fail(duplicate.depth === 1 ? `duplicate tensor name ${key}` : `duplicate key ${key} in the header`);
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
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
    throw fail(`${dataLength - cursor} trailing bytes after the last tensor (data section is ${dataLength} bytes, tensors cover ${cursor})`);
  }

  const tensors: Record<string, Tensor> = {};
  for (const entry of entries) {
    const data = tensorData(bytes, dataStart + entry.begin, entry.end - entry.begin, entry.dtype);
    defineEntry(tensors, entry.name, { dtype: entry.dtype, shape: entry.shape, data } as Tensor);
  }
  return { tensors, metadata };
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
 * The first duplicate key of any object in `text`, which must be valid JSON (JSON.parse succeeded).
 * A single pass with an explicit stack, so no input can overflow the call stack. depth 1 is the
 * top-level object (tensor names).
 */
function findDuplicateKey(text: string): { key: string; depth: number } | undefined {
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  let atKey = false; // true right after '{' or an object's ','
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c /* \ */) {
          escaped = true;
          j++; // skip the escaped character, which may be a quote
        }
        j++;
      }
      const top = stack[stack.length - 1];
      if (atKey && top) {
        // Compare keys as decoded strings: "a" and "\u0061" are the same key.
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.has(key)) return { key, depth: stack.length };
        top.add(key);
        atKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      atKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      atKey = stack[stack.length - 1] !== null;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Files

/**
 * Write tensors to a safetensors file, atomically (see {@link writeFileAtomic}): after a crash the
 * file is either the old one or the new one, never a partial write. The tensor data is written
 * straight from the given arrays, without an intermediate copy of the whole file.
 *
 * @param path Target file; its directory must exist.
 * @param tensors Tensors by name (see {@link encodeSafetensors}).
 * @param metadata Optional `__metadata__` string map.
 * @param options Atomic-write options (`fsync`, `mode`).
 * @throws {ValueError | ShapeError} invalid tensors, as {@link encodeSafetensors}.
 * @throws {FileError} the file cannot be written.
 */
export function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
  options?: AtomicWriteOptions,
): void {
  writeFileAtomic(path, encodeParts(tensors, metadata), options);
}

/** Async version of {@link saveSafetensors}. */
export async function saveSafetensorsAsync(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
  options?: AtomicWriteOptions,
): Promise<void> {
  await writeFileAtomicAsync(path, encodeParts(tensors, metadata), options);
}

/**
 * Read a safetensors file. The file is read into one buffer of its own and the tensors are views of
 * it (no second copy; see {@link decodeSafetensors} for validation and alignment).
 *
 * @throws {FileError} the file cannot be read (missing, a directory, permission...).
 * @throws {FormatError} the file is not valid safetensors; `argument` is `path`.
 */
export function loadSafetensors(path: string): SafetensorsContent {
  checkPath(path);
  let bytes: Uint8Array;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    bytes = allocateFor(fstatSync(fd).size, path);
    let offset = 0;
    while (offset < bytes.byteLength) {
      const n = readSync(fd, bytes, offset, Math.min(bytes.byteLength - offset, READ_CHUNK), offset);
      if (n === 0) break; // the file shrank while we read: decode reports it as truncated
      offset += n;
    }
    bytes = bytes.subarray(0, offset);
  } catch (error) {
    throw toFileError(error, path, 'cannot read');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return decode(bytes, path);
}

/** Async version of {@link loadSafetensors}. */
export async function loadSafetensorsAsync(path: string): Promise<SafetensorsContent> {
  checkPath(path);
  let bytes: Uint8Array;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    bytes = allocateFor((await handle.stat()).size, path);
    let offset = 0;
    while (offset < bytes.byteLength) {
      const { bytesRead } = await handle.read(bytes, offset, Math.min(bytes.byteLength - offset, READ_CHUNK), offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    bytes = bytes.subarray(0, offset);
  } catch (error) {
    throw toFileError(error, path, 'cannot read');
  } finally {
    if (handle !== undefined) await handle.close();
  }
  return decode(bytes, path);
}

/** Reads are issued in chunks: one read call cannot exceed 2 GiB. */
const READ_CHUNK = 1 << 30;

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
      exponent === 0 ? sign * mantissa * 2 ** -24 // zero and subnormals
      : exponent === 31 ? (mantissa ? NaN : sign * Infinity)
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

/**
 * Issue 10, items 4 and 7 (the file part): hostile safetensors input costs about its size, and a
 * corrupt data section is noticed.
 *
 * Costs are asserted by counting, not by the clock: bytes read through syscalls (/proc/self/io
 * `rchar`, Linux) for the file loaders, JSON.parse calls for the header checks that must come before
 * it. The pathological inputs of the issue are scaled down: a 1 GiB sparse file (no disk used) with a
 * garbage header stands for the 3.5 GB one, 2 MB of nested arrays for the 98 MB header, and 100,001
 * zero-size tensors (5.7 MB) for the 1.67 M in 99 MB.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { FormatError, ValueError } from '../../lib/errors.js';
import {
  CHECKSUM_KEY,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_TENSORS,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  loadSafetensorsAsync,
  saveSafetensors,
  type SafetensorsReadOptions,
  type Tensor,
} from '../../lib/io/safetensors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gated-st-limits-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file: the 8-byte length of `header`, the header, then `dataBytes` more bytes (zeros). */
function fileBytes(header: string, dataBytes = 0): Uint8Array {
  const h = Buffer.from(header, 'utf8');
  const out = new Uint8Array(8 + h.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
  out.set(h, 8);
  return out;
}

/** Writes `head` then extends the file to `size` bytes without writing them (a sparse file). */
function sparseFile(name: string, head: Uint8Array, size: number): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  writeSync(fd, head);
  closeSync(fd);
  truncateSync(path, size);
  return path;
}

const hasProcIo = (() => {
  try {
    return /^rchar: \d+$/m.test(readFileSync('/proc/self/io', 'utf8'));
  } catch {
    return false;
  }
})();

/** Bytes this process has read through read(2) and friends so far (Linux). */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

/** The error `load` gives and how many bytes the process read meanwhile. */
async function readCost(load: () => unknown): Promise<{ error: unknown; read: number }> {
  const before = bytesRead();
  const error = await Promise.resolve()
    .then(load)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  return { error, read: bytesRead() - before };
}

/** `n` minimal zero-size tensors: the densest header in tensors per byte. */
function zeroSizeTensors(n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`"${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
  return `{${parts.join(',')}}`;
}

describe.runIf(hasProcIo)('the file loaders read the prefix and the header before the data', () => {
  const GiB = 1 << 30;
  const loaders = [
    ['loadSafetensors', (p: string, o?: SafetensorsReadOptions) => loadSafetensors(p, o)],
    ['loadSafetensorsAsync', (p: string, o?: SafetensorsReadOptions) => loadSafetensorsAsync(p, o)],
  ] as const;

  it.each(loaders)('%s: a 1 GiB file with a garbage header is a FormatError after reading < 1 MB', async (_name, load) => {
    const path = sparseFile('garbage.bin', Buffer.from('this is not a safetensors file at all'), GiB);
    const { error, read } = await readCost(() => load(path));
    expect(error).toBeInstanceOf(FormatError);
    expect((error as FormatError).argument).toBe(path);
    expect((error as Error).message).toMatch(/header length \d+ is over the 16777216-byte limit/);
    expect(read).toBeLessThan(1 << 20);
  });

  it.each(loaders)(
    '%s: a 1 GiB file whose valid header does not describe its data is refused before the data is read',
    async (_name, load) => {
      const head = fileBytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
      const path = sparseFile('mismatch.safetensors', head, GiB);
      const { error, read } = await readCost(() => load(path));
      expect(error).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(/trailing bytes after the last tensor/);
      expect(read).toBeLessThan(1 << 20);
    },
  );

  it.each(loaders)('%s: a header that is not JSON, in front of 1 GiB, costs only the header', async (_name, load) => {
    const path = sparseFile('broken.safetensors', fileBytes('{"w": nope}'), GiB);
    const { error, read } = await readCost(() => load(path));
    expect((error as Error).message).toMatch(/header is not valid JSON/);
    expect(read).toBeLessThan(1 << 20);
  });
});

describe('header limits, checked before JSON.parse builds anything', () => {
  /** The error decoding `bytes` gives, and how often JSON.parse ran meanwhile. */
  function decodeCost(bytes: Uint8Array, options?: SafetensorsReadOptions): { error: unknown; parses: number } {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      decodeSafetensors(bytes, options);
      return { error: undefined, parses: parse.mock.calls.length };
    } catch (error) {
      return { error, parses: parse.mock.calls.length };
    } finally {
      parse.mockRestore();
    }
  }

  it('2 MB of nested arrays (under a raised header limit) is a FormatError without a parse', () => {
    const depth = 1_000_000;
    const bytes = fileBytes(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    const { error, parses } = decodeCost(bytes, { maxHeaderBytes: 100_000_000 });
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/nests objects and arrays deeper than the format's 3 levels/);
    expect(parses).toBe(0);
    // Nesting inside __metadata__ or a tensor entry is refused the same way.
    expect(decodeCost(fileBytes('{"__metadata__":{"a":{"b":"c"}}}')).error).toMatchObject({ message: /deeper than the format's 3 levels/ });
    expect(decodeCost(fileBytes('{"t":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}}', 4)).error).toMatchObject({ message: /deeper/ });
    // Brackets inside strings are not nesting.
    const ok = decodeSafetensors(fileBytes('{"__metadata__":{"[[[{{{":"]]]}}}[[["}}'));
    expect(ok.metadata).toEqual({ '[[[{{{': ']]]}}}[[[' });
  });

  it(`${DEFAULT_MAX_TENSORS + 1} zero-size tensors are a FormatError without a parse; ${DEFAULT_MAX_TENSORS} decode`, () => {
    const tooMany = fileBytes(zeroSizeTensors(DEFAULT_MAX_TENSORS + 1));
    expect(tooMany.byteLength).toBeLessThan(DEFAULT_MAX_HEADER_BYTES);
    const { error, parses } = decodeCost(tooMany);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/names more than 100000 tensors/);
    expect(parses).toBe(0);
    const atLimit = decodeSafetensors(fileBytes(zeroSizeTensors(DEFAULT_MAX_TENSORS)));
    expect(Object.keys(atLimit.tensors)).toHaveLength(DEFAULT_MAX_TENSORS);
  });

  it('options.maxTensors and options.maxHeaderBytes move the limits; __metadata__ is not a tensor', () => {
    const ten = fileBytes(`{"__metadata__":{"a":"b"},${zeroSizeTensors(10).slice(1)}`);
    expect(Object.keys(decodeSafetensors(ten, { maxTensors: 10 }).tensors)).toHaveLength(10);
    expect(() => decodeSafetensors(ten, { maxTensors: 9 })).toThrow(/names more than 9 tensors/);
    const headerLength = ten.byteLength - 8;
    expect(decodeSafetensors(ten, { maxHeaderBytes: headerLength }).metadata).toEqual({ a: 'b' });
    expect(() => decodeSafetensors(ten, { maxHeaderBytes: headerLength - 1 })).toThrow(
      new RegExp(`header length ${headerLength} is over the ${headerLength - 1}-byte limit`),
    );
  });

  it('bad limit options are ValueErrors naming the option', () => {
    const bytes = fileBytes('{}');
    for (const [options, argument] of [
      [{ maxHeaderBytes: 100_000_001 }, 'options.maxHeaderBytes'],
      [{ maxHeaderBytes: 1.5 }, 'options.maxHeaderBytes'],
      [{ maxTensors: 0 }, 'options.maxTensors'],
      [{ maxTensors: '5' }, 'options.maxTensors'],
      [{ verifyChecksum: 1 }, 'options.verifyChecksum'],
      [7, 'options'],
    ] as const) {
      const error = decodeCost(bytes, options as SafetensorsReadOptions).error;
      expect(error, JSON.stringify(options)).toBeInstanceOf(ValueError);
      expect((error as ValueError).argument).toBe(argument);
    }
  });

  it('the writer refuses what readers refuse by default', () => {
    const many: Record<string, Tensor> = {};
    for (let i = 0; i <= DEFAULT_MAX_TENSORS; i++) many[i] = { dtype: 'F32', shape: [0], data: new Float32Array(0) };
    expect(() => encodeSafetensors(many)).toThrow(/100001 tensors, over the 100000 readers accept by default/);
    expect(() => encodeSafetensors({}, { big: 'x'.repeat(DEFAULT_MAX_HEADER_BYTES) })).toThrow(
      /over the 16777216-byte limit readers apply by default/,
    );
  });
});

describe('the data checksum', () => {
  const tensors: Record<string, Tensor> = {
    'lstm.weight_ih_l0': { dtype: 'F32', shape: [8, 3], data: Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)) },
    'lstm.bias_ih_l0': { dtype: 'F32', shape: [8], data: Float32Array.from({ length: 8 }, (_, i) => i / 8) },
    step: { dtype: 'I64', shape: [], data: new BigInt64Array([12n]) },
  };

  it('is written by default, verified on load, and kept out of the metadata returned', () => {
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString()) as { __metadata__: Record<string, string> };
    expect(header.__metadata__[CHECKSUM_KEY]).toMatch(/^[0-9a-f]{8}$/);
    const decoded = decodeSafetensors(bytes);
    expect(decoded.checksum).toBe('verified');
    expect(decoded.metadata).toEqual({ format: 'pt' });
    // A value the caller passes for the key is replaced, so re-saving what was loaded stays valid.
    const again = encodeSafetensors(tensors, { format: 'pt', [CHECKSUM_KEY]: '00000000' });
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  it('every single-bit flip in the data section is a FormatError naming the file, sync and async', async () => {
    const bytes = encodeSafetensors(tensors);
    const dataStart = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const path = join(dir, 'flipped.safetensors');
    let caught = 0;
    for (let bit = 0; bit < (bytes.byteLength - dataStart) * 8; bit++) {
      const flipped = bytes.slice();
      flipped[dataStart + (bit >> 3)] ^= 1 << (bit & 7);
      const error = (() => {
        try {
          decodeSafetensors(flipped);
        } catch (e) {
          return e;
        }
      })();
      expect(error, `bit ${bit}`).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(/the data section is corrupt: its CRC-32 is [0-9a-f]{8}, the header records [0-9a-f]{8}/);
      caught++;
      if (bit % 97 === 0) {
        writeFileSync(path, flipped);
        for (const load of [() => loadSafetensors(path), () => loadSafetensorsAsync(path)]) {
          const e = await Promise.resolve()
            .then(load)
            .then(
              () => undefined,
              (x: unknown) => x,
            );
          expect(e).toBeInstanceOf(FormatError);
          expect((e as FormatError).argument).toBe(path);
          expect((e as Error).message.startsWith(`${path}: the data section is corrupt`)).toBe(true);
        }
      }
    }
    expect(caught).toBe((bytes.byteLength - dataStart) * 8);
  });

  it("verifyChecksum: false skips the check; files without a checksum (PyTorch's) load", () => {
    const flipped = encodeSafetensors(tensors);
    flipped[flipped.byteLength - 1] ^= 0x10;
    expect(decodeSafetensors(flipped, { verifyChecksum: false }).checksum).toBe('unverified');
    const plain = encodeSafetensors(tensors, undefined, { checksum: false });
    expect(decodeSafetensors(plain).checksum).toBe('absent');
    const fixtures = join(import.meta.dirname, '..', 'fixtures');
    for (const name of ['torch-classifier', 'torch-relu-rnn', 'torch-tagger']) {
      const loaded = loadSafetensors(join(fixtures, `${name}.safetensors`));
      expect(loaded.checksum, name).toBe('absent');
      expect(Object.keys(loaded.tensors).length).toBeGreaterThan(0);
    }
  });

  it('a malformed checksum entry is a FormatError', () => {
    const bad = fileBytes(`{"__metadata__":{"${CHECKSUM_KEY}":"xyz"}}`);
    expect(() => decodeSafetensors(bad)).toThrow(/"gated.data_crc32" is not 8 lowercase hex digits/);
  });

  it('large data is checked chunk by chunk (a 66 MiB file, two chunks, through both loaders)', async () => {
    const n = (66 << 20) / 4;
    const big = { w: { dtype: 'F32', shape: [n], data: new Float32Array(n).fill(0.25) } } as Record<string, Tensor>;
    const path = join(dir, 'big.safetensors');
    saveSafetensors(path, big, undefined, { fsync: false });
    expect(loadSafetensors(path).checksum).toBe('verified');
    // Flip one bit in the last 64 MiB chunk.
    const fd = openSync(path, 'r+');
    const size = 8 + Number(Buffer.from(readFileSync(path).subarray(0, 8)).readBigUInt64LE(0)) + n * 4;
    writeSync(fd, Buffer.from([0x01]), 0, 1, size - 3);
    closeSync(fd);
    await expect(loadSafetensorsAsync(path)).rejects.toThrow(/the data section is corrupt/);
    expect(() => loadSafetensors(path)).toThrow(/the data section is corrupt/);
  });
});

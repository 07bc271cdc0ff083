import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { FormatError, ShapeError, ValueError } from '../../lib/errors.js';
import { FileError } from '../../lib/io/atomic.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  loadSafetensorsAsync,
  saveSafetensors,
  saveSafetensorsAsync,
  type Tensor,
  toFloat32,
} from '../../lib/io/safetensors.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const ascii = (text: string): number[] => [...Buffer.from(text, 'utf8')];

/** A file from a header text, `pad` trailing spaces, and the data section. */
function file(header: string, data: ArrayLike<number> = [], pad = 0): Uint8Array {
  const headerBytes = Buffer.from(header + ' '.repeat(pad), 'utf8');
  const out = new Uint8Array(8 + headerBytes.byteLength + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  out.set(Array.from(data), 8 + headerBytes.byteLength);
  return out;
}

/** Little-endian bytes of a typed array (tests run on little-endian machines). */
const bytesOf = (a: ArrayBufferView): number[] => [...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)];

/** The error `f` throws (fails the test if it does not throw). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

function expectFormatError(bytes: Uint8Array, message: RegExp): void {
  const error = thrown(() => decodeSafetensors(bytes));
  expect(error).toBeInstanceOf(FormatError);
  expect((error as FormatError).argument).toBe('bytes');
  expect((error as Error).message).toMatch(message);
}

/** mulberry32: a tiny seeded generator, so fuzz failures reproduce. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A small file with several dtypes, metadata and an empty tensor: the seed of the corruption tests. */
function sample(): Uint8Array {
  return encodeSafetensors(
    {
      'rnn.weight_ih_l0': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      'rnn.bias_ih_l0': { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc100]) },
      step: { dtype: 'I64', shape: [], data: new BigInt64Array([42n]) },
      empty: { dtype: 'F64', shape: [0, 3], data: new Float64Array(0) },
    },
    { format: 'pt' },
  );
}

// ---------------------------------------------------------------------------------------------

describe('encode/decode round trips', () => {
  const cases: Record<string, Tensor> = {
    f32: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -2, 0, Infinity, -0, 3.25e-20]) },
    f64: { dtype: 'F64', shape: [3], data: new Float64Array([Math.PI, -1e300, 5e-324]) },
    f16: { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xfbff]) },
    bf16: { dtype: 'BF16', shape: [1, 2], data: new Uint16Array([0x3f80, 0x7fc0]) },
    i32: { dtype: 'I32', shape: [4], data: new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)]) },
    i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
    u8: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
    bool: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
    i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
    i16: { dtype: 'I16', shape: [1], data: new Int16Array([-32768]) },
    u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    u32: { dtype: 'U32', shape: [1], data: new Uint32Array([2 ** 32 - 1]) },
    u64: { dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
    scalarF32: { dtype: 'F32', shape: [], data: new Float32Array([7]) },
    scalarI64: { dtype: 'I64', shape: [], data: new BigInt64Array([-7n]) },
    emptyF32: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
    emptyI64: { dtype: 'I64', shape: [3, 0, 2], data: new BigInt64Array(0) },
    emptyBF16: { dtype: 'BF16', shape: [0], data: new Uint16Array(0) },
  };

  it.each(Object.entries(cases))('%s alone', (name, tensor) => {
    const { tensors, metadata } = decodeSafetensors(encodeSafetensors({ [name]: tensor }));
    expect(metadata).toEqual({});
    expect(tensors[name]).toEqual(tensor);
    expect(tensors[name].data.constructor).toBe(tensor.data.constructor);
  });

  it('all together, with metadata, every tensor a zero-copy aligned view', () => {
    const bytes = encodeSafetensors(cases, { format: 'pt', note: 'ünïcødé ✓ "quoted"\n' });
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', note: 'ünïcødé ✓ "quoted"\n' });
    expect(tensors).toEqual(cases);
    for (const tensor of Object.values(tensors)) {
      expect(tensor.data.buffer).toBe(bytes.buffer);
      expect(tensor.data.byteOffset % tensor.data.BYTES_PER_ELEMENT).toBe(0);
    }
    // The data section starts 8-aligned: the header length is a multiple of 8.
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
  });

  it('is deterministic: key order of the inputs does not matter', () => {
    const reversed = Object.fromEntries(Object.entries(cases).reverse());
    const a = encodeSafetensors(cases, { b: '2', a: '1' });
    const b = encodeSafetensors(reversed, { a: '1', b: '2' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('keeps odd names: unicode, quotes, __proto__, the empty string', () => {
    const t = (v: number): Tensor => ({ dtype: 'F32', shape: [1], data: new Float32Array([v]) });
    const input: Record<string, Tensor> = { 'é"\\\n': t(1), '😀': t(2), '': t(3) };
    Object.defineProperty(input, '__proto__', { value: t(4), enumerable: true });
    const { tensors } = decodeSafetensors(encodeSafetensors(input));
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(input).sort());
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(tensors, '__proto__')?.value).toEqual(t(4));
  });

  it('uses input subarrays without their neighbours', () => {
    const backing = new Float32Array([9, 1, 2, 9]);
    const { tensors } = decodeSafetensors(encodeSafetensors({ x: { dtype: 'F32', shape: [2], data: backing.subarray(1, 3) } }));
    expect([...(tensors.x.data as Float32Array)]).toEqual([1, 2]);
  });

  it('copies tensors that are not aligned in the input, and reads Buffers', () => {
    const bytes = sample();
    const shifted = new Uint8Array(bytes.byteLength + 1).subarray(1);
    shifted.set(bytes);
    const expected = decodeSafetensors(bytes).tensors;
    const { tensors } = decodeSafetensors(shifted);
    expect(tensors).toEqual(expected);
    for (const tensor of Object.values(tensors)) {
      expect(tensor.data.byteOffset % tensor.data.BYTES_PER_ELEMENT).toBe(0);
    }
    // A Node Buffer (maybe a slice of the shared pool at any offset) works as well.
    expect(decodeSafetensors(Buffer.from(bytes)).tensors).toEqual(expected);
  });

  it('the dtype narrows the data type', () => {
    const { tensors } = decodeSafetensors(sample());
    const t = tensors['rnn.weight_ih_l0'];
    if (t.dtype === 'F32') expectTypeOf(t.data).toEqualTypeOf<Float32Array>();
    if (t.dtype === 'I64') expectTypeOf(t.data).toEqualTypeOf<BigInt64Array>();
    // @ts-expect-error an F32 tensor needs a Float32Array
    const bad: Tensor = { dtype: 'F32', shape: [1], data: new Float64Array(1) };
    expect(bad.dtype).toBe('F32');
  });
});

describe('byte layout', () => {
  // These compare with the reference writer's bytes, so they turn the checksum off (the default adds
  // one entry to __metadata__; see 'data checksum' below).
  const reference = { checksum: false } as const;

  it('encodes exactly the golden bytes, and decodes them', () => {
    // The header, compact JSON as the reference writes it: __metadata__ first, then the tensors in
    // data order, the 8-byte dtype (I64) before F32. 138 bytes.
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}';
    expect(header.length).toBe(138);
    const golden = new Uint8Array([
      // bytes 0..8: N = 144 = 0x90, u64 little-endian: 138 bytes of JSON + 6 spaces of padding
      0x90,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      // bytes 8..146: the JSON header
      ...ascii(header),
      // bytes 146..152: spaces, so that the data section starts at 152, a multiple of 8
      0x20,
      0x20,
      0x20,
      0x20,
      0x20,
      0x20,
      // bytes 152..160 (data 0..8): n = 5, int64 little-endian
      5,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      // bytes 160..168 (data 8..16): w = [1.0, -2.0], float32 0x3f800000 and 0xc0000000 little-endian
      0x00,
      0x00,
      0x80,
      0x3f,
      0x00,
      0x00,
      0x00,
      0xc0,
    ]);
    expect(golden.byteLength).toBe(168);

    const encoded = encodeSafetensors(
      { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) }, n: { dtype: 'I64', shape: [], data: new BigInt64Array([5n]) } },
      { format: 'pt' },
      reference,
    );
    expect([...encoded]).toEqual([...golden]);

    const { tensors, metadata } = decodeSafetensors(golden);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors).toEqual({
      n: { dtype: 'I64', shape: [], data: new BigInt64Array([5n]) },
      w: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) },
    });
    // Zero copy: the tensor is a view of the input at byte 160.
    expect(tensors.w.data.buffer).toBe(golden.buffer);
    expect(tensors.w.data.byteOffset).toBe(160);
  });

  it('matches the byte vectors of the reference implementation tests', () => {
    // safetensors (Rust) tensor.rs test_empty: no tensors, no metadata -> "{}" + 6 spaces.
    expect([...encodeSafetensors({}, undefined, reference)]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...ascii('{}      ')]);
    // test_empty with metadata {"framework": "pt"}: 35 bytes of JSON + 5 spaces = 40.
    expect([...encodeSafetensors({}, { framework: 'pt' }, reference)]).toEqual([
      40,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...ascii('{"__metadata__":{"framework":"pt"}}     '),
    ]);
    // test_serialization_forced_alignement: "attn0" F32 [1,1,2,3] = 0..5 -> 65 bytes + 7 spaces = 72.
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    expect([...encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } }, undefined, reference)]).toEqual([
      72,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...ascii('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       '),
      ...bytesOf(data),
    ]);
  });

  it('orders tensors as the reference does: dtype rank descending, then name', () => {
    const scalar = <T extends Tensor>(t: T): T => t;
    const bytes = encodeSafetensors({
      b: scalar({ dtype: 'U8', shape: [1], data: new Uint8Array([1]) }),
      a: scalar({ dtype: 'F64', shape: [1], data: new Float64Array([1]) }),
      z: scalar({ dtype: 'I64', shape: [1], data: new BigInt64Array([1n]) }),
      c: scalar({ dtype: 'F32', shape: [1], data: new Float32Array([1]) }),
      bb: scalar({ dtype: 'BF16', shape: [1], data: new Uint16Array([1]) }),
      ff: scalar({ dtype: 'F16', shape: [1], data: new Uint16Array([1]) }),
      d: scalar({ dtype: 'F32', shape: [1], data: new Float32Array([1]) }),
      t: scalar({ dtype: 'BOOL', shape: [1], data: new Uint8Array([1]) }),
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString()) as Record<string, unknown>;
    expect(Object.keys(header)).toEqual(['__metadata__', 'z', 'a', 'c', 'd', 'bb', 'ff', 'b', 't']);
  });
});

describe('files written by the reference implementation (PyTorch save_file layout)', () => {
  it('reads a state_dict laid out as the Rust writer does', () => {
    // An LSTM state_dict saved with F16 weights, an I64 counter and a BOOL mask. Layout as
    // safetensors.torch.save_file writes it: compact JSON, __metadata__ first, tensors by descending
    // dtype rank (I64, F32, F16, BOOL) then name, header padded with spaces to a multiple of 8.
    const wih = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x3800, 0x4000]);
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"num_batches":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
      '"lstm.bias_hh_l0":{"dtype":"F32","shape":[4],"data_offsets":[8,24]},' +
      '"lstm.weight_ih_l0":{"dtype":"F16","shape":[4,2],"data_offsets":[24,40]},' +
      '"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[40,43]}}';
    const pad = (8 - (Buffer.byteLength(header) % 8)) % 8;
    const bytes = file(
      header,
      [...bytesOf(new BigInt64Array([1000n])), ...bytesOf(new Float32Array([0.5, -0.5, 1, 0])), ...bytesOf(wih), 1, 0, 1],
      pad,
    );
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors)).toEqual(['num_batches', 'lstm.bias_hh_l0', 'lstm.weight_ih_l0', 'mask']);
    expect(tensors.num_batches).toEqual({ dtype: 'I64', shape: [], data: new BigInt64Array([1000n]) });
    expect([...toFloat32(tensors['lstm.bias_hh_l0'])]).toEqual([0.5, -0.5, 1, 0]);
    const w = tensors['lstm.weight_ih_l0'];
    expect(w.dtype).toBe('F16');
    expect(w.shape).toEqual([4, 2]);
    expect([...toFloat32(w)]).toEqual([1, -2.5, 65504, 2 ** -24, -0, Infinity, 0.5, 2]);
    expect([...toFloat32(tensors.mask)]).toEqual([1, 0, 1]);
    // Our writer produces exactly the same bytes (without its checksum).
    expect([...encodeSafetensors(tensors, metadata, { checksum: false })]).toEqual([...bytes]);
  });

  it('accepts any key order, data order, padding and whitespace', () => {
    const a = bytesOf(new Float32Array([1, 2]));
    const b = bytesOf(new Float64Array([3]));
    const expected = {
      a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
      b: { dtype: 'F64', shape: [], data: new Float64Array([3]) },
    };
    const variants = [
      // sorted by name, no padding at all (an older writer): b's F64 lands unaligned and is copied
      file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[],"data_offsets":[8,16]}}', [...a, ...b]),
      // keys in reverse, data in the other order, metadata last, more padding than needed
      file(
        '{"b":{"data_offsets":[0,8],"shape":[],"dtype":"F64"},"a":{"shape":[2],"dtype":"F32","data_offsets":[8,16]},"__metadata__":{}}',
        [...b, ...a],
        21,
      ),
      // pretty-printed JSON
      file(
        JSON.stringify(
          { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F64', shape: [], data_offsets: [8, 16] } },
          null,
          2,
        ),
        [...a, ...b],
      ),
    ];
    for (const bytes of variants) {
      const { tensors } = decodeSafetensors(bytes);
      expect(tensors).toEqual(expected);
      expect(tensors.b.data.byteOffset % 8).toBe(0);
    }
    // A null __metadata__ counts as none, as in the reference.
    expect(decodeSafetensors(file('{"__metadata__":null}')).metadata).toEqual({});
  });
});

describe('toFloat32', () => {
  it('converts F16 exactly', () => {
    const bits = [0x3c00, 0xc100, 0x7bff, 0xfbff, 0x0001, 0x03ff, 0x0400, 0x8001, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x3555];
    const expected = [1, -2.5, 65504, -65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -(2 ** -24), 0, -0, Infinity, -Infinity, 0.333251953125];
    const out = toFloat32({ dtype: 'F16', shape: [bits.length], data: new Uint16Array(bits) });
    expect(out).toBeInstanceOf(Float32Array);
    expect([...out]).toEqual(expected);
    expect(Object.is(out[9], -0)).toBe(true);
    const nan = toFloat32({ dtype: 'F16', shape: [3], data: new Uint16Array([0x7e00, 0x7c01, 0xfe00]) });
    expect([...nan].every(Number.isNaN)).toBe(true);
  });

  it('converts BF16 exactly', () => {
    const bits = [0x3f80, 0xc020, 0x477f, 0x0001, 0x007f, 0x8000, 0x7f80, 0xff80, 0x7f7f];
    const expected = [1, -2.5, 65280, 2 ** -133, 127 * 2 ** -133, -0, Infinity, -Infinity, 3.3895313892515355e38];
    const out = toFloat32({ dtype: 'BF16', shape: [bits.length], data: new Uint16Array(bits) });
    expect([...out]).toEqual(expected);
    expect(Number.isNaN(toFloat32({ dtype: 'BF16', shape: [], data: new Uint16Array([0x7fc0]) })[0])).toBe(true);
  });

  it('rounds F64 and integers, maps BOOL to 0/1, returns F32 as is', () => {
    expect([...toFloat32({ dtype: 'F64', shape: [3], data: new Float64Array([0.1, 1e39, -1e-50]) })]).toEqual([
      Math.fround(0.1),
      Infinity,
      -0,
    ]);
    expect([...toFloat32({ dtype: 'I64', shape: [2], data: new BigInt64Array([-3n, 2n ** 40n + 1n]) })]).toEqual([-3, 2 ** 40]);
    expect([...toFloat32({ dtype: 'U64', shape: [1], data: new BigUint64Array([7n]) })]).toEqual([7]);
    expect([...toFloat32({ dtype: 'I32', shape: [2], data: new Int32Array([-5, 16777217]) })]).toEqual([-5, 16777216]);
    expect([...toFloat32({ dtype: 'BOOL', shape: [3], data: new Uint8Array([0, 1, 255]) })]).toEqual([0, 1, 1]);
    expect([...toFloat32({ dtype: 'U8', shape: [1], data: new Uint8Array([255]) })]).toEqual([255]);
    const data = new Float32Array([1]);
    expect(toFloat32({ dtype: 'F32', shape: [1], data })).toBe(data);
  });
});

describe('decode validation', () => {
  const t = (info: string): string => `{"t":${info}}`;
  const f32x2 = bytesOf(new Float32Array([1, 2]));

  it('short files and bad header lengths', () => {
    expectFormatError(new Uint8Array(0), /0 bytes, shorter than the 8-byte header length/);
    expectFormatError(new Uint8Array(7), /7 bytes/);
    const huge = file('{}');
    new DataView(huge.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expectFormatError(huge, /header length 18446744073709551615 is over the 16777216-byte limit/);
    new DataView(huge.buffer).setBigUint64(0, 16_777_217n, true);
    expectFormatError(huge, /header length 16777217 is over the 16777216-byte limit/);
    expect(() => decodeSafetensors(huge, { maxHeaderBytes: 100_000_000 })).toThrow(/header length 16777217 runs past the end/);
    new DataView(huge.buffer).setBigUint64(0, 3n, true);
    expectFormatError(huge, /header length 3 runs past the end of the file \(10 bytes\)/);
    expectFormatError(file(''), /does not start with "\{"/);
  });

  it('headers that are not UTF-8 JSON objects', () => {
    const bad = file('{"a\u00e9":1}');
    bad[11] = 0xff; // inside the string: not UTF-8
    expectFormatError(bad, /not valid UTF-8/);
    expectFormatError(file('{"t":'), /not valid JSON/);
    expectFormatError(file('{} x'), /not valid JSON/);
    expectFormatError(file('[1,2]'), /does not start with "\{"/);
    expectFormatError(file(' {}'), /does not start with "\{"/);
    expectFormatError(file('{"t":[1]}'), /tensor "t": expected an object/);
    expectFormatError(file('{"t":null}'), /tensor "t": expected an object/);
  });

  it('dtypes, shapes and sizes', () => {
    expectFormatError(
      file(t('{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}'), [0]),
      /tensor "t": unknown or unsupported dtype "F8_E4M3"/,
    );
    expectFormatError(file(t('{"dtype":"f32","shape":[1],"data_offsets":[0,4]}'), [0, 0, 0, 0]), /unsupported dtype "f32"/);
    expectFormatError(file(t('{"dtype":4,"shape":[1],"data_offsets":[0,4]}'), [0, 0, 0, 0]), /unsupported dtype of type number/);
    expectFormatError(file(t('{"shape":[1],"data_offsets":[0,4]}'), [0, 0, 0, 0]), /dtype \(missing\)/);
    for (const shape of ['2', '"2"', '[-1]', '[1.5]', '["2"]', '[null]', '[9007199254740992]', '[4294967296,4294967296]', '{"0":2}']) {
      expectFormatError(
        file(t(`{"dtype":"F32","shape":${shape},"data_offsets":[0,8]}`), f32x2),
        /tensor "t": shape must be an array of non-negative integers/,
      );
    }
    expectFormatError(
      file(t('{"dtype":"F32","shape":[3],"data_offsets":[0,8]}'), f32x2),
      /shape \[3\] of F32 needs 12 bytes, data_offsets span 8/,
    );
    expectFormatError(file(t('{"dtype":"F32","shape":[],"data_offsets":[0,8]}'), f32x2), /shape \[\] of F32 needs 4 bytes/);
    expectFormatError(file(t('{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}'), f32x2), /unknown field "extra"/);
  });

  it('offsets', () => {
    const info = (offsets: string): Uint8Array => file(t(`{"dtype":"F32","shape":[2],"data_offsets":${offsets}}`), f32x2);
    for (const offsets of ['[0]', '[0,8,8]', '"0,8"', '[0,8.5]', '[-8,0]', '[0,"8"]', '[0,1e400]', 'null']) {
      expectFormatError(info(offsets), /data_offsets must be \[begin, end\], two non-negative integers/);
    }
    expectFormatError(info('[8,0]'), /data_offsets \[8, 0\] has begin > end/);
    expectFormatError(info('[0,12]'), /end 12 is beyond the data section \(8 bytes\)/);
    expectFormatError(info('[0,9007199254740993]'), /two non-negative integers/);
    // Gaps, overlaps, trailing bytes: the tensors must tile the data section exactly.
    const two = (a: string, b: string, data: number[]): Uint8Array =>
      file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":${a}},"b":{"dtype":"U8","shape":[2],"data_offsets":${b}}}`, data);
    expectFormatError(two('[0,2]', '[1,3]', [1, 2, 3]), /tensor "b" \(bytes 1..3\) overlaps tensor "a" \(bytes 0..2\)/);
    expectFormatError(two('[0,2]', '[0,2]', [1, 2]), /overlaps/);
    expectFormatError(two('[0,2]', '[3,5]', [1, 2, 3, 4, 5]), /bytes 2..3 of the data section belong to no tensor/);
    expectFormatError(two('[1,3]', '[3,5]', [1, 2, 3, 4, 5]), /bytes 0..1 of the data section belong to no tensor/);
    expectFormatError(two('[0,2]', '[2,4]', [1, 2, 3, 4, 5, 6]), /2 trailing bytes after the last tensor/);
    expectFormatError(file('{}', [0]), /1 trailing bytes/);
    // An empty tensor may sit at any boundary, but not inside another tensor.
    const withEmpty = (offsets: string): Uint8Array =>
      file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"e":{"dtype":"F32","shape":[0],"data_offsets":${offsets}}}`, [1, 2]);
    expect(decodeSafetensors(withEmpty('[0,0]')).tensors.e.data).toEqual(new Float32Array(0));
    expect(decodeSafetensors(withEmpty('[2,2]')).tensors.e.data).toEqual(new Float32Array(0));
    expectFormatError(withEmpty('[1,1]'), /tensor "e" \(bytes 1..1\) overlaps tensor "a"/);
  });

  it('duplicate keys, which JSON.parse would silently merge', () => {
    const info = '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}';
    expectFormatError(file(`{"t":${info},"t":${info}}`, [1]), /duplicate tensor name "t"/);
    expectFormatError(file(`{"t":${info},"\\u0074":${info}}`, [1]), /duplicate tensor name "t"/);
    expectFormatError(
      file(`{"t":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, [1]),
      /duplicate key "dtype" in the header/,
    );
    expectFormatError(file(`{"__metadata__":{"a":"1","a":"2"}}`), /duplicate key "a"/);
    expectFormatError(file(`{"__metadata__":{},"__metadata__":{}}`), /duplicate tensor name "__metadata__"/);
    // The same key in different objects, and key-like strings in values, are fine.
    const ok = file(`{"__metadata__":{"t":"{\\"t\\":1,\\"t\\":2}","dtype":"x"},"t":${info}}`, [1]);
    expect(decodeSafetensors(ok).metadata).toEqual({ t: '{"t":1,"t":2}', dtype: 'x' });
  });

  it('metadata', () => {
    expectFormatError(file('{"__metadata__":{"a":1}}'), /__metadata__ value of "a" is not a string/);
    expectFormatError(file('{"__metadata__":{"a":null}}'), /__metadata__ value of "a" is not a string/);
    expectFormatError(file('{"__metadata__":[]}'), /__metadata__ must be an object of strings/);
    expectFormatError(file('{"__metadata__":"x"}'), /__metadata__ must be an object of strings/);
  });

  it('non-Uint8Array input is a ValueError', () => {
    // @ts-expect-error an ArrayBuffer is not accepted: pass a Uint8Array view
    expect(() => decodeSafetensors(new ArrayBuffer(8))).toThrow(ValueError);
  });
});

describe('corrupt input never escapes as another error', () => {
  /** Decode and return the error if it is anything but a FormatError (undefined when fine). */
  function wrongError(bytes: Uint8Array): string | undefined {
    try {
      decodeSafetensors(bytes);
    } catch (error) {
      if (!(error instanceof FormatError)) return `${(error as Error)?.constructor?.name}: ${String(error)}`;
    }
    return undefined;
  }

  it('every truncation of a valid file is a FormatError', () => {
    const bytes = sample();
    for (let length = 0; length < bytes.byteLength; length++) {
      const error = thrown(() => decodeSafetensors(bytes.subarray(0, length)));
      expect(error, `length ${length}`).toBeInstanceOf(FormatError);
    }
  });

  it('every single-byte change in the header decodes validly or is a FormatError', () => {
    const bytes = sample();
    const end = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const problems: string[] = [];
    for (let i = 0; i < end; i++) {
      for (const mask of [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff]) {
        const mutated = bytes.slice();
        mutated[i] ^= mask;
        const problem = wrongError(mutated);
        if (problem) problems.push(`byte ${i} ^ ${mask}: ${problem}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('2000 random mutations are all FormatErrors or valid files', () => {
    const random = rng(20240601);
    const base = sample();
    const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));
    const pick = (n: number): number => Math.floor(random() * n);
    // JSON-ish tokens, so that mutations reach the validator rather than stop at JSON.parse.
    const tokens = [
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      '"',
      '\\',
      '0',
      '-1',
      '1e309',
      '9007199254740993',
      'null',
      '"F32"',
      '"BOOL"',
      '"__metadata__"',
      '"t"',
      ' ',
      '\u00ff',
      '\ud800',
    ];
    const problems: string[] = [];
    let valid = 0;
    for (let round = 0; round < 2000; round++) {
      let bytes = base.slice();
      const edits = 1 + pick(4);
      for (let e = 0; e < edits; e++) {
        // Most edits hit the header, where the parsing is.
        const at = random() < 0.8 ? pick(headerEnd) : pick(bytes.byteLength);
        switch (pick(6)) {
          case 0:
            bytes[at] = pick(256);
            break;
          case 1:
            bytes[at] ^= 1 << pick(8);
            break;
          case 2: // delete a run
            bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1 + pick(8))]);
            break;
          case 3: {
            // insert a token
            const token = Buffer.from(tokens[pick(tokens.length)]);
            bytes = Uint8Array.from([...bytes.subarray(0, at), ...token, ...bytes.subarray(at)]);
            break;
          }
          case 4: // rewrite the header length, sometimes to a plausible value
            new DataView(bytes.buffer).setBigUint64(
              0,
              random() < 0.5 ? BigInt(pick(bytes.byteLength + 16)) : BigInt(pick(2 ** 31)) * 2n ** BigInt(pick(34)),
              true,
            );
            break;
          case 5: // a digit in the header changes: offsets and shapes go wrong, JSON stays valid
            for (let i = at; i < headerEnd; i++) {
              if (bytes[i] >= 0x30 && bytes[i] <= 0x39) {
                bytes[i] = 0x30 + pick(10);
                break;
              }
            }
            break;
        }
      }
      const problem = wrongError(bytes);
      if (problem) problems.push(`round ${round}: ${problem}`);
      else if (
        (() => {
          try {
            decodeSafetensors(bytes);
            return true;
          } catch {
            return false;
          }
        })()
      )
        valid++;
    }
    expect(problems).toEqual([]);
    // Some mutations (padding, metadata text) leave a valid file: the decoder accepted those.
    expect(valid).toBeGreaterThan(0);
  });
});

describe('encode validation', () => {
  const ok: Tensor = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
  it('rejects bad tensors with errors naming them', () => {
    const cases: [unknown, typeof ValueError, RegExp][] = [
      [
        { x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } },
        ShapeError,
        /^tensors\["x"\]\.data: shape \[3\] has 3 elements, data has 2/,
      ],
      [{ x: { dtype: 'F32', shape: [-2], data: new Float32Array(2) } }, ShapeError, /^tensors\["x"\]\.shape:/],
      [{ x: { dtype: 'F32', shape: [2.5], data: new Float32Array(2) } }, ShapeError, /^tensors\["x"\]\.shape:/],
      [
        { x: { dtype: 'F32', shape: [2], data: new Float64Array(2) } },
        ValueError,
        /^tensors\["x"\]\.data: dtype F32 needs a Float32Array, got Float64Array/,
      ],
      [{ x: { dtype: 'F16', shape: [2], data: new Float32Array(2) } }, ValueError, /needs a Uint16Array/],
      [{ x: { dtype: 'I64', shape: [2], data: [1, 2] } }, ValueError, /needs a BigInt64Array, got Array/],
      [{ x: { dtype: 'F8_E4M3', shape: [2], data: new Uint8Array(2) } }, ValueError, /^tensors\["x"\]\.dtype: unsupported dtype F8_E4M3/],
      [{ x: null }, ValueError, /^tensors\["x"\]: expected a tensor/],
      [{ __metadata__: ok }, ValueError, /reserved/],
      [null, ValueError, /^tensors:/],
      [[ok], ValueError, /^tensors:/],
    ];
    for (const [tensors, type, message] of cases) {
      const error = thrown(() => encodeSafetensors(tensors as Record<string, Tensor>));
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('rejects non-string metadata', () => {
    expect(() => encodeSafetensors({ ok }, { a: 1 } as unknown as Record<string, string>)).toThrow(
      /^metadata\["a"\]: expected a string, got number/,
    );
    expect(() => encodeSafetensors({ ok }, 'x' as unknown as Record<string, string>)).toThrow(ValueError);
  });
});

describe('files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gated-safetensors-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const tensors: Record<string, Tensor> = {
    'gru.weight_hh_l0': { dtype: 'F32', shape: [3, 1], data: new Float32Array([1, 2, 3]) },
    'gru.bias_hh_l0': { dtype: 'BF16', shape: [3], data: new Uint16Array([0x3f80, 0, 0xbf80]) },
  };

  it('save then load, sync and async', async () => {
    const path = join(dir, 'model.safetensors');
    saveSafetensors(path, tensors, { epoch: '3' });
    expect(loadSafetensors(path)).toEqual({ tensors, metadata: { epoch: '3' }, checksum: 'verified' });
    await saveSafetensorsAsync(path, tensors, undefined, { fsync: false });
    expect(await loadSafetensorsAsync(path)).toEqual({ tensors, metadata: {}, checksum: 'verified' });
    saveSafetensors(path, tensors, undefined, { checksum: false });
    expect(loadSafetensors(path)).toEqual({ tensors, metadata: {}, checksum: 'absent' });
    // The loaded file owns its buffer: tensors are aligned views into it.
    const loaded = loadSafetensors(path).tensors['gru.weight_hh_l0'];
    expect(loaded.data.byteOffset % 4).toBe(0);
  });

  it('a missing file is a FileError, a corrupt one a FormatError naming the path', async () => {
    const missing = join(dir, 'missing.safetensors');
    for (const load of [() => loadSafetensors(missing), () => loadSafetensorsAsync(missing)]) {
      const error = await Promise.resolve()
        .then(load)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(FileError);
      expect((error as FileError).argument).toBe(missing);
      expect((error as FileError).code).toBe('ENOENT');
    }
    expect(() => loadSafetensors(dir)).toThrow(FileError); // a directory
    const corrupt = join(dir, 'corrupt.safetensors');
    writeFileSync(corrupt, sample().subarray(0, 50));
    for (const load of [() => loadSafetensors(corrupt), () => loadSafetensorsAsync(corrupt)]) {
      const error = await Promise.resolve()
        .then(load)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(FormatError);
      expect((error as FormatError).argument).toBe(corrupt);
      expect((error as Error).message).toMatch(new RegExp(`^${corrupt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: header length`));
    }
  });

  it('saving to a missing directory is a FileError and invalid tensors write nothing', () => {
    expect(() => saveSafetensors(join(dir, 'nope', 'x.safetensors'), tensors)).toThrow(FileError);
    const path = join(dir, 'never.safetensors');
    expect(() => saveSafetensors(path, { x: { dtype: 'F32', shape: [5], data: new Float32Array(1) } })).toThrow(ShapeError);
    expect(() => loadSafetensors(path)).toThrow(FileError);
  });
});

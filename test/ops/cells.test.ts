/**
 * Argument validation: every rule of lib/validate.ts through the public `ops`, for both backends
 * (validation is shared, so both must raise the same typed error), then the native binding's own
 * checks (native/binding/args.h) called directly with malformed objects: it must throw with the
 * right `code`, never crash.
 */
import { describe, expect, it } from 'vitest';

import {
  GatedError,
  NativeError,
  ShapeError,
  ValueError,
  getBackend,
  getThreads,
  ops,
  setDefaultBackend,
  setThreads,
  type OpOptions,
} from '../../lib/index.js';
import { nativeBackend } from '../helpers/backends.js';
import { addonLoadError, loadAddon, nativeAvailable, type NativeCallArgs } from '../../lib/backend/addon.js';

type Op = 'rnnForward' | 'rnnBackward' | 'lstmForward' | 'lstmBackward' | 'gruForward' | 'gruBackward';
type Cell = 'rnn' | 'lstm' | 'gru';
type Fields = Record<string, unknown>;
type ErrorClass = typeof ShapeError | typeof ValueError;

const OPS: readonly Op[] = ['rnnForward', 'rnnBackward', 'lstmForward', 'lstmBackward', 'gruForward', 'gruBackward'];
const T = 3,
  B = 2,
  D = 4,
  H = 5;
const GATES: Record<Cell, number> = { rnn: 1, lstm: 4, gru: 3 };
const CACHE: Record<Cell, number> = { rnn: 2, lstm: 8, gru: 5 };

const cellOf = (op: Op): Cell => (op.startsWith('rnn') ? 'rnn' : op.startsWith('lstm') ? 'lstm' : 'gru');
const isBackward = (op: Op): boolean => op.endsWith('Backward');
const f32 = (n: number): Float32Array => new Float32Array(n).fill(0.1);

/** Every Float32Array input of `op` with its expected length and formula (as in the messages). */
function inputArrays(op: Op): Record<string, { length: number; formula: string }> {
  const cell = cellOf(op);
  const G = GATES[cell];
  const g = G === 1 ? '' : `${G}*`;
  const gv = G === 1 ? '' : `${G}*`;
  const arrays: Record<string, { length: number; formula: string }> = {
    x: { length: T * B * D, formula: `seqLen*batch*inputSize = ${T}*${B}*${D}` },
    weightIh: { length: G * H * D, formula: `${g}hiddenSize*inputSize = ${gv}${H}*${D}` },
    weightHh: { length: G * H * H, formula: `${g}hiddenSize*hiddenSize = ${gv}${H}*${H}` },
    biasIh: { length: G * H, formula: `${g}hiddenSize = ${gv}${H}` },
    biasHh: { length: G * H, formula: `${g}hiddenSize = ${gv}${H}` },
    h0: { length: B * H, formula: `batch*hiddenSize = ${B}*${H}` },
  };
  if (cell === 'lstm') {
    arrays.c0 = { length: B * H, formula: `batch*hiddenSize = ${B}*${H}` };
    arrays.weightPeephole = { length: 3 * H, formula: `3*hiddenSize = 3*${H}` };
  }
  if (isBackward(op)) {
    const W = CACHE[cell];
    arrays.cache = { length: W * T * B * H, formula: `${W}*seqLen*batch*hiddenSize = ${W}*${T}*${B}*${H}` };
    arrays.dy = { length: T * B * H, formula: `seqLen*batch*hiddenSize = ${T}*${B}*${H}` };
    arrays.dhN = { length: B * H, formula: `batch*hiddenSize = ${B}*${H}` };
    if (cell === 'lstm') arrays.dcN = { length: B * H, formula: `batch*hiddenSize = ${B}*${H}` };
  }
  return arrays;
}

const REQUIRED = new Set(['x', 'weightIh', 'weightHh', 'cache']);

/** Valid public arguments for `op` (every optional field given). */
function validArgs(op: Op): Fields {
  const args: Fields = { seqLen: T, batch: B, inputSize: D, hiddenSize: H, lengths: [3, 1], reverse: false };
  for (const [name, { length }] of Object.entries(inputArrays(op))) args[name] = f32(length);
  if (cellOf(op) === 'rnn') args.nonlinearity = 'tanh';
  if (cellOf(op) === 'gru') args.resetAfter = true;
  return args;
}

function call(op: Op, args: unknown, options?: OpOptions): unknown {
  return (ops[op] as (a: unknown, o?: OpOptions) => unknown)(args, options);
}
function callAsync(op: Op, args: unknown, options?: OpOptions): Promise<unknown> {
  return (ops[`${op}Async`] as (a: unknown, o?: OpOptions) => Promise<unknown>)(args, options);
}

function detachedF32(n: number): Float32Array {
  const buffer = new ArrayBuffer(4 * n);
  const view = new Float32Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  return view;
}

function resizableF32(n: number): Float32Array {
  const Ctor = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;
  return new Float32Array(new Ctor(4 * n, { maxByteLength: 8 * n + 8 }), 0, n);
}

/** Asserts that fn throws `cls` naming `argument`, at the start of the message too. */
function expectArgError(fn: () => unknown, cls: ErrorClass, argument: string, messagePart?: string): void {
  expect(fn).toThrow(cls);
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatedError);
    expect((err as GatedError).argument).toBe(argument);
    expect((err as Error).message.startsWith(`${argument}: `)).toBe(true);
    if (messagePart !== undefined) expect((err as Error).message).toContain(messagePart);
  }
}

interface Case {
  readonly name: string;
  readonly patch: Fields;
  readonly error: ErrorClass;
  readonly argument: string;
  readonly messagePart?: string;
}

/** One case per validation rule (and per field where the rule applies to several). */
function cases(op: Op): Case[] {
  const list: Case[] = [];
  for (const size of ['seqLen', 'batch', 'inputSize', 'hiddenSize']) {
    for (const bad of [NaN, Infinity, 1.5, -1, '3', undefined, 2 ** 31, null]) {
      list.push({ name: `${size} = ${String(bad)}`, patch: { [size]: bad }, error: ValueError, argument: size });
    }
  }
  list.push({
    name: 'product overflow',
    patch: { seqLen: 2 ** 31 - 1, batch: 2 ** 31 - 1 },
    error: ShapeError,
    argument: 'x',
    messagePart: 'exceeds the limit',
  });
  if (isBackward(op))
    list.push({
      name: 'cache product overflow',
      patch: {
        seqLen: 2 ** 20,
        batch: 2 ** 10,
        inputSize: 0,
        x: f32(0),
        hiddenSize: 1,
        weightIh: f32(0),
        weightHh: f32(GATES[cellOf(op)]),
        biasIh: null,
        biasHh: null,
        h0: null,
        c0: null,
        weightPeephole: null,
        lengths: null,
        dy: null,
        dhN: null,
        dcN: null,
      },
      error: ShapeError,
      argument: 'cache',
    });
  for (const [name, { length, formula }] of Object.entries(inputArrays(op))) {
    list.push({
      name: `${name} one short`,
      patch: { [name]: f32(length - 1) },
      error: ShapeError,
      argument: name,
      messagePart: `expected length ${length} (${formula}), got ${length - 1}`,
    });
    list.push({ name: `${name} one long`, patch: { [name]: f32(length + 1) }, error: ShapeError, argument: name });
    list.push({
      name: `${name} Float64Array`,
      patch: { [name]: new Float64Array(length) },
      error: ValueError,
      argument: name,
      messagePart: 'Float64Array',
    });
    list.push({ name: `${name} plain array`, patch: { [name]: Array.from({ length }, () => 0) }, error: ValueError, argument: name });
    list.push({
      name: `${name} detached`,
      patch: { [name]: detachedF32(length) },
      error: ValueError,
      argument: name,
      messagePart: 'detached',
    });
    list.push({
      name: `${name} on a resizable buffer`,
      patch: { [name]: resizableF32(length) },
      error: ValueError,
      argument: name,
      messagePart: 'resizable',
    });
    if (REQUIRED.has(name)) {
      list.push({ name: `${name} missing`, patch: { [name]: undefined }, error: ValueError, argument: name });
    }
  }
  list.push({ name: 'lengths too short', patch: { lengths: [1] }, error: ShapeError, argument: 'lengths' });
  list.push({ name: 'lengths Int32Array too long', patch: { lengths: new Int32Array(B + 1) }, error: ShapeError, argument: 'lengths' });
  for (const bad of [-1, T + 1, 1.5, NaN, '1']) {
    list.push({
      name: `lengths value ${String(bad)}`,
      patch: { lengths: [0, bad] },
      error: ValueError,
      argument: 'lengths',
      messagePart: 'lengths[1]',
    });
  }
  list.push({
    name: 'lengths Int32Array out of range',
    patch: { lengths: new Int32Array([T + 1, 0]) },
    error: ValueError,
    argument: 'lengths',
  });
  list.push({ name: 'lengths Float32Array', patch: { lengths: new Float32Array(B) }, error: ValueError, argument: 'lengths' });
  list.push({ name: 'reverse not boolean', patch: { reverse: 'yes' }, error: ValueError, argument: 'reverse' });
  list.push({ name: 'keepCache not boolean', patch: { keepCache: 'no' }, error: ValueError, argument: 'keepCache' });
  list.push({ name: 'keepCache 0', patch: { keepCache: 0 }, error: ValueError, argument: 'keepCache' });
  if (cellOf(op) === 'rnn') {
    list.push({ name: 'nonlinearity unknown', patch: { nonlinearity: 'sigmoid' }, error: ValueError, argument: 'nonlinearity' });
    list.push({ name: 'nonlinearity not string', patch: { nonlinearity: 1 }, error: ValueError, argument: 'nonlinearity' });
  }
  if (cellOf(op) === 'gru') {
    list.push({ name: 'resetAfter not boolean', patch: { resetAfter: 1 }, error: ValueError, argument: 'resetAfter' });
  }
  return list;
}

const BACKENDS = ['js', 'native'] as const;

describe.each(BACKENDS)('ops validation (%s backend)', (backend) => {
  for (const op of OPS) {
    describe(op, () => {
      it('accepts valid arguments, with unknown extra fields ignored', () => {
        if (backend === 'native' && !nativeAvailable()) return;
        expect(() => call(op, { ...validArgs(op), somethingElse: 42 }, { backend })).not.toThrow();
        const minimal: Fields = { ...validArgs(op), lengths: new Int32Array([2, 0]) };
        for (const k of ['biasIh', 'biasHh', 'h0', 'c0', 'weightPeephole', 'dy', 'dhN', 'dcN', 'reverse', 'nonlinearity', 'resetAfter'])
          delete minimal[k];
        expect(() => call(op, minimal, { backend })).not.toThrow();
      });

      it('rejects a non-object args', () => {
        expectArgError(() => call(op, null, { backend }), ValueError, 'args');
        expectArgError(() => call(op, 5, { backend }), ValueError, 'args');
      });

      it.each(cases(op).map((c) => [c.name, c] as const))('%s', (_name, c) => {
        expectArgError(() => call(op, { ...validArgs(op), ...c.patch }, { backend }), c.error, c.argument, c.messagePart);
      });

      it.runIf(!isBackward(op))('keepCache: false returns no cache (sync and async); true and absent return one', async () => {
        if (backend === 'native' && !nativeAvailable()) return;
        const kept = call(op, { ...validArgs(op), keepCache: true }, { backend }) as { cache: unknown };
        expect(kept.cache).toBeInstanceOf(Float32Array);
        const none = call(op, { ...validArgs(op), keepCache: false }, { backend }) as { cache: unknown; y: unknown };
        expect(none.cache).toBeNull();
        expect(none.y).toBeInstanceOf(Float32Array);
        const noneAsync = (await callAsync(op, { ...validArgs(op), keepCache: false }, { backend })) as { cache: unknown };
        expect(noneAsync.cache).toBeNull();
      });

      it('async variant rejects with the same error', async () => {
        const args = { ...validArgs(op), weightIh: f32(1) };
        await expect(callAsync(op, args, { backend })).rejects.toThrow(ShapeError);
        await expect(callAsync(op, { ...validArgs(op), seqLen: -1 }, { backend })).rejects.toThrow(ValueError);
      });
    });
  }
});

describe('options and settings', () => {
  it('rejects an unknown backend', () => {
    expectArgError(() => ops.rnnForward(validArgs('rnnForward') as never, { backend: 'gpu' as never }), ValueError, 'options.backend');
    expectArgError(() => ops.rnnForward(validArgs('rnnForward') as never, { backend: {} as never }), ValueError, 'options.backend');
    expectArgError(() => getBackend('gpu' as never), ValueError, 'name');
    expectArgError(() => setDefaultBackend('gpu' as never), ValueError, 'name');
  });

  it('accepts a Backend object', () => {
    const result = ops.rnnForward(validArgs('rnnForward') as never, { backend: getBackend('js') });
    expect(result.y).toBeInstanceOf(Float32Array);
  });

  it('defaults to native', () => {
    expect(getBackend().name).toBe('native');
  });

  it('validates setThreads', () => {
    for (const bad of [0, 257, 1.5, NaN, -1, '2']) expectArgError(() => setThreads(bad as number), ValueError, 'n');
    if (!nativeAvailable()) return;
    const before = getThreads();
    setThreads(1);
    expect(getThreads()).toBe(1);
    setThreads(before);
    expect(getThreads()).toBe(before);
  });

  it('native errors map to typed errors when ops validation is bypassed', () => {
    if (!nativeAvailable()) {
      expect(() => nativeBackend.rnnForward(validArgs('rnnForward') as never)).toThrow(NativeError);
      expect(addonLoadError()).toBeDefined();
      return;
    }
    const shape = { ...validArgs('lstmForward'), weightHh: f32(3) };
    expectArgError(() => nativeBackend.lstmForward(shape as never), ShapeError, 'weightHh', 'expected a Float32Array of length 100');
    expectArgError(() => nativeBackend.gruForward({ ...validArgs('gruForward'), reverse: 'yes' } as never), ValueError, 'reverse');
    expectArgError(() => nativeBackend.rnnForward({ ...validArgs('rnnForward'), lengths: [9, 9] } as never), ValueError, 'lengths');
  });
});

// ---- the raw addon: the last line of defense ----

/** Valid raw-addon arguments: inputs plus preallocated outputs (lengths as an Int32Array). */
function rawArgs(op: Op): Fields {
  const cell = cellOf(op);
  const G = GATES[cell];
  const args: Fields = { ...validArgs(op), lengths: new Int32Array([3, 1]) };
  if (isBackward(op)) {
    Object.assign(args, {
      dx: f32(T * B * D),
      dh0: f32(B * H),
      dWeightIh: f32(G * H * D),
      dWeightHh: f32(G * H * H),
      dBiasIh: f32(G * H),
      dBiasHh: f32(G * H),
    });
    if (cell === 'lstm') Object.assign(args, { dc0: f32(B * H), dWeightPeephole: f32(3 * H) });
  } else {
    Object.assign(args, { y: f32(T * B * H), hN: f32(B * H), cache: f32(CACHE[cell] * T * B * H) });
    if (cell === 'lstm') args.cN = f32(B * H);
  }
  return args;
}

const OUTPUTS: Record<Op, readonly string[]> = {
  rnnForward: ['y', 'hN', 'cache'],
  lstmForward: ['y', 'hN', 'cN', 'cache'],
  gruForward: ['y', 'hN', 'cache'],
  rnnBackward: ['dx', 'dh0', 'dWeightIh', 'dWeightHh', 'dBiasIh', 'dBiasHh'],
  lstmBackward: ['dx', 'dh0', 'dc0', 'dWeightIh', 'dWeightHh', 'dBiasIh', 'dBiasHh', 'dWeightPeephole'],
  gruBackward: ['dx', 'dh0', 'dWeightIh', 'dWeightHh', 'dBiasIh', 'dBiasHh'],
};

function expectCode(fn: () => unknown, code: string, argument: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(Error);
  expect((thrown as { code?: unknown }).code).toBe(code);
  expect((thrown as Error).message.startsWith(`${argument}: `)).toBe(true);
}

describe.runIf(nativeAvailable())('raw addon checks', () => {
  const addon = nativeAvailable() ? loadAddon() : undefined;
  const raw = (op: Op, args: unknown): unknown => (addon![op] as (a: NativeCallArgs) => unknown)(args as NativeCallArgs);

  for (const op of OPS) {
    describe(op, () => {
      it('accepts valid arguments (sync and async)', async () => {
        expect(raw(op, rawArgs(op))).toBeUndefined();
        await expect(raw(op, { ...rawArgs(op), async: true })).resolves.toBeUndefined();
      });

      it('rejects malformed objects with ERR_GATED_VALUE', () => {
        for (const bad of [undefined, null, 3, 'args']) expectCode(() => raw(op, bad), 'ERR_GATED_VALUE', 'args');
        expectCode(() => raw(op, {}), 'ERR_GATED_VALUE', 'seqLen');
        for (const bad of [NaN, -1, 1.5, Infinity, 2 ** 31, '3', 3n]) {
          expectCode(() => raw(op, { ...rawArgs(op), hiddenSize: bad }), 'ERR_GATED_VALUE', 'hiddenSize');
        }
        expectCode(() => raw(op, { ...rawArgs(op), x: new Float64Array(T * B * D) }), 'ERR_GATED_VALUE', 'x');
        expectCode(() => raw(op, { ...rawArgs(op), x: new Uint8Array(4 * T * B * D) }), 'ERR_GATED_VALUE', 'x');
        expectCode(() => raw(op, { ...rawArgs(op), x: new DataView(new ArrayBuffer(4 * T * B * D)) }), 'ERR_GATED_VALUE', 'x');
        expectCode(() => raw(op, { ...rawArgs(op), x: detachedF32(T * B * D) }), 'ERR_GATED_VALUE', 'x');
        expectCode(() => raw(op, { ...rawArgs(op), lengths: [3, 1] }), 'ERR_GATED_VALUE', 'lengths');
        expectCode(() => raw(op, { ...rawArgs(op), lengths: new Int32Array([4, 0]) }), 'ERR_GATED_VALUE', 'lengths');
        expectCode(() => raw(op, { ...rawArgs(op), lengths: new Int32Array([-1, 0]) }), 'ERR_GATED_VALUE', 'lengths');
        expectCode(() => raw(op, { ...rawArgs(op), reverse: 1 }), 'ERR_GATED_VALUE', 'reverse');
        expectCode(() => raw(op, { ...rawArgs(op), async: 'yes' }), 'ERR_GATED_VALUE', 'async');
        if (cellOf(op) === 'rnn') expectCode(() => raw(op, { ...rawArgs(op), nonlinearity: 'gelu' }), 'ERR_GATED_VALUE', 'nonlinearity');
        if (cellOf(op) === 'gru') expectCode(() => raw(op, { ...rawArgs(op), resetAfter: 0 }), 'ERR_GATED_VALUE', 'resetAfter');
        if (!isBackward(op)) {
          expectCode(() => raw(op, { ...rawArgs(op), keepCache: 'no' }), 'ERR_GATED_VALUE', 'keepCache');
          // keepCache false: the cache must be absent (a given one would silently stay unwritten).
          expectCode(() => raw(op, { ...rawArgs(op), keepCache: false }), 'ERR_GATED_VALUE', 'cache');
          expect(raw(op, { ...rawArgs(op), keepCache: false, cache: null })).toBeUndefined();
          expect(raw(op, { ...rawArgs(op), keepCache: false, cache: undefined })).toBeUndefined();
          // keepCache true (or absent) still requires it.
          expectCode(() => raw(op, { ...rawArgs(op), keepCache: true, cache: null }), 'ERR_GATED_VALUE', 'cache');
        }
        for (const out of OUTPUTS[op]) {
          if (out.startsWith('dBias') || out === 'dWeightPeephole') continue;
          expectCode(() => raw(op, { ...rawArgs(op), [out]: undefined }), 'ERR_GATED_VALUE', out);
        }
      });

      it('rejects wrong lengths and overflowing sizes with ERR_GATED_SHAPE', () => {
        const args = rawArgs(op);
        for (const [name, value] of Object.entries(args)) {
          if (!(value instanceof Float32Array)) continue;
          expectCode(() => raw(op, { ...args, [name]: f32(value.length - 1) }), 'ERR_GATED_SHAPE', name);
          expectCode(() => raw(op, { ...args, [name]: f32(value.length + 1), async: true }), 'ERR_GATED_SHAPE', name);
        }
        expectCode(() => raw(op, { ...args, lengths: new Int32Array(B + 1) }), 'ERR_GATED_SHAPE', 'lengths');
        expectCode(() => raw(op, { ...args, seqLen: 2 ** 31 - 1, batch: 2 ** 31 - 1, inputSize: 2 ** 31 - 1 }), 'ERR_GATED_SHAPE', 'x');
      });
    });
  }

  it('requires dWeightPeephole when weightPeephole is given (the kernel writes it)', () => {
    expectCode(() => raw('lstmBackward', { ...rawArgs('lstmBackward'), dWeightPeephole: null }), 'ERR_GATED_VALUE', 'dWeightPeephole');
  });

  it('checks setThreads and internals', () => {
    const a = addon!;
    for (const bad of [0, 257, 1.5, 'x', undefined]) expectCode(() => a.setThreads(bad as number), 'ERR_GATED_VALUE', 'n');
    expectCode(() => a.internals.setIsa(3 as never), 'ERR_GATED_VALUE', 'name');
    expect(a.internals.isaAvailable('scalar')).toBe(true);
    expect(a.internals.isaAvailable('no-such-isa')).toBe(false);
    expect(a.internals.isaAvailable(a.internals.bestIsa())).toBe(true);
    expect(a.internals.getIsa()).toBe(a.internals.bestIsa());

    const g = a.internals.sgemm;
    const A = f32(6),
      Bm = f32(6),
      C = f32(4);
    expect(() => g(false, false, 2, 2, 3, A, 3, Bm, 2, C, 2, false)).not.toThrow();
    expectCode(() => g(false, false, 2, 2, 3, f32(5), 3, Bm, 2, C, 2, false), 'ERR_GATED_SHAPE', 'A');
    expectCode(() => g(false, false, 2, 2, 3, A, 3, f32(5), 2, C, 2, false), 'ERR_GATED_SHAPE', 'B');
    expectCode(() => g(false, false, 2, 2, 3, A, 3, Bm, 2, f32(3), 2, false), 'ERR_GATED_SHAPE', 'C');
    expectCode(() => g(false, false, 2, 2, 3, A, 2, Bm, 2, C, 2, false), 'ERR_GATED_VALUE', 'lda');
    expectCode(() => g(false, false, 2, 2, 3, A, 3, Bm, 2, C, 2 ** 31 - 1, false), 'ERR_GATED_SHAPE', 'C');
    expectCode(() => g(1 as never, false, 2, 2, 3, A, 3, Bm, 2, C, 2, false), 'ERR_GATED_VALUE', 'transA');
    expectCode(() => g(false, false, -2, 2, 3, A, 3, Bm, 2, C, 2, false), 'ERR_GATED_VALUE', 'M');
    expectCode(
      () => a.internals.sgemmReference(false, false, 2, 2, 3, new Float64Array(6) as never, 3, Bm, 2, C, 2, false),
      'ERR_GATED_VALUE',
      'A',
    );

    expectCode(() => a.internals.mathExp(f32(3), f32(2)), 'ERR_GATED_SHAPE', 'y');
    expectCode(() => a.internals.mathTanh([1, 2] as never, f32(2)), 'ERR_GATED_VALUE', 'x');
    expectCode(() => a.internals.mathSigmoid(f32(2), new Float64Array(2) as never), 'ERR_GATED_VALUE', 'y');
  });
});

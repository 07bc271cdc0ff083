/**
 * Every function and class the package exports, called with wrong arguments (missing, null, numbers,
 * strings, NaN, empty objects, arrays, objects with wrong field types), either works or fails with a
 * typed GatedError that names the argument (`.argument` set and non-empty). A TypeError or
 * RangeError from deep inside — "cannot read properties of undefined" — is a defect: the caller
 * gets no hint of which argument was wrong.
 */
import { describe, expect, it } from 'vitest';

import * as gated from '../lib/index.js';

const BAD: readonly unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  NaN,
  Infinity,
  'x',
  true,
  {},
  [],
  [1, 2],
  new Float32Array(3),
  new Int32Array(2),
  { seqLen: -1 },
  { vocabSize: 'a', dim: 2 },
  { hiddenSize: 0 },
  { units: NaN },
  { rate: 2 },
  { features: 1.5 },
  () => 1,
  Symbol('s'),
];

/** Exports that take no user data, or whose whole job is to be called with anything. */
const SKIP = new Set([
  'version',
  'ops',
  'setThreads',
  'getThreads',
  'defaultRng',
  'getBackend',
  'setDefaultBackend',
  'defaultBackend',
  'setSeed',
]);

type Fn = (...args: unknown[]) => unknown;

function check(name: string, e: unknown): void {
  if (!(e instanceof gated.GatedError)) {
    throw new Error(`${name}: threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}, not a GatedError`);
  }
  if (typeof e.argument !== 'string' || e.argument.length === 0)
    throw new Error(`${name}: ${e.name} without an argument name: ${e.message}`);
}

async function call(name: string, f: Fn, args: unknown[], isClass: boolean): Promise<void> {
  try {
    const r = isClass ? new (f as unknown as new (...a: unknown[]) => unknown)(...args) : f(...args);
    if (r instanceof Promise) await r;
  } catch (e) {
    check(
      `${name}(${args.map((a) => (typeof a === 'symbol' ? 'symbol' : typeof a === 'function' ? 'fn' : (JSON.stringify(a) ?? String(a)))).join(', ')})`,
      e,
    );
  }
}

const entries = Object.entries(gated).filter(([k, v]) => typeof v === 'function' && !SKIP.has(k) && !/Error$/.test(k));

describe('public API: wrong arguments give typed errors naming the argument', () => {
  it('covers the exports', () => {
    expect(entries.length).toBeGreaterThan(60);
  });

  it.each(entries)('%s', async (name, value) => {
    const f = value as Fn;
    const isClass = /^[A-Z]/.test(name);
    for (const a of BAD) await call(name, f, [a], isClass);
    for (const a of BAD) await call(name, f, [a, a], isClass);
    for (const a of BAD) await call(name, f, [{}, a, a], isClass);
  });

  it('the ops namespace too', async () => {
    for (const [name, f] of Object.entries(gated.ops)) {
      for (const a of BAD) await call(`ops.${name}`, f as Fn, [a, { backend: 'js' }], false);
      for (const a of BAD) await call(`ops.${name}`, f as Fn, [{ seqLen: 1, batch: 1, inputSize: 1, hiddenSize: 1 }, a], false);
    }
  });
});

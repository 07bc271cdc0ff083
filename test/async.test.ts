/**
 * The `...Async` ops: same values as the sync ones, the event loop keeps running while the native
 * kernel works, and many calls in flight at once all complete correctly.
 *
 * Contract (documented in lib/ops.ts, not tested here): inputs must not be modified or have their
 * buffers transferred until the promise settles, because the native kernel reads them on a worker
 * thread while JavaScript runs.
 *
 * Values are compared async against sync (never against constants), so these tests stay meaningful
 * whatever the kernels compute; with the deterministic kernels the results must be bit-identical.
 */
import { describe, expect, it } from 'vitest';

import { ops, type Backend, type BackendName } from '../lib/index.js';
import { nativeAvailable } from '../lib/backend/addon.js';
import { Rng } from './helpers/random.js';
import { ticksDuring } from './helpers/ticks.js';

type Cell = 'rnn' | 'lstm' | 'gru';
type Fields = Record<string, unknown>;
const GATES: Record<Cell, number> = { rnn: 1, lstm: 4, gru: 3 };
const CELLS: readonly Cell[] = ['rnn', 'lstm', 'gru'];

interface Sizes {
  T: number;
  B: number;
  D: number;
  H: number;
}

/** Random forward arguments (with biases, h0, lengths and cell options) for `cell`. */
function forwardArgs(cell: Cell, { T, B, D, H }: Sizes, rng: Rng): Fields {
  const G = GATES[cell];
  const scale = 1 / Math.sqrt(H + D);
  const a: Fields = {
    seqLen: T,
    batch: B,
    inputSize: D,
    hiddenSize: H,
    x: rng.randn(T * B * D),
    weightIh: rng.randn(G * H * D, scale),
    weightHh: rng.randn(G * H * H, scale),
    biasIh: rng.randn(G * H, 0.1),
    biasHh: rng.randn(G * H, 0.1),
    h0: rng.randn(B * H, 0.5),
    lengths: Array.from({ length: B }, (_, b) => (b === 0 ? T : rng.int(0, T))),
    reverse: rng.int(0, 1) === 1,
  };
  if (cell === 'rnn') a.nonlinearity = rng.int(0, 1) === 1 ? 'relu' : 'tanh';
  if (cell === 'gru') a.resetAfter = rng.int(0, 1) === 1;
  if (cell === 'lstm') {
    a.c0 = rng.randn(B * H, 0.5);
    a.weightPeephole = rng.randn(3 * H, 0.1);
  }
  return a;
}

type AnyOp = (args: Fields, options?: { backend?: BackendName | Backend }) => unknown;
const op = (name: string): AnyOp => (ops as unknown as Record<string, AnyOp>)[name]!;

function forward(cell: Cell, args: Fields, backend: BackendName): Record<string, Float32Array> {
  return op(`${cell}Forward`)(args, { backend }) as Record<string, Float32Array>;
}
function forwardAsync(cell: Cell, args: Fields, backend: BackendName): Promise<Record<string, Float32Array>> {
  return op(`${cell}ForwardAsync`)(args, { backend }) as Promise<Record<string, Float32Array>>;
}

/** Backward arguments from a forward result plus random output gradients. */
function backwardArgs(cell: Cell, args: Fields, fwd: Record<string, Float32Array>, rng: Rng): Fields {
  const { seqLen: T, batch: B, hiddenSize: H } = args as { seqLen: number; batch: number; hiddenSize: number };
  const b: Fields = { ...args, cache: fwd.cache, dy: rng.randn(T * B * H), dhN: rng.randn(B * H) };
  if (cell === 'lstm') b.dcN = rng.randn(B * H);
  return b;
}

function expectSameResult(actual: Record<string, Float32Array | null>, expected: Record<string, Float32Array | null>): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const key of Object.keys(expected)) {
    const e = expected[key];
    const a = actual[key];
    if (e === null) {
      expect(a, key).toBeNull();
      continue;
    }
    expect(a, key).toBeInstanceOf(Float32Array);
    expect(a!.length, key).toBe(e!.length);
    // Bit-identical (NaN-aware): same kernel, same inputs, deterministic reductions.
    expect(Buffer.from(a!.buffer, a!.byteOffset, a!.byteLength).equals(Buffer.from(e.buffer, e.byteOffset, e.byteLength)), key).toBe(true);
  }
}

const BACKENDS: readonly BackendName[] = nativeAvailable() ? ['native', 'js'] : ['js'];

describe.each(BACKENDS)('async ops (%s backend)', (backend) => {
  for (const cell of CELLS) {
    it(`${cell}: async forward and backward resolve to the sync values`, async () => {
      const rng = new Rng(1234 + cell.length);
      const args = forwardArgs(cell, { T: 7, B: 3, D: 9, H: 6 }, rng);
      const syncFwd = forward(cell, args, backend);
      const asyncFwd = await forwardAsync(cell, args, backend);
      expectSameResult(asyncFwd, syncFwd);

      const bargs = backwardArgs(cell, args, syncFwd, rng);
      const syncBwd = op(`${cell}Backward`)(bargs, { backend }) as Record<string, Float32Array | null>;
      const asyncBwd = await (op(`${cell}BackwardAsync`)(bargs, { backend }) as Promise<Record<string, Float32Array | null>>);
      expectSameResult(asyncBwd, syncBwd);
      expect(asyncBwd.dBiasIh).not.toBeNull();
      if (cell === 'lstm') expect(asyncBwd.dWeightPeephole).not.toBeNull();
    });
  }
});

describe.runIf(nativeAvailable())('native async ops', () => {
  it('keep the event loop running during a large call', async () => {
    const rng = new Rng(7);
    // About 4 GFLOP forward + 8 backward: long enough to see timers fire once the kernels are real.
    const args = forwardArgs('lstm', { T: 128, B: 32, D: 256, H: 256 }, rng);
    const { ticks, elapsed, returnedAfter } = await ticksDuring(() =>
      ops.lstmForwardAsync(args as never).then((fwd) => ops.lstmBackwardAsync(backwardArgs('lstm', args, fwd as never, rng) as never)),
    );
    // Starting the call must not run the kernel on this thread: it returns long before the end
    // (only argument checks and output allocation happen synchronously).
    if (elapsed > 100) {
      expect(returnedAfter).toBeLessThan(elapsed / 2);
      // The timer fires while the worker computes (2 ms interval; allow a very loaded machine).
      expect(ticks).toBeGreaterThanOrEqual(Math.min(10, Math.floor(elapsed / 20)));
    }
  });

  it('complete many concurrent calls correctly', async () => {
    const rng = new Rng(99);
    const jobs = Array.from({ length: 48 }, (_, i) => {
      const cell = CELLS[i % 3]!;
      const sizes = { T: rng.int(1, 9), B: rng.int(1, 5), D: rng.int(1, 17), H: rng.int(1, 12) };
      const args = forwardArgs(cell, sizes, rng);
      return { cell, args, expected: forward(cell, args, 'native') };
    });
    const results = await Promise.all(jobs.map((j) => forwardAsync(j.cell, j.args, 'native')));
    results.forEach((r, i) => expectSameResult(r, jobs[i]!.expected));

    // Backward calls interleaved with forward calls.
    const bjobs = jobs.map((j) => {
      const bargs = backwardArgs(j.cell, j.args, j.expected, rng);
      return { ...j, bargs, expectedGrads: op(`${j.cell}Backward`)(bargs, { backend: 'native' }) as Record<string, Float32Array | null> };
    });
    const mixed = await Promise.all(
      bjobs.flatMap((j) => [
        op(`${j.cell}BackwardAsync`)(j.bargs, { backend: 'native' }) as Promise<Record<string, Float32Array | null>>,
        forwardAsync(j.cell, j.args, 'native'),
      ]),
    );
    bjobs.forEach((j, i) => {
      expectSameResult(mixed[2 * i]!, j.expectedGrads);
      expectSameResult(mixed[2 * i + 1]!, j.expected);
    });
  });

  it('rejects (not throws) a bad call and keeps working afterwards', async () => {
    const rng = new Rng(5);
    const args = forwardArgs('gru', { T: 2, B: 2, D: 3, H: 4 }, rng);
    const bad = ops.gruForwardAsync({ ...args, weightHh: new Float32Array(1) } as never);
    await expect(bad).rejects.toThrow(/weightHh/);
    expectSameResult(await forwardAsync('gru', args, 'native'), forward('gru', args, 'native'));
  });
});

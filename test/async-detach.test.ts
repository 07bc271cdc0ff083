/**
 * Issue 10, item 2 (the raw ops' part): an argument's ArrayBuffer detached (transferred, as
 * `worker.postMessage(buf, [buf])` does) while an `...Async` raw op runs must not give a silently
 * resolved promise. The addon checks every array it holds when the kernel ends and rejects with a
 * ValueError naming the argument (native/binding/worker.h). Before, the promise resolved with results
 * computed from memory the array no longer owned.
 *
 * The transferred buffers are kept alive here, so the kernel reads and writes valid (if foreign)
 * memory and the test itself stays well defined; when the new owner drops its buffer and the GC frees
 * it mid-kernel, the kernel reads freed memory, which no N-API addon can prevent: hence the rule "do
 * not touch the arguments until the promise settles" (lib/ops/op.ts).
 */
import { describe, expect, it } from 'vitest';

import { ops } from '../lib/index.js';
import { nativeAvailable } from '../lib/backend/addon.js';
import { Rng } from './helpers/index.js';

/** Starts `call`, transfers `victim`'s buffer once the kernel runs, returns the settled outcome. */
async function detachDuring(call: () => Promise<unknown>, victim: Float32Array): Promise<unknown> {
  const pending = call();
  await new Promise((done) => setImmediate(done)); // the op is queued and its kernel started
  const buffer = victim.buffer as ArrayBuffer;
  const kept = structuredClone(buffer, { transfer: [buffer] });
  expect(victim.length).toBe(0); // detached
  try {
    await pending;
    return 'resolved';
  } catch (err) {
    return err;
  } finally {
    expect(kept.byteLength).toBeGreaterThan(0);
  }
}

describe.runIf(nativeAvailable())('raw async ops with a buffer detached mid-call', () => {
  const rng = new Rng(5);
  // Each kernel below takes several milliseconds, far longer than the one turn of the event loop
  // after which the buffer is transferred.

  it('lstmForwardAsync (T=64, B=64, D=256, H=256), x transferred: ValueError naming x', async () => {
    const T = 64,
      B = 64,
      D = 256,
      H = 256;
    const args = {
      seqLen: T,
      batch: B,
      inputSize: D,
      hiddenSize: H,
      x: rng.randn(T * B * D),
      weightIh: rng.randn(4 * H * D, 0.05),
      weightHh: rng.randn(4 * H * H, 0.05),
    };
    const outcome = await detachDuring(() => ops.lstmForwardAsync(args), args.x);
    expect(outcome).toMatchObject({ name: 'ValueError', argument: 'x' });
    expect((outcome as Error).message).toMatch(/detached or resized while lstmForward ran asynchronously/);
  });

  it('linearForwardAsync (4096 x 512 -> 512), weight transferred: ValueError naming weight', async () => {
    const rows = 4096,
      inFeatures = 512,
      outFeatures = 512;
    const args = { rows, inFeatures, outFeatures, x: rng.randn(rows * inFeatures), weight: rng.randn(outFeatures * inFeatures, 0.05) };
    const outcome = await detachDuring(() => ops.linearForwardAsync(args), args.weight);
    expect(outcome).toMatchObject({ name: 'ValueError', argument: 'weight' });
  });

  it('adamStepAsync (n = 4M), param (written in place) transferred: ValueError naming param', async () => {
    const n = 1 << 22;
    const args = {
      param: new Float32Array(n).fill(1),
      grad: new Float32Array(n).fill(0.5),
      expAvg: new Float32Array(n),
      expAvgSq: new Float32Array(n),
      step: 1,
    };
    const outcome = await detachDuring(() => ops.adamStepAsync(args), args.param);
    expect(outcome).toMatchObject({ name: 'ValueError', argument: 'param' });
  });

  it('the same calls left alone resolve', async () => {
    const n = 1 << 22;
    const param = new Float32Array(n).fill(1);
    await ops.adamStepAsync({
      param,
      grad: new Float32Array(n).fill(0.5),
      expAvg: new Float32Array(n),
      expAvgSq: new Float32Array(n),
      step: 1,
      lr: 0.25,
    });
    // Adam's first step moves every parameter by lr (times sign(grad)), up to eps.
    expect(param[0]).toBeCloseTo(0.75, 5);
    expect(param[n - 1]).toBeCloseTo(0.75, 5);
  });
});

/**
 * Type-level checks of the public API (run by `tsc --noEmit` in `npm test`; the runtime assertions
 * are trivial). `keepCache: false` must type the forward result's cache as `null`, so that a
 * cache-less result cannot be passed to backward; every other call keeps `cache: Float32Array`.
 */
import { describe, expectTypeOf, it } from 'vitest';

import { ops, type LstmForwardArgs } from '../lib/index.js';
import { jsBackend } from './helpers/backends.js';

const sizes = { seqLen: 1, batch: 1, inputSize: 1, hiddenSize: 1 } as const;
const args: LstmForwardArgs = {
  ...sizes,
  x: new Float32Array(1),
  weightIh: new Float32Array(4),
  weightHh: new Float32Array(4),
};

describe('forward result types', () => {
  it('cache is null with keepCache: false and a Float32Array otherwise', () => {
    const kept = ops.lstmForward(args, { backend: 'js' });
    expectTypeOf(kept.cache).toEqualTypeOf<Float32Array>();
    expectTypeOf(kept.cN).toEqualTypeOf<Float32Array>();
    const explicit = ops.lstmForward({ ...args, keepCache: true }, { backend: 'js' });
    expectTypeOf(explicit.cache).toEqualTypeOf<Float32Array>();

    const none = ops.lstmForward({ ...args, keepCache: false }, { backend: 'js' });
    expectTypeOf(none.cache).toEqualTypeOf<null>();
    expectTypeOf(none.y).toEqualTypeOf<Float32Array>();
    expectTypeOf(none.cN).toEqualTypeOf<Float32Array>();

    ops.lstmBackward({ ...args, cache: kept.cache }, { backend: 'js' });
    // @ts-expect-error a forward without a cache cannot feed backward
    expectTypeOf(ops.lstmBackward).toBeCallableWith({ ...args, cache: none.cache });
  });

  it('holds for every cell, the async ops and the Backend interface', async () => {
    const rnn = ops.rnnForward(
      { ...args, weightIh: new Float32Array(1), weightHh: new Float32Array(1), keepCache: false },
      { backend: 'js' },
    );
    expectTypeOf(rnn.cache).toEqualTypeOf<null>();
    const gru = await ops.gruForwardAsync(
      { ...args, weightIh: new Float32Array(3), weightHh: new Float32Array(3), keepCache: false },
      { backend: 'js' },
    );
    expectTypeOf(gru.cache).toEqualTypeOf<null>();
    const viaBackend = jsBackend.lstmForward({ ...args, keepCache: false });
    expectTypeOf(viaBackend.cache).toEqualTypeOf<null>();
    expectTypeOf(jsBackend.lstmForward(args).cache).toEqualTypeOf<Float32Array>();
    // @ts-expect-error backward's cache is a Float32Array, never null
    expectTypeOf(jsBackend.gruBackward).toBeCallableWith({ ...args, cache: gru.cache });
  });
});

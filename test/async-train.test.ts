/**
 * The `...Async` twins of the layer kernels (lib/nn/kernels.ts), the training kernels
 * (lib/train/kernels.ts) and the Jordan network (lib/nn/jordan.ts), and the async Optimizer.step:
 *   - native async results are bit-identical to native sync ones (and js async to js sync) on
 *     random shapes with odd sizes and size 1, outputs and in-place updates alike;
 *   - bad arguments reject the promise (never a synchronous throw) with the sync op's error class and
 *     `argument`, also when only the addon's own checks can see the problem;
 *   - values that bound memory accesses (ids, targets, lengths) are copied before the call is queued:
 *     changing them right after the call neither changes the result nor reaches out of bounds;
 *   - a timer keeps firing while a long async linear / adam call runs on the worker thread.
 * Values are compared async against sync (never against constants), so the tests stay meaningful
 * whatever the kernels compute.
 */
import { describe, expect, it } from 'vitest';

import { GatedError, ShapeError, ValueError } from '../lib/errors.js';
import type { Parameter } from '../lib/layers/layer.js';
import { loadAddon, nativeAvailable, type NativeOpFn } from '../lib/backend/addon.js';
import { jordanBackward, jordanBackwardAsync, jordanCacheSize, jordanForward, jordanForwardAsync } from '../lib/ops/jordan.js';
import * as nk from '../lib/ops/nn.js';
import * as tk from '../lib/ops/train.js';
import { rawOp, runNative } from './helpers/native.js';
import { adam, adamw, rmsprop, sgd, type Optimizer } from '../lib/train/optimizers.js';
import { Rng } from './helpers/index.js';
import { ticksDuring, type Ticks } from './helpers/ticks.js';

type BackendName = 'native' | 'js';
type Opts = { backend: BackendName };
type Args = Record<string, unknown>;

const NATIVE = nativeAvailable();
const BACKENDS: readonly BackendName[] = NATIVE ? ['native', 'js'] : ['js'];

/** Bit-identical (NaN-aware) deep comparison of numbers, typed arrays, arrays and plain objects. */
function expectSameBits(actual: unknown, expected: unknown, path: string): void {
  if (ArrayBuffer.isView(expected)) {
    expect(ArrayBuffer.isView(actual), path).toBe(true);
    const a = actual as ArrayBufferView;
    expect(a.constructor, path).toBe(expected.constructor);
    expect(a.byteLength, path).toBe(expected.byteLength);
    const same = Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
    );
    expect(same, path).toBe(true);
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, path).toBe(expected.length);
    expected.forEach((e, i) => expectSameBits((actual as unknown[])[i], e, `${path}[${i}]`));
  } else if (typeof expected === 'object' && expected !== null) {
    expect(typeof actual === 'object' && actual !== null, path).toBe(true);
    expect(Object.keys(actual as object).sort(), path).toEqual(Object.keys(expected).sort());
    for (const [k, v] of Object.entries(expected)) expectSameBits((actual as Args)[k], v, `${path}.${k}`);
  } else {
    expect(Object.is(actual, expected), `${path}: ${String(actual)} vs ${String(expected)}`).toBe(true);
  }
}

/** The typed arrays of an argument object (its in-place outputs among them), by field name. */
function arraysOf(a: Args): Args {
  const out: Args = {};
  for (const [k, v] of Object.entries(a)) if (ArrayBuffer.isView(v) || Array.isArray(v)) out[k] = v;
  return out;
}

type Dims = readonly [number, number, number];
const FIXED: readonly Dims[] = [
  [1, 1, 1],
  [7, 9, 33],
  [33, 7, 9],
  [257, 3, 5],
  [1, 17, 1],
  [9, 1, 7],
];

function shapes(seed: number): Dims[] {
  const r = new Rng(seed);
  const odd = () => 2 * r.int(0, 12) + 1;
  return [...FIXED, [odd(), odd(), odd()], [r.int(1, 40), r.int(1, 20), r.int(1, 20)]];
}

/** One async twin under test: deterministic arguments from (seed, dims), the sync op and its twin. */
interface Case {
  readonly name: string;
  make(seed: number, d: Dims): Args;
  sync(a: Args, o: Opts): unknown;
  async(a: Args, o: Opts): Promise<unknown>;
}

const nn = (f: unknown) => f as (a: Args, o: Opts) => unknown;
const nnA = (f: unknown) => f as (a: Args, o: Opts) => Promise<unknown>;

function linearArgs(seed: number, [N, I, O]: Dims): Args {
  const r = new Rng(seed);
  return {
    rows: N,
    inFeatures: I,
    outFeatures: O,
    x: r.uniform(N * I),
    weight: r.uniform(O * I),
    bias: seed % 2 === 0 ? r.uniform(O) : null,
  };
}

function embeddingArgs(seed: number, [N, V, E]: Dims): Args {
  const r = new Rng(seed);
  return {
    ids: Int32Array.from({ length: N }, () => r.int(0, V - 1)),
    vocabSize: V,
    dim: E,
    paddingIndex: V > 1 && seed % 2 === 0 ? 1 : -1,
  };
}

function optimizerArgs(seed: number, [a, b]: Dims, buffers: readonly string[]): Args {
  const r = new Rng(seed);
  const n = a * b;
  const out: Args = { param: r.uniform(n), grad: r.uniform(n, -2, 2), step: 1 + (seed % 3) };
  for (const k of buffers) out[k] = k === 'squareAvg' || k === 'expAvgSq' ? r.uniform(n, 0, 1) : r.uniform(n, -0.1, 0.1);
  return out;
}

function jordanArgs(seed: number, [a, b, c]: Dims): Args {
  const r = new Rng(seed);
  const T = 1 + (a % 9),
    B = 1 + (b % 5),
    D = 1 + (c % 7),
    H = 1 + ((a + c) % 11),
    O = 1 + ((b + c) % 6);
  return {
    seqLen: T,
    batch: B,
    inputSize: D,
    hiddenSize: H,
    outputSize: O,
    x: r.uniform(T * B * D),
    weightIh: r.uniform(H * D, -0.5, 0.5),
    weightHy: r.uniform(H * O, -0.5, 0.5),
    weightHo: r.uniform(O * H, -0.5, 0.5),
    biasIh: r.uniform(H, -0.1, 0.1),
    biasHh: seed % 2 ? r.uniform(H, -0.1, 0.1) : null,
    biasHo: r.uniform(O, -0.1, 0.1),
    lengths: seed % 3 ? Int32Array.from({ length: B }, (_, i) => (i === 0 ? T : r.int(0, T))) : null,
    reverse: seed % 4 === 1,
    activation: seed % 2 ? 'relu' : 'tanh',
    outputActivation: (['tanh', 'sigmoid', 'linear'] as const)[seed % 3],
  };
}

const CASES: readonly Case[] = [
  { name: 'linearForward', make: linearArgs, sync: nn(nk.linearForward), async: nnA(nk.linearForwardAsync) },
  {
    name: 'linearBackward',
    make: (seed, d) => {
      const a = linearArgs(seed, d);
      const r = new Rng(seed + 1);
      const [N, I, O] = d;
      return {
        ...a,
        dy: r.uniform(N * O),
        dWeight: r.uniform(O * I),
        dBias: seed % 3 ? r.uniform(O) : null,
        inputGradient: seed % 5 !== 0,
      };
    },
    sync: nn(nk.linearBackward),
    async: nnA(nk.linearBackwardAsync),
  },
  {
    name: 'embeddingForward',
    make: (seed, d) => ({ ...embeddingArgs(seed, d), weight: new Rng(seed + 2).uniform(d[1] * d[2]) }),
    sync: nn(nk.embeddingForward),
    async: nnA(nk.embeddingForwardAsync),
  },
  {
    name: 'embeddingBackward',
    make: (seed, d) => {
      const r = new Rng(seed + 3);
      return { ...embeddingArgs(seed, d), dy: r.uniform(d[0] * d[2]), dWeight: r.uniform(d[1] * d[2]) };
    },
    sync: nn(nk.embeddingBackward),
    async: nnA(nk.embeddingBackwardAsync),
  },
  {
    name: 'softmaxCrossEntropy',
    make: (seed, [N, C]) => {
      const r = new Rng(seed);
      const ignoreIndex = seed % 2 ? -100 : C;
      return {
        logits: r.uniform(N * C, -3, 3),
        numClasses: C,
        ignoreIndex,
        reduction: seed % 2 ? 'sum' : 'mean',
        targets: Int32Array.from({ length: N }, () => (r.float() < 0.2 ? ignoreIndex : r.int(0, C - 1))),
        weights: seed % 3 ? r.uniform(N, 0, 2) : null,
      };
    },
    sync: nn(tk.softmaxCrossEntropy),
    async: nnA(tk.softmaxCrossEntropyAsync),
  },
  {
    name: 'bceWithLogits',
    make: (seed, [a, b]) => {
      const r = new Rng(seed);
      return {
        logits: r.uniform(a * b, -4, 4),
        targets: r.uniform(a * b, 0, 1),
        weights: seed % 2 ? r.uniform(a * b, 0, 2) : null,
        reduction: seed % 3 ? 'mean' : 'sum',
      };
    },
    sync: nn(tk.bceWithLogits),
    async: nnA(tk.bceWithLogitsAsync),
  },
  {
    name: 'mse',
    make: (seed, [a, b]) => {
      const r = new Rng(seed);
      return {
        predictions: r.uniform(a * b),
        targets: r.uniform(a * b),
        weights: seed % 2 ? r.uniform(a * b, 0, 2) : null,
        reduction: seed % 3 ? 'mean' : 'sum',
      };
    },
    sync: nn(tk.mse),
    async: nnA(tk.mseAsync),
  },
  {
    name: 'sgdStep',
    make: (seed, d) => ({
      ...optimizerArgs(seed, d, ['momentumBuffer']),
      lr: 0.05,
      momentum: 0.9,
      nesterov: seed % 2 === 0,
      weightDecay: 0.01,
    }),
    sync: nn(tk.sgdStep),
    async: nnA(tk.sgdStepAsync),
  },
  {
    name: 'adamStep',
    make: (seed, d) => ({
      ...optimizerArgs(seed, d, ['expAvg', 'expAvgSq']),
      lr: 0.01,
      weightDecay: seed % 2 ? 0.1 : 0,
      betas: [0.8, 0.99],
    }),
    sync: nn(tk.adamStep),
    async: nnA(tk.adamStepAsync),
  },
  {
    name: 'adamwStep',
    make: (seed, d) => ({ ...optimizerArgs(seed, d, ['expAvg', 'expAvgSq']), lr: 0.01 }),
    sync: nn(tk.adamwStep),
    async: nnA(tk.adamwStepAsync),
  },
  {
    name: 'rmspropStep',
    make: (seed, d) => ({
      ...optimizerArgs(seed, d, ['squareAvg', 'gradAvg', 'momentumBuffer']),
      lr: 0.01,
      alpha: 0.9,
      centered: seed % 2 === 0,
      momentum: seed % 3 ? 0.5 : 0,
      weightDecay: 0.01,
    }),
    sync: nn(tk.rmspropStep),
    async: nnA(tk.rmspropStepAsync),
  },
  {
    name: 'clipGradNorm',
    make: (seed, d) => {
      const r = new Rng(seed);
      return { grads: d.map((n) => r.uniform(n, -3, 3)), maxNorm: seed % 2 ? 0.5 : 1e6 };
    },
    sync: nn(tk.clipGradNorm),
    async: nnA(tk.clipGradNormAsync),
  },
  {
    name: 'clipGradValue',
    make: (seed, d) => {
      const r = new Rng(seed);
      return { grads: d.map((n) => r.uniform(n, -3, 3)), clipValue: 0.75 };
    },
    sync: nn(tk.clipGradValue),
    async: nnA(tk.clipGradValueAsync),
  },
  {
    name: 'jordanForward',
    make: (seed, d) => ({
      ...jordanArgs(seed, d),
      y0: seed % 2 ? null : new Rng(seed + 5).uniform((1 + (d[1] % 5)) * (1 + ((d[1] + d[2]) % 6))),
      returnHidden: seed % 2 === 0,
      keepCache: seed % 5 !== 0,
    }),
    sync: nn(jordanForward),
    async: nnA(jordanForwardAsync),
  },
  {
    name: 'jordanBackward',
    make: (seed, d) => {
      const a = jordanArgs(seed, d);
      const s = a as { seqLen: number; batch: number; outputSize: number };
      const f = jordanForward(a as never, { backend: 'js' });
      const r = new Rng(seed + 6);
      return {
        ...a,
        cache: f.cache,
        dy: r.uniform(s.seqLen * s.batch * s.outputSize),
        dyN: seed % 2 ? r.uniform(s.batch * s.outputSize) : null,
      };
    },
    sync: nn(jordanBackward),
    async: nnA(jordanBackwardAsync),
  },
];

describe.each(BACKENDS)('async twins resolve to the sync values (%s)', (backend) => {
  for (const c of CASES) {
    it(`${c.name}: bit-identical on odd sizes and size 1, outputs and in-place updates`, async () => {
      for (const [k, d] of shapes(c.name.length * 31).entries()) {
        const seed = 1000 * k + c.name.length;
        const a = c.make(seed, d);
        const b = c.make(seed, d); // the same values in fresh arrays
        const expected = c.sync(a, { backend });
        const pending = c.async(b, { backend });
        expect(pending, `${c.name} ${d.join('x')}`).toBeInstanceOf(Promise);
        const actual = await pending;
        expectSameBits({ result: actual, args: arraysOf(b) }, { result: expected, args: arraysOf(a) }, `${c.name} ${d.join('x')}`);
      }
    });
  }
});

/** The rejection of `call()`, asserting that it returned a promise instead of throwing. */
async function rejectionOf(call: () => Promise<unknown>): Promise<Error & { argument?: string }> {
  const p = call();
  expect(p).toBeInstanceOf(Promise);
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error & { argument?: string },
  );
}

async function expectRejects(call: () => Promise<unknown>, cls: typeof GatedError, argument: string, message?: RegExp): Promise<void> {
  const e = await rejectionOf(call);
  expect(e, `${argument}: ${e.message}`).toBeInstanceOf(cls);
  expect(e.argument).toBe(argument);
  if (message) expect(e.message).toMatch(message);
}

describe.each(BACKENDS)('async twins reject bad arguments with the sync error (%s)', (backend) => {
  const o = { backend };
  const lin = { rows: 2, inFeatures: 3, outFeatures: 2, x: new Float32Array(6), weight: new Float32Array(6) };
  const emb = { ids: new Int32Array([0, 2]), vocabSize: 3, dim: 2 };

  it('layer kernels', async () => {
    await expectRejects(() => nk.linearForwardAsync({ ...lin, x: new Float32Array(5) }, o), ShapeError, 'x');
    await expectRejects(() => nk.linearForwardAsync({ ...lin, rows: -1 }, o), ValueError, 'rows');
    await expectRejects(() => nk.linearForwardAsync({ ...lin, bias: new Float64Array(2) as never }, o), ValueError, 'bias');
    await expectRejects(
      () => nk.linearBackwardAsync({ ...lin, dy: new Float32Array(4), dWeight: new Float32Array(5) }, o),
      ShapeError,
      'dWeight',
    );
    await expectRejects(
      () => nk.linearBackwardAsync({ ...lin, dy: new Float32Array(3), dWeight: new Float32Array(6) }, o),
      ShapeError,
      'dy',
    );
    await expectRejects(
      () => nk.embeddingForwardAsync({ ...emb, ids: new Int32Array([0, 3]), weight: new Float32Array(6) }, o),
      ValueError,
      'ids',
      /ids\[1\] = 3 is outside/,
    );
    await expectRejects(
      () => nk.embeddingForwardAsync({ ...emb, weight: new Float32Array(6), paddingIndex: 3 }, o),
      ValueError,
      'paddingIndex',
    );
    await expectRejects(
      () => nk.embeddingBackwardAsync({ ...emb, dy: new Float32Array(4), dWeight: new Float32Array(7) }, o),
      ShapeError,
      'dWeight',
    );
    await expectRejects(
      () => nk.embeddingBackwardAsync({ ...emb, ids: new Int32Array([-1, 0]), dy: new Float32Array(4), dWeight: new Float32Array(6) }, o),
      ValueError,
      'ids',
    );
    await expectRejects(() => nk.linearForwardAsync(lin, { backend: 'gpu' as never }), ValueError, 'options.backend');
    await expectRejects(() => nk.linearForwardAsync(null as never, o), ValueError, 'args');
  });

  it('losses', async () => {
    const logits = new Float32Array(6);
    await expectRejects(
      () => tk.softmaxCrossEntropyAsync({ logits, targets: new Int32Array([0, 3]), numClasses: 3 }, o),
      ValueError,
      'targets',
      /targets\[1\] = 3 is outside/,
    );
    await expectRejects(
      () => tk.softmaxCrossEntropyAsync({ logits: new Float32Array(5), targets: new Int32Array([0, 1]), numClasses: 3 }, o),
      ShapeError,
      'logits',
    );
    await expectRejects(
      () => tk.softmaxCrossEntropyAsync({ logits, targets: new Int32Array([0, 1]), numClasses: 3, weights: new Float32Array([1, -1]) }, o),
      ValueError,
      'weights',
    );
    await expectRejects(
      () => tk.softmaxCrossEntropyAsync({ logits, targets: new Int32Array([0, 1]), numClasses: 3, reduction: 'none' as never }, o),
      ValueError,
      'reduction',
    );
    await expectRejects(
      () => tk.bceWithLogitsAsync({ logits: new Float32Array(2), targets: new Float32Array([0, 2]) }, o),
      ValueError,
      'targets',
    );
    await expectRejects(
      () => tk.bceWithLogitsAsync({ logits: new Float32Array(2), targets: new Float32Array(3) }, o),
      ShapeError,
      'targets',
    );
    await expectRejects(() => tk.mseAsync({ predictions: new Float32Array(2), targets: new Float32Array(1) }, o), ShapeError, 'targets');
    await expectRejects(() => tk.mseAsync({ predictions: [1, 2] as never, targets: new Float32Array(2) }, o), ValueError, 'predictions');
  });

  it('optimizer steps and clipping', async () => {
    const p = () => ({ param: new Float32Array(3), grad: new Float32Array(3) });
    await expectRejects(() => tk.sgdStepAsync({ ...p(), step: 1, momentum: 0.9 }, o), ValueError, 'momentumBuffer');
    await expectRejects(() => tk.sgdStepAsync({ ...p(), step: 0 }, o), ValueError, 'step');
    await expectRejects(() => tk.sgdStepAsync({ ...p(), step: 1, nesterov: true }, o), ValueError, 'nesterov');
    await expectRejects(
      () => tk.adamStepAsync({ ...p(), expAvg: new Float32Array(3), expAvgSq: new Float32Array(2), step: 1 }, o),
      ShapeError,
      'expAvgSq',
    );
    await expectRejects(
      () => tk.adamwStepAsync({ ...p(), expAvg: new Float32Array(3), expAvgSq: new Float32Array(3), step: 1, betas: [0.9, 1] }, o),
      ValueError,
      'betas[1]',
    );
    await expectRejects(() => tk.rmspropStepAsync({ ...p(), squareAvg: new Float32Array(3), centered: true }, o), ValueError, 'gradAvg');
    await expectRejects(() => tk.rmspropStepAsync({ ...p(), squareAvg: new Float32Array(3), lr: -1 }, o), ValueError, 'lr');
    await expectRejects(
      () => tk.clipGradNormAsync({ grads: [new Float32Array(2), new Float64Array(2) as never], maxNorm: 1 }, o),
      ValueError,
      'grads[1]',
    );
    await expectRejects(() => tk.clipGradNormAsync({ grads: [] } as never, o), ValueError, 'maxNorm');
    await expectRejects(() => tk.clipGradValueAsync({ grads: new Float32Array(2) as never, clipValue: 1 }, o), ValueError, 'grads');
    await expectRejects(() => tk.clipGradValueAsync({ grads: [], clipValue: -1 }, o), ValueError, 'clipValue');
  });

  it('Jordan network', async () => {
    const ok = () => ({
      seqLen: 2,
      batch: 1,
      inputSize: 2,
      hiddenSize: 3,
      outputSize: 2,
      x: new Float32Array(4),
      weightIh: new Float32Array(6),
      weightHy: new Float32Array(6),
      weightHo: new Float32Array(6),
    });
    await expectRejects(() => jordanForwardAsync({ ...ok(), weightHy: new Float32Array(5) }, o), ShapeError, 'weightHy');
    await expectRejects(() => jordanForwardAsync({ ...ok(), lengths: [3] }, o), ValueError, 'lengths');
    await expectRejects(() => jordanForwardAsync({ ...ok(), outputActivation: 'relu' as never }, o), ValueError, 'outputActivation');
    await expectRejects(() => jordanForwardAsync({ ...ok(), y0: new Float32Array(3) }, o), ShapeError, 'y0');
    await expectRejects(() => jordanBackwardAsync({ ...ok(), cache: new Float32Array(3) }, o), ShapeError, 'cache');
    const f = await jordanForwardAsync(ok(), o);
    expect(f.cache?.length).toBe(jordanCacheSize(ok()));
    await expectRejects(
      () => jordanBackwardAsync({ ...ok(), cache: f.cache as Float32Array, dyN: new Float32Array(1) }, o),
      ShapeError,
      'dyN',
    );
  });
});

describe.runIf(NATIVE)('native async calls: the addon checks and copies', () => {
  it('rejects what only the addon checks, with the typed error (ids, targets, a length that does not fit)', async () => {
    const e1 = await rejectionOf(() =>
      runNative('embeddingForward', {
        rows: 2,
        vocabSize: 3,
        dim: 2,
        ids: new Int32Array([0, 5]),
        weight: new Float32Array(6),
        out: new Float32Array(4),
        async: true,
      }),
    );
    expect([e1.name, e1.argument]).toEqual(['ValueError', 'ids']);
    const e2 = await rejectionOf(() =>
      runNative('softmaxCrossEntropy', {
        rows: 2,
        numClasses: 2,
        logits: new Float32Array(4),
        targets: new Int32Array([1, 2]),
        dLogits: new Float32Array(4),
        async: true,
      }),
    );
    expect([e2.name, e2.argument]).toEqual(['ValueError', 'targets']);
    const e3 = await rejectionOf(() =>
      runNative('adamStep', {
        size: 3,
        param: new Float32Array(3),
        grad: new Float32Array(3),
        expAvg: new Float32Array(3),
        expAvgSq: new Float32Array(4),
        async: true,
      }),
    );
    expect([e3.name, e3.argument]).toEqual(['ShapeError', 'expAvgSq']);
    const e4 = await rejectionOf(() => runNative('clipGradNorm', { grads: [new Float32Array(1), 'x'], maxNorm: 1, async: true }));
    expect([e4.name, e4.argument]).toEqual(['ValueError', 'grads[1]']);
    const e5 = await rejectionOf(() =>
      runNative('linearForward', {
        rows: 2 ** 31 - 1,
        inFeatures: 2 ** 31 - 1,
        outFeatures: 1,
        x: new Float32Array(1),
        weight: new Float32Array(1),
        y: new Float32Array(1),
        async: true,
      }),
    );
    expect([e5.name, e5.argument]).toEqual(['ShapeError', 'x']);
  });

  it('the raw ops: async true returns a promise of the value, sync returns it directly', async () => {
    const train = { clipGradNorm: rawOp('clipGradNorm'), sgdStep: rawOp('sgdStep'), mse: rawOp('mse') };
    const grads = () => [Float32Array.from([3, 0]), Float32Array.from([4])];
    const g1 = grads(),
      g2 = grads();
    const sync = train.clipGradNorm({ grads: g1, maxNorm: 1 });
    const pending = train.clipGradNorm({ grads: g2, maxNorm: 1, async: true });
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toBe(sync);
    expect(sync).toBeCloseTo(5, 6);
    expectSameBits(g2, g1, 'grads');
    expect(train.sgdStep({ size: 1, param: new Float32Array(1), grad: new Float32Array(1), step: 1 })).toBeUndefined();
    expect(await train.sgdStep({ size: 1, param: new Float32Array(1), grad: new Float32Array(1), step: 1, async: true })).toBeUndefined();
    expect(() =>
      train.mse({ size: 2, input: new Float32Array(2), target: new Float32Array(1), dInput: new Float32Array(2), async: true }),
    ).toThrow(expect.objectContaining({ code: 'ERR_GATED_SHAPE' }));
  });

  it('ids, targets and lengths changed right after the call change nothing (they were copied)', async () => {
    const r = new Rng(3);
    const V = 5,
      E = 3,
      N = 64;
    const weight = r.uniform(V * E);
    const ids = Int32Array.from({ length: N }, () => r.int(0, V - 1));
    const expectedOut = nk.embeddingForward({ ids, weight, vocabSize: V, dim: E });
    const pendingOut = nk.embeddingForwardAsync({ ids: ids.slice(), weight, vocabSize: V, dim: E });
    const idsB = ids.slice();
    const dW = new Float32Array(V * E);
    const dy = r.uniform(N * E);
    const pendingGrad = nk.embeddingBackwardAsync({ ids: idsB, dy, vocabSize: V, dim: E, dWeight: dW });
    idsB.fill(2 ** 30); // the kernel must not see this
    const dWExpected = new Float32Array(V * E);
    nk.embeddingBackward({ ids, dy, vocabSize: V, dim: E, dWeight: dWExpected });
    expectSameBits(await pendingOut, expectedOut, 'out');
    await pendingGrad;
    expectSameBits(dW, dWExpected, 'dWeight');

    const C = 4;
    const logits = r.uniform(N * C, -2, 2);
    const targets = Int32Array.from({ length: N }, () => r.int(0, C - 1));
    const expected = tk.softmaxCrossEntropy({ logits, targets, numClasses: C });
    const t2 = targets.slice();
    const pendingLoss = tk.softmaxCrossEntropyAsync({ logits, targets: t2, numClasses: C });
    t2.fill(-(2 ** 30));
    expectSameBits(await pendingLoss, expected, 'softmaxCrossEntropy');

    // Raw Jordan op: lengths is the caller's Int32Array (the TS layer would copy it anyway).
    const a = jordanArgs(11, [7, 4, 5]) as Args & { seqLen: number; batch: number; hiddenSize: number; outputSize: number };
    const { seqLen: T, batch: B, outputSize: O } = a;
    const lengths = Int32Array.from({ length: B }, (_, b) => (b === 0 ? T : (b * 3) % (T + 1)));
    const run = (len: Int32Array, async: boolean) => {
      const out = { y: new Float32Array(T * B * O), yN: new Float32Array(B * O), cache: new Float32Array(jordanCacheSize(a as never)) };
      const ret = (loadAddon().jordanForward as NativeOpFn)({ ...a, lengths: len, ...out, async } as never) as unknown;
      return { out, ret };
    };
    const syncRun = run(lengths, false);
    const len2 = lengths.slice();
    const asyncRun = run(len2, true);
    len2.fill(2 ** 30);
    await asyncRun.ret;
    expectSameBits(asyncRun.out, syncRun.out, 'jordan');
  });

  it('many concurrent calls of every kind complete with the sync values', async () => {
    const jobs = CASES.flatMap((c, i) =>
      [0, 1, 2].map((j) => {
        const d: Dims = [1 + ((i + j) % 9), 1 + ((2 * i + j) % 7), 1 + ((i * j) % 11)];
        const seed = 77 + 10 * i + j;
        const a = c.make(seed, d);
        return { c, d, b: c.make(seed, d), expected: c.sync(a, { backend: 'native' }), a };
      }),
    );
    const results = await Promise.all(jobs.map((j) => j.c.async(j.b, { backend: 'native' })));
    jobs.forEach((j, k) =>
      expectSameBits(
        { result: results[k], args: arraysOf(j.b) },
        { result: j.expected, args: arraysOf(j.a) },
        `${j.c.name} ${j.d.join('x')}`,
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Optimizer.step (async) against the sync kernels it replaced

function params(seed: number, sizes: readonly number[]): Parameter[] {
  const r = new Rng(seed);
  return sizes.map((n, i) => ({ name: `p${i}`, value: r.uniform(n), grad: r.uniform(n, -3, 3), shape: [n] }));
}

/** Today's sync path: clip, then one sync step kernel per parameter, in order. */
function syncSteps(kind: string, ps: Parameter[], steps: number, backend: BackendName): void {
  const o = { backend };
  const bufs = ps.map((p) => ({
    m: new Float32Array(p.value.length),
    v: new Float32Array(p.value.length),
    g: new Float32Array(p.value.length),
  }));
  for (let t = 1; t <= steps; t++) {
    const grads = ps.map((p) => p.grad);
    tk.clipGradValue({ grads, clipValue: 2 }, o);
    tk.clipGradNorm({ grads, maxNorm: 1.5 }, o);
    ps.forEach((p, i) => {
      const b = bufs[i];
      if (kind === 'sgd')
        tk.sgdStep({ param: p.value, grad: p.grad, momentumBuffer: b.m, step: t, lr: 0.1, momentum: 0.9, nesterov: true }, o);
      else if (kind === 'adam')
        tk.adamStep({ param: p.value, grad: p.grad, expAvg: b.m, expAvgSq: b.v, step: t, lr: 0.01, weightDecay: 0.1 }, o);
      else if (kind === 'adamw') tk.adamwStep({ param: p.value, grad: p.grad, expAvg: b.m, expAvgSq: b.v, step: t, lr: 0.01 }, o);
      else
        tk.rmspropStep(
          { param: p.value, grad: p.grad, squareAvg: b.v, gradAvg: b.g, momentumBuffer: b.m, lr: 0.01, centered: true, momentum: 0.5 },
          o,
        );
    });
  }
}

function optimizerOf(kind: string, backend: BackendName): Optimizer {
  const common = { clipValue: 2, clipNorm: 1.5, backend } as const;
  if (kind === 'sgd') return sgd({ ...common, lr: 0.1, momentum: 0.9, nesterov: true });
  if (kind === 'adam') return adam({ ...common, lr: 0.01, weightDecay: 0.1 });
  if (kind === 'adamw') return adamw({ ...common, lr: 0.01 });
  return rmsprop({ ...common, lr: 0.01, centered: true, momentum: 0.5 });
}

describe.each(BACKENDS)('Optimizer.step (async) equals the sync kernels bit for bit (%s)', (backend) => {
  for (const kind of ['sgd', 'adam', 'adamw', 'rmsprop']) {
    it(kind, async () => {
      const sizes = [1, 7, 33, 257, 1000];
      const expected = params(9, sizes);
      syncSteps(kind, expected, 3, backend);
      const actual = params(9, sizes);
      const opt = optimizerOf(kind, backend);
      let norm: number | null = null;
      for (let t = 1; t <= 3; t++) {
        const pending = opt.step(actual);
        expect(pending).toBeInstanceOf(Promise);
        norm = (await pending).gradNorm;
      }
      expect(opt.stepCount).toBe(3);
      expect(norm).toBeGreaterThan(0);
      actual.forEach((p, i) => {
        expectSameBits(p.value, expected[i].value, `${kind} value ${i}`);
        expectSameBits(p.grad, expected[i].grad, `${kind} grad ${i}`);
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------
// the event loop keeps running

function expectResponsive(r: Ticks): void {
  // Only argument checks and output allocation run on this thread (measured up to half the call
  // while parallel test files load both cores); the kernel runs after the promise is returned, and
  // the timer fires meanwhile. A synchronous kernel would leave nothing after the return. Below
  // 100 ms there is nothing to see.
  if (r.elapsed > 100) {
    const away = r.elapsed - r.returnedAfter;
    expect(away).toBeGreaterThan(r.elapsed / 4);
    expect(r.ticks).toBeGreaterThanOrEqual(Math.min(10, Math.floor(away / 20)));
  }
}

describe.runIf(NATIVE)('native async training kernels keep the event loop running', () => {
  it('during a large linear forward and backward', async () => {
    const r = new Rng(21);
    const N = 2048,
      I = 1024,
      O = 1024; // about 4 GFLOP forward, 8 backward
    const a = { rows: N, inFeatures: I, outFeatures: O, x: r.uniform(N * I), weight: r.uniform(O * I, -0.05, 0.05), bias: r.uniform(O) };
    const f = await ticksDuring(() => nk.linearForwardAsync(a));
    expectResponsive(f);
    const dWeight = new Float32Array(O * I);
    const b = await ticksDuring(() => nk.linearBackwardAsync({ ...a, dy: r.uniform(N * O), dWeight }));
    expectResponsive(b);
    expect(dWeight.some((v) => v !== 0)).toBe(true);
  });

  it('during a large Adam step (and a whole Optimizer.step)', async () => {
    const r = new Rng(22);
    const n = 1 << 23; // 8M parameters, 4 arrays of 32 MB
    const param = r.uniform(n),
      grad = r.uniform(n);
    const expAvg = new Float32Array(n),
      expAvgSq = new Float32Array(n);
    let total = 0;
    for (let step = 1; step <= 3; step++) {
      const t = await ticksDuring(() => tk.adamStepAsync({ param, grad, expAvg, expAvgSq, step, lr: 1e-3 }));
      expectResponsive(t);
      total += t.elapsed;
    }
    expect(total).toBeGreaterThan(0);
    const ps: Parameter[] = [{ name: 'w', value: param, grad, shape: [n] }];
    const opt = adam({ lr: 1e-3, clipNorm: 1 });
    expectResponsive(await ticksDuring(() => opt.step(ps)));
  });
});

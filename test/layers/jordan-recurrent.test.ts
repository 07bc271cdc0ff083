/**
 * The Jordan layer as a full recurrent layer (lib/layers/jordan.ts): stacked layers with dropout,
 * bidirectional with each merge mode, lengths, initial state in, returnState / ctx.keepState out,
 * returnSequences: false, stateInput (one-to-many).
 *
 * - Finite differences of every configuration on the JS backend (test/layers/check.ts: the layer
 *   runs in float32, so the check's float32 tolerance applies; the op itself is checked in float64 in
 *   test/jordan.test.ts), the loss covering the final state and the initial state's gradient checked.
 * - The forward against a float64 reference built from the JS op WITHOUT its `reverse` flag: the
 *   reverse direction is computed by reversing each sequence within its own length by hand.
 * - Native vs JS: outputs and every gradient within 1e-4.
 * - Streaming: a sequence run in two chunks with the kept state carried over gives the outputs of one
 *   call on the whole sequence; a Jordan language model decodes with its carried state
 *   (lib/decode/generate.ts) to the logits of re-running the prefix.
 * - With the native backend, timers fire while the layer runs (it uses the ops' `...Async` variants;
 *   skipped with an addon whose Jordan op predates `async`).
 * - Option and argument errors name the option; parameter names and shapes; config round trip; the
 *   kinds the options give, at compile time (`tsc --noEmit`) and at run time.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';

import type { BackendName } from '../../lib/backend/index.js';
import { ShapeError, ValueError } from '../../lib/errors.js';
import * as js from '../../lib/js/jordan.js';
import {
  dense,
  embedding,
  jordan,
  sequence,
  tokens,
  vector,
  type JordanOptions,
  type Layer,
  type Parameter,
  type RecurrentState,
  type Sequence,
  type Vector,
} from '../../lib/layers/index.js';
import { decoder } from '../../lib/decode/generate.js';
import { layerFromConfig } from '../../lib/layers/registry.js';
import { loadAddon } from '../../lib/backend/addon.js';
import { input, sequential, type SequentialModel as Model } from '../../lib/models/sequential.js';
import { nativeAvailable as nativeNnAvailable } from '../../lib/backend/addon.js';
import { Rng } from '../../lib/random.js';
import { nativeSkipReason } from '../helpers/backends.js';
import { ticksDuring } from '../helpers/ticks.js';
import { expectClose } from '../helpers/index.js';
import { type Case, type Evaluation, expectBackendsAgree, gradCheck } from './check.js';

const T = 4,
  B = 3;
const LENGTHS = new Int32Array([4, 2, 3]);

function seqInput(features: number, lengths: Int32Array | null = LENGTHS, seed = 11): Sequence {
  return sequence({ data: new Rng(seed).uniformArray(T * B * features, -1, 1), seqLen: T, batch: B, features, lengths });
}

/** Non-zero biases (they start at zero) so every term of the gradient is exercised. */
function perturbBiases(params: readonly Parameter[]): void {
  const r = new Rng(17);
  for (const p of params) if (p.shape.length === 1) p.value.set(r.uniformArray(p.value.length, -0.3, 0.3));
}

/** A model with a Jordan layer: loss on the model's output; gradients of the parameters and the float input. */
function modelCase(name: string, layers: readonly Layer[], x: () => Sequence | Vector = () => seqInput(2)): Case {
  return {
    name,
    make(backend) {
      const value = x();
      const kind = value.kind;
      let b = sequential(
        kind === 'sequence' ? input.sequence({ features: value.features }) : input.vector({ features: value.features }),
      ) as unknown as {
        add(l: Layer): typeof b;
        build(o: object): Model<'sequence', 'sequence' | 'vector'>;
      };
      for (const l of layers) b = b.add(l);
      const model = b.build({ seed: 21, backend });
      perturbBiases(model.parameters());
      const run = async (): Promise<Evaluation> => {
        const s = await model.forward(value as never, { training: true, rng: new Rng(5) });
        return { outs: [s.y.data], backward: async ([dy]) => [await s.backward(dy)] };
      };
      return { params: model.parameters(), inputs: [value.data], run };
    },
  };
}

/**
 * A Jordan layer called directly with an initial state `[stateRows, B, O]`: the loss covers the output
 * and the final state (given by `returnState`, or by `ctx.keepState`), and the initial state's gradient
 * is checked as an input.
 */
function stateCase(name: string, options: JordanOptions, stateRows: number, lengths: Int32Array | null, keepState = false): Case {
  return {
    name,
    make(backend) {
      const layer = jordan(options);
      layer.build(2, new Rng(3));
      perturbBiases(layer.parameters());
      const x = seqInput(2, lengths);
      const init: RecurrentState = { h: new Rng(13).uniformArray(stateRows * B * options.outputSize, -1, 1), c: null };
      const run = async (): Promise<Evaluation> => {
        const s = await layer.forward(x, { training: true, rng: new Rng(5), backend, keepState }, init);
        const state = s.state as RecurrentState;
        expect(state.c).toBeNull();
        return {
          outs: [(s.y as Sequence).data, state.h],
          backward: async ([dy, dh]) => {
            const dx = await s.backward(dy, { h: dh, c: null });
            return [dx, (s.initialStateGrad() as RecurrentState).h];
          },
        };
      };
      return { params: layer.parameters(), inputs: [x.data, init.h], run };
    },
  };
}

const cases: Case[] = [
  modelCase('2 layers, bidirectional concat, dropout 0.3, lengths, sequences -> dense', [
    jordan({ hiddenSize: 3, outputSize: 2, numLayers: 2, bidirectional: true, mergeMode: 'concat', dropout: 0.3 }),
    dense({ units: 2 }),
  ]),
  modelCase('2 layers, bidirectional sum, lengths, final output (vector)', [
    jordan({ hiddenSize: 3, outputSize: 2, numLayers: 2, bidirectional: true, mergeMode: 'sum', returnSequences: false }),
  ]),
  modelCase(
    'bidirectional mean, no lengths, sigmoid output',
    [jordan({ hiddenSize: 4, outputSize: 3, bidirectional: true, mergeMode: 'mean', outputActivation: 'sigmoid' })],
    () => seqInput(2, null),
  ),
  modelCase(
    '3 layers, one direction, linear output, lengths with a 0',
    [jordan({ hiddenSize: 3, outputSize: 2, numLayers: 3, outputActivation: 'linear' })],
    () => seqInput(2, new Int32Array([3, 0, 4])),
  ),
  modelCase(
    'one-to-many: dense -> 2-layer bidirectional jordan (stateInput) -> dense',
    [
      dense({ units: 8, activation: 'tanh' }),
      jordan({ hiddenSize: 3, outputSize: 2, numLayers: 2, bidirectional: true, stateInput: { steps: 3 } }),
      dense({ units: 2 }),
    ],
    () => vector({ data: new Rng(9).uniformArray(B * 2, -1, 1), batch: B, features: 2 }),
  ),
  stateCase(
    '2 layers, bidirectional, initial state in, returnState out, lengths with a 0',
    { hiddenSize: 3, outputSize: 2, numLayers: 2, bidirectional: true, returnState: true },
    4,
    new Int32Array([4, 0, 3]),
  ),
  stateCase(
    'plain layer, initial state in, returnState out, no lengths',
    { hiddenSize: 4, outputSize: 3, returnState: true, outputActivation: 'sigmoid' },
    1,
    null,
  ),
  stateCase(
    '2 layers, bidirectional sum, state from ctx.keepState (no returnState)',
    { hiddenSize: 3, outputSize: 2, numLayers: 2, bidirectional: true, mergeMode: 'sum' },
    4,
    LENGTHS,
    true,
  ),
];

describe('jordan layer gradients match finite differences (js)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const s = c.make('js');
      await gradCheck(`jordan ${c.name}`, s.params, s.inputs, s.run);
    });
  }
});

const nativeReady = nativeSkipReason === null && nativeNnAvailable() && nativeNnAvailable();

describe.skipIf(!nativeReady)('native jordan layer matches the js one', () => {
  for (const c of cases) it(c.name, () => expectBackendsAgree(c));
});

// ---------------------------------------------------------------------------------------------
// The forward against a float64 reference that reverses each sequence by hand.

/** Row t of sequence b moved to row len_b-1-t (rows at or past len_b stay zero). */
function reverseWithin(v: Float64Array, T_: number, B_: number, F: number, lengths: Int32Array | null): Float64Array {
  const out = new Float64Array(v.length);
  for (let b = 0; b < B_; b++) {
    const len = lengths ? lengths[b] : T_;
    for (let t = 0; t < len; t++) out.set(v.subarray((t * B_ + b) * F, (t * B_ + b + 1) * F), ((len - 1 - t) * B_ + b) * F);
  }
  return out;
}

/**
 * y and the final state of a stacked, bidirectional Jordan layer in float64, from the layer's own
 * weights (in `parameters()` order) and the JS op run forward only.
 */
function reference(
  params: readonly Parameter[],
  x: Sequence,
  y0: Float32Array,
  o: { H: number; O: number; L: number; D: number; merge: 'concat' | 'sum' | 'mean' },
): { y: Float64Array; h: Float64Array } {
  const { H, O, L, D } = o;
  const f64 = (a: Float32Array) => Float64Array.from(a);
  let inp = f64(x.data);
  let inSize = x.features;
  const hN = new Float64Array(L * D * B * O);
  let ys: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    ys = [];
    for (let d = 0; d < D; d++) {
      const k = l * D + d;
      const [wIh, wHy, wHo, bIh, bHh, bHo] = params.slice(k * 6, k * 6 + 6).map((p) => f64(p.value));
      const r = js.jordanForward({
        seqLen: T,
        batch: B,
        inputSize: inSize,
        hiddenSize: H,
        outputSize: O,
        x: d === 1 ? reverseWithin(inp, T, B, inSize, x.lengths) : inp,
        weightIh: wIh,
        weightHy: wHy,
        weightHo: wHo,
        biasIh: bIh,
        biasHh: bHh,
        biasHo: bHo,
        lengths: x.lengths,
        y0: f64(y0.subarray(k * B * O, (k + 1) * B * O)),
        keepCache: false,
      });
      ys.push(d === 1 ? reverseWithin(r.y, T, B, O, x.lengths) : r.y);
      hN.set(r.yN, k * B * O);
    }
    inSize = D * O;
    inp = new Float64Array(T * B * inSize);
    for (let row = 0; row < T * B; row++) for (let d = 0; d < D; d++) inp.set(ys[d].subarray(row * O, (row + 1) * O), row * inSize + d * O);
  }
  if (D === 1) return { y: ys[0], h: hN };
  if (o.merge === 'concat') return { y: inp, h: hN };
  const s = o.merge === 'mean' ? 0.5 : 1;
  return { y: ys[0].map((v, i) => (v + ys[1][i]) * s), h: hN };
}

describe('jordan layer forward against a float64 reference (reverse by hand, per own length)', () => {
  const backends: BackendName[] = nativeNnAvailable() ? ['js', 'native'] : ['js'];
  for (const backend of backends) {
    for (const merge of ['concat', 'sum', 'mean'] as const) {
      it(`2 layers, bidirectional ${merge}, lengths [4, 2, 0], initial state (${backend})`, async () => {
        const H = 4,
          O = 3,
          L = 2,
          D = 2;
        const layer = jordan({ hiddenSize: H, outputSize: O, numLayers: L, bidirectional: true, mergeMode: merge, returnState: true });
        layer.build(2, new Rng(8));
        perturbBiases(layer.parameters());
        const x = seqInput(2, new Int32Array([4, 2, 0]));
        const y0 = new Rng(14).uniformArray(L * D * B * O, -1, 1);
        const s = await layer.forward(x, { training: false, rng: new Rng(1), backend }, { h: y0, c: null });
        const ref = reference(layer.parameters(), x, y0, { H, O, L, D, merge });
        expect((s.y as Sequence).features).toBe(merge === 'concat' ? 2 * O : O);
        expectClose((s.y as Sequence).data, ref.y, { atol: 2e-6, rtol: 1e-5 }, 'y');
        expectClose((s.state as RecurrentState).h, ref.h, { atol: 2e-6, rtol: 1e-5 }, 'state.h');
        // The empty sequence (b = 2) has zero outputs and hands its initial state back unchanged.
        for (let t = 0; t < T; t++)
          for (let f = 0; f < (s.y as Sequence).features; f++)
            expect((s.y as Sequence).data[(t * B + 2) * (s.y as Sequence).features + f]).toBe(0);
        for (let k = 0; k < L * D; k++) {
          expect(Array.from((s.state as RecurrentState).h.subarray((k * B + 2) * O, (k * B + 3) * O))).toEqual(
            Array.from(y0.subarray((k * B + 2) * O, (k * B + 3) * O)),
          );
        }
      });
    }
  }

  it('returnSequences: false gives the merged final outputs, which are the state of the last layer', async () => {
    const layer = jordan({
      hiddenSize: 3,
      outputSize: 2,
      numLayers: 2,
      bidirectional: true,
      mergeMode: 'sum',
      returnSequences: false,
      returnState: true,
    });
    layer.build(2, new Rng(2));
    const s = await layer.forward(seqInput(2), { training: false, rng: new Rng(1), backend: 'js' });
    const v = s.y as Vector;
    expect(v.kind).toBe('vector');
    expect([v.batch, v.features]).toEqual([B, 2]);
    const h = (s.state as RecurrentState).h;
    const last = 2 * B * 2; // layer 1, forward direction
    for (let i = 0; i < B * 2; i++) expect(v.data[i]).toBeCloseTo(h[last + i] + h[last + B * 2 + i], 6);
  });
});

// ---------------------------------------------------------------------------------------------

describe('jordan layer state: returnState, ctx.keepState, streaming', () => {
  it('keepState gives the state returnState gives; neither gives null', async () => {
    const opts = { hiddenSize: 3, outputSize: 2, numLayers: 2, bidirectional: true } as const;
    const plain = jordan(opts);
    const withState = jordan({ ...opts, returnState: true });
    plain.build(2, new Rng(4));
    withState.build(2, new Rng(4));
    const x = seqInput(2);
    const ctx = { training: false, rng: new Rng(1), backend: 'js' } as const;
    expect((await plain.forward(x, ctx)).state).toBeNull();
    const kept = (await plain.forward(x, { ...ctx, keepState: true })).state as RecurrentState;
    const returned = (await withState.forward(x, ctx)).state as RecurrentState;
    expect(kept.h.length).toBe(2 * 2 * B * 2);
    expect(kept.c).toBeNull();
    expect(Array.from(kept.h)).toEqual(Array.from(returned.h));
  });

  const backends: BackendName[] = nativeNnAvailable() ? ['js', 'native'] : ['js'];
  for (const backend of backends) {
    it(`a sequence in two chunks, the kept state carried, gives the whole-sequence outputs (${backend})`, async () => {
      const layer = jordan({ hiddenSize: 5, outputSize: 3, numLayers: 3, outputActivation: 'sigmoid' });
      layer.build(2, new Rng(6));
      perturbBiases(layer.parameters());
      const T2 = 7,
        F = 2;
      const data = new Rng(3).uniformArray(T2 * B * F, -1, 1);
      const whole = await layer.forward(sequence({ data, seqLen: T2, batch: B, features: F, lengths: null }), {
        training: false,
        rng: new Rng(1),
        backend,
      });
      const ctx = { training: false, rng: new Rng(1), backend, keepState: true } as const;
      const split = 3;
      const a = await layer.forward(
        sequence({ data: data.slice(0, split * B * F), seqLen: split, batch: B, features: F, lengths: null }),
        ctx,
      );
      const b = await layer.forward(
        sequence({ data: data.slice(split * B * F), seqLen: T2 - split, batch: B, features: F, lengths: null }),
        ctx,
        a.state,
      );
      const joined = new Float32Array([...(a.y as Sequence).data, ...(b.y as Sequence).data]);
      expectClose(joined, (whole.y as Sequence).data, { atol: 1e-6, rtol: 1e-6 }, 'chunked y');
    });
  }

  it('a Jordan language model generates from its carried state; a bidirectional one is refused', async () => {
    const V = 6;
    const lm = sequential(input.tokens({ vocabSize: V }))
      .add(embedding({ vocabSize: V, dim: 4 }))
      .add(jordan({ hiddenSize: 6, outputSize: 4, numLayers: 2 }))
      .add(dense({ units: V }))
      .build({ seed: 3, backend: 'js' });
    const seq = [2, 5, 1, 0, 3, 3, 4];
    const carried = await decoder(lm, seq.slice(0, 2));
    const rerun = await decoder(lm, seq.slice(0, 2), { mode: 'recompute' });
    expect(carried.mode).toBe('state');
    const steps = [carried.logits];
    for (let i = 2; i < seq.length; i++) {
      const a = await carried.feed(seq[i]);
      expectClose(a, await rerun.feed(seq[i]), { atol: 1e-5, rtol: 1e-5 }, `step ${i}`);
      steps.push(a);
    }
    const full = (await lm.forward(tokens({ ids: Int32Array.from(seq), seqLen: seq.length, batch: 1 }))).y.data;
    steps.forEach((st, k) => expectClose(st, full.subarray((k + 1) * V, (k + 2) * V), { atol: 1e-5, rtol: 1e-5 }, `forward row ${k + 1}`));
    const bi = sequential(input.tokens({ vocabSize: V }))
      .add(embedding({ vocabSize: V, dim: 4 }))
      .add(jordan({ hiddenSize: 6, outputSize: 4, bidirectional: true }))
      .add(dense({ units: V }))
      .build({ seed: 3, backend: 'js' });
    await expect(decoder(bi, [1, 2])).rejects.toMatchObject({ name: 'ValueError', argument: 'model' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('jordan layer options, names and config', () => {
  it('a plain layer keeps its original parameter names and config', () => {
    const layer = jordan({ hiddenSize: 5, outputSize: 3 });
    layer.build(4, new Rng(1));
    expect(layer.parameters().map((p) => p.name)).toEqual(['weight_ih', 'weight_hy', 'weight_ho', 'bias_ih', 'bias_hh', 'bias_ho']);
    // Every option with its default filled in (model format 2); the names stay unsuffixed.
    expect(layer.config).toEqual({
      hiddenSize: 5,
      outputSize: 3,
      activation: 'tanh',
      outputActivation: 'tanh',
      numLayers: 1,
      dropout: 0,
      bidirectional: false,
      mergeMode: 'concat',
      returnSequences: true,
      returnState: false,
      stateInput: null,
    });
  });

  it('a stacked bidirectional layer names every set PyTorch-style, layer l > 0 taking D*O features', () => {
    const layer = jordan({ hiddenSize: 5, outputSize: 3, numLayers: 2, bidirectional: true });
    expect(layer.build(4, new Rng(1))).toBe(6);
    const got = layer.parameters().map((p) => [p.name, p.shape]);
    const want: [string, number[]][] = [];
    for (const sfx of ['_l0', '_l0_reverse', '_l1', '_l1_reverse']) {
      const inSize = sfx.startsWith('_l0') ? 4 : 6;
      want.push(
        [`weight_ih${sfx}`, [5, inSize]],
        [`weight_hy${sfx}`, [5, 3]],
        [`weight_ho${sfx}`, [3, 5]],
        [`bias_ih${sfx}`, [5]],
        [`bias_hh${sfx}`, [5]],
        [`bias_ho${sfx}`, [3]],
      );
    }
    expect(got).toEqual(want);
    expect(layer.plan?.(4)).toEqual({ outputFeatures: 6, parameters: want.map(([name, shape]) => ({ name, shape })) });
    // Every weight is initialized, the reverse direction differently from the forward one.
    for (const p of layer.parameters())
      if (p.shape.length === 2)
        expect(
          p.value.some((v) => v !== 0),
          p.name,
        ).toBe(true);
    expect(layer.parameters()[0].value).not.toEqual(layer.parameters()[6].value);
  });

  it('the config lists every option (defaults filled in) and rebuilds the layer', () => {
    const opts = {
      hiddenSize: 4,
      outputSize: 2,
      activation: 'relu',
      outputActivation: 'linear',
      numLayers: 3,
      dropout: 0.25,
      bidirectional: true,
      mergeMode: 'mean',
      returnSequences: false,
      returnState: true,
      stateInput: { steps: 5 },
    } as const;
    const layer = jordan(opts);
    expect(layer.config).toEqual(opts);
    expect(layerFromConfig('jordan', layer.config!).config).toEqual(opts);
    expect(layer.kinds).toEqual({ vector: 'vector' });
    expect(jordan({ hiddenSize: 1, outputSize: 1, returnSequences: false }).kinds).toEqual({ sequence: 'vector' });
    // Defaults given explicitly give the same config as not given.
    expect(
      jordan({
        hiddenSize: 1,
        outputSize: 1,
        numLayers: 1,
        dropout: 0,
        bidirectional: false,
        mergeMode: 'concat',
        returnSequences: true,
        returnState: false,
        stateInput: null,
      }).config,
    ).toEqual(jordan({ hiddenSize: 1, outputSize: 1 }).config);
    expect(jordan({ hiddenSize: 1, outputSize: 1 }).config).toEqual({
      hiddenSize: 1,
      outputSize: 1,
      activation: 'tanh',
      outputActivation: 'tanh',
      numLayers: 1,
      dropout: 0,
      bidirectional: false,
      mergeMode: 'concat',
      returnSequences: true,
      returnState: false,
      stateInput: null,
    });
  });

  it('the options set the kinds, at compile time too', () => {
    const summarizer = sequential(input.sequence({ features: 2 }))
      .add(jordan({ hiddenSize: 3, outputSize: 2, numLayers: 2, bidirectional: true, returnSequences: false }))
      .add(dense({ units: 2 }))
      .build({ backend: 'js' });
    expectTypeOf(summarizer).toEqualTypeOf<Model<'sequence', 'vector'>>();
    expect(summarizer.outputKind).toBe('vector');
    const generator = sequential(input.vector({ features: 4 }))
      .add(jordan({ hiddenSize: 3, outputSize: 2, bidirectional: true, stateInput: { steps: 3 } }))
      .build({ backend: 'js' });
    expectTypeOf(generator).toEqualTypeOf<Model<'vector', 'sequence'>>();
    const tagger = sequential(input.sequence({ features: 2 }))
      .add(jordan({ hiddenSize: 3, outputSize: 2 }))
      .build({ backend: 'js' });
    expectTypeOf(tagger).toEqualTypeOf<Model<'sequence', 'sequence'>>();

    sequential(input.sequence({ features: 2 }))
      .add(jordan({ hiddenSize: 3, outputSize: 2, returnSequences: false }))
      // @ts-expect-error a Vector output fed to a layer that needs a Sequence
      .add(jordan({ hiddenSize: 3, outputSize: 2 }));
    sequential(input.vector({ features: 2 }))
      // @ts-expect-error a Jordan layer needs a Sequence (or stateInput)
      .add(jordan({ hiddenSize: 3, outputSize: 2 }));
  });

  it('option errors name the option', () => {
    const base = { hiddenSize: 2, outputSize: 2 };
    const bad: [Record<string, unknown>, string][] = [
      [{ hiddenSize: 0 }, 'hiddenSize'],
      [{ outputSize: 1.5 }, 'outputSize'],
      [{ numLayers: 0 }, 'numLayers'],
      [{ numLayers: 'two' }, 'numLayers'],
      [{ dropout: 1 }, 'dropout'],
      [{ dropout: -0.1 }, 'dropout'],
      [{ bidirectional: 'yes' }, 'bidirectional'],
      [{ mergeMode: 'max' }, 'mergeMode'],
      [{ returnSequences: 0 }, 'returnSequences'],
      [{ returnState: 'no' }, 'returnState'],
      [{ stateInput: 3 }, 'stateInput'],
      [{ stateInput: { steps: 0 } }, 'stateInput.steps'],
      [{ activation: 'sigmoid' }, 'activation'],
      [{ outputActivation: 'relu' }, 'outputActivation'],
    ];
    for (const [o, arg] of bad) {
      let err: unknown = null;
      try {
        jordan({ ...base, ...o } as unknown as JordanOptions);
      } catch (e) {
        err = e;
      }
      expect(err, arg).toBeInstanceOf(ValueError);
      expect((err as ValueError).argument, JSON.stringify(o)).toBe(arg);
    }
  });

  it('argument errors name the argument', async () => {
    const errOf = async (fn: () => unknown): Promise<{ cls: unknown; arg: string | undefined }> => {
      try {
        await fn();
      } catch (e) {
        return { cls: (e as Error).constructor, arg: (e as ValueError).argument };
      }
      return { cls: null, arg: undefined };
    };
    const ctx = { training: false, rng: new Rng(1), backend: 'js' } as const;
    const oneToMany = jordan({ hiddenSize: 2, outputSize: 2, numLayers: 2, stateInput: { steps: 2 } });
    expect(await errOf(() => oneToMany.build(3, new Rng(1)))).toEqual({ cls: ValueError, arg: 'inputFeatures' });
    oneToMany.build(4, new Rng(1));
    const v = vector({ data: new Float32Array(B * 4), batch: B, features: 4 });
    expect(await errOf(() => oneToMany.forward(v, ctx, { h: new Float32Array(2 * B * 2), c: null }))).toEqual({
      cls: ValueError,
      arg: 'initialState',
    });

    const layer = jordan({ hiddenSize: 2, outputSize: 2, numLayers: 2, bidirectional: true });
    expect(await errOf(() => layer.forward(seqInput(2), ctx))).toEqual({ cls: ValueError, arg: 'layer' });
    layer.build(2, new Rng(1));
    expect(await errOf(() => layer.build(3, new Rng(1)))).toEqual({ cls: ValueError, arg: 'inputFeatures' });
    expect(await errOf(() => layer.forward(seqInput(3), ctx))).toEqual({ cls: ValueError, arg: 'x.features' });
    expect(await errOf(() => layer.forward(v, ctx))).toEqual({ cls: ValueError, arg: 'x' });
    // The initial state is [L*D, B, O]: the single-layer size is refused.
    expect(await errOf(() => layer.forward(seqInput(2), ctx, { h: new Float32Array(B * 2), c: null }))).toEqual({
      cls: ShapeError,
      arg: 'initialState.h',
    });
    const s = await layer.forward(seqInput(2), ctx);
    expect(await errOf(() => s.backward(new Float32Array(3)))).toEqual({ cls: ShapeError, arg: 'dy' });
    expect(await errOf(() => s.backward(new Float32Array(T * B * 4), { h: new Float32Array(5), c: null }))).toEqual({
      cls: ShapeError,
      arg: 'dState.h',
    });
  });
});

// ---------------------------------------------------------------------------------------------

/** Whether the addon's Jordan op runs `async: true` calls on a worker (it then returns a Promise). */
function nativeJordanAsync(): boolean {
  if (!nativeNnAvailable()) return false;
  const ops = { forward: loadAddon().jordanForward as (a: object) => unknown };
  const f32 = (n: number) => new Float32Array(n);
  const r = ops.forward({
    seqLen: 1,
    batch: 1,
    inputSize: 1,
    hiddenSize: 1,
    outputSize: 1,
    x: f32(1),
    weightIh: f32(1),
    weightHy: f32(1),
    weightHo: f32(1),
    y: f32(1),
    yN: f32(1),
    async: true,
  });
  return typeof (r as Promise<unknown> | undefined)?.then === 'function';
}

describe.runIf(nativeJordanAsync())('native jordan layer and the event loop', () => {
  it('timers fire during a bidirectional forward and backward', async () => {
    const T2 = 120,
      B2 = 32,
      F = 64;
    const layer = jordan({ hiddenSize: 192, outputSize: 48, bidirectional: true });
    layer.build(F, new Rng(1));
    const x = sequence({ data: new Rng(2).uniformArray(T2 * B2 * F, -1, 1), seqLen: T2, batch: B2, features: F, lengths: null });
    const { ticks, elapsed } = await ticksDuring(async () => {
      const s = await layer.forward(x, { training: true, rng: new Rng(1), backend: 'native' });
      await s.backward(new Float32Array((s.y as Sequence).data.length).fill(0.01));
    });
    // Several 2 ms intervals pass during the kernels; a blocked loop would see none.
    if (elapsed > 20) expect(ticks).toBeGreaterThanOrEqual(1);
  });
});

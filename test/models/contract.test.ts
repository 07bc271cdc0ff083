/**
 * The model contract (lib/models/model.ts) as the architecture issue asks for it:
 * - backward takes final-state gradients and gives initial-state gradients (an encoder learns through
 *   the state it hands on), checked by finite differences on a stacked LSTM;
 * - a model owns its input: changing or detaching the caller's arrays during a predict changes nothing;
 * - non-finite input to predict is a ValueError naming it; non-finite weights in loadStateDict a
 *   FormatError naming the tensor;
 * - stateSlots / causal / stepwise are declared, not guessed;
 * - setDefaultBackend('js') with the addon made unloadable trains, predicts and generates (a child
 *   process whose GATED_ADDON_PATH points at nothing).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import {
  FormatError,
  ValueError,
  dense,
  embedding,
  gru,
  input,
  jordan,
  loadStateDict,
  lstm,
  rnn,
  sequence,
  sequential,
  tokens,
  type Layer,
} from '../../lib/index.js';
import { Rng } from '../helpers/index.js';
import { errorOf } from '../helpers/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'gated-contract-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('state gradients through the contract', () => {
  it('initialStateGrads of a stacked LSTM match finite differences, and dStates reach the weights', async () => {
    const T = 3,
      B = 2,
      F = 2,
      H = 3,
      L = 2;
    const model = sequential(input.sequence({ features: F }))
      .add(lstm({ hiddenSize: H, numLayers: L }), 'enc')
      .build({ seed: 2, backend: 'js' });
    const r = new Rng(5);
    const x = sequence({ data: r.uniform(T * B * F, -1, 1), seqLen: T, batch: B, features: F });
    const n = L * B * H;
    const h0 = r.uniform(n, -0.5, 0.5);
    const c0 = r.uniform(n, -0.5, 0.5);
    const wy = r.uniform(T * B * H, -1, 1);
    const wh = r.uniform(n, -1, 1);
    const wc = r.uniform(n, -1, 1);
    // loss = <wy, y> + <wh, h_n> + <wc, c_n>
    const lossAt = async (h: Float32Array, c: Float32Array): Promise<number> => {
      const s = await model.forward(x, { initialStates: new Map([[0, { h, c }]]), keepStates: true });
      const st = s.states.get(0)!;
      let v = 0;
      for (let i = 0; i < wy.length; i++) v += wy[i] * s.y.data[i];
      for (let i = 0; i < n; i++) v += wh[i] * st.h[i] + wc[i] * (st.c as Float32Array)[i];
      return v;
    };
    const s = await model.forward(x, { initialStates: new Map([[0, { h: h0, c: c0 }]]), keepStates: true });
    model.zeroGrad();
    await s.backward(wy, new Map([[0, { h: wh, c: wc }]]));
    const g = s.initialStateGrads().get(0)!;
    expect(g.h.length).toBe(n);
    const eps = 1e-2;
    for (const [which, base, grad] of [
      ['h', h0, g.h],
      ['c', c0, g.c as Float32Array],
    ] as const) {
      for (let i = 0; i < n; i++) {
        const plus = base.slice();
        plus[i] += eps;
        const minus = base.slice();
        minus[i] -= eps;
        const fd =
          which === 'h'
            ? ((await lossAt(plus, c0)) - (await lossAt(minus, c0))) / (2 * eps)
            : ((await lossAt(h0, plus)) - (await lossAt(h0, minus))) / (2 * eps);
        expect(Math.abs(fd - grad[i]), `${which}[${i}]`).toBeLessThan(2e-3);
      }
    }
    // The state gradients reach the weights: backward with only dStates gives non-zero weight gradients.
    model.zeroGrad();
    const s2 = await model.forward(x, { keepStates: true });
    await s2.backward(new Float32Array(T * B * H), new Map([[0, { h: wh, c: wc }]]));
    expect(model.parameters().some((p) => p.grad.some((v) => v !== 0))).toBe(true);
  });
});

describe('a model owns its input', () => {
  it('changing or transferring the input arrays while predict runs changes nothing', async () => {
    const F = 16,
      T = 24,
      B = 8;
    const model = sequential(input.sequence({ features: F }))
      .add(lstm({ hiddenSize: 32 }))
      .add(dense({ units: 4 }))
      .build({ seed: 1 });
    const data = new Rng(2).uniform(T * B * F, -1, 1);
    const want = (await model.predict(sequence({ data: data.slice(), seqLen: T, batch: B, features: F }))).data;
    const x = sequence({ data, seqLen: T, batch: B, features: F });
    const pending = model.predict(x);
    data.fill(Number.NaN);
    structuredClone(data.buffer, { transfer: [data.buffer as ArrayBuffer] }); // detaches it, as postMessage(buf, [buf]) does
    expect(data.length).toBe(0);
    expect(Array.from((await pending).data)).toEqual(Array.from(want));
  });

  it('non-finite input is a ValueError naming it', async () => {
    const model = sequential(input.sequence({ features: 2 }))
      .add(rnn({ hiddenSize: 2 }))
      .build({ backend: 'js' });
    const data = new Float32Array(2 * 1 * 2);
    data[3] = Number.POSITIVE_INFINITY;
    await expect(model.predict(sequence({ data, seqLen: 2, batch: 1, features: 2 }))).rejects.toMatchObject({
      name: 'ValueError',
      argument: 'x.data',
    });
  });
});

describe('loading costs about the file, not an initialization', () => {
  // Issue 10, item 3: loading used to run the random initialization (Glorot, and an O(H^3)
  // orthogonalization for recurrent weights) before overwriting every weight.
  it('decodeModel draws nothing from a random generator, for a sequential model and an encoder-decoder', async () => {
    const { decodeModel, encodeModel, encoderDecoder, Rng: LibRng } = await import('../../lib/index.js');
    const models = [
      sequential(input.tokens({ vocabSize: 5 }))
        .add(embedding({ vocabSize: 5, dim: 3 }))
        .add(lstm({ hiddenSize: 4 }))
        .add(gru({ hiddenSize: 4 }))
        .add(dense({ units: 5 }))
        .build({ seed: 1 }),
      encoderDecoder({
        sourceVocabSize: 6,
        targetVocabSize: 7,
        bos: 1,
        eos: 2,
        encoder: { cell: 'gru', hiddenSize: 4, bidirectional: true, embeddingDim: 3 },
        decoder: { cell: 'lstm', hiddenSize: 5, embeddingDim: 3, attention: 'general' },
      }).build({ seed: 1 }),
    ];
    const proto = LibRng.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const names = ['uniform', 'normal', 'int', 'uniformArray', 'normalArray'];
    const saved = names.map((n) => proto[n]);
    let draws = 0;
    try {
      for (const [i, n] of names.entries())
        proto[n] = function (this: unknown, ...a: unknown[]) {
          draws++;
          return saved[i].apply(this, a);
        };
      for (const m of models) {
        const bytes = encodeModel(m);
        draws = 0;
        const back = decodeModel(bytes);
        expect(draws, 'random draws while loading').toBe(0);
        back.parameters().forEach((p, k) => expect(p.value).toEqual(m.parameters()[k].value));
        // the counter counts: building one draws
        draws = 0;
        sequential(input.tokens({ vocabSize: 5 }))
          .add(embedding({ vocabSize: 5, dim: 3 }))
          .add(lstm({ hiddenSize: 4 }))
          .build({ seed: 2 });
        expect(draws).toBeGreaterThan(0);
      }
    } finally {
      names.forEach((n, i) => (proto[n] = saved[i]));
    }
  });
});

describe('loading refuses non-finite weights', () => {
  it('loadStateDict with an infinite weight is a FormatError naming the tensor, and changes nothing', () => {
    const model = sequential(input.tokens({ vocabSize: 3 }))
      .add(embedding({ vocabSize: 3, dim: 2 }))
      .add(dense({ units: 2 }))
      .build();
    const before = model.parameters().map((p) => p.value.slice());
    const tensors = Object.fromEntries(
      model.parameters().map((p) => [p.name, { dtype: 'F32' as const, shape: [...p.shape], data: p.value.map(() => 0.5) }]),
    );
    tensors['1.bias'].data[1] = Number.NEGATIVE_INFINITY;
    const e = errorOf(() => loadStateDict(model, tensors));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.argument).toBe('tensors["1.bias"].data');
    model.parameters().forEach((p, k) => expect(Array.from(p.value)).toEqual(Array.from(before[k])));
  });
});

describe('models declare their states', () => {
  it("stateSlots, causal and stepwise come from the layers' declarations", () => {
    const m = sequential(input.tokens({ vocabSize: 5 }))
      .add(embedding({ vocabSize: 5, dim: 3 }))
      .add(lstm({ hiddenSize: 4, numLayers: 2 }))
      .add(gru({ hiddenSize: 3 }))
      .add(jordan({ hiddenSize: 3, outputSize: 2 }))
      .add(dense({ units: 5 }))
      .build();
    expect(m.stateSlots.map((s) => [s.key, s.type, s.spec])).toEqual([
      [1, 'lstm', { rows: 2, width: 4, cell: true, input: false }],
      [2, 'gru', { rows: 1, width: 3, cell: false, input: false }],
      [3, 'jordan', { rows: 1, width: 2, cell: false, input: false }],
    ]);
    expect([m.causal, m.stepwise]).toEqual([true, true]);
    const bi = sequential(input.sequence({ features: 2 }))
      .add(lstm({ hiddenSize: 2, bidirectional: true }))
      .build();
    expect(bi.causal).toBe(false);
    const inner = lstm({ hiddenSize: 2 }) as unknown as Layer;
    const custom = {
      ...inner,
      kinds: inner.kinds,
      type: 'custom',
      forward: inner.forward.bind(inner),
      build: inner.build.bind(inner),
      parameters: () => [],
      zeroGrad: () => {},
    } as unknown as Layer;
    Object.defineProperty(custom, 'state', { value: undefined });
    const m2 = sequential(input.sequence({ features: 2 }))
      .add(custom as never)
      .build();
    expect(m2.stepwise).toBe(false);
  });
});

describe('the js backend alone', () => {
  it("with the addon unloadable, setDefaultBackend('js') makes fit, predict, generate and save/load run", () => {
    const script = join(scratch, 'js-only.mts');
    writeFileSync(
      script,
      `
import { adam, dense, embedding, fit, generate, input, loadModel, lstm, sequential, setDefaultBackend, stepTargets, tokens } from ${JSON.stringify(join(root, 'lib/index.ts'))};
import { nativeAvailable } from ${JSON.stringify(join(root, 'lib/backend/addon.ts'))};
if (nativeAvailable()) throw new Error('the addon loaded');
setDefaultBackend('js');
const V = 4;
const m = sequential(input.tokens({ vocabSize: V })).add(embedding({ vocabSize: V, dim: 4 })).add(lstm({ hiddenSize: 8 })).add(dense({ units: V })).build({ seed: 1 });
const ids = Int32Array.from({ length: 6 * 4 }, (_, i) => (Math.floor(i / 4) + (i % 4)) % V); // sequence b counts up from b
const batch = { x: tokens({ ids, seqLen: 6, batch: 4 }), target: stepTargets(Int32Array.from(ids, (v) => (v + 1) % V)) };
const h = await fit(m, [batch], { epochs: 150, optimizer: adam({ lr: 0.05 }) });
const y = await m.predict(batch.x);
const g = await generate(m, { prompt: [0], maxTokens: 6 });
await m.save(${JSON.stringify(join(scratch, 'js-only.safetensors'))});
const back = loadModel(${JSON.stringify(join(scratch, 'js-only.safetensors'))});
const y2 = await back.predict(batch.x);
console.log(JSON.stringify({ first: h.loss[0], last: h.loss.at(-1), y: y.data.length, same: y2.data.every((v, i) => v === y.data[i]), g: Array.from(g), backend: m.backend }));
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      encoding: 'utf8',
      cwd: root,
      env: { ...process.env, GATED_ADDON_PATH: join(scratch, 'no-such-addon.node') },
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
    expect(out.backend).toBe('js');
    expect(out.last).toBeLessThan(out.first * 0.5);
    expect(out.y).toBe(6 * 4 * 4);
    expect(out.same).toBe(true);
    expect(out.g).toEqual([1, 2, 3, 0, 1, 2]); // it learned "next id"
  });
});

describe('options are checked by name', () => {
  it('a misspelled layer option is a ValueError naming it (and a compile error)', () => {
    // @ts-expect-error peephole is not an option of lstm (peepholes is)
    const e = errorOf(() => lstm({ hiddenSize: 8, peephole: true }));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.argument).toBe('peephole');
    expect(e.message).toContain("did you mean 'peepholes'?");
    // @ts-expect-error hidden_size is not an option
    expect(errorOf(() => gru({ hiddenSize: 2, hidden_size: 3 })).argument).toBe('hidden_size');
    // @ts-expect-error units is dense's
    expect(errorOf(() => jordan({ hiddenSize: 2, outputSize: 1, units: 3 })).argument).toBe('units');
  });

  it('a model built for an unknown backend is refused at build, not at the first forward', () => {
    const b = sequential(input.tokens({ vocabSize: 3 })).add(embedding({ vocabSize: 3, dim: 2 }));
    expect(errorOf(() => b.build({ backend: 'cuda' as never })).argument).toBe('options.backend');
    expect(errorOf(() => b.build({ seeed: 1 } as never)).argument).toBe('options.seeed');
  });

  it('forward options are typed: training must be a boolean', async () => {
    const m = sequential(input.tokens({ vocabSize: 3 }))
      .add(embedding({ vocabSize: 3, dim: 2 }))
      .build({ backend: 'js' });
    const x = tokens({ ids: Int32Array.of(0, 1), seqLen: 2, batch: 1 });
    await expect(m.forward(x, { training: 'no' as never })).rejects.toMatchObject({ name: 'ValueError', argument: 'options.training' });
  });
});

const maxChange = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('a model with two named inputs, through fit', () => {
  it('an encoder that learns only through the state it hands to a decoder (state gradients through the contract)', async () => {
    const { fit: fitFn, adam: adamFn, stepTargets: st } = await import('../../lib/index.js');
    type In = { readonly source: 'tokens'; readonly target: 'tokens' };
    const V = 5,
      H = 16;
    const encoder = sequential(input.tokens({ vocabSize: V }))
      .add(embedding({ vocabSize: V, dim: 8 }))
      .add(lstm({ hiddenSize: H }))
      .build({ seed: 1, backend: 'js' });
    const decoder = sequential(input.tokens({ vocabSize: V }))
      .add(embedding({ vocabSize: V, dim: 8 }))
      .add(lstm({ hiddenSize: H }))
      .add(dense({ units: V }))
      .build({ seed: 2, backend: 'js' });
    // Decoder-only: the target input is all 0s, so the answer (the source's first token) reaches
    // the decoder only through the encoder's final state, its initial state.
    const model = {
      inputKind: { source: 'tokens', target: 'tokens' } as In,
      outputKind: 'sequence' as const,
      outputFeatures: V,
      input: { source: encoder.input, target: decoder.input },
      backend: 'js' as const,
      stateSlots: [],
      causal: false,
      stepwise: true,
      rng: decoder.rng,
      parameters: () => [
        ...encoder.parameters().map((p) => ({ ...p, name: `enc.${p.name}` })),
        ...decoder.parameters().map((p) => ({ ...p, name: `dec.${p.name}` })),
      ],
      zeroGrad: () => {
        encoder.zeroGrad();
        decoder.zeroGrad();
      },
      describe: () => {
        throw new Error('not saved');
      },
      async forward(x: { source: ReturnType<typeof tokens>; target: ReturnType<typeof tokens> }, o: { training?: boolean } = {}) {
        const e = await encoder.forward(x.source, { ...o, keepStates: true });
        const d = await decoder.forward(x.target, { ...o, initialStates: new Map([[1, e.states.get(1)!]]) });
        return {
          y: d.y,
          states: new Map(),
          backward: async (dy: Float32Array) => {
            await d.backward(dy);
            const dState = d.initialStateGrads().get(1)!;
            await e.backward(new Float32Array(e.y.data.length), new Map([[1, dState]]));
            return null;
          },
          initialStateGrads: () => new Map(),
        };
      },
    };
    const r = new Rng(3);
    const batches = Array.from({ length: 12 }, () => {
      const T = 4,
        B = 16;
      const src = Int32Array.from({ length: T * B }, () => r.int(0, V - 1));
      const first = src.subarray(0, B); // step 0 of each sequence
      return {
        x: { source: tokens({ ids: src, seqLen: T, batch: B }), target: tokens({ ids: new Int32Array(3 * B), seqLen: 3, batch: B }) },
        target: st(Int32Array.from({ length: 3 * B }, (_, i) => first[i % B])),
      };
    });
    const before = encoder.parameters().map((p) => p.value.slice());
    const h = await fitFn(model as never, batches, { epochs: 40, optimizer: adamFn({ lr: 0.02 }), metrics: ['accuracy'] });
    // Without the encoder learning (its gradients come only through dState) accuracy would stay near 1/V.
    expect(h.epochs.at(-1)!.metrics.accuracy).toBeGreaterThan(0.9);
    // The encoder's weights moved: its only gradient is the one the decoder's initial state passed back.
    encoder.parameters().forEach((p, k) => expect(maxChange(p.value, before[k]), p.name).toBeGreaterThan(1e-3));
  });
});

describe('hostile raw values get typed errors', () => {
  it('the model checks a whole input value, raw objects too', async () => {
    const { Vocabulary, trainTestSplit, oneHot, Rng: LibRng } = await import('../../lib/index.js');
    const gen = sequential(input.vector({ features: 4 }))
      .add(gru({ hiddenSize: 4, stateInput: { steps: 3 } }))
      .build({ backend: 'js' });
    await expect(gen.forward({ kind: 'vector', data: new Uint8Array(4), batch: 1, features: 4 } as never)).rejects.toMatchObject({
      name: 'ValueError',
      argument: 'x.data',
    });
    await expect(gen.forward({ kind: 'vector', data: new Float32Array(3), batch: 1, features: 4 } as never)).rejects.toMatchObject({
      name: 'ShapeError',
      argument: 'x.data',
    });
    await expect(gen.forward({ kind: 'vector', data: null, batch: 1, features: 4 } as never)).rejects.toMatchObject({
      name: 'ValueError',
      argument: 'x.data',
    });
    const oh = sequential(input.tokens({ vocabSize: 3 }))
      .add(oneHot({ vocabSize: 3 }))
      .build({ backend: 'js' });
    await expect(
      oh.forward({ kind: 'tokens', ids: new Float32Array([0, 1]), seqLen: 2, batch: 1, lengths: null } as never),
    ).rejects.toMatchObject({ name: 'ValueError', argument: 'x.ids' });
    await expect(
      oh.forward(tokens({ ids: Int32Array.of(0, 1), seqLen: 2, batch: 1 }), { initialStates: {} as never }),
    ).rejects.toMatchObject({ name: 'ValueError', argument: 'options.initialStates' });
    const errOf = (f: () => unknown) => errorOf(f) as Error & { argument?: string };
    expect(errOf(() => new LibRng(Object.create(null))).name).toBe('ValueError');
    expect(errOf(() => Vocabulary.build(['a']).encode(null as never)).argument).toBe('tokens');
    expect(errOf(() => trainTestSplit(10, null as never)).argument).toBe('options');
  });
});

describe('sizes nothing can allocate are typed errors naming the size', () => {
  it('a huge hidden size at build, a huge one-hot at forward', async () => {
    const { oneHot, Rng: LibRng } = await import('../../lib/index.js');
    const e1 = errorOf(() => lstm({ hiddenSize: 1e6 }).build(8, new LibRng(1)));
    expect([e1.name, e1.argument]).toEqual(['ShapeError', 'hiddenSize']);
    const m = sequential(input.tokens({ vocabSize: 2 ** 31 - 1 }))
      .add(oneHot({ vocabSize: 2 ** 31 - 1 }))
      .build({ backend: 'js' });
    await expect(m.forward(tokens({ ids: Int32Array.of(1, 2), seqLen: 2, batch: 1 }))).rejects.toMatchObject({
      name: 'ShapeError',
      argument: 'vocabSize',
    });
  });
});

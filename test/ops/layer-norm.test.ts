/**
 * The layerNorm op (lib/ops/nn.ts, native/norm.h, lib/js/nn.ts) and layer (lib/layers/basic.ts):
 * PyTorch's nn.LayerNorm outputs and gradients (test/fixtures/torch-layer-norm.safetensors, written by
 * scripts/layer-norm-fixture.py) on both backends and every ISA; native vs JS on awkward shapes;
 * gradients by finite differences through the layer; typed errors; save/load of a model using it.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { nativeAvailable } from '../../lib/backend/addon.js';
import { ShapeError, ValueError } from '../../lib/errors.js';
import { loadSafetensors } from '../../lib/io/safetensors.js';
import { dense, layerNorm, lstm, sequence } from '../../lib/layers/index.js';
import { decodeModel } from '../../lib/models/load.js';
import { encodeModel } from '../../lib/models/save.js';
import { input, sequential } from '../../lib/models/sequential.js';
import { layerNormBackward, layerNormForward } from '../../lib/ops/nn.js';
import { Rng } from '../../lib/random.js';
import { expectClose } from '../helpers/index.js';
import { errorOf } from '../helpers/errors.js';
import { gradCheck } from '../layers/check.js';
import { forEachIsa } from '../helpers/isa.js';

const fixture = loadSafetensors(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch-layer-norm.safetensors'));
const t = (name: string): Float32Array | null => (fixture.tensors[name]?.data as Float32Array | undefined) ?? null;
const CASES = [
  [5, 1, 1e-5],
  [3, 7, 1e-5],
  [4, 9, 1e-3],
  [2, 33, 0.1],
  [6, 257, 1e-5],
] as const;
const backends = nativeAvailable() ? (['js', 'native'] as const) : (['js'] as const);

describe('layerNorm against PyTorch', () => {
  for (const backend of backends) {
    CASES.forEach(([rows, features, eps], k) => {
      it(`${backend}: rows ${rows}, features ${features}, eps ${eps}${t(`${k}.weight`) ? '' : ', no affine'}`, async () => {
        await forEachIsa(backend, async () => {
          const args = { x: t(`${k}.x`)!, rows, features, weight: t(`${k}.weight`), bias: t(`${k}.bias`), eps };
          const f = layerNormForward(args, { backend });
          expectClose(f.y, t(`${k}.y`)!, { atol: 2e-6, rtol: 2e-6 }, 'y');
          const dWeight = args.weight ? new Float32Array(features) : null;
          const dBias = args.bias ? new Float32Array(features) : null;
          const dx = await layerNormBackward.async({ ...args, mean: f.mean, rstd: f.rstd, dy: t(`${k}.dy`)!, dWeight, dBias }, { backend });
          expectClose(dx, t(`${k}.dx`)!, { atol: 1e-5, rtol: 1e-5 }, 'dx');
          if (dWeight) expectClose(dWeight, t(`${k}.dWeight`)!, { atol: 1e-5, rtol: 1e-5 }, 'dWeight');
          if (dBias) expectClose(dBias, t(`${k}.dBias`)!, { atol: 1e-5, rtol: 1e-5 }, 'dBias');
        });
      });
    });
  }
});

describe.runIf(nativeAvailable())('layerNorm native vs JS on awkward shapes', () => {
  for (const [rows, features] of [
    [1, 1],
    [7, 9],
    [9, 33],
    [3, 257],
    [33, 7],
    [2, 0],
    [0, 5],
  ] as const) {
    it(`rows ${rows}, features ${features}`, async () => {
      const r = new Rng(rows * 31 + features);
      const args = {
        x: r.uniformArray(rows * features, -3, 3),
        rows,
        features,
        weight: r.uniformArray(features, -1, 1),
        bias: r.uniformArray(features, -1, 1),
      };
      const dy = r.uniformArray(rows * features, -1, 1);
      const run = (backend: 'js' | 'native') => {
        const f = layerNormForward(args, { backend });
        const dW = new Float32Array(features).fill(0.5); // accumulates into what is there
        const dB = new Float32Array(features).fill(-0.5);
        const dx = layerNormBackward({ ...args, mean: f.mean, rstd: f.rstd, dy, dWeight: dW, dBias: dB }, { backend });
        return { ...f, dx, dW, dB };
      };
      const js = run('js');
      await forEachIsa('native', async () => {
        const nat = run('native');
        for (const k of ['y', 'mean', 'rstd', 'dx', 'dW', 'dB'] as const) expectClose(nat[k], js[k], { atol: 2e-5, rtol: 2e-5 }, k);
      });
    });
  }
});

describe('the layerNorm layer', () => {
  for (const backend of backends) {
    it(`passes a gradient check through LSTM -> layerNorm -> dense (${backend})`, async () => {
      const T = 3,
        B = 2,
        F = 3;
      const m = sequential(input.sequence({ features: F }))
        .add(lstm({ hiddenSize: 5 }))
        .add(layerNorm())
        .add(dense({ units: 2 }))
        .build({ seed: 3, backend });
      for (const p of m.parameters()) if (p.name.startsWith('1.')) p.value.set(new Rng(4).uniformArray(p.value.length, 0.5, 1.5));
      const data = new Rng(5).uniformArray(T * B * F, -1, 1);
      await gradCheck(`layerNorm ${backend}`, m.parameters(), [data], async () => {
        const s = await m.forward(sequence({ data, seqLen: T, batch: B, features: F }));
        return { outs: [s.y.data], backward: async ([dy]) => [await s.backward(dy)] };
      });
    });
  }

  it('saves and loads (weight, bias under PyTorch names; config with its defaults)', async () => {
    const m = sequential(input.sequence({ features: 4 }))
      .add(layerNorm({ eps: 1e-3 }), 'norm')
      .build({ backend: 'js' });
    m.parameters()[0].value.set([1, 2, 3, 4]);
    expect(m.describe().layers[0]).toEqual({ type: 'layerNorm', name: 'norm', config: { eps: 1e-3, elementwiseAffine: true } });
    expect(m.parameters().map((p) => p.name)).toEqual(['norm.weight', 'norm.bias']);
    const back = decodeModel(encodeModel(m), { backend: 'js' });
    const x = sequence({ data: new Rng(1).uniformArray(8, -1, 1), seqLen: 2, batch: 1, features: 4 });
    expect(Array.from(((await back.predict(x as never)) as { data: Float32Array }).data)).toEqual(Array.from((await m.predict(x)).data));
  });

  it('bad arguments are typed errors naming them', () => {
    expect(errorOf(() => layerNorm({ eps: 0 })).argument).toBe('eps');
    expect(errorOf(() => layerNorm({ epsilon: 1 } as never)).argument).toBe('epsilon');
    const x = new Float32Array(6);
    expect(errorOf(() => layerNormForward({ x, rows: 2, features: 4 }))).toBeInstanceOf(ShapeError);
    expect(errorOf(() => layerNormForward({ x, rows: 2, features: 3, eps: Number.NaN }))).toBeInstanceOf(ValueError);
    expect(
      errorOf(() => layerNormBackward({ x, rows: 2, features: 3, mean: new Float32Array(2), rstd: new Float32Array(1), dy: x })).argument,
    ).toBe('rstd');
  });
});

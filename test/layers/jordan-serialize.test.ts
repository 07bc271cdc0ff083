/**
 * Saving and loading models with Jordan layers (lib/models/serialize.ts): a stacked bidirectional
 * Jordan model round-trips through a file and through bytes (same description, same weights, the same
 * output bits), and a file written before the Jordan layer had its recurrent options (a config of four
 * keys, unsuffixed parameter names) still loads and computes what the op computes with its weights.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../lib/io/safetensors.js';
import { dense, jordan, sequence, type Sequence } from '../../lib/layers/index.js';
import { decodeModel, loadModel } from '../../lib/models/load.js';
import { describeModel, encodeModel, METADATA_KEYS, saveModel } from '../../lib/models/save.js';
import { input, sequential } from '../../lib/models/sequential.js';
import { jordanForward } from '../../lib/ops/jordan.js';
import { Rng } from '../../lib/random.js';

const dir = mkdtempSync(join(tmpdir(), 'gated-jordan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T = 5,
  B = 3,
  F = 3;
const x = (): Sequence =>
  sequence({ data: new Rng(2).uniformArray(T * B * F, -1, 1), seqLen: T, batch: B, features: F, lengths: new Int32Array([5, 1, 3]) });
const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('jordan models save and load', () => {
  const build = () =>
    sequential(input.sequence({ features: F }))
      .add(
        jordan({
          hiddenSize: 4,
          outputSize: 3,
          numLayers: 2,
          bidirectional: true,
          mergeMode: 'mean',
          dropout: 0.2,
          outputActivation: 'sigmoid',
        }),
      )
      .add(jordan({ hiddenSize: 3, outputSize: 2, bidirectional: true, returnSequences: false }), 'summary')
      .add(dense({ units: 2 }))
      .build({ seed: 7, backend: 'js' });

  it('a stacked bidirectional model round-trips through a file and through bytes', async () => {
    const model = build();
    // Trained-looking weights: every parameter moved off its initial value.
    const r = new Rng(5);
    for (const p of model.parameters()) for (let i = 0; i < p.value.length; i++) p.value[i] += 0.4 * r.uniform() - 0.2;
    const path = join(dir, 'stacked.safetensors');
    saveModel(model, path);
    const fromFile = loadModel(path, { inputKind: 'sequence', outputKind: 'vector', backend: 'js' });
    const fromBytes = decodeModel(encodeModel(model), { backend: 'js' });
    const want = (await model.forward(x())).y.data;
    for (const loaded of [fromFile, fromBytes]) {
      expect(describeModel(loaded)).toEqual(describeModel(model));
      loaded.parameters().forEach((p, k) => expect(bytesOf(p.value), p.name).toEqual(bytesOf(model.parameters()[k].value)));
      expect(bytesOf(((await loaded.forward(x() as never)).y as { data: Float32Array }).data)).toEqual(bytesOf(want));
    }
    const d = describeModel(model);
    expect(d.layers[0].config).toEqual({
      hiddenSize: 4,
      outputSize: 3,
      activation: 'tanh',
      outputActivation: 'sigmoid',
      numLayers: 2,
      dropout: 0.2,
      bidirectional: true,
      mergeMode: 'mean',
      returnSequences: true,
      returnState: false,
      stateInput: null,
    });
    // Every option with its default filled in (format version 2; version-1 files omitted defaults and still load).
    expect(d.layers[1]).toEqual({
      type: 'jordan',
      name: 'summary',
      config: {
        hiddenSize: 3,
        outputSize: 2,
        activation: 'tanh',
        outputActivation: 'tanh',
        numLayers: 1,
        dropout: 0,
        bidirectional: true,
        mergeMode: 'concat',
        returnSequences: false,
        returnState: false,
        stateInput: null,
      },
    });
    const names = d.parameters.map((p) => p.name);
    expect(names.slice(0, 6)).toEqual([
      '0.weight_ih_l0',
      '0.weight_hy_l0',
      '0.weight_ho_l0',
      '0.bias_ih_l0',
      '0.bias_hh_l0',
      '0.bias_ho_l0',
    ]);
    expect(names).toContain('0.weight_ih_l1_reverse');
    expect(names).toContain('summary.bias_ho_l0_reverse');
    expect(d.parameters.find((p) => p.name === '0.weight_ih_l1')?.shape).toEqual([4, 6]);
    expect(d.parameters.find((p) => p.name === 'summary.weight_ih_l0')?.shape).toEqual([3, 3]); // mean-merged: O features
    const { tensors } = decodeSafetensors(encodeModel(model));
    expect(Object.keys(tensors).sort()).toEqual([...names].sort());
  });

  it('a file written by the single-layer Jordan layer (four config keys, unsuffixed names) still loads', async () => {
    const H = 2,
      O = 2;
    const r = new Rng(31);
    const w = {
      weight_ih: [H, F],
      weight_hy: [H, O],
      weight_ho: [O, H],
      bias_ih: [H],
      bias_hh: [H],
      bias_ho: [O], // the old names, in the old order
    } as const;
    const tensors: Record<string, Tensor> = {};
    const values: Record<string, Float32Array> = {};
    for (const [name, shape] of Object.entries(w)) {
      values[name] = r.uniformArray(
        shape.reduce((a: number, b: number) => a * b, 1),
        -0.8,
        0.8,
      );
      tensors[`0.${name}`] = { dtype: 'F32', shape: [...shape], data: values[name] };
    }
    // The description exactly as the earlier code wrote it.
    const description = {
      format: 'gated.sequential',
      version: 1,
      input: { kind: 'sequence', features: F },
      layers: [{ type: 'jordan', name: null, config: { hiddenSize: H, outputSize: O, activation: 'tanh', outputActivation: 'sigmoid' } }],
      parameters: Object.entries(w).map(([name, shape]) => ({ name: `0.${name}`, shape: [...shape], dtype: 'F32' })),
    };
    const bytes = encodeSafetensors(tensors, {
      [METADATA_KEYS.format]: 'gated.sequential',
      [METADATA_KEYS.version]: '1',
      [METADATA_KEYS.model]: JSON.stringify(description),
    });
    const model = decodeModel(bytes, { inputKind: 'sequence', outputKind: 'sequence', backend: 'js' });
    // It loads into the current, canonical description: version 2, every option with its default.
    expect(describeModel(model)).toEqual({
      ...description,
      version: 2,
      layers: [
        {
          ...description.layers[0],
          config: {
            ...description.layers[0].config,
            numLayers: 1,
            dropout: 0,
            bidirectional: false,
            mergeMode: 'concat',
            returnSequences: true,
            returnState: false,
            stateInput: null,
          },
        },
      ],
    });
    const v = x();
    const want = jordanForward(
      {
        seqLen: T,
        batch: B,
        inputSize: F,
        hiddenSize: H,
        outputSize: O,
        x: v.data,
        lengths: v.lengths,
        weightIh: values.weight_ih,
        weightHy: values.weight_hy,
        weightHo: values.weight_ho,
        biasIh: values.bias_ih,
        biasHh: values.bias_hh,
        biasHo: values.bias_ho,
        outputActivation: 'sigmoid',
      },
      { backend: 'js' },
    ).y;
    expect(bytesOf((await model.forward(v)).y.data)).toEqual(bytesOf(want));
  });
});

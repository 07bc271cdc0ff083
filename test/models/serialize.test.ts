/**
 * Model files (lib/models/serialize.ts): round trips give bit-identical outputs; truncated, corrupt
 * and inconsistent files give FormatErrors naming the field; saves are atomic; PyTorch-named
 * state_dicts load by name.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';

import { FormatError, ValueError } from '../../lib/errors.js';
import { FileError } from '../../lib/io/atomic.js';
import { type Tensor, decodeSafetensors, encodeSafetensors } from '../../lib/io/safetensors.js';
import {
  dense,
  dropout,
  embedding,
  gru,
  lstm,
  oneHot,
  rnn,
  sequence,
  tokens,
  vector,
  type Kind,
  type Sequence,
  type Value,
  type Vector,
  jordan,
  layerNorm,
} from '../../lib/layers/index.js';
import { layerFromConfig } from '../../lib/layers/registry.js';
import { decodeModel, layerTypes, loadModel, loadModelAsync, loadStateDict } from '../../lib/models/load.js';
import { METADATA_KEYS, describeModel, encodeModel, saveModel, saveModelAsync } from '../../lib/models/save.js';
import type { Model } from '../../lib/models/model.js';
import { input, sequential, type SequentialModel } from '../../lib/models/sequential.js';
import { Rng } from '../../lib/random.js';

const dir = mkdtempSync(join(tmpdir(), 'gated-serialize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type AnyModel = SequentialModel<Kind, Kind>;

/** Embedding + 2-layer bidirectional LSTM + dense, many-to-many. */
function lstmTagger(seed = 7): AnyModel {
  return sequential(input.tokens({ vocabSize: 7 }))
    .add(embedding({ vocabSize: 7, dim: 5, paddingIndex: 0 }))
    .add(lstm({ hiddenSize: 4, numLayers: 2, bidirectional: true }))
    .add(dense({ units: 3 }))
    .build({ seed, backend: 'js' }) as AnyModel;
}

function tokenBatch(): Value {
  const rng = new Rng(5);
  const T = 6;
  const B = 3;
  const ids = Int32Array.from({ length: T * B }, () => 1 + rng.int(6));
  return tokens({ ids, seqLen: T, batch: B, lengths: [6, 4, 2] });
}

function seqBatch(features: number): Value {
  const rng = new Rng(6);
  return sequence({ data: rng.uniformArray(5 * 2 * features, -1, 1), seqLen: 5, batch: 2, features, lengths: [5, 3] });
}

interface Case {
  readonly name: string;
  readonly build: () => AnyModel;
  readonly x: () => Value;
}

const cases: Case[] = [
  { name: 'embedding + 2-layer bidirectional LSTM + dense', build: () => lstmTagger(), x: tokenBatch },
  {
    name: 'embedding + 2-layer GRU (reset-before) to a vector + dense tanh',
    build: () =>
      sequential(input.tokens({ vocabSize: 7 }))
        .add(embedding({ vocabSize: 7, dim: 4 }))
        .add(gru({ hiddenSize: 3, numLayers: 2, returnSequences: false, resetAfter: false }))
        .add(dense({ units: 2, activation: 'tanh' }))
        .build({ seed: 3, backend: 'js' }) as AnyModel,
    x: tokenBatch,
  },
  {
    name: 'one-hot + GRU + dense without bias',
    build: () =>
      sequential(input.tokens({ vocabSize: 7 }))
        .add(oneHot({ vocabSize: 8 }))
        .add(gru({ hiddenSize: 3 }))
        .add(dense({ units: 2, useBias: false }))
        .build({ seed: 4, backend: 'js' }) as AnyModel,
    x: tokenBatch,
  },
  {
    name: 'sequence input: bidirectional relu RNN (sum) + dropout + named dense',
    build: () =>
      sequential(input.sequence({ features: 3 }))
        .add(rnn({ hiddenSize: 4, nonlinearity: 'relu', bidirectional: true, mergeMode: 'sum' }))
        .add(dropout({ rate: 0.25 }))
        .add(dense({ units: 2 }), 'head')
        .build({ seed: 8, backend: 'js' }) as AnyModel,
    x: () => seqBatch(3),
  },
  {
    name: 'sequence input: Jordan network + dense',
    build: () =>
      sequential(input.sequence({ features: 3 }))
        .add(jordan({ hiddenSize: 4, outputSize: 3, outputActivation: 'sigmoid' }))
        .add(dense({ units: 2 }))
        .build({ seed: 10, backend: 'js' }) as AnyModel,
    x: () => seqBatch(3),
  },
  {
    name: 'vector input: one-to-many peephole LSTM (stateInput) + dense',
    build: () =>
      sequential(input.vector({ features: 4 }))
        .add(lstm({ hiddenSize: 4, stateInput: { steps: 3 }, peepholes: true }))
        .add(dense({ units: 2 }))
        .build({ seed: 9, backend: 'js' }) as AnyModel,
    x: () => vector({ data: new Rng(2).uniformArray(2 * 4, -1, 1), batch: 2, features: 4 }),
  },
];

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

async function outputOf(model: Model<Kind, Kind>, x: Value): Promise<Float32Array> {
  return ((await model.forward(x as never)).y as Sequence | Vector).data;
}

/** The FormatError `fn` throws (fails the test on success or another error class). */
function formatErrorOf(fn: () => unknown): FormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof FormatError))
    throw new Error(`expected a FormatError, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  return caught;
}

/** The model file with its description rewritten by `edit` (and optionally its tensors by `editTensors`). */
function rewrite(bytes: Uint8Array, edit: (d: Record<string, any>) => void, editTensors?: (t: Record<string, Tensor>) => void): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const d = JSON.parse(metadata[METADATA_KEYS.model]) as Record<string, any>;
  edit(d);
  const t = { ...tensors };
  editTensors?.(t);
  return encodeSafetensors(t, { ...metadata, [METADATA_KEYS.model]: JSON.stringify(d) });
}

describe('round trips', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s: bit-identical outputs', async (_name, c) => {
    const model = c.build();
    const x = c.x();
    const expected = await outputOf(model, x);
    const path = join(dir, `${c.name.replace(/\W+/g, '_')}.safetensors`);
    saveModel(model, path);
    const loaded = loadModel(path, { backend: 'js' }) as AnyModel;
    expect(loaded.inputKind).toBe(model.inputKind);
    expect(loaded.outputKind).toBe(model.outputKind);
    expect(loaded.layers.map((l) => l.type)).toEqual(model.layers.map((l) => l.type));
    expect(loaded.layerNames).toEqual(model.layerNames);
    expect(loaded.parameters().map((p) => [p.name, p.shape])).toEqual(model.parameters().map((p) => [p.name, p.shape]));
    expect(bytesOf(await outputOf(loaded, x))).toEqual(bytesOf(expected));
    // Async versions, and saving the loaded model gives the same bytes.
    const path2 = `${path}.2`;
    await saveModelAsync(loaded, path2);
    expect(new Uint8Array(readFileSync(path2))).toEqual(new Uint8Array(readFileSync(path)));
    const again = await loadModelAsync(path2, { backend: 'js' });
    expect(bytesOf(await outputOf(again, x))).toEqual(bytesOf(expected));
  });

  it('the weights really come from the file (a model of another seed differs until loaded)', async () => {
    const x = tokenBatch();
    const a = lstmTagger(1);
    const b = lstmTagger(2);
    expect(bytesOf(await outputOf(b, x))).not.toEqual(bytesOf(await outputOf(a, x)));
    const loaded = decodeModel(encodeModel(a), { backend: 'js' });
    expect(bytesOf(await outputOf(loaded, x))).toEqual(bytesOf(await outputOf(a, x)));
  });

  it('the file is plain safetensors: PyTorch names, F32, format version in __metadata__', () => {
    const { tensors, metadata } = decodeSafetensors(encodeModel(lstmTagger()));
    expect(metadata[METADATA_KEYS.format]).toBe('gated.sequential');
    expect(metadata[METADATA_KEYS.version]).toBe('2');
    expect(Object.keys(tensors).sort()).toEqual([
      '0.weight',
      '1.bias_hh_l0',
      '1.bias_hh_l0_reverse',
      '1.bias_hh_l1',
      '1.bias_hh_l1_reverse',
      '1.bias_ih_l0',
      '1.bias_ih_l0_reverse',
      '1.bias_ih_l1',
      '1.bias_ih_l1_reverse',
      '1.weight_hh_l0',
      '1.weight_hh_l0_reverse',
      '1.weight_hh_l1',
      '1.weight_hh_l1_reverse',
      '1.weight_ih_l0',
      '1.weight_ih_l0_reverse',
      '1.weight_ih_l1',
      '1.weight_ih_l1_reverse',
      '2.bias',
      '2.weight',
    ]);
    for (const t of Object.values(tensors)) expect(t.dtype).toBe('F32');
    expect(tensors['1.weight_ih_l1_reverse'].shape).toEqual([16, 8]);
    expect(tensors['2.weight'].shape).toEqual([3, 8]);
    const d = JSON.parse(metadata[METADATA_KEYS.model]);
    expect(d).toMatchObject({ format: 'gated.sequential', version: 2, input: { kind: 'tokens', features: 7 } });
    expect(d.layers[0]).toEqual({ type: 'embedding', name: null, config: { vocabSize: 7, dim: 5, paddingIndex: 0 } });
    expect(d.layers[1].config).toEqual({
      hiddenSize: 4,
      numLayers: 2,
      dropout: 0,
      bidirectional: true,
      mergeMode: 'concat',
      returnSequences: true,
      returnState: false,
      stateInput: null,
      peepholes: false,
    });
    expect(d.parameters[0]).toEqual({ name: '0.weight', shape: [7, 5], dtype: 'F32' });
    expect(describeModel(lstmTagger())).toEqual(d);
  });

  it('every layer type rebuilds from its own config', () => {
    const layers = [
      embedding({ vocabSize: 3, dim: 2 }),
      oneHot({ vocabSize: 3 }),
      dense({ units: 2, activation: 'relu' }),
      dropout({ rate: 0.5 }),
      rnn({ hiddenSize: 2 }),
      lstm({ hiddenSize: 2, returnState: true }),
      gru({ hiddenSize: 2, dropout: 0.1 }),
      jordan({ hiddenSize: 3, outputSize: 2, activation: 'relu', outputActivation: 'linear' }),
      layerNorm({ eps: 1e-3 }),
    ];
    expect(layers.map((l) => l.type).sort()).toEqual([...layerTypes].sort());
    for (const l of layers) expect(layerFromConfig(l.type, l.config!).config).toEqual(l.config);
  });

  it('F64 and F16 weights (described so) are converted on load', async () => {
    const model = lstmTagger();
    const x = tokenBatch();
    const bytes = encodeModel(model);
    const f64 = rewrite(
      bytes,
      (d) => d.parameters.forEach((p: any) => (p.dtype = 'F64')),
      (t) => {
        for (const k of Object.keys(t)) t[k] = { dtype: 'F64', shape: t[k].shape, data: Float64Array.from(t[k].data as Float32Array) };
      },
    );
    expect(bytesOf(await outputOf(decodeModel(f64, { backend: 'js' }), x))).toEqual(bytesOf(await outputOf(model, x)));
    // A dtype that differs from the description is refused.
    const mixed = rewrite(
      bytes,
      () => {},
      (t) => {
        t['2.bias'] = { dtype: 'F64', shape: [3], data: new Float64Array(3) };
      },
    );
    expect(formatErrorOf(() => decodeModel(mixed)).argument).toBe('tensors["2.bias"].dtype');
  });

  it('inputKind / outputKind type the result and are checked', () => {
    const bytes = encodeModel(lstmTagger());
    const m = decodeModel(bytes, { inputKind: 'tokens', outputKind: 'sequence', backend: 'js' });
    expect(m.inputKind).toBe('tokens');
    expectTypeOf(m).toEqualTypeOf<Model<'tokens', 'sequence'>>();
    // A typed model is accepted where any model is.
    const typed = sequential(input.tokens({ vocabSize: 7 }))
      .add(embedding({ vocabSize: 7, dim: 5 }))
      .build({ backend: 'js' });
    expect(loadStateDict(typed, { '0.weight': { dtype: 'F32', shape: [7, 5], data: new Float32Array(35) } }).missing).toEqual([]);
    expect(encodeModel(typed).length).toBeGreaterThan(0);
    expect(formatErrorOf(() => decodeModel(bytes, { inputKind: 'sequence' })).argument).toBe('input.kind');
    expect(formatErrorOf(() => decodeModel(bytes, { outputKind: 'vector' })).argument).toBe('layers');
    expect(() => decodeModel(bytes, { inputKind: 'floats' as never })).toThrow(ValueError);
  });
});

describe('truncated and corrupt files', () => {
  const model = lstmTagger();
  const bytes = encodeModel(model);

  it('every truncation of the file gives a FormatError', () => {
    for (let n = 0; n < bytes.length; n++) formatErrorOf(() => decodeModel(bytes.subarray(0, n)));
  });

  it('truncated files on disk give a FormatError naming the path', () => {
    const path = join(dir, 'truncated.safetensors');
    for (const n of [0, 7, 8, 100, bytes.length >> 1, bytes.length - 1]) {
      writeFileSync(path, bytes.subarray(0, n));
      const e = formatErrorOf(() => loadModel(path));
      expect(e.message).toContain('truncated.safetensors');
    }
  });

  it('every truncation of the JSON description gives a FormatError', () => {
    const { tensors, metadata } = decodeSafetensors(bytes);
    const text = metadata[METADATA_KEYS.model];
    for (let n = 0; n < text.length; n++) {
      const cut = encodeSafetensors(tensors, { ...metadata, [METADATA_KEYS.model]: text.slice(0, n) });
      formatErrorOf(() => decodeModel(cut));
    }
  });

  it('random byte flips give a FormatError or a valid model, never another error', () => {
    const rng = new Rng(11);
    const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    let failed = 0;
    let loaded = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const copy = bytes.slice();
      // Mostly in the header (where the structure is); data-section flips are valid weights.
      const flips = 1 + rng.int(3);
      for (let k = 0; k < flips; k++) {
        const at = trial % 4 === 3 ? rng.int(copy.length) : rng.int(headerEnd);
        copy[at] ^= 1 + rng.int(255);
      }
      try {
        decodeModel(copy, { backend: 'js' });
        loaded++;
      } catch (e) {
        if (!(e instanceof FormatError)) throw new Error(`trial ${trial}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        failed++;
      }
    }
    expect(failed).toBeGreaterThan(0);
    expect(loaded).toBeGreaterThan(0);
  });

  it('a plain safetensors file (no description) is refused', () => {
    const plain = encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    expect(formatErrorOf(() => decodeModel(plain)).argument).toBe('__metadata__["gated.format"]');
  });

  it.each([
    ['wrong format version in __metadata__', null, '__metadata__["gated.format_version"]'],
    [
      'wrong description version',
      (d: any) => {
        d.version = 1;
      },
      'version',
    ],
    [
      'wrong description format',
      (d: any) => {
        d.format = 'keras';
      },
      'format',
    ],
    [
      'bad input kind',
      (d: any) => {
        d.input.kind = 'floats';
      },
      'input.kind',
    ],
    [
      'bad input features',
      (d: any) => {
        d.input.features = 0;
      },
      'input.features',
    ],
    [
      'wrong shape',
      (d: any) => {
        d.parameters[1].shape = [16, 6];
      },
      'parameters[1].shape',
    ],
    [
      'missing parameter',
      (d: any) => {
        d.parameters.splice(3, 1);
      },
      'parameters',
    ],
    [
      'extra parameter',
      (d: any) => {
        d.parameters.push({ name: '1.weight_ih_l2', shape: [16, 8], dtype: 'F32' });
      },
      'parameters[19].name',
    ],
    [
      'duplicate parameter',
      (d: any) => {
        d.parameters.push(d.parameters[0]);
      },
      'parameters[19].name',
    ],
    [
      'bad parameter dtype',
      (d: any) => {
        d.parameters[0].dtype = 'I32';
      },
      'parameters[0].dtype',
    ],
    [
      'unknown layer type',
      (d: any) => {
        d.layers[1].type = 'transformer';
      },
      'layers[1].type',
    ],
    [
      'negative hiddenSize',
      (d: any) => {
        d.layers[1].config.hiddenSize = -3;
      },
      'layers[1].config.hiddenSize',
    ],
    [
      'string hiddenSize',
      (d: any) => {
        d.layers[1].config.hiddenSize = '4';
      },
      'layers[1].config.hiddenSize',
    ],
    [
      'hiddenSize that does not fit the weights',
      (d: any) => {
        d.layers[1].config.hiddenSize = 5;
      },
      'parameters[1].shape',
    ],
    [
      'huge numLayers',
      (d: any) => {
        d.layers[1].config.numLayers = 2 ** 31 - 1;
      },
      'layers[1].config.numLayers',
    ],
    [
      'bad mergeMode',
      (d: any) => {
        d.layers[1].config.mergeMode = 'max';
      },
      'layers[1].config.mergeMode',
    ],
    [
      'bad dropout',
      (d: any) => {
        d.layers[1].config.dropout = 1.5;
      },
      'layers[1].config.dropout',
    ],
    [
      'unknown option',
      (d: any) => {
        d.layers[2].config.kernel = 'glorot';
      },
      'layers[2].config.kernel',
    ],
    [
      'option of another cell',
      (d: any) => {
        d.layers[1].config.resetAfter = true;
      },
      'layers[1].config.resetAfter',
    ],
    [
      'missing option',
      (d: any) => {
        delete d.layers[1].config.dropout;
      },
      'layers[1].config.dropout',
    ],
    [
      'bad paddingIndex',
      (d: any) => {
        d.layers[0].config.paddingIndex = 7;
      },
      'layers[0].config.paddingIndex',
    ],
    [
      'config not an object',
      (d: any) => {
        d.layers[2].config = [3];
      },
      'layers[2].config',
    ],
    [
      'bad layer name',
      (d: any) => {
        d.layers[2].name = '2 heads';
      },
      'layers[2].name',
    ],
    [
      'layers out of order',
      (d: any) => {
        d.layers.reverse();
      },
      'layers[0]',
    ],
    [
      'unknown layer field',
      (d: any) => {
        d.layers[0].trainable = false;
      },
      'layers[0].trainable',
    ],
    [
      'layers not an array',
      (d: any) => {
        d.layers = {};
      },
      'layers',
    ],
  ] as const)('%s: FormatError naming %s', (_label, edit, argument) => {
    const bad =
      edit === null
        ? (() => {
            const { tensors, metadata } = decodeSafetensors(bytes);
            return encodeSafetensors(tensors, { ...metadata, [METADATA_KEYS.version]: '3' });
          })()
        : rewrite(bytes, edit as (d: any) => void);
    const e = formatErrorOf(() => decodeModel(bad));
    expect(e.argument).toBe(argument);
  });

  it('tensors that do not fit the description: FormatError naming the tensor', () => {
    const missing = rewrite(
      bytes,
      () => {},
      (t) => {
        delete t['2.bias'];
      },
    );
    expect(formatErrorOf(() => decodeModel(missing)).argument).toBe('tensors["2.bias"]');
    const extra = rewrite(
      bytes,
      () => {},
      (t) => {
        t['3.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
      },
    );
    expect(formatErrorOf(() => decodeModel(extra)).argument).toBe('tensors["3.weight"]');
    const shape = rewrite(
      bytes,
      () => {},
      (t) => {
        t['2.bias'] = { dtype: 'F32', shape: [1, 3], data: new Float32Array(3) };
      },
    );
    expect(formatErrorOf(() => decodeModel(shape)).argument).toBe('tensors["2.bias"].shape');
  });

  it('a missing file is a FileError', () => {
    expect(() => loadModel(join(dir, 'nope.safetensors'))).toThrow(FileError);
  });
});

describe('atomic saves', () => {
  it('a save into a missing directory fails with a FileError and leaves nothing behind', async () => {
    const before = readdirSync(dir).sort();
    const target = join(dir, 'missing', 'model.safetensors');
    expect(() => saveModel(lstmTagger(), target)).toThrow(FileError);
    await expect(saveModelAsync(lstmTagger(), target)).rejects.toThrow(FileError);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('a save whose final rename fails removes its temporary file', async () => {
    const sub = join(dir, 'rename-fails');
    mkdirSync(sub);
    const target = join(sub, 'model.safetensors');
    mkdirSync(target); // a directory where the file should go: the temp file is written, the rename fails
    mkdirSync(join(target, 'x'));
    expect(() => saveModel(lstmTagger(), target)).toThrow(FileError);
    await expect(saveModelAsync(lstmTagger(), target)).rejects.toThrow(FileError);
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
  });

  it('a second save replaces the first whole', async () => {
    const path = join(dir, 'replace.safetensors');
    saveModel(lstmTagger(1), path);
    saveModel(lstmTagger(2), path);
    const x = tokenBatch();
    expect(bytesOf(await outputOf(loadModel(path, { backend: 'js' }), x))).toEqual(bytesOf(await outputOf(lstmTagger(2), x)));
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a layer without a config cannot be saved (ValueError naming it)', () => {
    const model = lstmTagger();
    const custom = {
      ...model,
      layers: [model.layers[0], { ...model.layers[1], type: 'custom', config: undefined }],
    } as unknown as AnyModel;
    expect(() => describeModel(custom)).toThrow(ValueError);
  });
});

describe('loadStateDict: PyTorch names', () => {
  // nn.Sequential(nn.Embedding(5, 3), nn.LSTM(3, 2, num_layers=2, bidirectional=True), nn.Linear(4, 3))
  const shapes: Record<string, number[]> = {
    '0.weight': [5, 3],
    '1.weight_ih_l0': [8, 3],
    '1.weight_hh_l0': [8, 2],
    '1.bias_ih_l0': [8],
    '1.bias_hh_l0': [8],
    '1.weight_ih_l0_reverse': [8, 3],
    '1.weight_hh_l0_reverse': [8, 2],
    '1.bias_ih_l0_reverse': [8],
    '1.bias_hh_l0_reverse': [8],
    '1.weight_ih_l1': [8, 4],
    '1.weight_hh_l1': [8, 2],
    '1.bias_ih_l1': [8],
    '1.bias_hh_l1': [8],
    '1.weight_ih_l1_reverse': [8, 4],
    '1.weight_hh_l1_reverse': [8, 2],
    '1.bias_ih_l1_reverse': [8],
    '1.bias_hh_l1_reverse': [8],
    '2.weight': [3, 4],
    '2.bias': [3],
  };
  const build = (): AnyModel =>
    sequential(input.tokens({ vocabSize: 5 }))
      .add(embedding({ vocabSize: 5, dim: 3 }))
      .add(lstm({ hiddenSize: 2, numLayers: 2, bidirectional: true }))
      .add(dense({ units: 3 }))
      .build({ seed: 1, backend: 'js' }) as AnyModel;
  const stateDict = (): Record<string, Tensor> => {
    const rng = new Rng(21);
    const out: Record<string, Tensor> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      out[name] = {
        dtype: 'F32',
        shape,
        data: rng.uniformArray(
          shape.reduce((a, b) => a * b, 1),
          -0.5,
          0.5,
        ),
      };
    }
    return out;
  };

  it('a PyTorch-style state_dict loads by name (through a safetensors file too)', () => {
    const sd = stateDict();
    const model = build();
    expect(model.parameters().map((p) => p.name)).toEqual(Object.keys(shapes));
    expect(loadStateDict(model, decodeSafetensors(encodeSafetensors(sd)).tensors)).toEqual({ missing: [], unexpected: [] });
    for (const p of model.parameters()) expect(p.value).toEqual(sd[p.name].data);
  });

  it('F16 state_dicts are converted', () => {
    const model = build();
    const sd: Record<string, Tensor> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      sd[name] = { dtype: 'F16', shape, data: new Uint16Array(shape.reduce((a, b) => a * b, 1)).fill(0x3c00) }; // 1.0
    }
    loadStateDict(model, sd);
    for (const p of model.parameters()) expect(p.value.every((v) => v === 1)).toBe(true);
  });

  it('strict: missing and unexpected names are FormatErrors, and the model is left unchanged', () => {
    const model = build();
    const before = model.parameters().map((p) => p.value.slice());
    const unchanged = () => model.parameters().forEach((p, k) => expect(p.value).toEqual(before[k]));
    const missing = stateDict();
    delete missing['1.bias_hh_l1_reverse'];
    const e1 = formatErrorOf(() => loadStateDict(model, missing));
    expect(e1.argument).toBe('tensors');
    expect(e1.message).toContain('1.bias_hh_l1_reverse');
    unchanged();
    const extra = { ...stateDict(), '1.weight_ih_l2': { dtype: 'F32', shape: [8, 4], data: new Float32Array(32) } as Tensor };
    expect(formatErrorOf(() => loadStateDict(model, extra)).message).toContain('1.weight_ih_l2');
    unchanged();
    // nn.Linear's weight is [out, in]: the transpose is refused.
    const transposed = { ...stateDict(), '2.weight': { dtype: 'F32', shape: [4, 3], data: new Float32Array(12) } as Tensor };
    expect(formatErrorOf(() => loadStateDict(model, transposed)).argument).toBe('tensors["2.weight"].shape');
    const ints = { ...stateDict(), '2.bias': { dtype: 'I32', shape: [3], data: new Int32Array(3) } as Tensor };
    expect(formatErrorOf(() => loadStateDict(model, ints)).argument).toBe('tensors["2.bias"].dtype');
    unchanged();
  });

  it('non-strict: loads what matches and reports the rest', () => {
    const model = build();
    const sd = stateDict();
    const kept = model
      .parameters()
      .find((p) => p.name === '0.weight')!
      .value.slice();
    delete sd['0.weight'];
    sd['head.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
    expect(loadStateDict(model, sd, { strict: false })).toEqual({ missing: ['0.weight'], unexpected: ['head.weight'] });
    expect(model.parameters()[0].value).toEqual(kept);
    expect(model.parameters()[1].value).toEqual(sd['1.weight_ih_l0'].data);
  });

  it('bad arguments are ValueErrors', () => {
    expect(() => loadStateDict(null as never, {})).toThrow(ValueError);
    expect(() => loadStateDict(build(), null as never)).toThrow(ValueError);
    expect(() => loadStateDict(build(), stateDict(), { strict: 'yes' as never })).toThrow(ValueError);
  });
});

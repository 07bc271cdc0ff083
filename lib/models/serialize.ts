/**
 * Saving and loading sequential models, and loading PyTorch `state_dict`s.
 *
 * ONE FILE per model: a safetensors file whose tensors are the weights under their PyTorch
 * `state_dict` names (`0.weight`, `1.weight_ih_l0`, `1.bias_hh_l0_reverse`, `2.bias`), F32, and
 * whose `__metadata__` carries the format and the model's description:
 *
 *   "gated.format":         "gated.sequential"
 *   "gated.format_version": "1"
 *   "gated.model":          the JSON description (below)
 *
 * Why one file and not `<path>.json` beside `<path>.safetensors`: one file is replaced atomically as a
 * unit (write a temporary file, fsync, rename). Two files cannot be: a crash between the two renames
 * leaves a new description beside the old weights, or the weights of another model. One file also
 * cannot be copied or deleted half. It stays a plain safetensors file: Python's
 * `safetensors.torch.load_file(path)` gives a dict that `nn.Sequential.load_state_dict` takes as is,
 * and `safe_open(path, 'pt').metadata()['gated.model']` gives the description.
 *
 * The description (version 1):
 *
 *   { "format": "gated.sequential", "version": 1,
 *     "input": { "kind": "tokens", "features": 50 },
 *     "layers": [ { "type": "embedding", "name": null, "config": { "vocabSize": 50, "dim": 16, "paddingIndex": null } },
 *                 { "type": "lstm", "name": null, "config": { "hiddenSize": 32, "numLayers": 2, ... } }, ... ],
 *     "parameters": [ { "name": "0.weight", "shape": [50, 16], "dtype": "F32" }, ... ] }
 *
 * `config` is the layer's {@link Layer.config}: every option with its default filled in.
 *
 * Loading checks everything before it allocates or fills a weight, and every problem with the file
 * is a {@link FormatError} whose `argument` names the field at fault (`layers[1].config.hiddenSize`,
 * `parameters[3].shape`, `tensors["1.weight_ih_l0"]`, `__metadata__["gated.format_version"]`):
 * the safetensors container (decodeSafetensors: lengths, offsets, JSON, dtypes); the format name and
 * version; the input spec; every layer's type (one of {@link layerTypes}), name and config (the
 * layer factory's own option checks; no missing or unknown option); the chain of kinds; the
 * parameter list against what the configs make (names and exact shapes, computed without
 * allocating, so that a corrupt size cannot make the loader allocate gigabytes); and the tensors
 * against the parameter list (each present with that shape and dtype, none extra).
 *
 * Dtypes: saving writes F32. Loading accepts F32, and also F16, BF16 and F64 (converted by
 * {@link toFloat32}: F16 and BF16 exactly, F64 rounded to nearest), both in a model file (the
 * description's dtype must then match the tensor's) and in {@link loadStateDict}, so that a
 * half-precision PyTorch checkpoint loads. Integer and BOOL tensors are refused.
 */
import { type Kind } from '../layers/values.js';
import { dense, dropout, embedding, oneHot } from '../layers/basic.js';
import { jordan } from '../layers/jordan.js';
import { gru, lstm, rnn } from '../layers/recurrent.js';
import type { KindMap, Layer, LayerConfig } from '../layers/layer.js';
import { FormatError, GatedError, ValueError } from '../errors.js';
import type { AtomicWriteOptions } from '../io/atomic.js';
import {
  type Dtype, type SafetensorsContent, type Tensor, decodeSafetensors, encodeSafetensors, loadSafetensors,
  loadSafetensorsAsync, saveSafetensors, saveSafetensorsAsync, toFloat32,
} from '../io/safetensors.js';
import { Rng } from '../random.js';
import { describe } from '../validate.js';
import { type InputSpec, type Model, type SequentialBuilder, sequential } from './sequential.js';
import type { BackendName } from '../backend/types.js';

/** The `format` of a model description (and the `gated.format` metadata value). */
export const MODEL_FORMAT = 'gated.sequential';
/** The description version this code writes and reads. */
export const MODEL_FORMAT_VERSION = 1;

/** The `__metadata__` keys of a model file. */
export const METADATA_KEYS = { format: 'gated.format', version: 'gated.format_version', model: 'gated.model' } as const;

/** One layer of a {@link ModelDescription}. */
export interface LayerDescription {
  /** The layer's type, a key of the registry ({@link layerTypes}). */
  readonly type: string;
  /** The name given to `.add(layer, name)`, or null (named by position). */
  readonly name: string | null;
  /** The layer's options, every default filled in ({@link Layer.config}). */
  readonly config: LayerConfig;
}

/** One parameter of a {@link ModelDescription}. */
export interface ParameterDescription {
  /** The model-level PyTorch `state_dict` name, e.g. `1.weight_ih_l0`. */
  readonly name: string;
  /** PyTorch shape. */
  readonly shape: readonly number[];
  /** The dtype of its tensor in the file (`'F32'` when gated saves it). */
  readonly dtype: Dtype;
}

/** The JSON description of a model saved in a model file's `__metadata__`. */
export interface ModelDescription {
  /** Always {@link MODEL_FORMAT}. */
  readonly format: string;
  /** {@link MODEL_FORMAT_VERSION}. */
  readonly version: number;
  /** The input spec. */
  readonly input: { readonly kind: Kind; readonly features: number };
  /** The layers, in order. */
  readonly layers: readonly LayerDescription[];
  /** Every parameter, in model order. */
  readonly parameters: readonly ParameterDescription[];
}

type Factory = (config: LayerConfig) => Layer;

/** The layer registry: a factory for each layer type a model file may name. */
const FACTORIES: Readonly<Record<string, Factory>> = {
  embedding: (c) => embedding(c as never) as Layer,
  oneHot: (c) => oneHot(c as never) as Layer,
  dense: (c) => dense(c as never) as Layer,
  dropout: (c) => dropout(c as never) as Layer,
  rnn: (c) => rnn(c as never) as unknown as Layer,
  lstm: (c) => lstm(c as never) as unknown as Layer,
  gru: (c) => gru(c as never) as unknown as Layer,
  jordan: (c) => jordan(c as never) as unknown as Layer,
};

/** The layer types a model file may name. */
export const layerTypes: readonly string[] = Object.freeze(Object.keys(FACTORIES));

/**
 * A new (unbuilt) layer of `type` from its config: the layer's own option checks run.
 * @throws {ValueError} unknown type (argument `type`), or a bad option (argument: the option's name).
 */
export function layerFromConfig(type: string, config: LayerConfig): Layer {
  if (typeof type !== 'string' || !Object.hasOwn(FACTORIES, type)) {
    throw new ValueError(`expected one of ${layerTypes.join(', ')}, got ${describe(type)}`, 'type');
  }
  return FACTORIES[type](config);
}

/** The dtypes a weight may have in a file (converted to float32 on load). */
const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

const KINDS: readonly string[] = ['tokens', 'sequence', 'vector'];

// ---------------------------------------------------------------------------------------------
// Saving

/**
 * The description of a built model.
 * @throws {ValueError} `model` is not a model, or one of its layers has no `config` or a type the
 *   registry does not know (argument `model.layers[i]`).
 */
export function describeModel(model: Model<Kind, Kind>): ModelDescription {
  checkModel(model);
  const names = model.layerNames;
  const layers = model.layers.map((layer, i): LayerDescription => {
    if (!Object.hasOwn(FACTORIES, layer.type) || layer.config === undefined) {
      throw new ValueError(`a ${layer.type} layer cannot be saved (known types with a config: ${layerTypes.join(', ')})`, `model.layers[${i}]`);
    }
    return { type: layer.type, name: names[i] ?? null, config: layer.config };
  });
  return {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    input: { kind: model.input.kind, features: model.input.features },
    layers,
    parameters: model.parameters().map((p) => ({ name: p.name, shape: [...p.shape], dtype: 'F32' as const })),
  };
}

function modelTensors(model: Model<Kind, Kind>): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const description = describeModel(model);
  const tensors: Record<string, Tensor> = {};
  for (const p of model.parameters()) tensors[p.name] = { dtype: 'F32', shape: [...p.shape], data: p.value };
  const metadata = {
    [METADATA_KEYS.format]: MODEL_FORMAT,
    [METADATA_KEYS.version]: String(MODEL_FORMAT_VERSION),
    [METADATA_KEYS.model]: JSON.stringify(description),
  };
  return { tensors, metadata };
}

/** The bytes of a model file (what {@link saveModel} writes). */
export function encodeModel(model: Model<Kind, Kind>): Uint8Array {
  const { tensors, metadata } = modelTensors(model);
  return encodeSafetensors(tensors, metadata);
}

/**
 * Saves the model to `path` (one safetensors file, see the module comment), atomically: after a
 * crash the file is the old one or the new one, never a part.
 * @throws {ValueError} as {@link describeModel}.
 * @throws {FileError} the file cannot be written (e.g. its directory is missing); nothing is left behind.
 */
export function saveModel(model: Model<Kind, Kind>, path: string, options?: AtomicWriteOptions): void {
  const { tensors, metadata } = modelTensors(model);
  saveSafetensors(path, tensors, metadata, options);
}

/** Async version of {@link saveModel}. */
export async function saveModelAsync(model: Model<Kind, Kind>, path: string, options?: AtomicWriteOptions): Promise<void> {
  const { tensors, metadata } = modelTensors(model);
  await saveSafetensorsAsync(path, tensors, metadata, options);
}

// ---------------------------------------------------------------------------------------------
// Loading

/** Options of {@link loadModel}. */
export interface LoadModelOptions<In extends Kind = Kind, Out extends Kind = Kind> {
  /** Which kernels the loaded model runs on. Default: `'native'`. */
  readonly backend?: BackendName;
  /** Seed of the loaded model's generator (dropout masks in training). Default: 0. */
  readonly seed?: number;
  /** The input kind the caller expects (types the result); a model with another gives a FormatError. Default: any. */
  readonly inputKind?: In;
  /** The output kind the caller expects (types the result); a model with another gives a FormatError. Default: any. */
  readonly outputKind?: Out;
}

type Fail = (argument: string, message: string) => FormatError;

function failIn(source: string): Fail {
  return (argument, message) => new FormatError(`${message} (in ${source})`, argument);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;
const quote = (s: string): string => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);

/** The argument of a layer option error, under `prefix` (`options` is the config itself). */
function optionArgument(prefix: string, e: unknown): string {
  const arg = e instanceof GatedError ? e.argument : undefined;
  return arg === undefined || arg === 'options' ? prefix : `${prefix}.${arg}`;
}

/** The bare message of an error (without gated's `argument: ` prefix). */
function bareMessage(e: unknown): string {
  if (e instanceof GatedError && e.argument !== undefined && e.message.startsWith(`${e.argument}: `)) {
    return e.message.slice(e.argument.length + 2);
  }
  return e instanceof Error ? e.message : String(e);
}

/** Validates the description and the tensors against it; builds the model and fills its weights. */
function modelFromContent<In extends Kind, Out extends Kind>(
  content: SafetensorsContent, source: string, options: LoadModelOptions<In, Out>,
): Model<In, Out> {
  const fail = failIn(source);
  const meta = content.metadata;
  const metaArg = (k: string): string => `__metadata__[${JSON.stringify(k)}]`;
  if (meta[METADATA_KEYS.format] !== MODEL_FORMAT) {
    const got = meta[METADATA_KEYS.format];
    throw fail(metaArg(METADATA_KEYS.format), got === undefined
      ? `missing: not a gated model file (a plain safetensors file loads with loadStateDict)`
      : `expected ${quote(MODEL_FORMAT)}, got ${quote(got)}`);
  }
  if (meta[METADATA_KEYS.version] !== String(MODEL_FORMAT_VERSION)) {
    const got = meta[METADATA_KEYS.version];
    throw fail(metaArg(METADATA_KEYS.version), `expected ${quote(String(MODEL_FORMAT_VERSION))} (the version this gated reads), got ${got === undefined ? 'none' : quote(got)}`);
  }
  const text = meta[METADATA_KEYS.model];
  if (text === undefined) throw fail(metaArg(METADATA_KEYS.model), 'missing: the file has no model description');
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    throw fail('description', `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(d)) throw fail('description', `expected a JSON object, got ${describe(d)}`);
  if (d.format !== MODEL_FORMAT) throw fail('format', `expected ${quote(MODEL_FORMAT)}, got ${describe(d.format)}`);
  if (d.version !== MODEL_FORMAT_VERSION) throw fail('version', `expected ${MODEL_FORMAT_VERSION}, got ${describe(d.version)}`);

  // The input spec.
  const inp = d.input;
  if (!isObject(inp)) throw fail('input', `expected an object { kind, features }, got ${describe(inp)}`);
  if (typeof inp.kind !== 'string' || !KINDS.includes(inp.kind)) {
    throw fail('input.kind', `expected one of 'tokens', 'sequence', 'vector', got ${describe(inp.kind)}`);
  }
  const kind0 = inp.kind as Kind;
  if (options.inputKind !== undefined && options.inputKind !== kind0) {
    throw fail('input.kind', `expected a model taking ${options.inputKind} (options.inputKind), got one taking ${kind0}`);
  }
  if (typeof inp.features !== 'number' || !Number.isInteger(inp.features) || inp.features < 1 || inp.features > 2 ** 31 - 1) {
    throw fail('input.features', `expected an integer >= 1, got ${describe(inp.features)}`);
  }
  const spec: InputSpec<Kind> = { kind: kind0, features: inp.features };

  // The layers: type, name, config (the factories' own checks), the chain of kinds, and the
  // parameters each config makes (names and shapes, nothing allocated).
  if (!Array.isArray(d.layers)) throw fail('layers', `expected an array, got ${describe(d.layers)}`);
  if (!Array.isArray(d.parameters)) throw fail('parameters', `expected an array, got ${describe(d.parameters)}`);
  const listed = d.parameters.length;
  const layers: Layer[] = [];
  const names: (string | null)[] = [];
  const planned: { name: string; shape: readonly number[]; layer: number }[] = [];
  let kind: Kind = spec.kind;
  let features = spec.features;
  d.layers.forEach((ld: unknown, i: number) => {
    const at = `layers[${i}]`;
    if (!isObject(ld)) throw fail(at, `expected an object { type, name, config }, got ${describe(ld)}`);
    for (const k of Object.keys(ld)) {
      if (!['type', 'name', 'config'].includes(k)) throw fail(`${at}.${k}`, 'unknown field');
    }
    const { type, name, config } = ld;
    if (typeof type !== 'string' || !Object.hasOwn(FACTORIES, type)) {
      throw fail(`${at}.type`, `unknown layer type ${typeof type === 'string' ? quote(type) : describe(type)} (known: ${layerTypes.join(', ')})`);
    }
    if (name !== null && (typeof name !== 'string' || !/^[A-Za-z_]\w*$/.test(name))) {
      throw fail(`${at}.name`, `expected null or an identifier, got ${describe(name)}`);
    }
    if (name !== null && names.includes(name)) throw fail(`${at}.name`, `the name ${quote(name)} is taken by an earlier layer`);
    if (!isObject(config)) throw fail(`${at}.config`, `expected an object, got ${describe(config)}`);
    let layer: Layer;
    try {
      layer = FACTORIES[type](config as LayerConfig);
    } catch (e) {
      throw fail(optionArgument(`${at}.config`, e), bareMessage(e));
    }
    const canonical = layer.config ?? {};
    for (const k of Object.keys(config)) {
      if (!Object.hasOwn(canonical, k)) throw fail(`${at}.config.${k}`, `unknown option of ${type}`);
      if (JSON.stringify(config[k]) !== JSON.stringify(canonical[k])) {
        throw fail(`${at}.config.${k}`, `expected ${JSON.stringify(canonical[k])}, got ${JSON.stringify(config[k])}`);
      }
    }
    for (const k of Object.keys(canonical)) {
      if (!Object.hasOwn(config, k)) throw fail(`${at}.config.${k}`, 'missing');
    }
    // A corrupt numLayers must not make plan() loop for billions of layers: each makes >= 4 parameters.
    const numLayers = canonical.numLayers;
    if (typeof numLayers === 'number' && numLayers * 4 > listed) {
      throw fail(`${at}.config.numLayers`, `${numLayers} layers make at least ${numLayers * 4} parameters, the description lists ${listed}`);
    }
    const next = (layer.kinds as KindMap)[kind];
    if (next === undefined) {
      const accepts = Object.keys(layer.kinds).map((k) => `a ${k}`).join(' or ');
      throw fail(at, `${type} takes ${accepts}, but the layers before it give a ${kind}`);
    }
    if (!layer.plan) throw fail(`${at}.type`, `${type} layers cannot be loaded`);
    const plan = layer.plan(features);
    const prefix = name ?? String(i);
    for (const p of plan.parameters) planned.push({ name: `${prefix}.${p.name}`, shape: p.shape, layer: i });
    layers.push(layer);
    names.push(name);
    kind = next;
    features = plan.outputFeatures;
  });
  if (options.outputKind !== undefined && options.outputKind !== kind) {
    throw fail('layers', `expected a model giving a ${options.outputKind} (options.outputKind), got one giving a ${kind}`);
  }

  // The parameter list: exactly what the configs make.
  const described = new Map<string, { shape: number[]; dtype: Dtype; index: number }>();
  d.parameters.forEach((pd: unknown, k: number) => {
    const at = `parameters[${k}]`;
    if (!isObject(pd)) throw fail(at, `expected an object { name, shape, dtype }, got ${describe(pd)}`);
    for (const f of Object.keys(pd)) {
      if (!['name', 'shape', 'dtype'].includes(f)) throw fail(`${at}.${f}`, 'unknown field');
    }
    if (typeof pd.name !== 'string') throw fail(`${at}.name`, `expected a string, got ${describe(pd.name)}`);
    if (described.has(pd.name)) throw fail(`${at}.name`, `duplicate parameter ${quote(pd.name)}`);
    if (!isShape(pd.shape)) throw fail(`${at}.shape`, 'expected an array of non-negative integers');
    if (typeof pd.dtype !== 'string' || !FLOAT_DTYPES.includes(pd.dtype)) {
      throw fail(`${at}.dtype`, `expected one of ${FLOAT_DTYPES.join(', ')}, got ${describe(pd.dtype)}`);
    }
    described.set(pd.name, { shape: pd.shape, dtype: pd.dtype as Dtype, index: k });
  });
  const plannedNames = new Set(planned.map((p) => p.name));
  for (const p of planned) {
    const got = described.get(p.name);
    if (got === undefined) throw fail('parameters', `missing parameter ${quote(p.name)} (layers[${p.layer}] has it)`);
    if (shapeText(got.shape) !== shapeText(p.shape)) {
      throw fail(`parameters[${got.index}].shape`, `${quote(p.name)}: expected ${shapeText(p.shape)} (from layers[${p.layer}].config), got ${shapeText(got.shape)}`);
    }
  }
  for (const [name, got] of described) {
    if (!plannedNames.has(name)) throw fail(`parameters[${got.index}].name`, `unexpected parameter ${quote(name)}: no layer has it`);
  }

  // The tensors: exactly the described ones, with their shapes and dtypes.
  for (const [name, want] of described) {
    const t = Object.hasOwn(content.tensors, name) ? content.tensors[name] : undefined;
    const at = `tensors[${JSON.stringify(name)}]`;
    if (t === undefined) throw fail(at, 'missing from the file (the description lists it)');
    if (t.dtype !== want.dtype) throw fail(`${at}.dtype`, `expected ${want.dtype} (as described), got ${t.dtype}`);
    if (shapeText(t.shape) !== shapeText(want.shape)) throw fail(`${at}.shape`, `expected ${shapeText(want.shape)} (as described), got ${shapeText(t.shape)}`);
  }
  for (const name of Object.keys(content.tensors)) {
    if (!described.has(name)) throw fail(`tensors[${JSON.stringify(name)}]`, 'unexpected tensor: not in the description');
  }

  // Build (sizes are now bounded by the file's own size) and fill.
  const initRng = new Rng(0);
  features = spec.features;
  layers.forEach((layer, i) => {
    try {
      features = layer.build(features, initRng);
    } catch (e) {
      const arg = e instanceof GatedError ? e.argument : undefined;
      throw fail(arg === 'inputFeatures' || arg === undefined ? `layers[${i}]` : `layers[${i}].config.${arg}`, bareMessage(e));
    }
  });
  let builder: SequentialBuilder<Kind, Kind> = sequential(spec);
  layers.forEach((layer, i) => {
    builder = builder.add(layer as never, names[i] ?? undefined) as SequentialBuilder<Kind, Kind>;
  });
  const model = builder.build({ seed: options.seed ?? 0, backend: options.backend ?? 'native' });
  fill(model, content.tensors, fail, false);
  return model as unknown as Model<In, Out>;
}

/** Checks `tensors` against the model's parameters, then (only if all is well) copies them in. */
function fill(model: Model<Kind, Kind>, tensors: Readonly<Record<string, Tensor>>, fail: Fail, allowMissing: boolean): { missing: string[]; unexpected: string[] } {
  const params = model.parameters();
  const missing: string[] = [];
  const values: Float32Array[] = [];
  const targets: Float32Array[] = [];
  for (const p of params) {
    if (!Object.hasOwn(tensors, p.name)) {
      missing.push(p.name);
      continue;
    }
    const t: unknown = tensors[p.name];
    const at = `tensors[${JSON.stringify(p.name)}]`;
    if (!isObject(t)) throw fail(at, `expected a tensor { dtype, shape, data }, got ${describe(t)}`);
    if (typeof t.dtype !== 'string' || !FLOAT_DTYPES.includes(t.dtype)) {
      throw fail(`${at}.dtype`, `expected one of ${FLOAT_DTYPES.join(', ')}, got ${describe(t.dtype)}`);
    }
    if (!isShape(t.shape) || shapeText(t.shape) !== shapeText(p.shape)) {
      throw fail(`${at}.shape`, `expected ${shapeText(p.shape)}, got ${isShape(t.shape) ? shapeText(t.shape) : describe(t.shape)}`);
    }
    const data = t.data;
    if (!ArrayBuffer.isView(data) || (data as unknown as ArrayLike<number>).length !== p.value.length) {
      throw fail(`${at}.data`, `expected a typed array of ${p.value.length} elements, got ${describe(data)}`);
    }
    let v: Float32Array;
    try {
      v = toFloat32(t as unknown as Tensor);
    } catch (e) {
      throw fail(`${at}.data`, bareMessage(e));
    }
    values.push(v);
    targets.push(p.value);
  }
  const known = new Set(params.map((p) => p.name));
  const unexpected = Object.keys(tensors).filter((n) => !known.has(n));
  if (!allowMissing && missing.length > 0) {
    throw fail('tensors', `missing ${missing.length} parameter(s): ${missing.slice(0, 8).map(quote).join(', ')}${missing.length > 8 ? ', ...' : ''}`);
  }
  if (!allowMissing && unexpected.length > 0) {
    throw fail('tensors', `${unexpected.length} unexpected tensor(s): ${unexpected.slice(0, 8).map(quote).join(', ')}${unexpected.length > 8 ? ', ...' : ''}`);
  }
  targets.forEach((dst, k) => dst.set(values[k]));
  return { missing, unexpected };
}

function checkModel(model: unknown): asserts model is Model<Kind, Kind> {
  if (typeof model !== 'object' || model === null || typeof (model as Model<Kind, Kind>).parameters !== 'function'
    || !Array.isArray((model as Model<Kind, Kind>).layers)) {
    throw new ValueError(`expected a model (from sequential(...).build()), got ${describe(model)}`, 'model');
  }
}

/**
 * A model from the bytes of a model file (what {@link encodeModel} gives).
 * @throws {FormatError} anything wrong with the bytes or the description; `argument` names the field.
 */
export function decodeModel<In extends Kind = Kind, Out extends Kind = Kind>(
  bytes: Uint8Array, options: LoadModelOptions<In, Out> = {},
): Model<In, Out> {
  return modelFromContent(decodeSafetensors(bytes), 'bytes', checkLoadOptions(options));
}

function checkLoadOptions<O extends LoadModelOptions<Kind, Kind>>(options: O): O {
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  if (options.inputKind !== undefined && !KINDS.includes(options.inputKind)) {
    throw new ValueError(`expected one of 'tokens', 'sequence', 'vector', got ${describe(options.inputKind)}`, 'options.inputKind');
  }
  if (options.outputKind !== undefined && !KINDS.includes(options.outputKind)) {
    throw new ValueError(`expected one of 'tokens', 'sequence', 'vector', got ${describe(options.outputKind)}`, 'options.outputKind');
  }
  return options;
}

/**
 * Loads a model saved by {@link saveModel}: rebuilds it from the description and fills its weights.
 * `inputKind` / `outputKind` type the result (and are checked).
 * @throws {FileError} the file cannot be read.
 * @throws {FormatError} truncated or corrupt file, or a description or weights that do not fit
 *   (see the module comment); `argument` names the field at fault.
 */
export function loadModel<In extends Kind = Kind, Out extends Kind = Kind>(path: string, options: LoadModelOptions<In, Out> = {}): Model<In, Out> {
  checkLoadOptions(options);
  return modelFromContent(loadSafetensors(path), path, options);
}

/** Async version of {@link loadModel}. */
export async function loadModelAsync<In extends Kind = Kind, Out extends Kind = Kind>(
  path: string, options: LoadModelOptions<In, Out> = {},
): Promise<Model<In, Out>> {
  checkLoadOptions(options);
  return modelFromContent(await loadSafetensorsAsync(path), path, options);
}

/** Options of {@link loadStateDict}. */
export interface LoadStateDictOptions {
  /**
   * Every parameter of the model must be in `tensors` and every tensor must be a parameter
   * (PyTorch's `strict`). When false, missing parameters keep their values and unexpected tensors
   * are ignored (both are listed in the result). Default: true.
   */
  readonly strict?: boolean;
}

/** What {@link loadStateDict} reports (PyTorch's `missing_keys` / `unexpected_keys`). */
export interface LoadStateDictResult {
  /** Parameters of the model that `tensors` lacks (kept as they were). */
  readonly missing: readonly string[];
  /** Tensors that are no parameter of the model (ignored). */
  readonly unexpected: readonly string[];
}

/**
 * Copies weights by PyTorch `state_dict` name into a built model, e.g. the tensors of
 * `loadSafetensors('model.safetensors')` saved in Python by
 * `safetensors.torch.save_file(seq.state_dict(), ...)` for an `nn.Sequential` of the same layers:
 * `0.weight` (nn.Embedding `[V, E]`), `1.weight_ih_l0` `[4H, E]`, `1.weight_hh_l0`, `1.bias_ih_l0`,
 * `1.bias_hh_l0`, `1.weight_ih_l0_reverse`, ... (nn.LSTM), `2.weight` `[out, in]`, `2.bias`
 * (nn.Linear). F32, F16, BF16 and F64 tensors are accepted (converted to float32). Everything is
 * checked before any weight changes: on an error the model is as it was.
 * @throws {ValueError} `model` or `tensors` is not one.
 * @throws {FormatError} a tensor of the wrong shape or dtype (argument `tensors["<name>"].shape` ...),
 *   or, when strict, missing or unexpected names (argument `tensors`).
 */
export function loadStateDict(
  model: Model<Kind, Kind>, tensors: Readonly<Record<string, Tensor>>, options: LoadStateDictOptions = {},
): LoadStateDictResult {
  checkModel(model);
  if (!isObject(tensors)) throw new ValueError(`expected an object of tensors by name, got ${describe(tensors)}`, 'tensors');
  if (typeof options !== 'object' || options === null) throw new ValueError(`expected an object, got ${describe(options)}`, 'options');
  const strict = options.strict ?? true;
  if (typeof strict !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(strict)}`, 'options.strict');
  return fill(model, tensors, (argument, message) => new FormatError(message, argument), !strict);
}

/**
 * Loading models: {@link loadModel} / {@link decodeModel} rebuild a model from its file (its
 * description, lib/models/formats.ts, and its weights), and {@link loadStateDict} copies PyTorch
 * `state_dict` weights into a built model by name.
 *
 * Loading checks everything before it allocates or fills a weight, and every problem with the file
 * is a {@link FormatError} whose `argument` names the field at fault (`layers[1].config.hiddenSize`,
 * `parameters[3].shape`, `tensors["1.weight_ih_l0"]`, `__metadata__["gated.format_version"]`):
 * the safetensors container (decodeSafetensors: lengths, offsets, JSON, dtypes); the format, version
 * and description (the format's reader); and the tensors against the parameter list (each present
 * with that shape and dtype, none extra, every value finite). The model is then built without any
 * random initialization (its weights are the file's), so loading costs about the file's size.
 *
 * Dtypes: saving writes F32. Loading accepts F32, and also F16, BF16 and F64 (converted by
 * {@link toFloat32}: F16 and BF16 exactly, F64 rounded to nearest), both in a model file (the
 * description's dtype must then match the tensor's) and in {@link loadStateDict}, so that a
 * half-precision PyTorch checkpoint loads. Integer and BOOL tensors are refused.
 */
import { type BackendName, backendName, describe, objectArgs } from '../check.js';
import { FormatError, ValueError } from '../errors.js';
import {
  decodeSafetensors,
  loadSafetensors,
  loadSafetensorsAsync,
  type SafetensorsContent,
  type Tensor,
  toFloat32,
} from '../io/safetensors.js';
import type { Kind } from '../layers/values.js';
import { readModelMetadata, type ReadModel } from './formats.js';
import { type AnyModel, checkModel, type Model } from './model.js';
import { bareMessage, type Fail, failIn, FLOAT_DTYPES, isObject, isShape, quote, shapeText } from './reading.js';
import { buildEncoderDecoder, type EncoderDecoderModel } from './seq2seq.js';
import { METADATA_KEYS } from './save.js';
import { SEQ2SEQ_FORMAT } from './seq2seq-format.js';
import { buildSequential } from './sequential.js';
import { type ParsedCheckpoint, parseCheckpoint } from '../train/checkpoint.js';

export { layerTypes } from '../layers/registry.js';

/** Options of {@link loadModel}. */
export interface LoadModelOptions<In extends Kind = Kind, Out extends Kind = Kind> {
  /** Which kernels the loaded model runs on. Default: the process default at each call. */
  readonly backend?: BackendName;
  /** Seed of the loaded model's generator (dropout masks in training). Default: 0. */
  readonly seed?: number;
  /** The input kind the caller expects (types the result); a model with another gives a FormatError. Default: any. */
  readonly inputKind?: In;
  /** The output kind the caller expects (types the result); a model with another gives a FormatError. Default: any. */
  readonly outputKind?: Out;
}

const KINDS: readonly string[] = ['tokens', 'sequence', 'vector'];

function checkLoadOptions<O extends LoadModelOptions<Kind, Kind>>(options: O): O {
  const o = objectArgs(options, 'options');
  for (const k of Object.keys(o)) {
    if (!['backend', 'seed', 'inputKind', 'outputKind'].includes(k))
      throw new ValueError('unknown option (known: backend, seed, inputKind, outputKind)', `options.${k}`);
  }
  if (options.inputKind !== undefined && !KINDS.includes(options.inputKind)) {
    throw new ValueError(`expected one of 'tokens', 'sequence', 'vector', got ${describe(options.inputKind)}`, 'options.inputKind');
  }
  if (options.outputKind !== undefined && !KINDS.includes(options.outputKind)) {
    throw new ValueError(`expected one of 'tokens', 'sequence', 'vector', got ${describe(options.outputKind)}`, 'options.outputKind');
  }
  backendName(options.backend, 'options.backend');
  return options;
}

/** Checks that the file's tensors are exactly the described ones, with their shapes and dtypes. */
function checkTensors(read: ReadModel, tensors: Readonly<Record<string, Tensor>>, fail: Fail): void {
  const described = new Map(read.description.parameters.map((p) => [p.name, p]));
  for (const [name, want] of described) {
    const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
    const at = `tensors[${JSON.stringify(name)}]`;
    if (t === undefined) throw fail(at, 'missing from the file (the description lists it)');
    if (t.dtype !== want.dtype) throw fail(`${at}.dtype`, `expected ${want.dtype} (as described), got ${t.dtype}`);
    if (shapeText(t.shape) !== shapeText(want.shape))
      throw fail(`${at}.shape`, `expected ${shapeText(want.shape)} (as described), got ${shapeText(t.shape)}`);
  }
  for (const name of Object.keys(tensors)) {
    if (!described.has(name)) throw fail(`tensors[${JSON.stringify(name)}]`, 'unexpected tensor: not in the description');
  }
}

/** @internal Builds the model a read description describes (weights zero, to be filled). */
export function buildFromDescription<In extends Kind, Out extends Kind>(
  read: ReadModel,
  options: LoadModelOptions<In, Out>,
): Model<In, Out> {
  if (read.format === SEQ2SEQ_FORMAT) {
    return buildEncoderDecoder(read.config, {
      seed: options.seed,
      backend: options.backend ?? null,
      initialize: false,
    }) as unknown as Model<In, Out>;
  }
  const { spec, layers, names } = read.sequential;
  return buildSequential<In, Out>(
    spec,
    layers.map((layer, i) => ({ layer, name: names[i] })),
    { seed: options.seed, backend: options.backend ?? null, initialize: false },
  );
}

/** Validates the description and the tensors against it; builds the model and fills its weights. */
function modelFromContent<In extends Kind, Out extends Kind>(
  content: SafetensorsContent,
  source: string,
  options: LoadModelOptions<In, Out>,
  format?: string,
): Model<In, Out> {
  const fail = failIn(source);
  const read = readModelMetadata(content.metadata, source, options);
  if (format !== undefined && read.format !== format) {
    throw fail(
      `__metadata__[${JSON.stringify(METADATA_KEYS.format)}]`,
      `expected ${quote(format)}, got ${quote(read.format)} (loadModel loads it)`,
    );
  }
  checkTensors(read, content.tensors, fail);
  const model = buildFromDescription<In, Out>(read, options);
  fill(model, content.tensors, fail, false);
  return model;
}

/**
 * @internal Checks `tensors` against the model's parameters (shape, dtype, every value finite), then
 * (only if all is well) copies them in.
 */
export function fill(
  model: AnyModel,
  tensors: Readonly<Record<string, Tensor>>,
  fail: Fail,
  allowMissing: boolean,
): { missing: string[]; unexpected: string[] } {
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
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw fail(`${at}.data`, `element ${i} is ${v[i]}: a weight must be finite`);
    }
    values.push(v);
    targets.push(p.value);
  }
  const known = new Set(params.map((p) => p.name));
  const unexpected = Object.keys(tensors).filter((n) => !known.has(n));
  if (!allowMissing && missing.length > 0) {
    throw fail(
      'tensors',
      `missing ${missing.length} parameter(s): ${missing.slice(0, 8).map(quote).join(', ')}${missing.length > 8 ? ', ...' : ''}`,
    );
  }
  if (!allowMissing && unexpected.length > 0) {
    throw fail(
      'tensors',
      `${unexpected.length} unexpected tensor(s): ${unexpected.slice(0, 8).map(quote).join(', ')}${unexpected.length > 8 ? ', ...' : ''}`,
    );
  }
  targets.forEach((dst, k) => dst.set(values[k]));
  return { missing, unexpected };
}

/**
 * A model from the bytes of a model file (what `encodeModel` gives).
 * @throws {FormatError} anything wrong with the bytes or the description; `argument` names the field.
 */
export function decodeModel<In extends Kind = Kind, Out extends Kind = Kind>(
  bytes: Uint8Array,
  options: LoadModelOptions<In, Out> = {},
): Model<In, Out> {
  return modelFromContent(decodeSafetensors(bytes), 'bytes', checkLoadOptions(options));
}

/**
 * Loads a model saved by `saveModel` / `model.save`: rebuilds it from the description and fills its
 * weights. `inputKind` / `outputKind` type the result (and are checked).
 * @throws {FileError} the file cannot be read.
 * @throws {FormatError} truncated or corrupt file, or a description or weights that do not fit
 *   (see the module comment); `argument` names the field at fault.
 */
export function loadModel<In extends Kind = Kind, Out extends Kind = Kind>(
  path: string,
  options: LoadModelOptions<In, Out> = {},
): Model<In, Out> {
  checkLoadOptions(options);
  return modelFromContent(loadSafetensors(path), path, options);
}

/** Async version of {@link loadModel}. */
export async function loadModelAsync<In extends Kind = Kind, Out extends Kind = Kind>(
  path: string,
  options: LoadModelOptions<In, Out> = {},
): Promise<Model<In, Out>> {
  checkLoadOptions(options);
  return modelFromContent(await loadSafetensorsAsync(path), path, options);
}

/** Options of {@link loadEncoderDecoder}. */
export type LoadEncoderDecoderOptions = Pick<LoadModelOptions, 'backend' | 'seed'>;

/**
 * Loads an encoder-decoder saved by `model.save` (format "gated.seq2seq"), typed as one: its
 * `decode`, `score` and `config` (with the vocabularies it was saved with) are there.
 * @throws {FileError} the file cannot be read.
 * @throws {FormatError} as {@link loadModel}; also a file of another model format.
 */
export function loadEncoderDecoder(path: string, options: LoadEncoderDecoderOptions = {}): EncoderDecoderModel {
  checkLoadOptions(options);
  return modelFromContent(loadSafetensors(path), path, options, SEQ2SEQ_FORMAT) as unknown as EncoderDecoderModel;
}

/** Async version of {@link loadEncoderDecoder}. */
export async function loadEncoderDecoderAsync(path: string, options: LoadEncoderDecoderOptions = {}): Promise<EncoderDecoderModel> {
  checkLoadOptions(options);
  return modelFromContent(await loadSafetensorsAsync(path), path, options, SEQ2SEQ_FORMAT) as unknown as EncoderDecoderModel;
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
 * (nn.Linear). F32, F16, BF16 and F64 tensors are accepted (converted to float32); every value must
 * be finite. Everything is checked before any weight changes: on an error the model is as it was.
 * @throws {ValueError} `model` or `tensors` is not one.
 * @throws {FormatError} a tensor of the wrong shape or dtype, or a non-finite value (argument
 *   `tensors["<name>"].shape` ...), or, when strict, missing or unexpected names (argument `tensors`).
 */
export function loadStateDict(
  model: AnyModel,
  tensors: Readonly<Record<string, Tensor>>,
  options: LoadStateDictOptions = {},
): LoadStateDictResult {
  checkModel(model);
  if (!isObject(tensors)) throw new ValueError(`expected an object of tensors by name, got ${describe(tensors)}`, 'tensors');
  const o = objectArgs(options, 'options');
  for (const k of Object.keys(o)) if (k !== 'strict') throw new ValueError('unknown option (known: strict)', `options.${k}`);
  const strict = options.strict ?? true;
  if (typeof strict !== 'boolean') throw new ValueError(`expected a boolean, got ${describe(strict)}`, 'options.strict');
  return fill(model, tensors, (argument, message) => new FormatError(message, argument), !strict);
}

/** The model in a parsed checkpoint, with the checkpoint's weights (`model.<name>` tensors). */
function checkpointModel<In extends Kind, Out extends Kind>(
  c: ParsedCheckpoint,
  path: string,
  options: LoadModelOptions<In, Out>,
): Model<In, Out> {
  checkLoadOptions(options);
  const fail = failIn(path);
  const { inputKind, outputKind } = options;
  const input = c.model.format === SEQ2SEQ_FORMAT ? '{ source, target } tokens (an encoder-decoder)' : c.model.description.input.kind;
  if (inputKind !== undefined && inputKind !== input)
    throw fail('input.kind', `expected a model taking ${inputKind} (options.inputKind), got one taking ${input}`);
  const model = buildFromDescription<In, Out>(c.model, options);
  if (outputKind !== undefined && outputKind !== model.outputKind) {
    throw fail('layers', `expected a model giving a ${outputKind} (options.outputKind), got one giving a ${model.outputKind}`);
  }
  const tensors: Record<string, Tensor> = {};
  for (const p of c.params) tensors[p.name] = c.tensors[`model.${p.name}`];
  fill(model, tensors, fail, false);
  return model;
}

/**
 * The model saved in a checkpoint, with the checkpoint's weights: what `loadModel` gives for a model
 * file (the same options and checks). To continue training, pass the checkpoint to `fit`'s
 * `resumeFrom` instead (that also restores the optimizer, the generators and the position).
 * @throws {FileError} the file cannot be read.
 * @throws {FormatError} truncated or corrupt file, not a checkpoint, or a description or tensors that do not fit.
 */
export function loadCheckpointModel<In extends Kind = Kind, Out extends Kind = Kind>(
  path: string,
  options: LoadModelOptions<In, Out> = {},
): Model<In, Out> {
  return checkpointModel(parseCheckpoint(loadSafetensors(path), path), path, options);
}

/** Async version of {@link loadCheckpointModel}. */
export async function loadCheckpointModelAsync<In extends Kind = Kind, Out extends Kind = Kind>(
  path: string,
  options: LoadModelOptions<In, Out> = {},
): Promise<Model<In, Out>> {
  return checkpointModel(parseCheckpoint(await loadSafetensorsAsync(path), path), path, options);
}

/**
 * Saving models: ONE FILE per model, a safetensors file whose tensors are the weights under their
 * PyTorch `state_dict` names (`0.weight`, `1.weight_ih_l0`, `1.bias_hh_l0_reverse`, `2.bias`), F32,
 * and whose `__metadata__` carries the format and the model's description (`model.describe()`, see
 * lib/models/formats.ts for what it holds):
 *
 *   "gated.format":         the description's format, e.g. "gated.sequential"
 *   "gated.format_version": its version, e.g. "2"
 *   "gated.model":          the JSON description
 *
 * Why one file and not `<path>.json` beside `<path>.safetensors`: one file is replaced atomically as a
 * unit (write a temporary file, fsync, rename). Two files cannot be: a crash between the two renames
 * leaves a new description beside the old weights, or the weights of another model. One file also
 * cannot be copied or deleted half. It stays a plain safetensors file: Python's
 * `safetensors.torch.load_file(path)` gives a dict that `nn.Sequential.load_state_dict` takes as is,
 * and `safe_open(path, 'pt').metadata()['gated.model']` gives the description.
 *
 * Loading is lib/models/load.ts.
 */
import type { AtomicWriteOptions } from '../io/atomic.js';
import { encodeSafetensors, saveSafetensors, saveSafetensorsAsync, type Tensor } from '../io/safetensors.js';
import { type AnyModel, checkModel } from './model.js';

/** The `__metadata__` keys of a model file. */
export const METADATA_KEYS = { format: 'gated.format', version: 'gated.format_version', model: 'gated.model' } as const;

/**
 * The description of a built model (what its file saves).
 * @throws {ValueError} `model` is not a model, or one of its layers cannot be saved (no config).
 */
export function describeModel<M extends AnyModel>(model: M): ReturnType<M['describe']> {
  checkModel(model);
  return model.describe() as ReturnType<M['describe']>;
}

/** The tensors (weights by name) and metadata of `model`'s file. */
export function modelTensors(model: AnyModel): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const description = describeModel(model);
  const tensors: Record<string, Tensor> = {};
  for (const p of model.parameters()) tensors[p.name] = { dtype: 'F32', shape: [...p.shape], data: p.value };
  const metadata = {
    [METADATA_KEYS.format]: description.format,
    [METADATA_KEYS.version]: String(description.version),
    [METADATA_KEYS.model]: JSON.stringify(description),
  };
  return { tensors, metadata };
}

/** The bytes of a model file (what {@link saveModel} writes). */
export function encodeModel(model: AnyModel): Uint8Array {
  const { tensors, metadata } = modelTensors(model);
  return encodeSafetensors(tensors, metadata);
}

/**
 * Saves the model to `path` (one safetensors file, see the module comment), atomically: after a
 * crash the file is the old one or the new one, never a part.
 * @throws {ValueError} as {@link describeModel}.
 * @throws {FileError} the file cannot be written (e.g. its directory is missing); nothing is left behind.
 */
export function saveModel(model: AnyModel, path: string, options?: AtomicWriteOptions): void {
  const { tensors, metadata } = modelTensors(model);
  saveSafetensors(path, tensors, metadata, options);
}

/** Async version of {@link saveModel}. */
export async function saveModelAsync(model: AnyModel, path: string, options?: AtomicWriteOptions): Promise<void> {
  const { tensors, metadata } = modelTensors(model);
  await saveSafetensorsAsync(path, tensors, metadata, options);
}

/**
 * The description of a `sequential` model (format "gated.sequential"), and its reader:
 *
 *   { "format": "gated.sequential", "version": 2,
 *     "input": { "kind": "tokens", "features": 50 },
 *     "layers": [ { "type": "embedding", "name": null, "config": { "vocabSize": 50, "dim": 16, "paddingIndex": null } },
 *                 { "type": "lstm", "name": null, "config": { "hiddenSize": 32, "numLayers": 2, ... } }, ... ],
 *     "parameters": [ { "name": "0.weight", "shape": [50, 16], "dtype": "F32" }, ... ] }
 *
 * `config` is the layer's {@link Layer.config}: every option with its default filled in. Version 1
 * (before this format's second version) let a Jordan layer omit options at their defaults; its files
 * load with those filled in. The reader checks the input spec; every layer's type (one of the layer
 * registry's), name and config (the factory's own option checks; no unknown option, and in version 2
 * no missing one); the chain of kinds; and the parameter list against what the configs make (names
 * and exact shapes, computed without allocating, so that a corrupt size cannot make the loader
 * allocate gigabytes).
 */
import { describe } from '../check.js';
import { GatedError } from '../errors.js';
import type { KindMap, Layer, LayerConfig } from '../layers/layer.js';
import { isLayerType, layerFromConfig, layerTypes } from '../layers/registry.js';
import type { Kind } from '../layers/values.js';
import type { InputSpec, ModelDescription } from './model.js';
import { bareMessage, type ExpectedKinds, type Fail, isObject, type PlannedParameter, quote, readParameterList } from './reading.js';

/** The `format` of a sequential model's description (and the `gated.format` metadata value). */
export const SEQUENTIAL_FORMAT = 'gated.sequential';
/** The description version this code writes. */
export const SEQUENTIAL_FORMAT_VERSION = 2;
/** The versions this code reads. */
export const SEQUENTIAL_VERSIONS = [1, 2] as const;

/** One layer of a sequential model's description. */
export interface LayerDescription {
  /** The layer's type, a key of the layer registry (`layerTypes`). */
  readonly type: string;
  /** The name given to `.add(layer, name)`, or null (named by position). */
  readonly name: string | null;
  /** The layer's options, every default filled in ({@link Layer.config}). */
  readonly config: LayerConfig;
}

/** The description of a sequential model (see the module comment). */
export interface SequentialDescription extends ModelDescription {
  readonly layers: readonly LayerDescription[];
}

/** What a sequential model is built from. */
export interface SequentialParts {
  readonly spec: InputSpec<Kind>;
  readonly layers: readonly Layer[];
  readonly names: readonly (string | null)[];
}

const KINDS: readonly string[] = ['tokens', 'sequence', 'vector'];

/** The argument of a layer option error, under `prefix` (`options` is the config itself). */
function optionArgument(prefix: string, e: unknown): string {
  const arg = e instanceof GatedError ? e.argument : undefined;
  return arg === undefined || arg === 'options' || arg === '' ? prefix : `${prefix}.${arg}`;
}

/** Reads a sequential description `d` of `version` (see the module comment). */
export function readSequential(
  d: Record<string, unknown>,
  version: number,
  fail: Fail,
  expected: ExpectedKinds,
): { readonly description: SequentialDescription; readonly sequential: SequentialParts } {
  const inp = d.input;
  if (!isObject(inp)) throw fail('input', `expected an object { kind, features }, got ${describe(inp)}`);
  if (typeof inp.kind !== 'string' || !KINDS.includes(inp.kind)) {
    throw fail('input.kind', `expected one of 'tokens', 'sequence', 'vector', got ${describe(inp.kind)}`);
  }
  const kind0 = inp.kind as Kind;
  if (expected.inputKind !== undefined && expected.inputKind !== kind0) {
    throw fail('input.kind', `expected a model taking ${expected.inputKind} (options.inputKind), got one taking ${kind0}`);
  }
  if (typeof inp.features !== 'number' || !Number.isInteger(inp.features) || inp.features < 1 || inp.features > 2 ** 31 - 1) {
    throw fail('input.features', `expected an integer >= 1, got ${describe(inp.features)}`);
  }
  const spec: InputSpec<Kind> = { kind: kind0, features: inp.features };

  if (!Array.isArray(d.layers)) throw fail('layers', `expected an array, got ${describe(d.layers)}`);
  if (!Array.isArray(d.parameters)) throw fail('parameters', `expected an array, got ${describe(d.parameters)}`);
  const listed = d.parameters.length;
  const layers: Layer[] = [];
  const names: (string | null)[] = [];
  const canonicalLayers: LayerDescription[] = [];
  const planned: PlannedParameter[] = [];
  let kind: Kind = spec.kind;
  let features = spec.features;
  d.layers.forEach((ld: unknown, i: number) => {
    const at = `layers[${i}]`;
    if (!isObject(ld)) throw fail(at, `expected an object { type, name, config }, got ${describe(ld)}`);
    for (const k of Object.keys(ld)) {
      if (!['type', 'name', 'config'].includes(k)) throw fail(`${at}.${k}`, 'unknown field');
    }
    const { type, name, config } = ld;
    if (!isLayerType(type)) {
      throw fail(
        `${at}.type`,
        `unknown layer type ${typeof type === 'string' ? quote(type) : describe(type)} (known: ${layerTypes.join(', ')})`,
      );
    }
    if (name !== null && (typeof name !== 'string' || !/^[A-Za-z_]\w*$/.test(name))) {
      throw fail(`${at}.name`, `expected null or an identifier, got ${describe(name)}`);
    }
    if (name !== null && names.includes(name)) throw fail(`${at}.name`, `the name ${quote(name)} is taken by an earlier layer`);
    if (!isObject(config)) throw fail(`${at}.config`, `expected an object, got ${describe(config)}`);
    let layer: Layer;
    try {
      layer = layerFromConfig(type, config as LayerConfig);
    } catch (e) {
      throw fail(optionArgument(`${at}.config`, e), bareMessage(e));
    }
    const canonical = layer.config ?? {};
    for (const k of Object.keys(config)) {
      if (JSON.stringify(config[k]) !== JSON.stringify(canonical[k])) {
        throw fail(`${at}.config.${k}`, `expected ${JSON.stringify(canonical[k])}, got ${JSON.stringify(config[k])}`);
      }
    }
    if (version >= 2) {
      for (const k of Object.keys(canonical)) if (!Object.hasOwn(config, k)) throw fail(`${at}.config.${k}`, 'missing');
    }
    // A corrupt numLayers must not make plan() loop for billions of layers: each makes >= 4 parameters.
    const numLayers = canonical.numLayers;
    if (typeof numLayers === 'number' && numLayers * 4 > listed) {
      throw fail(
        `${at}.config.numLayers`,
        `${numLayers} layers make at least ${numLayers * 4} parameters, the description lists ${listed}`,
      );
    }
    const next = (layer.kinds as KindMap)[kind];
    if (next === undefined) {
      const accepts = Object.keys(layer.kinds)
        .map((k) => `a ${k}`)
        .join(' or ');
      throw fail(at, `${type} takes ${accepts}, but the layers before it give a ${kind}`);
    }
    if (!layer.plan) throw fail(`${at}.type`, `${type} layers cannot be loaded`);
    const plan = layer.plan(features);
    const prefix = name ?? String(i);
    for (const p of plan.parameters) planned.push({ name: `${prefix}.${p.name}`, shape: p.shape, owner: `layers[${i}].config` });
    layers.push(layer);
    names.push(name);
    canonicalLayers.push({ type, name, config: canonical });
    kind = next;
    features = plan.outputFeatures;
  });
  if (expected.outputKind !== undefined && expected.outputKind !== kind) {
    throw fail('layers', `expected a model giving a ${expected.outputKind} (options.outputKind), got one giving a ${kind}`);
  }

  // The parameter list: exactly what the configs make.
  const parameters = readParameterList(d.parameters, planned, fail);
  const description: SequentialDescription = {
    format: SEQUENTIAL_FORMAT,
    version: SEQUENTIAL_FORMAT_VERSION,
    input: { kind: spec.kind, features: spec.features },
    layers: canonicalLayers,
    parameters,
  };
  return { description, sequential: { spec, layers, names } };
}

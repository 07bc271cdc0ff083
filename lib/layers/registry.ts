/**
 * The one layer registry: every layer type a model file may name, with its factory. A factory
 * takes the layer's options (its {@link Layer.config}: every default filled in) and runs the layer's
 * own option checks, so `layerFromConfig(layer.type, layer.config)` makes an equal layer.
 *
 * Adding a layer: its file in lib/layers/ (a class implementing {@link Layer}, declaring its state,
 * causality and config), its factory here, its export in lib/layers/index.ts.
 */
import { describe } from '../check.js';
import { ValueError } from '../errors.js';
import { dense, dropout, embedding, layerNorm, oneHot } from './basic.js';
import { jordan } from './jordan.js';
import type { Layer, LayerConfig } from './layer.js';
import { gru, lstm, rnn } from './recurrent.js';

type Factory = (config: LayerConfig) => Layer;

const FACTORIES: Readonly<Record<string, Factory>> = {
  embedding: (c) => embedding(c as never) as Layer,
  oneHot: (c) => oneHot(c as never) as Layer,
  dense: (c) => dense(c as never) as Layer,
  dropout: (c) => dropout(c as never) as Layer,
  layerNorm: (c) => layerNorm(c as never) as Layer,
  rnn: (c) => rnn(c as never) as unknown as Layer,
  lstm: (c) => lstm(c as never) as unknown as Layer,
  gru: (c) => gru(c as never) as unknown as Layer,
  jordan: (c) => jordan(c as never) as unknown as Layer,
};

/** The layer types a model file may name. */
export const layerTypes: readonly string[] = Object.freeze(Object.keys(FACTORIES));

/** Whether `type` is a registered layer type. */
export function isLayerType(type: unknown): type is string {
  return typeof type === 'string' && Object.hasOwn(FACTORIES, type);
}

/**
 * A new (unbuilt) layer of `type` from its config: the layer's own option checks run (an unknown
 * or misspelled option is a ValueError naming it).
 * @throws {ValueError} unknown type (argument `type`), or a bad option (argument: the option's name).
 */
export function layerFromConfig(type: string, config: LayerConfig): Layer {
  if (!isLayerType(type)) throw new ValueError(`expected one of ${layerTypes.join(', ')}, got ${describe(type)}`, 'type');
  return FACTORIES[type](config);
}

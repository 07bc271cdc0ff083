/**
 * gated/layers: the values that flow through a model (Tokens, Sequence, Vector), the Layer
 * abstraction, and the layers. Models that chain them: lib/models/sequential.ts.
 */
export {
  tokens,
  sequence,
  vector,
  type Kind,
  type Tokens,
  type Sequence,
  type Vector,
  type Value,
  type ValueOf,
  type TokensInit,
  type SequenceInit,
  type VectorInit,
} from './values.js';
export type { Layer, LayerStep, Parameter, ForwardContext, RecurrentState, KindMap, JsonValue, LayerConfig, LayerPlan } from './layer.js';
export {
  embedding,
  oneHot,
  dense,
  dropout,
  layerNorm,
  type EmbeddingOptions,
  type OneHotOptions,
  type DenseOptions,
  type DropoutOptions,
  type LayerNormOptions,
  type Activation,
  type SameKinds,
  type TokenKinds,
} from './basic.js';
export {
  rnn,
  lstm,
  gru,
  type RecurrentOptions,
  type RnnOptions,
  type LstmOptions,
  type GruOptions,
  type MergeMode,
  type RecurrentKinds,
  type RecurrentOutput,
} from './recurrent.js';
export { jordan, type JordanOptions, type JordanKinds } from './jordan.js';

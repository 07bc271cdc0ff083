/**
 * gated/decode: choosing tokens from logits (greedy, temperature, top-k, top-p; seeded) and
 * generating text from a token language model built with lib/models/sequential.ts.
 */
export {
  greedy,
  greedyBatch,
  sample,
  sampleBatch,
  probabilities,
  logProbability,
  checkSamplingOptions,
  type SamplingOptions,
  type SampleOptions,
} from './sample.js';
export {
  generate,
  generateWithLogProbs,
  generateTokens,
  decoder,
  type GenerateOptions,
  type Generation,
  type Strategy,
  type Decoder,
  type DecoderOptions,
  type DecodeMode,
  type GeneratedToken,
  type TokenChoiceOptions,
} from './generate.js';
export type { StateBatch } from './states.js';

/**
 * gated/decode: choosing tokens from logits (greedy, temperature, top-k, top-p; seeded),
 * generating text from a token language model built with lib/models/sequential.ts, searching an
 * encoder-decoder (greedy, sampling, beam), and scoring outputs (error rates, BLEU, beam errors).
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
export {
  greedySearch,
  sampleSearch,
  beamSearch,
  lengthPenaltyFactor,
  normalizedScore,
  coveragePenalty,
  type Seq2SeqStepper,
  type Hypothesis,
  type LengthPenalty,
  type CoveragePenalty,
  type MaxLength,
  type LengthOptions,
  type SearchOptions,
  type GreedySearchOptions,
  type SampleSearchOptions,
  type BeamSearchOptions,
} from './seq2seq.js';
export { editDistance, errorRate, sentenceErrorRate, tokenize13a, corpusBleu, type BleuOptions, type BleuScore } from './metrics.js';
export {
  beamErrorAnalysis,
  formatBeamErrorReport,
  type BeamScorer,
  type BeamErrorExample,
  type BeamErrorOptions,
  type BeamSizeErrors,
  type BeamErrorAnalysis,
} from './analysis.js';

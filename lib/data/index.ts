/**
 * gated/data: everything between files on disk and the batches the layers take — readers for the
 * shared data formats, vocabularies and tokenizers, padding, masks, minibatch and window indexing.
 * The random generator these use lives in `lib/random.ts` (re-exported by the package root).
 */

export {
  Vocabulary,
  charTokens,
  wordTokens,
  type BuildVocabularyOptions,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialTokens,
  type VocabularyJSON,
  type WordTokenOptions,
} from './vocab.js';

export {
  padBatch,
  padFeatureBatch,
  mask,
  batches,
  bucketByLength,
  streamWindows,
  slidingWindows,
  type BatchesOptions,
  type BucketByLengthOptions,
  type FeatureBatch,
  type IdBatch,
  type PadBatchOptions,
  type PadFeatureBatchOptions,
  type SeriesWindows,
  type SlidingWindowsOptions,
  type StreamWindow,
  type StreamWindowsOptions,
} from './batch.js';

export {
  readLabelledTsv,
  readTaggedCorpus,
  readTimeSeriesCsv,
  readParallelTsv,
  readText,
  parseLabelledTsv,
  parseTaggedCorpus,
  parseTimeSeriesCsv,
  parseParallelTsv,
  trainTestSplit,
  kFold,
  type DataPath,
  type IndexSplit,
  type LabelledText,
  type ParallelPair,
  type TaggedSentence,
  type TimeSeries,
  type TrainTestSplitOptions,
} from './datasets.js';

export { seq2seqBatches, type Seq2SeqBatch, type Seq2SeqBatchesOptions, type Seq2SeqPair } from './seq2seq.js';

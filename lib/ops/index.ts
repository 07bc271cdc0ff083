/**
 * Every op of gated in one object, {@link ops}: the fused cell ops (lib/ops/cells.ts), the Jordan
 * network (lib/ops/jordan.ts), the fused attention decoder (lib/ops/attention.ts), the linear and embedding kernels (lib/ops/nn.ts), the losses,
 * optimizer steps and clipping (lib/ops/train.ts). Each takes one argument object and
 * `{ backend }`, and has an `...Async` twin that runs off the main thread on the native backend
 * (lib/ops/op.ts). Layers, losses and optimizers call these; users may too.
 */
import type {
  ForwardResult,
  GruBackwardArgs,
  GruForwardArgs,
  GruForwardResult,
  GruGrads,
  LstmBackwardArgs,
  LstmForwardArgs,
  LstmForwardResult,
  LstmGrads,
  RnnBackwardArgs,
  RnnForwardArgs,
  RnnForwardResult,
  RnnGrads,
  SeqForwardResult,
} from './cells.js';
import { attnDecoderBackward, attnDecoderForward } from './attention.js';
import { cellOps } from './cells.js';
import { jordanBackward, jordanForward } from './jordan.js';
import { embeddingBackward, embeddingForward, layerNormBackward, layerNormForward, linearBackward, linearForward } from './nn.js';
import type { Op, OpOptions } from './op.js';
import {
  adamStep,
  adamwStep,
  bceWithLogits,
  clipGradNorm,
  clipGradValue,
  mse,
  rmspropStep,
  sgdStep,
  softmaxCrossEntropy,
} from './train.js';

export type { OpOptions } from './op.js';
export { Workspace } from './outputs.js';

/** A cell forward, typed by its arguments (see {@link ForwardResult}). */
interface ForwardOp<Args, R extends SeqForwardResult> {
  <A extends Args>(args: A, options?: OpOptions): ForwardResult<A, R>;
}
interface ForwardOpAsync<Args, R extends SeqForwardResult> {
  <A extends Args>(args: A, options?: OpOptions): Promise<ForwardResult<A, R>>;
}
type Sync<O> = O extends Op<infer A, infer R> ? (args: A, options?: OpOptions) => R : never;
type Async<O> = O extends Op<infer A, infer R> ? (args: A, options?: OpOptions) => Promise<R> : never;

/** The ops: see the module comment; argument conventions and shapes are documented on each argument type. */
export interface Ops {
  /** Simple RNN over a whole sequence: `y [T,B,H]`, `hN [B,H]` and the cache for backward (`null` with `keepCache: false`). */
  readonly rnnForward: ForwardOp<RnnForwardArgs, RnnForwardResult>;
  /** Gradients of a simple RNN (BPTT) from the forward's cache and the output gradients. */
  readonly rnnBackward: (args: RnnBackwardArgs, options?: OpOptions) => RnnGrads;
  /** LSTM over a whole sequence: `y`, `hN`, `cN` and the cache. */
  readonly lstmForward: ForwardOp<LstmForwardArgs, LstmForwardResult>;
  /** Gradients of an LSTM (BPTT). */
  readonly lstmBackward: (args: LstmBackwardArgs, options?: OpOptions) => LstmGrads;
  /** GRU over a whole sequence: `y`, `hN` and the cache. */
  readonly gruForward: ForwardOp<GruForwardArgs, GruForwardResult>;
  /** Gradients of a GRU (BPTT). */
  readonly gruBackward: (args: GruBackwardArgs, options?: OpOptions) => GruGrads;
  readonly rnnForwardAsync: ForwardOpAsync<RnnForwardArgs, RnnForwardResult>;
  readonly rnnBackwardAsync: (args: RnnBackwardArgs, options?: OpOptions) => Promise<RnnGrads>;
  readonly lstmForwardAsync: ForwardOpAsync<LstmForwardArgs, LstmForwardResult>;
  readonly lstmBackwardAsync: (args: LstmBackwardArgs, options?: OpOptions) => Promise<LstmGrads>;
  readonly gruForwardAsync: ForwardOpAsync<GruForwardArgs, GruForwardResult>;
  readonly gruBackwardAsync: (args: GruBackwardArgs, options?: OpOptions) => Promise<GruGrads>;
  /** The fused attention decoder over a whole target sequence, or one decode step (lib/ops/attention.ts). */
  readonly attnDecoderForward: Sync<typeof attnDecoderForward>;
  /** Gradients of the attention decoder (BPTT through its layers, attention and input feeding). */
  readonly attnDecoderBackward: Sync<typeof attnDecoderBackward>;
  readonly attnDecoderForwardAsync: Async<typeof attnDecoderForward>;
  readonly attnDecoderBackwardAsync: Async<typeof attnDecoderBackward>;
  /** Jordan network forward (lib/ops/jordan.ts). */
  readonly jordanForward: Sync<typeof jordanForward>;
  readonly jordanBackward: Sync<typeof jordanBackward>;
  readonly jordanForwardAsync: Async<typeof jordanForward>;
  readonly jordanBackwardAsync: Async<typeof jordanBackward>;
  /** `y = x W^T + b` over rows (lib/ops/nn.ts). */
  readonly linearForward: Sync<typeof linearForward>;
  readonly linearBackward: Sync<typeof linearBackward>;
  readonly embeddingForward: Sync<typeof embeddingForward>;
  readonly embeddingBackward: Sync<typeof embeddingBackward>;
  readonly linearForwardAsync: Async<typeof linearForward>;
  readonly linearBackwardAsync: Async<typeof linearBackward>;
  readonly embeddingForwardAsync: Async<typeof embeddingForward>;
  readonly embeddingBackwardAsync: Async<typeof embeddingBackward>;
  /** Layer normalization over the last dimension (lib/ops/nn.ts). */
  readonly layerNormForward: Sync<typeof layerNormForward>;
  readonly layerNormBackward: Sync<typeof layerNormBackward>;
  readonly layerNormForwardAsync: Async<typeof layerNormForward>;
  readonly layerNormBackwardAsync: Async<typeof layerNormBackward>;
  /** Losses with their gradients (lib/ops/train.ts). */
  readonly softmaxCrossEntropy: Sync<typeof softmaxCrossEntropy>;
  readonly bceWithLogits: Sync<typeof bceWithLogits>;
  readonly mse: Sync<typeof mse>;
  readonly softmaxCrossEntropyAsync: Async<typeof softmaxCrossEntropy>;
  readonly bceWithLogitsAsync: Async<typeof bceWithLogits>;
  readonly mseAsync: Async<typeof mse>;
  /** Optimizer steps in place and gradient clipping (lib/ops/train.ts). */
  readonly sgdStep: Sync<typeof sgdStep>;
  readonly adamStep: Sync<typeof adamStep>;
  readonly adamwStep: Sync<typeof adamwStep>;
  readonly rmspropStep: Sync<typeof rmspropStep>;
  readonly clipGradNorm: Sync<typeof clipGradNorm>;
  readonly clipGradValue: Sync<typeof clipGradValue>;
  readonly sgdStepAsync: Async<typeof sgdStep>;
  readonly adamStepAsync: Async<typeof adamStep>;
  readonly adamwStepAsync: Async<typeof adamwStep>;
  readonly rmspropStepAsync: Async<typeof rmspropStep>;
  readonly clipGradNormAsync: Async<typeof clipGradNorm>;
  readonly clipGradValueAsync: Async<typeof clipGradValue>;
}

const all = {
  ...cellOps,
  attnDecoderForward,
  attnDecoderBackward,
  jordanForward,
  jordanBackward,
  linearForward,
  linearBackward,
  embeddingForward,
  embeddingBackward,
  layerNormForward,
  layerNormBackward,
  softmaxCrossEntropy,
  bceWithLogits,
  mse,
  sgdStep,
  adamStep,
  adamwStep,
  rmspropStep,
  clipGradNorm,
  clipGradValue,
} as const;

/** Every op, each as `name` (sync) and `nameAsync`. */
export const ops: Ops = Object.freeze(
  Object.fromEntries(
    Object.entries(all).flatMap(([name, op]: [string, Op<never, unknown>]) => [
      [name, op],
      [`${name}Async`, op.async],
    ]),
  ),
) as unknown as Ops;

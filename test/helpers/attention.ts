/**
 * Random attention-decoder arguments for the tests (test/ops/attention.test.ts, workspace.test.ts):
 * every optional input given, batch 3 over sources of lengths 4, 1 and 2, small sizes.
 */
import type { JsAttnDecoderForwardArgs, JsAttnLayer } from '../../lib/js/attention.js';
import type { FloatArray } from '../../lib/js/common.js';
import type { AttnDecoderForwardArgs } from '../../lib/ops/attention.js';
import { type AttentionKind, type Cell, GATES } from '../../lib/ops/layout.js';
import { Rng } from './random.js';

export type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

export interface Config {
  readonly cell: Cell;
  readonly resetAfter?: boolean;
  readonly attention: AttentionKind;
  readonly inputFeed: boolean;
  readonly numLayers: number;
  readonly seqLen?: number;
  readonly biases?: boolean;
}

const SIZES = { batch: 3, srcLen: 4, inputSize: 2, hiddenSize: 3, attentionSize: 4 } as const;

/** Random decoder arguments (every optional input given) of the array type `C`. */
export function makeArgs<A extends FloatArray>(cfg: Config, C: Ctor, seed = 1): JsAttnDecoderForwardArgs<A> {
  const rng = new Rng(seed);
  const { batch: B, srcLen: S, inputSize: D, hiddenSize: H, attentionSize: Aw } = SIZES;
  const T = cfg.seqLen ?? 3;
  const E = cfg.attention === 'dot' ? H : 5;
  const L = cfg.numLayers;
  const G = GATES[cfg.cell];
  const u = (n: number, s = 0.6): A => rng.uniform(n, -s, s, C) as unknown as A;
  const layers: JsAttnLayer<A>[] = [];
  for (let l = 0; l < L; l++) {
    const inW = l === 0 ? D + (cfg.inputFeed ? H : 0) : H;
    layers.push({
      weightIh: u(G * H * inW),
      weightHh: u(G * H * H),
      biasIh: cfg.biases === false ? null : u(G * H),
      biasHh: cfg.biases === false || l === 1 ? null : u(G * H),
    });
  }
  const attn =
    cfg.attention === 'dot'
      ? { outWeight: u(H * (E + H)) }
      : cfg.attention === 'general'
        ? { weight: u(H * E), outWeight: u(H * (E + H)) }
        : cfg.attention === 'concat'
          ? { weight: u(Aw * (H + E)), v: u(Aw, 1), outWeight: u(H * (E + H)) }
          : { queryWeight: u(Aw * H), queryBias: u(Aw), keyWeight: u(Aw * E), v: u(Aw, 1), outWeight: u(H * (E + H)) };
  return {
    cell: cfg.cell,
    ...(cfg.cell === 'gru' ? { resetAfter: cfg.resetAfter ?? true } : {}),
    attention: cfg.attention,
    inputFeed: cfg.inputFeed,
    seqLen: T,
    batch: B,
    srcLen: S,
    inputSize: D,
    memorySize: E,
    hiddenSize: H,
    attentionSize: Aw,
    numLayers: L,
    x: u(T * B * D, 1),
    memory: u(S * B * E, 1),
    srcLengths: Int32Array.from([S, 1, 2]),
    h0: u(L * B * H, 0.5),
    c0: cfg.cell === 'lstm' ? u(L * B * H, 0.5) : null,
    feed0: u(B * H, 0.5),
    layers,
    attn,
  };
}

/** Float32 op arguments of `cfg` (the same draws as the float64 ones). */
export function f32Args(cfg: Config, seed = 1): AttnDecoderForwardArgs {
  return makeArgs<Float32Array>(cfg, Float32Array, seed) as AttnDecoderForwardArgs;
}

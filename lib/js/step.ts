/**
 * The pure-TS twin of native/step.h (the decode step): the reference the native step is tested
 * against and the `'js'` backend of lib/ops/step.ts. Arguments are trusted (lib/ops/step.ts
 * validated them).
 *
 * One step is the whole-sequence forward of ./lstm.ts, ./gru.ts or ./rnn.ts with seqLen 1 over the
 * gathered state rows, then the output layer (./nn.ts), a log-softmax and the top-k of each row
 * group, all in float64 (weights converted once per version, see {@link JsStepWeights64}); outputs
 * are rounded to float32 when stored, and the top-k ranks the float32 candidates
 * `fround(rowScore + logProb)` (ties: the lower index first; NaN last), as the native step does.
 */
import { logSoftmaxRows } from './common.js';
import { gruForward } from './gru.js';
import { lstmForward } from './lstm.js';
import { linearForward } from './nn.js';
import { rnnForward } from './rnn.js';

/** What a step computes (lib/ops/step.ts StepConfig, resolved). */
export interface JsStepConfig {
  readonly cell: 'lstm' | 'gru' | 'rnn';
  readonly nonlinearity: 'tanh' | 'relu';
  readonly resetAfter: boolean;
  readonly inputSize: number;
  readonly hiddenSize: number;
  /** 0: no output layer. */
  readonly outputSize: number;
}

/** The weights in float64 (made once per weights version by {@link toFloat64Weights}). */
export interface JsStepWeights64 {
  readonly weightIh: Float64Array;
  readonly weightHh: Float64Array;
  readonly biasIh: Float64Array | null;
  readonly biasHh: Float64Array | null;
  readonly weightPeephole: Float64Array | null;
  readonly weightOut: Float64Array | null;
  readonly biasOut: Float64Array | null;
}

/** Float32 weights as given to the step (lib/ops/step.ts StepWeights). */
export interface JsStepWeights {
  readonly weightIh: Float32Array;
  readonly weightHh: Float32Array;
  readonly biasIh?: Float32Array | null;
  readonly biasHh?: Float32Array | null;
  readonly weightPeephole?: Float32Array | null;
  readonly weightOut?: Float32Array | null;
  readonly biasOut?: Float32Array | null;
}

const f64 = (a: Float32Array | null | undefined): Float64Array | null => (a ? Float64Array.from(a) : null);

export function toFloat64Weights(w: JsStepWeights): JsStepWeights64 {
  return {
    weightIh: Float64Array.from(w.weightIh),
    weightHh: Float64Array.from(w.weightHh),
    biasIh: f64(w.biasIh),
    biasHh: f64(w.biasHh),
    weightPeephole: f64(w.weightPeephole),
    weightOut: f64(w.weightOut),
    biasOut: f64(w.biasOut),
  };
}

/** One step's inputs and outputs (shapes: native/step.h). Outputs are written in place. */
export interface JsStepIo {
  readonly batch: number;
  readonly x: Float32Array;
  readonly h: Float32Array;
  readonly c: Float32Array | null;
  readonly stateIndex: Int32Array | null;
  readonly hOut: Float32Array;
  readonly cOut: Float32Array | null;
  readonly logProbs: Float32Array | null;
  readonly topK: number;
  readonly groupSize: number;
  readonly rowScores: Float32Array | null;
  readonly topValues: Float32Array | null;
  readonly topIndices: Int32Array | null;
}

/** A top-k ranking key: NaN ranks below everything. */
const rankKey = (v: number) => (Number.isNaN(v) ? -Infinity : v);

export function stepForward(cfg: JsStepConfig, w: JsStepWeights64, io: JsStepIo): void {
  const { inputSize: D, hiddenSize: H, outputSize: V } = cfg;
  const B = io.batch;
  const x = Float64Array.from(io.x);
  const h0 = new Float64Array(B * H);
  const c0 = new Float64Array(B * H);
  for (let b = 0; b < B; b++) {
    const r = io.stateIndex ? io.stateIndex[b] : b;
    h0.set(io.h.subarray(r * H, (r + 1) * H), b * H);
    if (io.c) c0.set(io.c.subarray(r * H, (r + 1) * H), b * H);
  }
  const common = {
    seqLen: 1,
    batch: B,
    inputSize: D,
    hiddenSize: H,
    x,
    weightIh: w.weightIh,
    weightHh: w.weightHh,
    biasIh: w.biasIh,
    biasHh: w.biasHh,
    h0,
    keepCache: false as const,
  };
  let hN: Float64Array;
  if (cfg.cell === 'lstm') {
    const r = lstmForward({ ...common, c0, weightPeephole: w.weightPeephole });
    hN = r.hN;
    io.cOut?.set(r.cN);
  } else if (cfg.cell === 'gru') {
    hN = gruForward({ ...common, resetAfter: cfg.resetAfter }).hN;
  } else {
    hN = rnnForward({ ...common, nonlinearity: cfg.nonlinearity }).hN;
  }
  io.hOut.set(hN);
  if (V === 0 || !w.weightOut) return;

  // Logits from the float32 h_out (what the native output layer reads), in float64.
  const logits = new Float64Array(B * V);
  linearForward(Float64Array.from(io.hOut), w.weightOut, w.biasOut, B, H, V, logits);
  const lp = new Float32Array(B * V);
  logSoftmaxRows(logits, B, V, lp);
  io.logProbs?.set(lp);
  if (io.topK === 0 || !io.topValues || !io.topIndices) return;

  const { groupSize: gs, topK: k } = io;
  for (let q = 0; q < B / gs; q++) {
    const cand: { value: number; index: number }[] = [];
    for (let r = 0; r < gs; r++) {
      const add = io.rowScores ? io.rowScores[q * gs + r] : 0;
      for (let v = 0; v < V; v++) cand.push({ value: Math.fround(add + lp[(q * gs + r) * V + v]), index: r * V + v });
    }
    cand.sort((a, b) => rankKey(b.value) - rankKey(a.value) || a.index - b.index);
    for (let i = 0; i < k; i++) {
      io.topValues[q * k + i] = cand[i].value;
      io.topIndices[q * k + i] = cand[i].index;
    }
  }
}

/**
 * The kernels learn: a small recurrent layer trained through `ops` alone (forward, backward, a
 * linear read-out and Adam written out here) solves a task that needs memory across time steps.
 *
 * Task (delayed echo): x_t is +1 or -1 at random; the target at step t is x_{t-3}, so the layer must
 * carry three bits through its state. Predicting 0 gives a mean squared error of 1; a model that
 * cannot remember cannot do better. Seeded, so each run is the same; the thresholds leave a wide
 * margin over what the runs reach (final MSE 3e-4 for the LSTM, 2e-4 for the GRU, from 0.94;
 * native and JS runs agree to 7 digits). GATED_LEARN_VERBOSE=1 prints the figures.
 */
import { describe, expect, it } from 'vitest';

import { ops, type BackendName } from '../lib/index.js';
import { Rng } from './helpers/index.js';

const T = 12,
  B = 16,
  D = 1,
  H = 12,
  DELAY = 3,
  STEPS = 400;

interface Params {
  [name: string]: Float32Array;
}

/** Adam (Kingma & Ba 2015) with the usual defaults, on every parameter array. */
function adam(params: Params, lr: number) {
  const m: Params = {},
    v: Params = {};
  for (const k in params) {
    m[k] = new Float32Array(params[k].length);
    v[k] = new Float32Array(params[k].length);
  }
  let t = 0;
  return (grads: { [name: string]: Float32Array | null }) => {
    t++;
    const c1 = 1 - 0.9 ** t,
      c2 = 1 - 0.999 ** t;
    for (const k in params) {
      const g = grads[k]!,
        p = params[k],
        mk = m[k],
        vk = v[k];
      for (let i = 0; i < p.length; i++) {
        mk[i] = 0.9 * mk[i] + 0.1 * g[i];
        vk[i] = 0.999 * vk[i] + 0.001 * g[i] * g[i];
        p[i] -= (lr * mk[i]) / c1 / (Math.sqrt(vk[i] / c2) + 1e-8);
      }
    }
  };
}

function batch(rng: Rng) {
  const x = new Float32Array(T * B * D),
    target = new Float32Array(T * B);
  for (let i = 0; i < x.length; i++) x[i] = rng.float() < 0.5 ? -1 : 1;
  for (let t = DELAY; t < T; t++) for (let b = 0; b < B; b++) target[t * B + b] = x[(t - DELAY) * B + b];
  return { x, target };
}

/** Trains `cell` for STEPS steps; returns the mean squared error of the first and last 20 steps. */
function train(cell: 'lstm' | 'gru', backend: BackendName): { first: number; last: number } {
  const rng = new Rng(7);
  const G = cell === 'lstm' ? 4 : 3,
    k = 1 / Math.sqrt(H);
  const p: Params = {
    weightIh: rng.uniform(G * H * D, -k, k),
    weightHh: rng.uniform(G * H * H, -k, k),
    biasIh: rng.uniform(G * H, -k, k),
    biasHh: rng.uniform(G * H, -k, k),
    wOut: rng.uniform(H, -k, k),
    bOut: new Float32Array(1),
  };
  const step = adam(p, 0.01);
  const losses: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const { x, target } = batch(rng);
    const args = {
      seqLen: T,
      batch: B,
      inputSize: D,
      hiddenSize: H,
      x,
      weightIh: p.weightIh,
      weightHh: p.weightHh,
      biasIh: p.biasIh,
      biasHh: p.biasHh,
    };
    const f = cell === 'lstm' ? ops.lstmForward(args, { backend }) : ops.gruForward(args, { backend });
    // Linear read-out per step and its gradient: pred = wOut . y_t + bOut, loss = mean (pred - target)^2
    // over the steps that have a target (t >= DELAY).
    const dy = new Float32Array(T * B * H),
      dwOut = new Float32Array(H),
      dbOut = new Float32Array(1);
    const n = (T - DELAY) * B;
    let loss = 0;
    for (let t = DELAY; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const row = (t * B + b) * H;
        let pred = p.bOut[0];
        for (let j = 0; j < H; j++) pred += p.wOut[j] * f.y[row + j];
        const err = pred - target[t * B + b];
        loss += (err * err) / n;
        const g = (2 * err) / n;
        dbOut[0] += g;
        for (let j = 0; j < H; j++) {
          dwOut[j] += g * f.y[row + j];
          dy[row + j] = g * p.wOut[j];
        }
      }
    }
    const grads =
      cell === 'lstm'
        ? ops.lstmBackward({ ...args, cache: f.cache, dy }, { backend })
        : ops.gruBackward({ ...args, cache: f.cache, dy }, { backend });
    step({ weightIh: grads.dWeightIh, weightHh: grads.dWeightHh, biasIh: grads.dBiasIh, biasHh: grads.dBiasHh, wOut: dwOut, bOut: dbOut });
    losses.push(loss);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const result = { first: mean(losses.slice(0, 20)), last: mean(losses.slice(-20)) };
  if (process.env.GATED_LEARN_VERBOSE) console.log(cell, backend, result);
  return result;
}

describe.each(['native', 'js'] as const)('%s backend', (backend) => {
  it.each(['lstm', 'gru'] as const)('%s learns to echo its input three steps later', (cell) => {
    const { first, last } = train(cell, backend);
    expect(first).toBeGreaterThan(0.5); // it starts knowing nothing
    expect(last).toBeLessThan(0.05); // and ends remembering
  });
});

/**
 * Finite-difference gradient checks for layers and models (float32 forward).
 *
 * The loss is L = sum_k sum_i r_k[i] * out_k[i] with fixed random weights r_k, accumulated in
 * double, so dL/d out_k = r_k exactly. Each checked entry p gets the central difference
 * (L(p + eps) - L(p - eps)) / (2 eps) with eps = 1e-2: the forward runs in float32, so its outputs
 * carry a relative rounding error of about 1e-7; a smaller eps would let that noise (divided by
 * 2 eps) dominate, a larger one the O(eps^2) truncation error of the tanh/sigmoid curvature. With
 * both at about 1e-4 of the gradient's scale, an entry passes when |numeric - analytic| <=
 * 2e-2 * ||analytic gradient of that tensor||_2 + 1e-4: loose enough for the noise, tight enough
 * that a wrong term (a missed direction, a dropped mask, a gate off by one block) fails.
 */
import { expect } from 'vitest';

import type { BackendName } from '../../lib/backend/index.js';
import type { Parameter } from '../../lib/layers/index.js';
import { expectClose } from '../helpers/index.js';
import { Rng } from '../../lib/random.js';

/** One evaluation: outputs and the way back (gradients of the perturbable inputs). */
export interface Evaluation {
  readonly outs: readonly Float32Array[];
  backward(douts: readonly Float32Array[]): Promise<readonly (Float32Array | null)[]>;
}

const EPS = 1e-2;
const RTOL = 2e-2;
const ATOL = 1e-4;
const SAMPLES = 6;

function lossOf(outs: readonly Float32Array[], r: readonly Float32Array[]): number {
  let s = 0;
  outs.forEach((o, k) => {
    for (let i = 0; i < o.length; i++) s += r[k][i] * o[i];
  });
  return s;
}

function sampleIndices(n: number, rng: Rng): number[] {
  if (n <= SAMPLES) return Array.from({ length: n }, (_, i) => i);
  const set = new Set<number>();
  while (set.size < SAMPLES) set.add(rng.int(n));
  return [...set];
}

/**
 * Checks the analytic gradients of `params` and of the arrays in `inputs` (perturbed in place) of
 * the loss above against central differences. `run` must be deterministic (fixed dropout seed).
 */
export async function gradCheck(
  label: string,
  params: readonly Parameter[],
  inputs: readonly Float32Array[],
  run: () => Promise<Evaluation>,
): Promise<void> {
  const first = await run();
  const rng = new Rng(99);
  const r = first.outs.map((o) => rng.uniformArray(o.length, -1, 1));
  for (const p of params) p.grad.fill(0);
  const inputGrads = await first.backward(r);
  const targets: { name: string; value: Float32Array; grad: Float32Array | null }[] = [
    ...params.map((p) => ({ name: p.name, value: p.value, grad: p.grad })),
    ...inputs.map((v, k) => ({ name: `input ${k}`, value: v, grad: inputGrads[k] ?? null })),
  ];
  for (const t of targets) {
    if (t.value.length === 0) continue;
    expect(t.grad, `${label}: ${t.name} has a gradient`).not.toBeNull();
    const g = t.grad as Float32Array;
    let norm = 0;
    for (let i = 0; i < g.length; i++) norm += g[i] * g[i];
    norm = Math.sqrt(norm);
    for (const i of sampleIndices(t.value.length, rng)) {
      const saved = t.value[i];
      t.value[i] = saved + EPS;
      const up = lossOf((await run()).outs, r);
      t.value[i] = saved - EPS;
      const down = lossOf((await run()).outs, r);
      t.value[i] = saved;
      const numeric = (up - down) / (2 * EPS);
      const err = Math.abs(numeric - g[i]);
      if (err > RTOL * norm + ATOL) {
        throw new Error(`${label}: ${t.name}[${i}] analytic ${g[i]}, numeric ${numeric} (|err| ${err}, gradient norm ${norm})`);
      }
    }
  }
}

/** A layer (or model) under test with its parameters and the float inputs whose gradients are checked. */
export interface Setup {
  readonly params: readonly Parameter[];
  readonly inputs: readonly Float32Array[];
  run(): Promise<Evaluation>;
}

/** A named setup, built for either backend. */
export interface Case {
  readonly name: string;
  make(backend: BackendName): Setup;
}

/**
 * The native backend gives the JS backend's outputs, parameter gradients and input gradients
 * (1e-4) for `c`, from the same upstream gradient; `prepare` adjusts the fresh parameters first.
 */
export async function expectBackendsAgree(c: Case, prepare: (params: readonly Parameter[]) => void = () => {}): Promise<void> {
  const results = [];
  for (const backend of ['js', 'native'] as const) {
    const s = c.make(backend);
    prepare(s.params);
    for (const p of s.params) p.grad.fill(0);
    const e = await s.run();
    const r = new Rng(99);
    const dInputs = await e.backward(e.outs.map((o) => r.uniformArray(o.length, -1, 1)));
    results.push({ outs: e.outs, grads: s.params.map((p) => p.grad), dInputs });
  }
  const [js, nat] = results;
  const tol = { atol: 1e-4, rtol: 1e-4 };
  js.outs.forEach((o, k) => expectClose(nat.outs[k], o, tol, `${c.name}: output ${k}`));
  js.grads.forEach((g, k) => expectClose(nat.grads[k], g, tol, `${c.name}: grad ${k}`));
  js.dInputs.forEach((g, k) => {
    if (g) expectClose(nat.dInputs[k] as Float32Array, g, tol, `${c.name}: input grad ${k}`);
    else expect(nat.dInputs[k]).toBeNull();
  });
}

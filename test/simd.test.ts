/**
 * The vectorized kernels against their references, at sizes that leave SIMD tails:
 * - sgemm (every transpose combination, accumulate or not, strided operands) against the plain
 *   triple loop, for each instruction set this machine runs (scalar, AVX2, AVX-512 where present),
 *   and its few-rows path (a decode step against a transposed B) with the same bits for 1, 2 and 3
 *   threads;
 * - exp, sigmoid and tanh against float64 Math over [-30, 30]: sigmoid and tanh within 1e-6
 *   absolute, exp within 1e-6 relative (absolute error is meaningless for float32 near e^30);
 *   and the same value gives the same result whether it lands in a vector or in the scalar tail;
 * - AVX2 and AVX-512 give the same bits (sgemm and the math kernels), where both run.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { getThreads, setThreads } from '../lib/index.js';
import { loadAddon } from '../lib/backend/addon.js';
import { expectClose, Rng } from './helpers/index.js';
import { availableIsas, initialIsa, reportIsas } from './helpers/isa.js';

const { internals } = loadAddon();
const isas = availableIsas();
const defaultThreads = getThreads();
reportIsas('simd');
afterAll(() => internals.setIsa(initialIsa));

const sizes = [1, 7, 9, 33, 257];

describe.each(isas)('%s kernels', (isa) => {
  it('sgemm matches the reference on odd shapes, all transposes, strided, accumulate', () => {
    expect(internals.setIsa(isa)).toBe(true);
    const rng = new Rng(11);
    const shapes: [number, number, number][] = [];
    for (const M of [1, 7, 33]) for (const N of [1, 9, 257]) for (const K of [1, 7, 33]) shapes.push([M, N, K]);
    shapes.push([65, 130, 300], [6, 16, 256], [64, 1024, 256]);
    for (const [M, N, K] of shapes) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const accumulate of [false, true]) {
            // Leading dimensions larger than needed, to prove strides are honoured.
            const lda = (transA ? M : K) + 3,
              ldb = (transB ? K : N) + 2,
              ldc = N + 5;
            const A = rng.randn((transA ? K : M) * lda);
            const Bm = rng.randn((transB ? N : K) * ldb);
            const C0 = rng.randn(M * ldc);
            const got = C0.slice(),
              want = C0.slice();
            internals.sgemm(transA, transB, M, N, K, A, lda, Bm, ldb, got, ldc, accumulate);
            internals.sgemmReference(transA, transB, M, N, K, A, lda, Bm, ldb, want, ldc, accumulate);
            // Each element differs from the k-ordered float sum by at most ~K ulps of sum|a*b|;
            // randn inputs make sum|a*b| about K, so 1e-5 * K bounds it.
            expectClose(
              got,
              want,
              { atol: 1e-5 * K, rtol: 1e-5 },
              `${isa} sgemm ${M}x${N}x${K} tA=${transA} tB=${transB} acc=${accumulate}`,
            );
          }
        }
      }
    }
  });

  it('sgemm with few rows and B transposed (the decode-step path) matches the reference, for any thread count', () => {
    expect(internals.setIsa(isa)).toBe(true);
    const rng = new Rng(12);
    // M up to 6 (kGemmSmallM) and one past it; N and K leave tails in the panels and in k.
    for (const M of [1, 2, 3, 4, 5, 6, 7]) {
      for (const [N, K] of [
        [1, 1],
        [7, 9],
        [9, 33],
        [17, 8],
        [2048, 256],
        [100, 513],
      ]) {
        for (const accumulate of [false, true]) {
          const lda = K + 3,
            ldb = K + 2,
            ldc = N + 5;
          const A = rng.randn(M * lda),
            W = rng.randn(N * ldb),
            C0 = rng.randn(M * ldc);
          const want = C0.slice();
          internals.sgemmReference(false, true, M, N, K, A, lda, W, ldb, want, ldc, accumulate);
          let first: Float32Array | null = null;
          for (const threads of [1, 2, 3]) {
            setThreads(threads);
            const got = C0.slice();
            internals.sgemm(false, true, M, N, K, A, lda, W, ldb, got, ldc, accumulate);
            const label = `${isa} small-M sgemm ${M}x${N}x${K} acc=${accumulate} threads=${threads}`;
            expectClose(got, want, { atol: 1e-5 * K, rtol: 1e-5 }, label);
            if (first) expect(Array.from(got), `${label}: same bits as 1 thread`).toEqual(Array.from(first));
            else first = got;
          }
        }
      }
    }
    setThreads(defaultThreads);
  });

  const grid = Float32Array.from({ length: 600001 }, (_, i) => -30 + i * 1e-4);
  const fns = [
    { name: 'sigmoid', run: internals.mathSigmoid, ref: (x: number) => 1 / (1 + Math.exp(-x)), relative: false },
    { name: 'tanh', run: internals.mathTanh, ref: Math.tanh, relative: false },
    { name: 'exp', run: internals.mathExp, ref: Math.exp, relative: true },
  ];

  it.each(fns)('$name is within 1e-6 of float64 Math over [-30, 30]', ({ run, ref, relative }) => {
    expect(internals.setIsa(isa)).toBe(true);
    const y = new Float32Array(grid.length);
    run(grid, y);
    let worst = 0;
    for (let i = 0; i < grid.length; i++) {
      const e = ref(grid[i]);
      const err = Math.abs(y[i] - e) / (relative ? e : 1);
      if (!(err <= worst)) worst = err; // NaN propagates into worst and fails below
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
  });

  it.each(fns)('$name gives the same value in a vector lane and in the tail, at sizes 1, 7, 9, 33, 257', ({ run }) => {
    expect(internals.setIsa(isa)).toBe(true);
    const rng = new Rng(5);
    for (const n of sizes) {
      const x = rng.uniform(n, -12, 12);
      const whole = new Float32Array(n);
      run(x, whole);
      for (let i = 0; i < n; i++) {
        const one = new Float32Array(1);
        run(x.subarray(i, i + 1), one);
        expect(one[0], `${n}[${i}]`).toBe(whole[i]);
      }
    }
  });

  it.each(fns)('$name handles NaN, infinities and large inputs', ({ name, run }) => {
    expect(internals.setIsa(isa)).toBe(true);
    const x = Float32Array.from([NaN, Infinity, -Infinity, 1e4, -1e4, 89, -104, 0]);
    const y = new Float32Array(x.length);
    run(x, y);
    expect(Number.isNaN(y[0])).toBe(true);
    const expected: Record<string, number[]> = {
      sigmoid: [1, 0, 1, 0, 1, 0, 0.5],
      tanh: [1, -1, 1, -1, 1, -1, 0],
      exp: [Infinity, 0, Infinity, 0, Infinity, 0, 1],
    };
    const got = Array.from(y.subarray(1));
    const want = expected[name];
    for (let i = 0; i < want.length; i++) {
      // exp may saturate at FLT_MAX instead of +Infinity for inputs past ln(FLT_MAX) ~ 88.72.
      if (want[i] === Infinity) expect(got[i], `${name}(${x[i + 1]})`).toBeGreaterThanOrEqual(3.4e38);
      else expect(got[i], `${name}(${x[i + 1]})`).toBeCloseTo(want[i], 6);
    }
  });
});

describe.skipIf(!(isas.includes('avx2') && isas.includes('avx512')))('avx2 vs avx512', () => {
  it('sgemm and exp / sigmoid / tanh give the same bits', () => {
    const rng = new Rng(13);
    const run = (isa: string, f: () => Float32Array) => {
      expect(internals.setIsa(isa)).toBe(true);
      return f();
    };
    for (const [M, N, K] of [
      [1, 9, 7],
      [5, 300, 257],
      [33, 65, 300],
      [64, 1024, 256],
    ]) {
      for (const [transA, transB] of [
        [false, true],
        [false, false],
        [true, false],
      ]) {
        const lda = transA ? M : K,
          ldb = transB ? K : N;
        const A = rng.randn(M * K),
          B = rng.randn(K * N);
        const product = () => {
          const C = new Float32Array(M * N);
          internals.sgemm(transA, transB, M, N, K, A, lda, B, ldb, C, N, false);
          return C;
        };
        expect(Array.from(run('avx512', product)), `${M}x${N}x${K}`).toEqual(Array.from(run('avx2', product)));
      }
    }
    const x = Float32Array.from({ length: 20011 }, (_, i) => -100 + i * 0.01);
    for (const fn of [internals.mathExp, internals.mathSigmoid, internals.mathTanh]) {
      const apply = () => {
        const y = new Float32Array(x.length);
        fn(x, y);
        return y;
      };
      expect(Array.from(run('avx512', apply))).toEqual(Array.from(run('avx2', apply)));
    }
    internals.setIsa(initialIsa);
  });
});

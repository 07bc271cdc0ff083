/**
 * The layer kernels (lib/nn/kernels.ts): the JS twins against a plain double-precision reference,
 * native against JS on odd sizes (skipped while the addon lacks exports.nn), and typed errors.
 */
import { describe, expect, it } from 'vitest';

import { nnKernels } from '../../lib/ops/nn.js';
import { nativeAvailable as nativeNnAvailable } from '../../lib/backend/addon.js';
import { Rng } from '../../lib/random.js';
import { errorOf, expectClose } from '../helpers/index.js';

const SIZES = [
  [1, 1, 1],
  [7, 9, 33],
  [33, 7, 9],
  [257, 3, 5],
] as const;

function linearCase(N: number, I: number, O: number) {
  const r = new Rng(N * 1000 + I * 10 + O);
  return {
    rows: N,
    inFeatures: I,
    outFeatures: O,
    x: r.uniformArray(N * I, -1, 1),
    weight: r.uniformArray(O * I, -1, 1),
    bias: r.uniformArray(O, -1, 1),
    dy: r.uniformArray(N * O, -1, 1),
  };
}

describe('linear and embedding kernels (js)', () => {
  it('linear forward/backward equal a double-precision reference', () => {
    for (const [N, I, O] of SIZES) {
      const c = linearCase(N, I, O);
      const y = nnKernels.linearForward(c, { backend: 'js' });
      const yRef = new Float64Array(N * O),
        dxRef = new Float64Array(N * I),
        dwRef = new Float64Array(O * I),
        dbRef = new Float64Array(O);
      for (let n = 0; n < N; n++) {
        for (let o = 0; o < O; o++) {
          let s = c.bias[o];
          for (let i = 0; i < I; i++) s += c.x[n * I + i] * c.weight[o * I + i];
          yRef[n * O + o] = s;
          const g = c.dy[n * O + o];
          dbRef[o] += g;
          for (let i = 0; i < I; i++) {
            dxRef[n * I + i] += g * c.weight[o * I + i];
            dwRef[o * I + i] += g * c.x[n * I + i];
          }
        }
      }
      expectClose(y, yRef, { atol: 1e-5, rtol: 1e-5 }, 'y');
      const dWeight = new Float32Array(O * I).fill(1),
        dBias = new Float32Array(O).fill(1);
      const dx = nnKernels.linearBackward({ ...c, dWeight, dBias }, { backend: 'js' }) as Float32Array;
      expectClose(dx, dxRef, { atol: 1e-4, rtol: 1e-5 }, 'dx');
      expectClose(
        dWeight,
        dwRef.map((v) => v + 1),
        { atol: 1e-4, rtol: 1e-5 },
        'dWeight (accumulated onto 1)',
      );
      expectClose(
        dBias,
        dbRef.map((v) => v + 1),
        { atol: 1e-4, rtol: 1e-5 },
        'dBias (accumulated onto 1)',
      );
    }
  });

  it('embedding gathers rows, zeros the padding row, scatter-adds gradients', () => {
    const weight = new Float32Array([1, 2, 3, 4, 5, 6]); // V = 3, E = 2
    const ids = new Int32Array([2, 0, 2, 1]);
    const out = nnKernels.embeddingForward({ ids, weight, vocabSize: 3, dim: 2, paddingIndex: 1 }, { backend: 'js' });
    expect(Array.from(out)).toEqual([5, 6, 1, 2, 5, 6, 0, 0]);
    const dWeight = new Float32Array(6);
    nnKernels.embeddingBackward(
      { ids, dy: new Float32Array([1, 1, 2, 2, 3, 3, 4, 4]), vocabSize: 3, dim: 2, paddingIndex: 1, dWeight },
      { backend: 'js' },
    );
    expect(Array.from(dWeight)).toEqual([2, 2, 0, 0, 4, 4]);
  });

  it('errors are typed and name the argument', () => {
    const e = errorOf(() =>
      nnKernels.embeddingForward({ ids: new Int32Array([0, 3]), weight: new Float32Array(6), vocabSize: 3, dim: 2 }, { backend: 'js' }),
    );
    expect(e.name).toBe('ValueError');
    expect(e.argument).toBe('ids');
    expect(e.message).toMatch(/ids\[1\] = 3 is outside \[0, vocabSize = 3\)/);
    const s = errorOf(() =>
      nnKernels.linearForward(
        { rows: 2, inFeatures: 3, outFeatures: 1, x: new Float32Array(5), weight: new Float32Array(3) },
        { backend: 'js' },
      ),
    );
    expect([s.name, s.argument]).toEqual(['ShapeError', 'x']);
    const p = errorOf(() =>
      nnKernels.embeddingForward(
        { ids: new Int32Array([0]), weight: new Float32Array(6), vocabSize: 3, dim: 2, paddingIndex: 3 },
        { backend: 'js' },
      ),
    );
    expect([p.name, p.argument]).toEqual(['ValueError', 'paddingIndex']);
  });
});

describe.skipIf(!nativeNnAvailable())('native layer kernels', () => {
  it('match the JS twins on odd sizes', () => {
    for (const [N, I, O] of SIZES) {
      const c = linearCase(N, I, O);
      expectClose(nnKernels.linearForward(c), nnKernels.linearForward(c, { backend: 'js' }), { atol: 1e-5, rtol: 1e-5 }, 'y');
      const grads = (['native', 'js'] as const).map((backend) => {
        const dWeight = new Float32Array(O * I),
          dBias = new Float32Array(O);
        const dx = nnKernels.linearBackward({ ...c, dWeight, dBias }, { backend }) as Float32Array;
        return [dx, dWeight, dBias];
      });
      grads[0].forEach((g, k) => expectClose(g, grads[1][k], { atol: 1e-4, rtol: 1e-5 }, `grad ${k}`));
      const r = new Rng(N);
      const ids = Int32Array.from({ length: N }, () => r.int(I));
      const weight = r.uniformArray(I * O, -1, 1);
      const base = { ids, vocabSize: I, dim: O, paddingIndex: I > 1 ? 1 : -1 };
      expect(nnKernels.embeddingForward({ ...base, weight })).toEqual(nnKernels.embeddingForward({ ...base, weight }, { backend: 'js' }));
      const dy = r.uniformArray(N * O, -1, 1);
      const dw = [new Float32Array(I * O), new Float32Array(I * O)];
      nnKernels.embeddingBackward({ ...base, dy, dWeight: dw[0] });
      nnKernels.embeddingBackward({ ...base, dy, dWeight: dw[1] }, { backend: 'js' });
      expect(dw[0]).toEqual(dw[1]);
    }
  });

  it('an out-of-range id is a ValueError naming ids, never a read out of bounds', async () => {
    const { nativeBackend } = await import('../../lib/backend/index.js');
    const callNativeNn = (call: (ops: Record<string, (f: object) => unknown>) => unknown): unknown =>
      call(
        new Proxy(
          {},
          {
            get: (_, name: string) => (fields: object) =>
              nativeBackend.run(name, {
                js: () => undefined,
                native: () => ({ fields: fields as Record<string, unknown>, result: (r) => r }),
              }),
          },
        ),
      );
    const e = errorOf(() =>
      callNativeNn((ops) =>
        ops.embeddingForward({
          rows: 2,
          vocabSize: 3,
          dim: 2,
          ids: new Int32Array([0, -1]),
          weight: new Float32Array(6),
          out: new Float32Array(4),
        }),
      ),
    );
    expect([e.name, e.argument]).toEqual(['ValueError', 'ids']);
    const b = errorOf(() =>
      callNativeNn((ops) =>
        ops.embeddingBackward({
          rows: 1,
          vocabSize: 3,
          dim: 2,
          ids: new Int32Array([3]),
          dy: new Float32Array(2),
          dWeight: new Float32Array(6),
        }),
      ),
    );
    expect([b.name, b.argument]).toEqual(['ValueError', 'ids']);
    const s = errorOf(() =>
      callNativeNn((ops) =>
        ops.linearForward({
          rows: 2,
          inFeatures: 3,
          outFeatures: 2,
          x: new Float32Array(6),
          weight: new Float32Array(5),
          y: new Float32Array(4),
        }),
      ),
    );
    expect([s.name, s.argument]).toEqual(['ShapeError', 'weight']);
  });
});

/**
 * The decode step (lib/ops/step.ts, native/step.h) under every instruction set this machine runs:
 * - native vs the pure-TS twin (lib/js/step.ts, float64) for every cell (rnn tanh / relu, lstm with
 *   and without peepholes, gru reset-after / reset-before), with and without biases and an output
 *   layer, awkward sizes (H = 1, 9, 33, 257; D = 0, 7; V = 1, 37, 300), gathered states, groups and
 *   row scores: h, c and log-probabilities within 1e-5 of the scale, top-k values close and each
 *   native top-k index a candidate whose JS value matches;
 * - bit-identical to the sequence op with seqLen 1 (same instruction set), and a row alone to the
 *   same row in a batch;
 * - in place (hOut = h, cOut = c), async, weightsChanged (repacks) and a stale version (does not);
 * - bad input is a typed error naming the argument.
 */
import { describe, expect, it } from 'vitest';

import { ShapeError, ValueError, ops } from '../lib/index.js';
import { DecodeStep, type DecodeStepConfig, type DecodeStepWeights } from '../lib/ops/step.js';
import { nativeAvailable } from '../lib/backend/addon.js';
import { errorOf, expectClose, Rng } from './helpers/index.js';
import { availableIsas, reportIsas, useIsa } from './helpers/isa.js';

type Case = { label: string; config: DecodeStepConfig; peep?: boolean };

const cases: Case[] = [
  { label: 'rnn tanh', config: { cell: 'rnn', inputSize: 7, hiddenSize: 9, outputSize: 37 } },
  { label: 'rnn relu', config: { cell: 'rnn', nonlinearity: 'relu', inputSize: 7, hiddenSize: 33, outputSize: 1 } },
  { label: 'lstm', config: { cell: 'lstm', inputSize: 7, hiddenSize: 257, outputSize: 300 } },
  { label: 'lstm peephole', config: { cell: 'lstm', inputSize: 0, hiddenSize: 33, outputSize: 37 }, peep: true },
  { label: 'lstm no output layer', config: { cell: 'lstm', inputSize: 7, hiddenSize: 1 } },
  { label: 'gru reset-after', config: { cell: 'gru', inputSize: 7, hiddenSize: 33, outputSize: 37 } },
  { label: 'gru reset-before', config: { cell: 'gru', resetAfter: false, inputSize: 7, hiddenSize: 257, outputSize: 37 } },
];

const gatesOf = (c: DecodeStepConfig) => (c.cell === 'lstm' ? 4 : c.cell === 'gru' ? 3 : 1);

function makeWeights(c: DecodeStepConfig, seed: number, bias: boolean, peep: boolean): DecodeStepWeights {
  const rng = new Rng(seed),
    G = gatesOf(c),
    H = c.hiddenSize,
    D = c.inputSize,
    V = c.outputSize ?? 0;
  const k = 1 / Math.sqrt(H);
  return {
    weightIh: rng.uniform(G * H * D, -k, k),
    weightHh: rng.uniform(G * H * H, -k, k),
    biasIh: bias ? rng.uniform(G * H, -k, k) : null,
    biasHh: bias ? rng.uniform(G * H, -k, k) : null,
    weightPeephole: peep ? rng.uniform(3 * H, -0.5, 0.5) : null,
    weightOut: V > 0 ? rng.uniform(V * H, -3 * k, 3 * k) : null,
    biasOut: V > 0 && bias ? rng.uniform(V, -0.5, 0.5) : null,
  };
}

function makeInput(c: DecodeStepConfig, B: number, rows: number, seed: number) {
  const rng = new Rng(seed),
    H = c.hiddenSize;
  return {
    x: rng.randn(B * c.inputSize),
    h: rng.randn(rows * H, 0.8),
    c: c.cell === 'lstm' ? rng.randn(rows * H, 0.8) : null,
    stateIndex: Int32Array.from({ length: B }, (_, b) => (b * 5 + 3) % rows),
    rowScores: rng.uniform(B, -2, 0),
  };
}

/** |a - e| <= 1e-5 * max(1, max |e|). */
function expectNear(a: ArrayLike<number> | null, e: ArrayLike<number> | null, label: string): void {
  expect(a === null, `${label}: presence`).toBe(e === null);
  if (!a || !e) return;
  let scale = 1;
  for (let i = 0; i < e.length; i++) scale = Math.max(scale, Math.abs(e[i]));
  expectClose(a, e, { atol: 1e-5 * scale }, label);
}

const sameBits = (a: Float32Array | null, b: Float32Array | null) =>
  a !== null && b !== null && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe.skipIf(!nativeAvailable())('decode step', () => {
  it('reports the instruction sets', () => {
    reportIsas('step');
    expect(availableIsas().length).toBeGreaterThan(0);
  });

  describe.each(availableIsas())('%s', (isa) => {
    useIsa(isa);

    describe.each(cases)('$label', ({ config, peep }) => {
      const V = config.outputSize ?? 0;
      for (const bias of [true, false]) {
        it(`native matches the JS twin (bias ${bias}), B = 1, 4, 6 with groups, gathered states`, () => {
          const w = makeWeights(config, 11, bias, peep ?? false);
          const native = new DecodeStep(config, w);
          const js = new DecodeStep(config, w, { backend: 'js' });
          for (const [B, group] of [
            [1, 1],
            [4, 2],
            [6, 3],
          ] as const) {
            const inp = makeInput(config, B, B + 2, 100 + B);
            const topK = V > 0 ? Math.min(3, group * V) : 0;
            const step = {
              batch: B,
              x: inp.x,
              h: inp.h,
              c: inp.c,
              stateIndex: inp.stateIndex,
              stateRows: B + 2,
              logProbs: V > 0,
              topK,
              groupSize: group,
              rowScores: inp.rowScores,
            };
            const a = native.run(step),
              e = js.run(step);
            const l = `${config.cell} B=${B}`;
            expectNear(a.h, e.h, `${l} h`);
            expectNear(a.c, e.c, `${l} c`);
            expectNear(a.logProbs, e.logProbs, `${l} logProbs`);
            expectNear(a.topValues, e.topValues, `${l} topValues`);
            if (a.topIndices && e.logProbs) {
              // Near-ties may order differently; each native pick must be a candidate of that value.
              for (let q = 0; q < B / group; q++) {
                for (let t = 0; t < topK; t++) {
                  const idx = a.topIndices[q * topK + t],
                    r = q * group + Math.floor(idx / V),
                    v = idx % V;
                  const jsValue = Math.fround(inp.rowScores[r] + e.logProbs[r * V + v]);
                  expect(Math.abs(jsValue - a.topValues![q * topK + t]), `${l} top ${q},${t}`).toBeLessThan(
                    1e-5 * Math.max(1, Math.abs(jsValue)),
                  );
                }
              }
            }
          }
        });
      }

      it('gives the bits of the sequence op with seqLen 1, and a row alone the bits it has in a batch', () => {
        const w = makeWeights(config, 12, true, peep ?? false);
        const step = new DecodeStep(config, w);
        const B = 9,
          inp = makeInput(config, B, B, 7);
        const r = step.run({ batch: B, x: inp.x, h: inp.h, c: inp.c, logProbs: V > 0 });
        const seq = {
          seqLen: 1,
          batch: B,
          inputSize: config.inputSize,
          hiddenSize: config.hiddenSize,
          x: inp.x,
          weightIh: w.weightIh,
          weightHh: w.weightHh,
          biasIh: w.biasIh,
          biasHh: w.biasHh,
          h0: inp.h,
          keepCache: false,
        } as const;
        const want =
          config.cell === 'lstm'
            ? ops.lstmForward({ ...seq, c0: inp.c, weightPeephole: w.weightPeephole })
            : config.cell === 'gru'
              ? ops.gruForward({ ...seq, resetAfter: config.resetAfter ?? true })
              : ops.rnnForward({ ...seq, nonlinearity: config.nonlinearity ?? 'tanh' });
        expect(sameBits(r.h, want.hN), 'h vs the sequence op').toBe(true);
        if ('cN' in want) expect(sameBits(r.c, want.cN as Float32Array), 'c vs the sequence op').toBe(true);
        const H = config.hiddenSize;
        for (const b of [0, 4, 8]) {
          const one = step.run({
            batch: 1,
            x: inp.x.subarray(b * config.inputSize, (b + 1) * config.inputSize),
            h: inp.h,
            c: inp.c,
            stateIndex: Int32Array.of(b),
            stateRows: B,
            logProbs: V > 0,
          });
          expect(sameBits(one.h, r.h.subarray(b * H, (b + 1) * H)), `row ${b} h alone`).toBe(true);
          if (V > 0) expect(sameBits(one.logProbs, r.logProbs!.subarray(b * V, (b + 1) * V)), `row ${b} logProbs alone`).toBe(true);
        }
      });
    });
  });

  it('updates the state in place, runs async, and repacks after weightsChanged (only then)', async () => {
    const config: DecodeStepConfig = { cell: 'lstm', inputSize: 7, hiddenSize: 40, outputSize: 50 };
    const w = makeWeights(config, 3, true, false);
    const step = new DecodeStep(config, w);
    const inp = makeInput(config, 3, 3, 1);
    const fresh = step.run({ batch: 3, x: inp.x, h: inp.h, c: inp.c, topK: 2 });
    const h = inp.h.slice(),
      c = inp.c!.slice();
    const inPlace = step.run({ batch: 3, x: inp.x, h, c, hOut: h, cOut: c, topK: 2 });
    expect(inPlace.h).toBe(h);
    expect(sameBits(h, fresh.h) && sameBits(c, fresh.c)).toBe(true);
    const async = await step.runAsync({ batch: 3, x: inp.x, h: inp.h, c: inp.c, topK: 2 });
    expect(sameBits(async.h, fresh.h) && sameBits(async.topValues, fresh.topValues)).toBe(true);
    expect(step.packedBytes()).toBeGreaterThanOrEqual(4 * (w.weightIh.length + w.weightHh.length + w.weightOut!.length));

    w.weightOut![0] += 10; // row 0 of the output layer
    const stale = step.run({ batch: 3, x: inp.x, h: inp.h, c: inp.c, logProbs: true });
    step.weightsChanged();
    const after = step.run({ batch: 3, x: inp.x, h: inp.h, c: inp.c, logProbs: true });
    const js = new DecodeStep(config, w, { backend: 'js' }).run({ batch: 3, x: inp.x, h: inp.h, c: inp.c, logProbs: true });
    expectNear(after.logProbs, js.logProbs, 'after weightsChanged');
    expect(Math.abs(stale.logProbs![0] - js.logProbs![0])).toBeGreaterThan(1e-3); // the stale copy did not see it
  });

  it('rejects bad input with typed errors naming the argument', () => {
    const config: DecodeStepConfig = { cell: 'gru', inputSize: 4, hiddenSize: 8, outputSize: 10 };
    const w = makeWeights(config, 5, true, false);
    const step = new DecodeStep(config, w);
    const x = new Float32Array(8),
      h = new Float32Array(16);
    const cases: [() => unknown, new (...a: never[]) => Error, string][] = [
      [() => new DecodeStep({ ...config, hiddenSize: 0 }, w), ValueError, 'config.hiddenSize'],
      [() => new DecodeStep({ ...config, cell: 'lstm' } as DecodeStepConfig, w), ShapeError, 'weightIh'],
      [() => new DecodeStep(config, { ...w, weightOut: null }), ValueError, 'weightOut'],
      [() => step.run({ batch: 2, x: new Float32Array(7), h }), ShapeError, 'x'],
      [() => step.run({ batch: 2, x, h: new Float64Array(16) as never }), ValueError, 'h'],
      [() => step.run({ batch: 2, x, h, c: new Float32Array(16) }), ValueError, 'c'],
      [() => step.run({ batch: 2, x, h, stateIndex: Int32Array.of(0, 2) }), ValueError, 'stateIndex'],
      [() => step.run({ batch: 2, x, h, topK: 3, groupSize: 3 }), ValueError, 'groupSize'],
      [() => step.run({ batch: 2, x, h, topK: 11 }), ValueError, 'topK'],
      [() => step.run({ batch: 2, x, h, hOut: new Float32Array(15) }), ShapeError, 'hOut'],
      [() => step.run({ batch: 1.5, x, h }), ValueError, 'batch'],
    ];
    for (const [fn, type, arg] of cases) {
      const err = errorOf(fn);
      expect(err, arg).toBeInstanceOf(type);
      expect(err.argument, arg).toBe(arg);
    }
    // The binding's own checks (an overlap the TS layer does not look for): typed too.
    const lp = new Float32Array(20);
    const err = errorOf(() => step.run({ batch: 2, x, h, logProbs: lp, hOut: lp.subarray(0, 16) }));
    expect(err).toBeInstanceOf(ValueError);
    expect(err.argument).toBe('logProbs');
  });
});

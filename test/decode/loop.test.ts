/**
 * lib/decode/loop.ts, the one decode loop: the logits processors on fixed logits (a hand-checked
 * sequence), a batch of prompts of different lengths giving exactly what each prompt gives alone,
 * the per-step distributions, and a session restored from a snapshot's bytes going on generating
 * without a new prompt exactly as the original session does.
 */
import { describe, expect, it } from 'vitest';

import {
  SessionPool,
  decodeSnapshot,
  dense,
  embedding,
  encodeSnapshot,
  generate,
  generateTokens,
  generateWithLogProbs,
  gru,
  input,
  lstm,
  sequential,
  ValueError,
} from '../../lib/index.js';
import { checkChoice, decodeTokens, type Stepper } from '../../lib/decode/loop.js';

/** A stepper whose logits are the same every step; it records what it is fed. */
function fixed(row: number[], rows = 1): Stepper & { fed: number[][] } {
  const V = row.length;
  let n = rows;
  const fed: number[][] = [];
  return {
    vocabSize: V,
    get rows() {
      return n;
    },
    get logits() {
      return Float32Array.from({ length: n * V }, (_, i) => row[i % V]);
    },
    async feed(t) {
      fed.push(Array.from(t));
    },
    keep(index) {
      n = index.length;
    },
    fed,
  };
}

async function run(stepper: Stepper, choice: Parameters<typeof checkChoice>[0], maxTokens: number, history?: number[]): Promise<number[]> {
  const out: number[] = [];
  const h: number[] = history ?? [];
  for await (const g of decodeTokens(stepper, {
    maxTokens,
    choice: checkChoice(choice, stepper.vocabSize, ''),
    signal: null,
    history: () => [Int32Array.from(h)],
  })) {
    out.push(g.token);
    h.push(g.token);
  }
  return out;
}

describe('the logits processors', () => {
  const logits = [5, 4, -1, -2];
  it('greedy picks the argmax every step', async () => {
    expect(await run(fixed(logits), {}, 3)).toEqual([0, 0, 0]);
  });
  it('a repetition penalty of 2 divides seen positive logits: 0 (5), then 1 (4 > 2.5), then 0 (2.5 > 2)', async () => {
    expect(await run(fixed(logits), { repetitionPenalty: 2 }, 3)).toEqual([0, 1, 0]);
  });
  it('the penalty multiplies seen negative logits, and counts the prompt', async () => {
    // Only tokens 2 and 3 are allowed; 2 is in the prompt: -1 * 3 = -3 < -2, so 3 first, then both seen: -3 vs -6.
    expect(await run(fixed(logits), { repetitionPenalty: 3, banTokens: [0, 1] }, 2, [2])).toEqual([3, 2]);
  });
  it('banned tokens are never chosen, and a stop token ends the row and is not fed', async () => {
    const s = fixed(logits);
    expect(await run(s, { banTokens: [0], stopToken: 1 }, 5)).toEqual([1]);
    expect(s.fed).toEqual([]);
  });
  it('rows that stop leave the batch (keep), the others go on', async () => {
    const s = fixed(logits, 3);
    const seen: number[] = [];
    for await (const g of decodeTokens(s, { maxTokens: 3, choice: checkChoice({}, 4, ''), signal: null })) seen.push(g.row);
    expect(seen).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
    expect(s.fed).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });
  it('bad options name themselves', () => {
    expect(() => checkChoice({ banTokens: [9] }, 4, '')).toThrow(expect.objectContaining({ argument: 'banTokens[0]' }));
    expect(() => checkChoice({ repetitionPenalty: 0.5 }, 4, '')).toThrow(ValueError);
  });
});

const V = 7;
function model(seed: number) {
  return sequential(input.tokens({ vocabSize: V }))
    .add(embedding({ vocabSize: V, dim: 5 }))
    .add(lstm({ hiddenSize: 6, numLayers: 2 }))
    .add(gru({ hiddenSize: 5 }))
    .add(dense({ units: V }))
    .build({ seed, backend: 'js' });
}

describe('generate over a batch of prompts', () => {
  it('gives exactly what each prompt gives alone (greedy), prompts of different lengths', async () => {
    const m = model(3);
    const prompts = [[1], [2, 3, 4, 5], [6, 0]];
    const batch = await generate(m, { prompts, maxTokens: 9 });
    for (let i = 0; i < prompts.length; i++)
      expect(Array.from(batch[i]), `prompt ${i}`).toEqual(Array.from(await generate(m, { prompt: prompts[i], maxTokens: 9 })));
  });

  it("per-step distributions: each token's logProb is its entry, and each sums to 1", async () => {
    const m = model(4);
    const g = await generateWithLogProbs(m, {
      prompt: [1, 2],
      maxTokens: 5,
      strategy: { temperature: 1.3 },
      seed: 2,
      returnDistributions: true,
    });
    expect(g.distributions).toHaveLength(5);
    g.distributions!.forEach((d, i) => {
      expect(d[g.tokens[i]]).toBeCloseTo(g.logProbs[i], 5);
      expect(d.reduce((s, v) => s + Math.exp(v), 0)).toBeCloseTo(1, 5);
    });
  });

  it("generateTokens streams the same tokens, marking each row's last", async () => {
    const m = model(5);
    const want = await generate(m, { prompt: [3], maxTokens: 6, stopToken: 4 });
    const got: number[] = [];
    let last = -1;
    for await (const t of generateTokens(m, { prompt: [3], maxTokens: 6, stopToken: 4 })) {
      got.push(t.token);
      if (t.last) last = got.length;
    }
    expect(got).toEqual(Array.from(want));
    expect(last).toBe(got.length);
  });
});

describe('session snapshots keep what generation needs', () => {
  it('a session restored from snapshot bytes generates without a prompt, as the original goes on', async () => {
    const m = model(6);
    const pool = new SessionPool(m);
    const a = pool.open();
    await a.feed([1, 5, 2]);
    const bytes = encodeSnapshot(a.snapshot());
    const b = pool.open(decodeSnapshot(bytes));
    const fromA: number[] = [];
    for await (const t of a.generate({ maxTokens: 8 })) fromA.push(t);
    const fromB: number[] = [];
    for await (const t of b.generate({ maxTokens: 8 })) fromB.push(t);
    expect(fromB).toEqual(fromA);
    expect(fromA).toEqual(Array.from(await generate(m, { prompt: [1, 5, 2], maxTokens: 8 })));
  });
});

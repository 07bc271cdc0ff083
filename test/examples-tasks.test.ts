/**
 * The sentiment and part-of-speech examples end to end: each runs in a child process with `--quick`
 * (tiny settings) and a temporary `--out` folder, on the shared data (../shared/data). Checked: exit
 * code 0, the held-out metric printed as a number in [0, 1], the loss plot written as SVG, and the
 * saved model loading with `loadModel` and running on a batch of token ids.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, tokens } from '../lib/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = process.env.GATED_DATA ? resolve(process.env.GATED_DATA) : resolve(ROOT, '..', 'shared', 'data');
const run = promisify(execFile);

/** Runs `examples/<script>` with tsx (as `npx tsx` does) and the given flags; resolves to its output. */
async function runExample(script: string, args: readonly string[]): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join('examples', script), ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 60_000,
    maxBuffer: 16 << 20,
  });
  return stdout + stderr;
}

/** The number after `label` in `output`, checked to be a finite number in [0, 1]. */
function metric(output: string, label: RegExp): number {
  const m = label.exec(output);
  expect(m, `no line matching ${label} in:\n${output}`).not.toBeNull();
  const value = Number((m as RegExpExecArray)[1]);
  expect(Number.isFinite(value)).toBe(true);
  expect(value).toBeGreaterThanOrEqual(0);
  expect(value).toBeLessThanOrEqual(1);
  return value;
}

async function expectSvg(path: string): Promise<void> {
  expect(existsSync(path), path).toBe(true);
  const svg = await readFile(path, 'utf8');
  expect(svg).toMatch(/^<svg[\s>]/);
  expect(svg.trimEnd()).toMatch(/<\/svg>$/);
}

/** Loads a saved token model and runs it on a batch of 2 sequences of 3 ids. */
async function expectModel(path: string, outputKind: 'vector' | 'sequence', outputFeatures: number): Promise<void> {
  expect(existsSync(path), path).toBe(true);
  const model = loadModel(path, { inputKind: 'tokens', outputKind });
  expect(model.outputFeatures).toBe(outputFeatures);
  const y = await model.predict(tokens({ ids: Int32Array.from([1, 2, 3, 1, 2, 0]), seqLen: 3, batch: 2, lengths: [3, 2] }));
  expect(y.data.every(Number.isFinite)).toBe(true);
}

describe.skipIf(!existsSync(join(DATA, 'sentiment')) || !existsSync(join(DATA, 'pos')))('examples on real data (--quick)', () => {
  let out = '';
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'gated-examples-'));
  });
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('sentiment.ts: k-fold accuracy, loss plot, last fold model', async () => {
    const dir = join(out, 'sentiment');
    const output = await runExample('sentiment.ts', ['--quick', '--out', dir]);
    metric(output, /accuracy \(\d+-fold CV, mean ± std\): (\S+) ± /);
    await expectSvg(join(dir, 'sentiment-loss.svg'));
    await expectModel(join(dir, 'sentiment.safetensors'), 'vector', 2);
    expect(existsSync(join(dir, 'sentiment-vocab.json'))).toBe(true);
  }, 30_000);

  it('pos-tagging.ts: dev token accuracy, loss plot, model', async () => {
    const dir = join(out, 'pos');
    const output = await runExample('pos-tagging.ts', ['--quick', '--out', dir]);
    metric(output, /dev token accuracy: (\S+)/);
    metric(output, /dev accuracy on words unseen in training: (\S+)/);
    await expectSvg(join(dir, 'pos-tagging-loss.svg'));
    const vocab = JSON.parse(await readFile(join(dir, 'pos-tagging-vocab.json'), 'utf8')) as { tags: { tokens: string[] } };
    await expectModel(join(dir, 'pos-tagging.safetensors'), 'sequence', vocab.tags.tokens.length);
  }, 30_000);
});

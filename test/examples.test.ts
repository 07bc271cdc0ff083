/**
 * The runnable examples on real data (examples/*.ts), each run as its users run it (a child
 * process through tsx) with `--quick` and a temporary `--out` folder: it must exit 0, print its
 * held-out metric as a finite number, write its loss plot and save a model that `loadModel` reads.
 * The shared data must be present (../shared/data, or $GATED_DATA).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, describe, expect, it } from 'vitest';

import { Vocabulary, generate, loadEncoderDecoder, loadModel } from '../lib/index.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dirs: string[] = [];

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs `examples/<name>.ts` with `args`; resolves to its stdout and the temporary out folder. */
async function runExample(name: string, args: readonly string[] = ['--quick']): Promise<{ stdout: string; out: string }> {
  const out = mkdtempSync(join(tmpdir(), `gated-example-${name}-`));
  dirs.push(out);
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join('examples', `${name}.ts`), ...args, '--out', out], {
    cwd: ROOT,
    timeout: 60_000,
    maxBuffer: 16 << 20,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { stdout, out };
}

/** The number after `label` in `stdout` (it must be there and finite). */
function metric(stdout: string, label: RegExp): number {
  const m = label.exec(stdout);
  expect(m, `no line matching ${label} in:\n${stdout}`).not.toBeNull();
  const v = Number((m as RegExpExecArray)[1]);
  expect(Number.isFinite(v)).toBe(true);
  return v;
}

function expectPlot(path: string): void {
  expect(existsSync(path)).toBe(true);
  const svg = readFileSync(path, 'utf8');
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  expect(svg.match(/<path d="M/g)?.length).toBe(2); // a train and a validation line
  expect(svg).not.toContain('no data');
}

describe('examples', () => {
  it('char-lm: held-out bits per character, a sample, the plot and a model that loads and generates', async () => {
    const { stdout, out } = await runExample('char-lm');
    const bpc = metric(stdout, /held-out bits per character: ([\d.]+)/);
    expect(bpc).toBeGreaterThan(1);
    expect(bpc).toBeLessThan(Math.log2(90)); // better than uniform over the vocabulary, even after --quick
    expect(stdout).toMatch(/sample \(temperature 0\.8, seed 1\):\n---\nCall me Ishmael\. .{20,}/);
    expect(stdout).toMatch(/total wall time: [\d.]+ s/);
    expectPlot(join(out, 'char-lm-loss.svg'));
    const model = loadModel(join(out, 'char-lm.safetensors'), { inputKind: 'tokens', outputKind: 'sequence' });
    const vocab = Vocabulary.fromJSON(JSON.parse(readFileSync(join(out, 'char-lm.vocab.json'), 'utf8')));
    expect(model.outputFeatures).toBe(vocab.size);
    const ids = await generate(model, { prompt: vocab.encode(['T', 'h', 'e']), maxTokens: 10, seed: 3 });
    expect(ids.length).toBe(10);
  });

  it('air-passengers: test RMSE against the baselines, the plot and a model that loads; seeded runs repeat', async () => {
    const first = await runExample('air-passengers');
    const rmse = metric(first.stdout, /held-out RMSE \(one step ahead, last 24 months\): ([\d.]+)/);
    expect(rmse).toBeGreaterThan(0);
    expect(rmse).toBeLessThan(200);
    expect(first.stdout).toMatch(/seasonal naive \(12 months earlier\) 49\.99/);
    expect(first.stdout).toMatch(/recursive, 24 months from 1958-12: +LSTM [\d.]+/);
    expectPlot(join(first.out, 'air-passengers-loss.svg'));
    const model = loadModel(join(first.out, 'air-passengers.safetensors'), { inputKind: 'sequence', outputKind: 'vector' });
    expect(model.outputFeatures).toBe(1);
    // Same flags, same numbers (everything is seeded).
    const again = await runExample('air-passengers');
    const results = (s: string) => s.split('\n').filter((l) => /RMSE|LSTM|^ {2}\d{4}-\d\d/.test(l) && !/training [\d.]+ s/.test(l));
    expect(results(again.stdout)).toEqual(results(first.stdout));
    expect(results(first.stdout).length).toBeGreaterThan(5);
  });

  it('g2p: dev PER / WER greedy and beam, the beam error analysis, the plot and a model that loads with its vocabularies and decodes', async () => {
    const { stdout, out } = await runExample('g2p');
    const per = metric(stdout, /dev beam 3: +PER ([\d.]+)%/);
    expect(per).toBeGreaterThan(0);
    expect(per).toBeLessThanOrEqual(100);
    metric(stdout, /dev greedy: +PER [\d.]+% +WER ([\d.]+)%/);
    expect(stdout).toMatch(/beam +errors +search +model/);
    expectPlot(join(out, 'g2p-loss.svg'));
    const model = loadEncoderDecoder(join(out, 'g2p.safetensors'));
    const chars = Vocabulary.fromJSON(model.config.vocabularies!.source);
    const phones = Vocabulary.fromJSON(model.config.vocabularies!.target);
    const [[best]] = await model.decode([chars.encode([...'HELLO'])], { beamSize: 3, maxLength: 8 });
    expect(best.tokens.length).toBeGreaterThan(0);
    expect(phones.decode(best.tokens).every((p) => /^[A-Z]+[0-2]?$/.test(p))).toBe(true);
  });

  it('translate: dev BLEU greedy and beam, the attention heatmap, the plot and a model that loads with its vocabularies and translates', async () => {
    const { stdout, out } = await runExample('translate');
    for (const label of [/dev greedy: +BLEU ([\d.]+)/, /dev beam 3: +BLEU ([\d.]+)/]) {
      const bleu = metric(stdout, label);
      expect(bleu).toBeGreaterThanOrEqual(0);
      expect(bleu).toBeLessThanOrEqual(100);
    }
    expect(stdout).toMatch(/\n {2}es: +Y mandó Jehová Dios al hombre, diciendo:.*\n {2}out: .*\n {2}ref: +Yahweh God commanded the man/);
    expectPlot(join(out, 'translate-loss.svg'));
    const heatmap = readFileSync(join(out, 'translate-attention.svg'), 'utf8');
    expect(heatmap.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(heatmap.trimEnd().endsWith('</svg>')).toBe(true);
    // The first dev verse of at most 12 tokens is "Y moró Abraham en tierra de los Filisteos muchos días.": its source words label the columns.
    expect(heatmap).toContain('>abraham');
    expect(heatmap).toContain('>filisteos');
    expect(heatmap.match(/<rect [^>]*><title>/g)?.length).toBeGreaterThan(3 * 10); // three grids of cells
    const model = loadEncoderDecoder(join(out, 'translate.safetensors'));
    const spanish = Vocabulary.fromJSON(model.config.vocabularies!.source);
    const english = Vocabulary.fromJSON(model.config.vocabularies!.target);
    expect(spanish.size).toBe(model.config.sourceVocabSize);
    expect(english.bosId).toBe(model.config.bos);
    const source = spanish.encode('y dijo dios a moisés : ve'.split(' '));
    expect(source.filter((id) => id === spanish.unkId).length).toBeLessThan(source.length); // the words are in the vocabulary
    const [[best]] = await model.decode([source], { beamSize: 3, maxLength: 12 });
    expect(best.tokens.length).toBeGreaterThan(0);
    expect(best.tokens.length).toBeLessThanOrEqual(12);
    const words = english.decode(best.tokens);
    expect(words.every((w) => typeof w === 'string' && w.length > 0 && english.has(w))).toBe(true);
  });

  it('a bad flag exits 2 naming it, before any work', async () => {
    const error = await runExample('air-passengers', ['--epochs', 'many']).then(
      () => null,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(error).not.toBeNull();
    expect(error?.code).toBe(2);
    expect(error?.stderr).toContain("--epochs: expected a number, got 'many'");
  });
});

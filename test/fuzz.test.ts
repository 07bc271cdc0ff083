/**
 * Fuzzes the raw addon in a child process (test/fuzz/child.mjs): >= 10,000 random malformed calls
 * must each throw a gated error (or run, when the mutation left the call valid); a crash, an abort or
 * an error without a gated code fails the test. The child honors GATED_ADDON_PATH, so
 * `.ci/run` also runs it against the ASan+UBSan build.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { addonLoadError, nativeAvailable } from '../lib/backend/addon.js';

const child = fileURLToPath(new URL('./fuzz/child.mjs', import.meta.url));

interface Summary {
  calls: number;
  unexpected: number;
  samples: string[];
  threw: Record<string, number>;
}

describe.runIf(nativeAvailable())('native binding fuzz', () => {
  // GATED_FUZZ_SEED picks another stream (default 1); the seed is printed in the summary.
  const seed = Number(process.env.GATED_FUZZ_SEED ?? 1);
  it(`survives 12,000 random malformed calls (seed ${seed})`, () => {
    const r = spawnSync(process.execPath, ['--expose-gc', child, '12000', String(seed)], {
      encoding: 'utf8',
      timeout: 60_000,
      env: process.env,
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith('FUZZ_SUMMARY '));
    const context = `status ${r.status} signal ${r.signal}\nstderr: ${r.stderr.slice(-4000)}\nstdout: ${r.stdout.slice(-2000)}`;
    expect(r.signal, context).toBeNull();
    expect(r.status, context).toBe(0);
    expect(line, context).toBeDefined();
    const summary = JSON.parse(line!.slice('FUZZ_SUMMARY '.length)) as Summary;
    expect(summary.unexpected, summary.samples.join('\n')).toBe(0);
    expect(summary.calls).toBeGreaterThanOrEqual(10_000);
    // Most calls are malformed: both kinds of gated errors must have been seen.
    expect(summary.threw.ERR_GATED_SHAPE ?? 0).toBeGreaterThan(1000);
    expect(summary.threw.ERR_GATED_VALUE ?? 0).toBeGreaterThan(1000);
  });
});

describe.runIf(!nativeAvailable())('native binding fuzz (addon missing)', () => {
  it('is skipped because the addon did not load', () => {
    expect(addonLoadError()).toBeDefined();
  });
});

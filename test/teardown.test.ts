/**
 * Issue 10, item 1: tearing an environment down while a native async op runs must leave the process
 * alive (worker.terminate()) or exit with the code asked for (process.exit). Each case runs in a child
 * process (test/fixtures/teardown-child.ts, transpiled), because before the fix the failure was a
 * SIGABRT of the whole process ("terminate called after throwing an instance of 'Napi::Error'").
 * CI also runs this file against the ASan + UBSan addon: an op still running when its environment
 * goes away must not touch freed memory (native/binding/worker.h, "Teardown").
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nativeAvailable } from '../lib/backend/addon.js';
import { childEnv, repoRoot, transpileTree } from './helpers/transpile.js';

let scratch: string;
let script: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'gated-teardown-'));
  script = transpileTree(join(repoRoot, 'test/fixtures/teardown-child.ts'), join(scratch, 'js'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function runChild(args: string[], timeoutMs: number) {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: timeoutMs, env: childEnv() });
  const context = `status ${r.status} signal ${r.signal}\nstderr: ${r.stderr.slice(-3000)}\nstdout: ${r.stdout.slice(-1500)}`;
  return { ...r, context };
}

describe.runIf(nativeAvailable())('native async ops while the environment is torn down', () => {
  // 20 terminations, each 0.3-1 s after the worker's first op settled: ~20 s.
  it('worker.terminate() during lstmForwardAsync (T=64 B=32 D=64 H=256), 20 times: the process lives', { timeout: 120_000 }, () => {
    const runs = 20;
    const r = runChild(['terminate-ops', String(runs)], 110_000);
    expect(r.signal, r.context).toBeNull();
    expect(r.status, r.context).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1), r.context).toBe('alive');
    const terminated = lines.filter((l) => l.startsWith('terminated '));
    expect(terminated).toHaveLength(runs);
    // Each worker had an op in flight when it was terminated: it loops them back to back and had
    // settled at least one before the wait started.
    for (const l of terminated) expect(Number(l.split(' ')[2])).toBeGreaterThanOrEqual(1);
  });

  it('worker.terminate() while a native call reads its arguments (a getter that never returns), 5 times: the process lives', () => {
    const r = runChild(['terminate-in-call', '5'], 60_000);
    expect(r.signal, r.context).toBeNull();
    expect(r.status, r.context).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1), r.context).toBe('alive');
  });

  it('process.exit(0) while a worker runs model.fit exits with code 0', () => {
    const r = runChild(['exit-during-fit'], 50_000);
    expect(r.signal, r.context).toBeNull();
    expect(r.status, r.context).toBe(0);
  });

  it('process.exit(0) while the main thread has an op in flight exits with code 0', () => {
    const r = runChild(['exit-during-op'], 30_000);
    expect(r.signal, r.context).toBeNull();
    expect(r.status, r.context).toBe(0);
  });
});

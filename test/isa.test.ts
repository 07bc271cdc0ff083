/**
 * Choosing the instruction set (lib/isa.ts, native/dispatch.h): GATED_ISA is read once at load, in a
 * child process per value: a runnable value is followed; an unknown value, or one this CPU cannot
 * run, loads the best set instead, with a process warning (code GATED_ISA) and `isaInfo().notice`
 * naming the value. setIsa switches and rejects what is not available with a ValueError.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { ValueError, isaInfo, setIsa } from '../lib/index.js';
import { nativeAvailable } from '../lib/backend/addon.js';
import { initialIsa } from './helpers/isa.js';

const index = fileURLToPath(new URL('../lib/index.ts', import.meta.url));

/** isaInfo() and the process warnings of a fresh process started with GATED_ISA = value. */
function childWith(value: string): { info: ReturnType<typeof isaInfo>; warnings: { code: string; message: string }[] } {
  const code = `
    const warnings = [];
    process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }));
    const { isaInfo } = await import(${JSON.stringify(index)});
    const info = isaInfo();
    await new Promise((r) => setImmediate(r));
    console.log('ISA_RESULT ' + JSON.stringify({ info, warnings }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, GATED_ISA: value },
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('ISA_RESULT '));
  expect(line, `status ${r.status}\n${r.stderr.slice(-2000)}`).toBeDefined();
  return JSON.parse(line!.slice('ISA_RESULT '.length));
}

describe.runIf(nativeAvailable())('instruction set choice', () => {
  const { best, available } = isaInfo();

  it('every available set can be forced with GATED_ISA, silently', () => {
    for (const isa of available) {
      const { info, warnings } = childWith(isa);
      expect(info.active).toBe(isa);
      expect(info.best).toBe(best);
      expect(info.requested).toBe(isa);
      expect(info.notice).toBeNull();
      expect(warnings.filter((w) => w.code === 'GATED_ISA')).toEqual([]);
    }
  });

  it('an unknown or unavailable GATED_ISA loads the best set and says why', () => {
    const unavailable = ['avx512', 'avx2', 'neon'].find((s) => !available.includes(s as never));
    for (const value of ['bogus', ...(unavailable ? [unavailable] : [])]) {
      const { info, warnings } = childWith(value);
      expect(info.active).toBe(best);
      expect(info.requested).toBe(value);
      expect(info.notice).toContain(`GATED_ISA=${value}`);
      expect(info.notice).toContain(`using ${best}`);
      expect(warnings.filter((w) => w.code === 'GATED_ISA').map((w) => w.message)).toEqual([info.notice]);
    }
  });

  it('setIsa switches between the available sets and rejects the others', () => {
    try {
      for (const isa of available) {
        setIsa(isa);
        expect(isaInfo().active).toBe(isa);
      }
      for (const bad of ['bogus', 'AVX2', '', 3]) {
        const err = (() => {
          try {
            setIsa(bad as never);
          } catch (e) {
            return e;
          }
          return null;
        })();
        expect(err).toBeInstanceOf(ValueError);
        expect((err as ValueError).argument).toBe('name');
      }
    } finally {
      setIsa(initialIsa as never);
    }
  });
});

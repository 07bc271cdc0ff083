/**
 * Drives the whole-API fuzz child (test/fixtures/api-fuzz-child.ts) over calls [0, calls) of a seed:
 * runs it in child processes of up to `chunk` calls each, tallies each call's outcome from its
 * `S i` / `R i outcome` lines, and where a child dies (a signal or an unexpected exit: a crash) or stops answering (a hang: killed
 * after `childTimeoutMs`) after `S i`, counts call i so and goes on from i + 1 in a fresh child.
 */
import { spawnSync } from 'node:child_process';

import { childEnv } from './transpile.js';

/** What a fuzz run found. */
export interface ApiFuzzTotals {
  calls: number;
  ok: number;
  typed: number;
  user: number;
  untyped: number;
  hang: number;
  crash: number;
  /** Typed errors without an `argument`. */
  noArgument: number;
  /** Children started. */
  children: number;
  /** One line per defect (untyped, hang, crash, typed without argument), up to 1000. */
  samples: string[];
  /** Outcomes per target. */
  byTarget: Record<string, Record<string, number>>;
}

/** Runs calls [0, calls) of `seed` through the transpiled child `script`. */
export function runApiFuzz(script: string, seed: number, calls: number, childTimeoutMs = 60_000, chunk = 5000): ApiFuzzTotals {
  const t: ApiFuzzTotals = {
    calls: 0,
    ok: 0,
    typed: 0,
    user: 0,
    untyped: 0,
    hang: 0,
    crash: 0,
    noArgument: 0,
    children: 0,
    samples: [],
    byTarget: {},
  };
  // Crashes and hangs first, then untyped errors, then typed errors without an argument.
  const sample = (s: string) => {
    if (t.samples.length < 1000) t.samples.push(s);
  };
  let from = 0;
  // At most `chunk` calls per child (a few seconds), so that `childTimeoutMs` only ever catches a
  // call that hangs, not a long but healthy run on a loaded machine.
  while (from < calls && t.children < 200 + calls / chunk) {
    t.children++;
    const to = Math.min(calls, from + chunk);
    const r = spawnSync(process.execPath, [script, String(seed), String(from), String(to)], {
      encoding: 'utf8',
      timeout: childTimeoutMs,
      env: childEnv(),
      maxBuffer: 256 * 1024 * 1024,
    });
    const names = new Map<number, string>();
    const mutations = new Map<number, string>();
    let last = -1;
    let open = -1; // started, no result yet
    let done = false;
    for (const line of (r.stdout ?? '').split('\n')) {
      const [tag, index, rest] = [line.slice(0, 1), Number(line.split(' ')[1]), line.split(' ').slice(2).join(' ')];
      if (tag === 'S') {
        names.set(index, rest);
        open = index;
      } else if (tag === 'R') {
        const outcome = rest as 'ok' | 'typed' | 'user' | 'untyped' | 'hang';
        t[outcome]++;
        t.calls++;
        const name = names.get(index) ?? '?';
        const row = (t.byTarget[name] ??= {});
        row[outcome] = (row[outcome] ?? 0) + 1;
        last = index;
        open = -1;
      } else if (tag === 'M') {
        mutations.set(index, rest);
      } else if (tag === 'X') {
        if (rest.startsWith('noArgument ')) t.noArgument++;
        sample(`#${index} ${rest}`);
      } else if (line.startsWith('DONE ')) {
        done = true;
      }
    }
    if (done) {
      from = to;
      continue;
    }
    if (open >= 0) {
      // Died or stalled inside call `open`.
      const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
      const kind = timedOut ? 'hang' : 'crash';
      t[kind]++;
      t.calls++;
      const name = names.get(open) ?? '?';
      const row = (t.byTarget[name] ??= {});
      row[kind] = (row[kind] ?? 0) + 1;
      sample(
        `#${open} ${kind} ${name} ${mutations.get(open) ?? '(in setup)'}: status ${r.status} signal ${r.signal}; stderr: ${(r.stderr ?? '').slice(-1500)}`,
      );
      from = open + 1;
    } else if (last >= 0 && r.status === 3) {
      from = last + 1; // the child counted a hang and stopped
    } else {
      // Died between calls or before the first: nothing to attribute; stop rather than loop.
      sample(`child died outside a call: status ${r.status} signal ${r.signal}; stderr: ${(r.stderr ?? '').slice(-1500)}`);
      t.crash++;
      break;
    }
  }
  return t;
}

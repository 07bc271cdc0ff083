import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTempFiles, FileError, writeFileAtomic, writeFileAtomicAsync } from '../../lib/io/atomic.js';
import { ValueError } from '../../lib/errors.js';
import { makeVersion, readVersion } from './fixtures/atomic-writer.mjs';
import { transpileTree } from '../helpers/transpile.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'gated-atomic-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

let dirCount = 0;
function freshDir(): string {
  const dir = join(scratch, `d${dirCount++}`);
  mkdirSync(dir);
  return dir;
}

describe('writeFileAtomic', () => {
  it('writes, overwrites, and leaves no temporary file', async () => {
    const dir = freshDir();
    const target = join(dir, 'out.bin');
    writeFileAtomic(target, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(target)]).toEqual([1, 2, 3]);
    // Chunks are written back to back; a subarray writes only its own bytes.
    const big = new Uint8Array([9, 9, 4, 5, 9]);
    writeFileAtomic(target, [new Uint8Array([7]), big.subarray(2, 4), new Uint8Array(0)]);
    expect([...readFileSync(target)]).toEqual([7, 4, 5]);
    await writeFileAtomicAsync(target, [new Uint8Array([8]), new Uint8Array([6, 6])]);
    expect([...readFileSync(target)]).toEqual([8, 6, 6]);
    await writeFileAtomicAsync(target, new Uint8Array(0), { fsync: false });
    expect(readFileSync(target).byteLength).toBe(0);
    expect(readdirSync(dir)).toEqual(['out.bin']);
  });

  it('writes large buffers whole', async () => {
    const dir = freshDir();
    const data = makeVersion(1, 3 << 20);
    writeFileAtomic(join(dir, 'a'), data);
    await writeFileAtomicAsync(join(dir, 'b'), [data.subarray(0, 12345), data.subarray(12345)]);
    expect(readVersion(readFileSync(join(dir, 'a')), data.byteLength)).toBe(1);
    expect(readVersion(readFileSync(join(dir, 'b')), data.byteLength)).toBe(1);
  });

  it('parallel async writes to one target end with one whole version', async () => {
    const dir = freshDir();
    const target = join(dir, 't');
    const size = 1 << 20;
    await Promise.all([1, 2, 3, 4].map((v) => writeFileAtomicAsync(target, makeVersion(v, size))));
    expect([1, 2, 3, 4]).toContain(readVersion(readFileSync(target), size));
    expect(readdirSync(dir)).toEqual(['t']);
  });

  it('a missing directory is a FileError naming the path', async () => {
    const target = join(scratch, 'no-such-dir', 'x.bin');
    for (const write of [() => writeFileAtomic(target, new Uint8Array(1)), () => writeFileAtomicAsync(target, new Uint8Array(1))]) {
      const error = await Promise.resolve()
        .then(write)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(FileError);
      const fileError = error as FileError;
      expect(fileError.argument).toBe(target);
      expect(fileError.code).toBe('ENOENT');
      expect(fileError.message).toContain(target);
      expect(fileError.message).toContain('does not exist');
    }
  });

  it('removes its temporary file when the rename fails', async () => {
    const dir = freshDir();
    const target = join(dir, 'sub');
    mkdirSync(target); // renaming a file over a directory fails (EISDIR)
    expect(() => writeFileAtomic(target, new Uint8Array(10))).toThrow(FileError);
    await expect(writeFileAtomicAsync(target, new Uint8Array(10))).rejects.toThrow(FileError);
    expect(readdirSync(dir)).toEqual(['sub']);
  });

  it('rejects bad arguments with ValueError', () => {
    expect(() => writeFileAtomic('', new Uint8Array(1))).toThrow(ValueError);
    // @ts-expect-error a plain array is not bytes
    expect(() => writeFileAtomic(join(scratch, 'x'), [1, 2])).toThrow(ValueError);
  });
});

describe('cleanupTempFiles', () => {
  it('removes stale temporary files of dead writers only', () => {
    const dir = freshDir();
    const dead = '.m.bin.999999999.0a1b2c.tmp'; // above any pid_max: no such process
    const live = `.m.bin.${process.pid}.abcdef.tmp`; // ours: may be an in-flight async write
    const others = ['m.bin', '.m.bin.12.tmp', '.other.bin.999999999.0a.tmp', '.m.bin.999999999.xyz.tmp'];
    for (const name of [dead, live, ...others]) writeFileSync(join(dir, name), 'x');
    expect(cleanupTempFiles(dir, 'm.bin')).toEqual([join(dir, dead)]);
    expect(readdirSync(dir).sort()).toEqual([live, ...others].sort());
  });

  it('without a base, removes the stale temporary files of every target in the folder', () => {
    const dir = freshDir();
    const dead = ['.m.bin.999999999.0a1b2c.tmp', '.other.json.999999998.ff.tmp', '.a.b.c.999999999.01.tmp'];
    const kept = [`.m.bin.${process.pid}.abcdef.tmp`, 'm.bin', '.m.bin.12.tmp', '.x.999999999.xyz.tmp', 'plain.999999999.0a.tmp'];
    for (const name of [...dead, ...kept]) writeFileSync(join(dir, name), 'x');
    expect(cleanupTempFiles(dir).sort()).toEqual(dead.map((n) => join(dir, n)).sort());
    expect(readdirSync(dir).sort()).toEqual(kept.sort());
  });

  it('a missing directory is a FileError', () => {
    expect(() => cleanupTempFiles(join(scratch, 'nope'), 'a')).toThrow(FileError);
  });
});

describe('writeFileAtomic under SIGKILL', () => {
  const SIZE = 8 << 20;
  const TRIALS = 30;

  /**
   * The child imports lib/io/atomic.ts transpiled to plain JS (with the modules it imports, by
   * test/helpers/transpile.ts): node starts in ~0.1 s that way, against ~0.6 s under tsx, which keeps
   * 30 kills under 15 s.
   */
  function transpileAtomic(): string {
    return transpileTree(join(root, 'lib/io/atomic.ts'), join(scratch, 'js'));
  }

  interface Run {
    reported: number[];
  }

  /** Start a writer, let it run `delayMs` after it is ready, SIGKILL it, return what it reported. */
  function killedRun(modulePath: string, target: string, first: number, delayMs: number): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(here, 'fixtures/atomic-writer.mjs'), modulePath, target, String(first), String(SIZE)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let timer: NodeJS.Timeout | undefined;
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (timer === undefined && stdout.startsWith('ready\n')) {
          timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        if (signal !== 'SIGKILL') {
          reject(new Error(`writer exited on its own (code ${code}, signal ${signal}): ${stderr}`));
          return;
        }
        // Only whole lines count: the kill may cut the last one.
        const lines = stdout.split('\n').slice(1, -1);
        resolve({ reported: lines.map(Number) });
      });
    });
  }

  it('leaves the old or the new whole file, and only temporary files as garbage', async () => {
    const modulePath = transpileAtomic();
    const TEMP = /^\.target\.bin\.\d+\.[0-9a-f]+\.tmp$/;
    // Each lane is a directory whose target lives on across kills; a new lane starts with no target.
    const lanes = new Map<string, number | undefined>(); // dir -> version on disk
    let midWrite = 0;
    let absent = 0;
    let keptOld = 0; // the kill came before any new version's rename: the old file survived
    const started = Date.now();
    let trials = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      // On a loaded machine each 8 MB write is slower: stop early rather than time out.
      if (trial >= 10 && Date.now() - started > 15_000) break;
      trials++;
      if (trial % 6 === 0) lanes.set(freshDir(), undefined);
      const dir = [...lanes.keys()].at(-1)!;
      const target = join(dir, 'target.bin');
      const before = lanes.get(dir);
      const first = trial * 1000; // versions of different runs never collide
      // A fresh lane's first run is killed early, often during the very first write; later runs
      // live longer so that they usually find an old version and replace it a few times.
      const delay = trial % 6 === 0 ? Math.random() * 40 : 30 + Math.random() * 300;
      const { reported } = await killedRun(modulePath, target, first, delay);

      const names = readdirSync(dir);
      const garbage = names.filter((n) => n !== 'target.bin');
      expect(
        garbage.filter((n) => !TEMP.test(n)),
        `trial ${trial}: unexpected files`,
      ).toEqual([]);
      if (garbage.length > 0) midWrite++;

      const last = reported.at(-1);
      // The file may be one version ahead of the last report: killed between rename and print.
      const allowed = last === undefined ? [before, first] : [last, last + 1];
      let onDisk: number | undefined;
      if (existsSync(target)) {
        const version = readVersion(readFileSync(target), SIZE);
        expect(typeof version, `trial ${trial}: ${String(version)}`).toBe('number');
        onDisk = version as number;
      } else {
        absent++;
      }
      expect(allowed, `trial ${trial}: reported ${reported.join(',')}`).toContain(onDisk);
      if (before !== undefined && onDisk === before) keptOld++;
      lanes.set(dir, onDisk);
    }

    // Every writer is dead now, so every temporary file is stale and cleanup leaves only targets.
    for (const [dir, version] of lanes) {
      cleanupTempFiles(dir, 'target.bin');
      expect(readdirSync(dir)).toEqual(version === undefined ? [] : ['target.bin']);
    }
    // Kills landed mid-write (a temp file was left), else the test proved little.
    expect(midWrite).toBeGreaterThan(0);
    console.log(
      `SIGKILL test: ${trials} kills in ${Date.now() - started} ms, ${midWrite} left a temp file, ${absent} left no target, ${keptOld} kept the old version`,
    );
  });
});

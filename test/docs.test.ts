/**
 * docs/ARCHITECTURE.md stays true to the tree: every folder of tracked files under lib/ and native/
 * is described, and every tracked file of lib/ and native/ (but the native tests) is named, by its
 * path inside lib/ or native/ (or, in a row naming several, by its name). The README links the page.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const doc = readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8');
const files = execFileSync('git', ['ls-files', 'lib', 'native'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);

it('describes every source folder', () => {
  const folders = [...new Set(files.map((f) => f.split('/').slice(0, -1).join('/')))];
  const missing = folders.filter((d) => {
    const inner = d.split('/').slice(1).join('/');
    return !doc.includes(inner === '' ? `${d}/` : `${inner}/`);
  });
  expect(missing).toEqual([]);
});

it('names every file of lib/ and native/', () => {
  const named = (f: string): boolean => {
    const rel = f.split('/').slice(1).join('/'); // the path inside lib/ or native/
    const dir = rel.includes('/') ? `${rel.slice(0, rel.lastIndexOf('/'))}/` : '';
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    const stem = base.replace(/\.[^.]+$/, '');
    return (
      doc.includes(`\`${rel}\``) ||
      doc.includes(`${rel}`) ||
      doc.includes(`\`${dir}${stem}.*\``) ||
      (dir === '' ? false : doc.includes(`${dir}`) && doc.includes(`\`${base}\``))
    );
  };
  const missing = files.filter((f) => !f.startsWith('native/tests/') && !named(f));
  expect(missing).toEqual([]);
  expect(named('lib/nowhere/zzz.ts')).toBe(false); // the check can fail
});

it('is linked from the README', () => {
  expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain('docs/ARCHITECTURE.md');
});

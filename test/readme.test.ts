/**
 * The README's examples run as written: every ```ts block, in order, as one module (later blocks use
 * names from earlier ones), importing this checkout instead of the published package.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
const dir = mkdtempSync(join(tmpdir(), 'gated-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('has examples, and they run', async () => {
  expect(blocks.length).toBeGreaterThan(0);
  const entry = pathToFileURL(join(root, 'lib', 'index.ts')).href;
  const source = blocks.join('\n').replaceAll(`from 'gated'`, `from '${entry}'`);
  const file = join(dir, 'readme-example.ts');
  // Export one value so the module's results can be checked after it ran.
  writeFileSync(file, `${source}\nexport const done = true;\n`);
  const mod = (await import(pathToFileURL(file).href)) as { done: boolean };
  expect(mod.done).toBe(true);
});

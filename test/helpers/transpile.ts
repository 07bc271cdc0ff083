/**
 * Child processes that run the library's TypeScript: `transpileTree` writes an entry file and every
 * relative module it imports (transitively) as plain JS under `outDir`, with the same paths relative
 * to the repository root (ts.transpileModule: no type check, ~0.1 s per file once). Node then starts
 * such a child in ~0.4 s, against ~1.5 s under `node --import tsx` on this machine, which matters for
 * tests that start many children or worker threads.
 *
 * The transpiled lib/backend/addon.ts looks for the addon beside the copy, where there is none, so
 * `childEnv()` names the one these tests load (GATED_ADDON_PATH, as CI sets it for the sanitizer
 * build, or what node-gyp-build picks in this checkout).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

/** The repository root (above test/). */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Transpiles `entry` (absolute path of a .ts file) and its relative imports; returns the entry's JS path. */
export function transpileTree(entry: string, outDir: string): string {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const dest = join(outDir, relative(repoRoot, file).replace(/\.ts$/, '.js'));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, outputText);
    for (const m of outputText.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const dep = resolve(dirname(file), m[1]).replace(/\.js$/, '.ts');
      if (existsSync(dep)) queue.push(dep);
    }
  }
  // lib/index.ts reads ../package.json for its version.
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  writeFileSync(join(outDir, 'package.json'), JSON.stringify({ type: 'module', version }));
  return join(outDir, relative(repoRoot, entry).replace(/\.ts$/, '.js'));
}

/** process.env plus GATED_ADDON_PATH naming the addon this checkout loads (when one is built). */
export function childEnv(): NodeJS.ProcessEnv {
  if (process.env.GATED_ADDON_PATH) return process.env;
  try {
    const require = createRequire(import.meta.url);
    const resolveAddon = (require('node-gyp-build') as { resolve(dir: string): string }).resolve;
    return { ...process.env, GATED_ADDON_PATH: resolveAddon(repoRoot) };
  } catch {
    return process.env; // no addon: the child's native calls fail as the tests' own would
  }
}

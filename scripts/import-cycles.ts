/**
 * npx tsx scripts/import-cycles.ts [folder...]   (default: lib)
 *
 * Finds import cycles among the TypeScript files of the folders, type-only imports and re-exports
 * included (ESLint's import-x/no-cycle, also run in CI, skips `import type`). Imports are read with
 * the TypeScript compiler's own pre-processor; `./x.js` specifiers resolve to `./x.ts`. Prints each
 * cycle (a strongly connected component of two or more files, or a file importing itself) and exits
 * 1 when there is one.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import ts from 'typescript';

const folders = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['lib'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts') ? [resolve(p)] : [];
  });
}

const all = folders.flatMap((f) => files(f));
const graph = new Map<string, string[]>();
for (const file of all) {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const deps = info.importedFiles
    .map((r) => r.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts')))
    .filter((p) => existsSync(p));
  graph.set(file, deps);
}

// Tarjan's strongly connected components.
let index = 0;
const idx = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const cycles: string[][] = [];
function visit(v: string): void {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) {
      low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
  }
  if (low.get(v) === idx.get(v)) {
    const comp: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp);
  }
}
for (const v of graph.keys()) if (!idx.has(v)) visit(v);

for (const c of cycles)
  console.log(
    `cycle: ${c
      .map((f) => relative(process.cwd(), f))
      .sort()
      .join(' <-> ')}`,
  );
console.log(`${all.length} files, ${cycles.length} import cycle(s) (type-only imports included)`);
process.exit(cycles.length > 0 ? 1 : 0);

/**
 * Build cost of random initialization (issue 10, item 3): wall time of `sequential(...).add(cell({
 * hiddenSize: H })).build()` for lstm, gru, rnn at each H, the best of `--repeat` runs, and with
 * `--async` the same through `buildAsync` plus the longest event-loop stall seen by a 1 ms interval.
 *
 *   npx tsx bench/build.ts [--sizes 256,512,1024,2048] [--repeat 1] [--async] [--lib ./lib]
 *
 * `--lib` points at another checkout's lib/ (e.g. an extracted older commit) to compare before/after.
 * Not part of `npm run bench`: it needs a quiet machine and minutes at H=2048.
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const sizes = arg('sizes', '256,512,1024,2048').split(',').map(Number);
const repeat = Number(arg('repeat', '1'));
const useAsync = process.argv.includes('--async');
const lib = (await import(pathToFileURL(resolve(arg('lib', './lib'), 'index.ts')).href)) as typeof import('../lib/index.js');

for (const H of sizes) {
  const row: string[] = [`H=${H}`];
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    let best = Infinity;
    let worstStall = 0;
    for (let r = 0; r < repeat; r++) {
      const builder = lib
        .sequential(lib.input.sequence({ features: 64 }))
        .add((lib[cell] as unknown as typeof lib.lstm)({ hiddenSize: H }));
      const t0 = performance.now();
      if (useAsync) {
        let last = performance.now();
        const timer = setInterval(() => {
          const now = performance.now();
          worstStall = Math.max(worstStall, now - last);
          last = now;
        }, 1);
        await builder.buildAsync({ seed: 1 });
        clearInterval(timer);
      } else {
        builder.build({ seed: 1 });
      }
      best = Math.min(best, performance.now() - t0);
    }
    row.push(`${cell} ${best.toFixed(0)} ms${useAsync ? ` (stall ${worstStall.toFixed(0)} ms)` : ''}`);
  }
  console.log(row.join('  '));
}

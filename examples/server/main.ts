/**
 * Runs the example training and serving HTTP service (examples/server/server.ts has every
 * endpoint, with curl commands).
 *
 *   npx tsx examples/server/main.ts                       # 127.0.0.1:8080, data ../shared/data
 *   npx tsx examples/server/main.ts --port 9000 --max-jobs 2 --threads 2
 *   npx tsx examples/server/main.ts --host 0.0.0.0        # listen beyond loopback (no authentication: mind who can reach it)
 *   npx tsx examples/server/main.ts --help
 *
 * Flags: --port (0: any free port) --host --data (the data folder; default `$GATED_DATA` or
 * ../shared/data) --models (default examples/out/server-models; models saved there are listed
 * again at the next start) --max-jobs --max-queued --max-body-bytes --threads (the kernels'
 * threads; 0: the library's default) --train-in worker|main (where jobs train: a worker thread
 * each, the default, or the server's own thread) --quiet (no access log).
 *
 * SIGINT / SIGTERM: stops listening, cancels the running jobs (they stop between two batches),
 * ends the event streams, then exits. A second signal exits at once.
 */
import { join } from 'node:path';

import { setThreads } from '../../lib/index.js';
import { DATA, FlagError, OUT, flags, main } from '../lib/cli.js';
import { startServer } from './server.js';

const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  data: DATA,
  models: join(OUT, 'server-models'),
  maxJobs: 1,
  maxQueued: 16,
  maxBodyBytes: 1 << 20,
  threads: 0,
  trainIn: 'worker',
  quiet: false,
};

main(async () => {
  const o = flags(DEFAULTS);
  if (o.threads > 0) setThreads(o.threads);
  if (o.trainIn !== 'worker' && o.trainIn !== 'main') throw new FlagError(`--train-in: expected worker or main, got '${o.trainIn}'`, '--train-in');
  const server = await startServer({
    port: o.port, host: o.host, dataDir: o.data, modelDir: o.models, maxJobs: o.maxJobs, maxQueued: o.maxQueued,
    maxBodyBytes: o.maxBodyBytes, trainIn: o.trainIn, accessLog: !o.quiet,
  });
  process.stdout.write(`gated server on ${server.url}  (try: curl ${server.url}/health)\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write(`${signal}: shutting down (again to force)\n`);
    server.close().then(() => process.exit(0), (error: unknown) => {
      process.stderr.write(`shutdown failed: ${String(error)}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
});

/**
 * Runs the example training and serving HTTP service (examples/server/server.ts has every
 * endpoint, with curl commands; examples/server/README.md how to deploy it).
 *
 *   npx tsx examples/server/main.ts                       # 127.0.0.1:8080, data ../shared/data
 *   npx tsx examples/server/main.ts --port 9000 --max-jobs 2 --threads 2
 *   npx tsx examples/server/main.ts --host 0.0.0.0 --tokens-file /etc/gated/tokens --allowed-hosts models.example.com
 *   npx tsx examples/server/main.ts --help
 *
 * Flags: --port (0: any free port) --host --data (the data folder; default `$GATED_DATA` or
 * ../shared/data) --models (default examples/out/server-models; models saved there are listed
 * again at the next start) --max-jobs --max-queued --max-body-bytes --threads (the kernels'
 * threads; 0: the library's default) --train-in process|worker|main (where jobs train: a child
 * process each, the default, a worker thread each, or the server's own thread) --max-job-memory-mb
 * (a job's memory budget) --max-model-mb (the disk quota of the saved models) --max-connections
 * --tokens-file (bearer tokens, one a line; `#` starts a comment; also `$GATED_SERVER_TOKENS`,
 * comma-separated; required with a --host beyond loopback) --allowed-hosts (comma-separated host
 * names; default: the loopback names on loopback, any host otherwise) --quiet (no access log).
 *
 * SIGINT / SIGTERM: stops listening, cancels the running jobs (they stop between two batches),
 * ends the event streams, then exits. A second signal exits at once (status 1).
 */
import { readFileSync } from 'node:fs';
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
  trainIn: 'process',
  maxJobMemoryMb: 2048,
  maxModelMb: 1024,
  maxConnections: 256,
  tokensFile: '',
  allowedHosts: '',
  quiet: false,
};

/** The tokens of --tokens-file (one a line, `#` comments) and of $GATED_SERVER_TOKENS (comma-separated). */
function readTokens(file: string): string[] {
  const fromFile =
    file === ''
      ? []
      : readFileSync(file, 'utf8')
          .split('\n')
          .map((l) => l.replace(/#.*/, '').trim());
  const fromEnv = (process.env.GATED_SERVER_TOKENS ?? '').split(',').map((t) => t.trim());
  return [...fromFile, ...fromEnv].filter((t) => t !== '');
}

main(async () => {
  const o = flags(DEFAULTS);
  if (o.threads > 0) setThreads(o.threads);
  if (o.trainIn !== 'process' && o.trainIn !== 'worker' && o.trainIn !== 'main') {
    throw new FlagError(`--train-in: expected process, worker or main, got '${o.trainIn}'`, '--train-in');
  }
  const tokens = readTokens(o.tokensFile);
  const server = await startServer({
    port: o.port,
    host: o.host,
    dataDir: o.data,
    modelDir: o.models,
    maxJobs: o.maxJobs,
    maxQueued: o.maxQueued,
    maxBodyBytes: o.maxBodyBytes,
    trainIn: o.trainIn,
    accessLog: !o.quiet,
    maxJobMemoryBytes: o.maxJobMemoryMb * 2 ** 20,
    maxModelBytes: o.maxModelMb * 2 ** 20,
    maxConnections: o.maxConnections,
    tokens,
    allowedHosts:
      o.allowedHosts === ''
        ? undefined
        : o.allowedHosts
            .split(',')
            .map((h) => h.trim())
            .filter((h) => h !== ''),
  });
  process.stdout.write(`gated server on ${server.url}  (try: curl ${server.url}/health)\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write(`${signal}: shutting down (again to force)\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
});

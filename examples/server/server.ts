/**
 * An HTTP service that trains gated models and serves them, on node:http alone (no framework).
 *
 *   npx tsx examples/server/main.ts --port 8080          # see main.ts for the flags
 *
 *   import { startServer } from './examples/server/server.js';
 *   const server = await startServer({ port: 8080, dataDir: '../shared/data', modelDir: '/tmp/models' });
 *   console.log(server.url); ... await server.close();
 *
 * Endpoints (JSON in and out; POST bodies need `Content-Type: application/json` and are at most
 * `maxBodyBytes`; every error is `{ "error": { "status", "message", "field"? } }`; with `tokens`,
 * every request but /health needs `Authorization: Bearer <token>`):
 *
 *   GET    /health                     { status: 'ok', uptimeSeconds, jobs: { running, queued }, models }
 *   GET    /                           the list of endpoints
 *   POST   /jobs                       start a training job -> 202 { id, name, status, events }; 400 over the
 *                                      memory budget, 429 over the token's jobs, 507 over the disk quota
 *   GET    /jobs                       every job (newest first);  GET /jobs/:id  one job
 *   GET    /jobs/:id/events            server-sent events: status, prepared, progress, epoch, then done | cancelled | error
 *   DELETE /jobs/:id                   cancel (a queued job at once; a running one between two batches)
 *   GET    /models                     the trained models;  GET /models/:name  one model
 *   POST   /models/:name/generate      continue a prompt (char-lm): server-sent `token` events, then `done`
 *   POST   /models/:name/classify      { text } or { texts: [...] } -> labels with probabilities
 *
 * With curl (the server on port 8080, data in ../shared/data):
 *
 *   curl localhost:8080/health
 *   curl -X POST localhost:8080/jobs -H 'content-type: application/json' -d '{"task":"char-lm",
 *     "data":"text/moby-dick.txt","name":"moby","model":{"cell":"lstm","hiddenSize":128},
 *     "train":{"epochs":1,"batchSize":32,"window":64,"maxChars":100000}}'
 *   curl -N localhost:8080/jobs/<id>/events                 # follow it (-N: no buffering)
 *   curl -X DELETE localhost:8080/jobs/<id>
 *   curl localhost:8080/models
 *   curl -N -X POST localhost:8080/models/moby/generate -H 'content-type: application/json' \
 *     -d '{"prompt":"Call me Ishmael. ","maxTokens":200,"temperature":0.8,"seed":1}'
 *   curl -X POST localhost:8080/jobs -H 'content-type: application/json' -d '{"task":"classifier",
 *     "data":"sentiment/imdb.tsv","name":"imdb","labelNames":["negative","positive"],"train":{"epochs":5}}'
 *   curl -X POST localhost:8080/models/imdb/classify -H 'content-type: application/json' -d '{"text":"A wonderful film."}'
 *
 * The job configuration (every field but `task` and `data` optional; ranges and defaults in
 * schema.ts): `{ task: 'char-lm' | 'classifier', data: 'text/moby-dick.txt', name?, labelNames?,
 * model: { cell: 'lstm'|'gru'|'rnn', hiddenSize, layers, embedding, dropout },
 * train: { epochs, batchSize, lr, clipNorm, validation, seed, window, maxChars (char-lm),
 * maxLen, maxExamples, minCount, maxVocab (classifier) } }`. What each task trains: training.ts.
 *
 * Generating: `{ prompt, maxTokens = 200, temperature = 1 (0: greedy), topK?, topP = 1, seed?,
 * unknown = 'error' | 'map', stream = true }`. Prompt characters outside the model's vocabulary
 * are a 400 listing them, unless `unknown: 'map'` reads them as `<unk>`. The model never emits
 * `<unk>` (it is masked out before each draw), so every generated token is a character of the
 * training text. Each `token` event is `{ index, id, text }`; `done` is `{ text, tokens,
 * finishReason, seed, seconds, tokensPerSecond }`. `stream: false` gives the same as one JSON object.
 *
 * Safety: bodies are size-limited (413) and content-typed (415); every field is checked (400
 * naming it; unknown fields too); data paths are relative paths of plain names whose real path
 * (symbolic links resolved) must stay inside `dataDir` (schema.ts `resolveDataFile`); model names
 * are plain file names; unknown routes are 404 and known routes with another method 405 with
 * `Allow`. Every handler runs inside one try/catch: lib's input errors (ValueError, ShapeError,
 * FormatError) become 400 with their message and `argument`, anything unexpected a 500 with a
 * request id (the stack goes to the log, never to the client). A client that goes away mid-stream
 * stops its generation and unsubscribes its job stream. Header and request timeouts bound slow
 * clients, `maxConnections` their number. Each job trains in a child process by default
 * (`trainIn`), with a memory budget checked before it starts and a limit enforced while it runs
 * (jobs.ts, memory.ts), and its kernels in native threads, so `/health` stays fast while a model
 * trains (bench/server-latency.ts measures it).
 *
 * Access: with `tokens`, every request but `GET /health` needs `Authorization: Bearer <token>`
 * (401 otherwise), and jobs and models belong to the token whose job made them (another token gets
 * 404); listening beyond loopback requires tokens. Requests whose `Host` (or `Origin`, when sent)
 * is not in `allowedHosts` get 403: a web page cannot reach a loopback server by rebinding its own
 * domain name to 127.0.0.1. examples/server/README.md says what this protects against, and what a
 * deployment adds.
 *
 * Server-sent events: each event has `event:`, `id:` and one `data:` line of JSON. A stream ends
 * after its final event; an EventSource that reconnects to a finished job with `Last-Event-ID` at
 * or past the final event gets 204 (which tells it to stop).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

import { AbortError, charTokens, generateTokens, padBatch, probabilities, tokens, wordTokens } from '../../lib/index.js';
import { RequestError, SseStream, errorResponse, readJsonBody, sendJson } from './http.js';
import { JobManager, type TrainIn } from './jobs.js';
import { ModelRegistry } from './registry.js';
import {
  type GenerateRequest,
  checkModelName,
  parseClassifyRequest,
  parseGenerateRequest,
  parseJobConfig,
  resolveDataFile,
} from './schema.js';

/** A log line's level. */
export type LogLevel = 'info' | 'warn' | 'error';

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** TCP port; 0 picks a free one (see the result's `url`). Default 0. */
  readonly port?: number;
  /** Interface to listen on. Default `'127.0.0.1'` (loopback only). */
  readonly host?: string;
  /** The folder jobs read their data from; nothing outside it can be read. Required. */
  readonly dataDir: string;
  /** The folder trained models are saved to and loaded from (created if missing). Required. */
  readonly modelDir: string;
  /** Jobs training at once; the rest wait in a queue. Default 1. */
  readonly maxJobs?: number;
  /** Jobs waiting at most; beyond, `POST /jobs` is a 503. Default 16. */
  readonly maxQueued?: number;
  /** Largest request body, in bytes. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Generations running at once; beyond, a 503. Default 16. */
  readonly maxGenerations?: number;
  /** Least time between two `progress` events of a job, ms. Default 100. */
  readonly progressIntervalMs?: number;
  /**
   * Where jobs train: `'process'` (default), each in a child process with its own memory limit,
   * which the server kills without going down itself; `'worker'`, each in a worker thread (the
   * job's JavaScript and garbage collection never pause this thread's event loop, but it shares the
   * server's memory); `'main'`, on the server's own thread (simpler to debug;
   * bench/server-latency.ts compares them).
   */
  readonly trainIn?: TrainIn;
  /** A job whose memory estimate is above this is refused (400 naming what to lower). Default 2 GiB. */
  readonly maxJobMemoryBytes?: number;
  /** The resident size at which a job's process is killed (Linux). Default: maxJobMemoryBytes and a quarter. */
  readonly jobMemoryLimitBytes?: number;
  /** How long a cancelled job may take to stop before it is killed, ms. Default 5000. */
  readonly cancelGraceMs?: number;
  /** Jobs one token may have queued or running (429 beyond). Default 4. */
  readonly maxJobsPerOwner?: number;
  /** Disk the saved models may take, jobs in flight included (507 beyond). Default 1 GiB. */
  readonly maxModelBytes?: number;
  /** Saved models at most, jobs in flight included. Default 100. */
  readonly maxModels?: number;
  /**
   * Bearer tokens (each at least 16 characters) that may use the server; each is an owner of its
   * own jobs and models. Default: none, and then the server only listens on loopback.
   */
  readonly tokens?: readonly string[];
  /**
   * Host names (as in the `Host` header, without the port; `[::1]` for IPv6) requests may be
   * addressed to; `Origin`, when a browser sends one, must name one of them too. Default: the
   * loopback names (`localhost`, `127.0.0.1`, `[::1]`) when listening on loopback, any host
   * otherwise (list your domain names).
   */
  readonly allowedHosts?: readonly string[];
  /** Open connections at most; more are closed at once. Default 256. */
  readonly maxConnections?: number;
  /** Where log lines go. Default: stderr. `false`: nowhere. */
  readonly log?: ((level: LogLevel, message: string) => void) | false;
  /** Log one line per request (method, path, status, milliseconds). Default false. */
  readonly accessLog?: boolean;
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  /** The node:http server (for tests and embedding). */
  readonly server: Server;
  /** Stops listening, cancels the jobs, ends the streams and closes every connection. */
  close(): Promise<void>;
}

interface Context {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Readonly<Record<string, string>>;
  readonly requestId: string;
  /** The id of the request's token ({@link tokenId}), or null on a server without tokens. */
  readonly owner: string | null;
}

type Handler = (ctx: Context) => Promise<void> | void;

interface Route {
  readonly pattern: readonly string[];
  readonly methods: Readonly<Partial<Record<'GET' | 'POST' | 'DELETE', Handler>>>;
}

const defaultLog = (level: LogLevel, message: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
};

/** Starts the server; resolves once it listens. See the module comment. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  if (typeof options?.dataDir !== 'string' || typeof options.modelDir !== 'string')
    throw new TypeError('startServer: dataDir and modelDir are required');
  const log = options.log === false ? () => undefined : (options.log ?? defaultLog);
  const host = options.host ?? '127.0.0.1';
  const access = accessRules(host, options.tokens, options.allowedHosts);
  const dataDir = resolve(options.dataDir);
  const maxBodyBytes = options.maxBodyBytes ?? 1 << 20;
  const maxGenerations = options.maxGenerations ?? 16;
  const started = performance.now();

  const registry = new ModelRegistry(resolve(options.modelDir), log);
  await registry.init();
  if (!(await stat(dataDir).catch(() => null))?.isDirectory()) throw new Error(`startServer: the data folder ${dataDir} is not a folder`);
  const jobs = new JobManager({
    dataDir,
    registry,
    maxJobs: options.maxJobs,
    maxQueued: options.maxQueued,
    progressIntervalMs: options.progressIntervalMs,
    trainIn: options.trainIn,
    maxJobMemoryBytes: options.maxJobMemoryBytes,
    jobMemoryLimitBytes: options.jobMemoryLimitBytes,
    cancelGraceMs: options.cancelGraceMs,
    maxJobsPerOwner: options.maxJobsPerOwner,
    maxModelBytes: options.maxModelBytes,
    maxModels: options.maxModels,
    log,
  });
  const streams = new Set<SseStream>();
  const shutdown = new AbortController();
  let generations = 0;

  // ---- handlers

  const health: Handler = ({ res }) => {
    sendJson(res, 200, {
      status: 'ok',
      uptimeSeconds: Math.round((performance.now() - started) / 100) / 10,
      jobs: jobs.counts(),
      models: registry.size,
    });
  };

  const index: Handler = ({ res }) => {
    sendJson(res, 200, {
      service: 'gated example server',
      endpoints: ROUTES.flatMap((r) => Object.keys(r.methods).map((m) => `${m} /${r.pattern.join('/')}`)),
    });
  };

  const createJob: Handler = async ({ req, res, owner }) => {
    const config = parseJobConfig(await readJsonBody(req, { limit: maxBodyBytes }));
    const file = await resolveDataFile(dataDir, config.data);
    const job = jobs.create(config, file, owner);
    sendJson(
      res,
      202,
      { id: job.id, name: job.name, status: job.status, events: `/jobs/${job.id}/events` },
      { location: `/jobs/${job.id}` },
    );
  };

  const followJob: Handler = ({ req, res, params, owner }) => {
    let sse: SseStream | null = null;
    const sub = jobs.subscribe(params.id, owner, (e) => {
      sse?.send(e.event, e.data, { id: e.id, droppable: e.event === 'progress' });
      if (e.event === 'done' || e.event === 'cancelled' || e.event === 'error') sse?.end();
    });
    const last = Number(req.headers['last-event-id']);
    if (req.method === 'HEAD' || (sub.final && Number.isInteger(last) && last >= sub.final.id)) {
      sub.unsubscribe();
      res
        .writeHead(req.method === 'HEAD' ? 200 : 204, req.method === 'HEAD' ? { 'content-type': 'text/event-stream; charset=utf-8' } : {})
        .end();
      return;
    }
    sse = new SseStream(res);
    streams.add(sse);
    const stream = sse;
    res.once('close', () => {
      sub.unsubscribe();
      streams.delete(stream);
    });
    sse.send('status', sub.snapshot);
    if (sub.final) {
      sse.send(sub.final.event, sub.final.data, { id: sub.final.id });
      sse.end();
    }
  };

  const cancelJob: Handler = async ({ res, params, owner }) => {
    const job = await jobs.cancel(params.id, owner);
    sendJson(res, job.status === 'running' ? 202 : 200, job);
  };

  const generate: Handler = async ({ req, res, params, owner }) => {
    const name = checkModelName(params.name);
    const request = parseGenerateRequest(await readJsonBody(req, { limit: maxBodyBytes }));
    const { model, vocab } = await registry.languageModel(name, owner);
    const chars = charTokens(request.prompt);
    const unknown = [...new Set(chars.filter((c) => !vocab.has(c)))];
    if (unknown.length > 0 && request.unknown === 'error') {
      const list = unknown
        .slice(0, 10)
        .map((c) => JSON.stringify(c))
        .join(', ');
      throw new RequestError(
        400,
        `${unknown.length} character(s) not in the model's vocabulary: ${list}${unknown.length > 10 ? ', ...' : ''} (send "unknown": "map" to read them as <unk>)`,
        'prompt',
      );
    }
    if (generations >= maxGenerations)
      throw new RequestError(503, `${generations} generations are running (the limit): try again shortly`, undefined, {
        'retry-after': '1',
      });
    generations++;
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    shutdown.signal.addEventListener('abort', onClose);
    let sse: SseStream | null = null;
    try {
      if (request.stream) {
        sse = new SseStream(res);
        streams.add(sse);
      }
      const stream = sse;
      const result = await runGeneration(model, vocab, vocab.encode(chars), request, abort.signal, (index, id, text) => {
        stream?.send('token', { index, id, text }, { id: index + 1 });
      });
      if (abort.signal.aborted) {
        stream?.end(); // the client left (nothing to send to) or the server is closing
        return;
      }
      if (stream) {
        stream.send('done', result, { id: result.tokens + 1 });
        stream.end();
      } else {
        sendJson(res, 200, result);
      }
    } catch (error) {
      if (!sse) throw error;
      const r = errorResponse(error, 'generate');
      if (r.internal) log('error', `generate ${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      sse.send('error', r.body.error);
      sse.end();
    } finally {
      generations--;
      shutdown.signal.removeEventListener('abort', onClose);
      if (sse) streams.delete(sse);
    }
  };

  const classify: Handler = async ({ req, res, params, owner }) => {
    const name = checkModelName(params.name);
    const request = parseClassifyRequest(await readJsonBody(req, { limit: maxBodyBytes }));
    const { model, vocab, info } = await registry.classifier(name, owner);
    const labels = info.labels as readonly string[];
    const unk = vocab.unkId ?? 1;
    const ids = request.texts.map((t) => {
      const words = wordTokens(t, { lowercase: true }).slice(0, info.maxLen ?? undefined);
      return words.length > 0 ? vocab.encode(words) : Int32Array.of(unk);
    });
    const y = await model.predict(tokens(padBatch(ids, { padId: vocab.padId ?? 0 })));
    const C = y.features;
    const results = request.texts.map((_, b) => {
      const p = probabilities(y.data.slice(b * C, (b + 1) * C));
      let best = 0;
      for (let c = 1; c < C; c++) if (p[c] > p[best]) best = c;
      return {
        label: labels[best],
        labelId: best,
        probability: p[best],
        probabilities: Object.fromEntries(labels.map((l, c) => [l, p[c]])),
        unknownWords: ids[b].reduce((n, id) => n + (id === unk ? 1 : 0), 0),
      };
    });
    sendJson(res, 200, request.single ? { model: name, ...results[0] } : { model: name, results });
  };

  const ROUTES: readonly Route[] = [
    { pattern: [], methods: { GET: index } },
    { pattern: ['health'], methods: { GET: health } },
    { pattern: ['jobs'], methods: { GET: ({ res, owner }) => sendJson(res, 200, { jobs: jobs.list(owner) }), POST: createJob } },
    {
      pattern: ['jobs', ':id'],
      methods: { GET: ({ res, params, owner }) => sendJson(res, 200, jobs.get(params.id, owner)), DELETE: cancelJob },
    },
    { pattern: ['jobs', ':id', 'events'], methods: { GET: followJob } },
    { pattern: ['models'], methods: { GET: ({ res, owner }) => sendJson(res, 200, { models: registry.list(owner) }) } },
    {
      pattern: ['models', ':name'],
      methods: { GET: ({ res, params, owner }) => sendJson(res, 200, registry.describe(checkModelName(params.name), owner)) },
    },
    { pattern: ['models', ':name', 'generate'], methods: { POST: generate } },
    { pattern: ['models', ':name', 'classify'], methods: { POST: classify } },
  ];

  // ---- dispatch

  let requests = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = `${(++requests).toString(36)}-${randomBytes(3).toString('hex')}`;
    const t0 = performance.now();
    // A client that resets its connection makes these emit 'error'; nothing to do but not crash.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    if (options.accessLog) {
      res.once('close', () =>
        log(
          'info',
          `${req.method} ${req.url} ${res.statusCode}${res.writableFinished ? '' : ' (client went away)'} ${(performance.now() - t0).toFixed(1)}ms`,
        ),
      );
    }
    try {
      access.checkHost(req);
      const owner = isHealth(req) ? null : access.authenticate(req);
      const { route, params } = match(ROUTES, req.url ?? '/');
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const handler = route.methods[method as keyof Route['methods']];
      if (!handler) {
        const allow = [...Object.keys(route.methods), ...(route.methods.GET ? ['HEAD'] : []), 'OPTIONS'].join(', ');
        if (req.method === 'OPTIONS') {
          res.writeHead(204, { allow }).end();
          return;
        }
        throw new RequestError(405, `${req.method} is not allowed here (allowed: ${allow})`, 'method', { allow });
      }
      await handler({ req, res, params, requestId, owner });
    } catch (error) {
      const r = errorResponse(error, requestId);
      if (r.internal)
        log(
          'error',
          `request ${requestId} ${req.method} ${req.url}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
      if (!res.headersSent) sendJson(res, r.status, r.body, r.headers);
      else if (!res.writableEnded) res.end();
    }
  };

  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 5_000;
  server.maxConnections = options.maxConnections ?? 256;
  // A malformed request line or headers (node:http's own parser refuses it): answer 400 and close.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log(
    'info',
    `listening on http://${shown}:${address.port} (data ${dataDir}, models ${registry.dir}, ${registry.size} model(s); ${access.describe})`,
  );

  let closing: Promise<void> | null = null;
  return {
    url: `http://${shown}:${address.port}`,
    port: address.port,
    server,
    close(): Promise<void> {
      closing ??= (async () => {
        const closed = new Promise<void>((ok) => server.close(() => ok()));
        shutdown.abort();
        await jobs.close();
        for (const s of streams) s.end();
        server.closeIdleConnections();
        await yieldToLoop();
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}

/** Finds the route of a raw request URL; 400 for a malformed path, 404 when nothing matches. */
function match(routes: readonly Route[], url: string): { route: Route; params: Record<string, string> } {
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  if (!path.startsWith('/')) throw new RequestError(400, 'expected a path starting with /', 'path');
  const raw = path.split('/').slice(1);
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop(); // a trailing slash
  let segments: string[];
  try {
    segments = raw.map((s) => decodeURIComponent(s));
  } catch {
    throw new RequestError(400, 'malformed percent-encoding', 'path');
  }
  for (const route of routes) {
    if (route.pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < segments.length && ok; i++) {
      const p = route.pattern[i];
      if (p.startsWith(':')) params[p.slice(1)] = segments[i];
      else ok = p === segments[i];
    }
    if (ok) return { route, params };
  }
  throw new RequestError(
    404,
    `nothing at ${JSON.stringify(path.length > 100 ? `${path.slice(0, 100)}...` : path)} (GET / lists the endpoints)`,
    'path',
  );
}

// ---------------------------------------------------------------------------------------------
// access

/** The id a token's jobs and models are filed under: 16 hex digits of its SHA-256 (never the token). */
export function tokenId(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function isHealth(req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && /^\/health\/?(\?|$)/.test(req.url ?? '');
}

/** The host name of a `Host` header or an origin's authority, lowercased, without the port. */
function hostName(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(0, a.indexOf(']') + 1);
  const colon = a.indexOf(':');
  return colon >= 0 ? a.slice(0, colon) : a;
}

/**
 * Who may talk to the server: the Host / Origin allow-list (DNS rebinding) and the bearer tokens.
 * Throws at start for tokens that are too short, or for a non-loopback `host` without tokens.
 */
function accessRules(host: string, tokens: readonly string[] | undefined, allowedHosts: readonly string[] | undefined) {
  const list = tokens ?? [];
  for (const t of list) {
    if (typeof t !== 'string' || t.length < 16 || !/^[\x21-\x7e]+$/.test(t)) {
      throw new TypeError('startServer: each token must be at least 16 printable characters without spaces');
    }
  }
  if (list.length === 0 && !isLoopback(host)) {
    throw new TypeError(
      `startServer: listening on ${host}, beyond loopback, needs tokens (clients then send Authorization: Bearer <token>)`,
    );
  }
  const digests = list.map((t) => ({ digest: createHash('sha256').update(t).digest(), id: tokenId(t) }));
  const hosts =
    allowedHosts !== undefined ? new Set(allowedHosts.map((h) => hostName(h))) : isLoopback(host) ? new Set(LOOPBACK_NAMES) : null;
  return {
    describe: `${list.length > 0 ? `${list.length} token(s)` : 'no tokens'}, hosts ${hosts ? [...hosts].join(', ') : 'any'}`,
    /** 403 unless the request's Host (and Origin, when sent) is allowed. */
    checkHost(req: IncomingMessage): void {
      if (hosts === null) return;
      const h = req.headers.host;
      if (h === undefined || !hosts.has(hostName(h)))
        throw new RequestError(403, 'this server does not answer to that host name (allowedHosts)', 'host');
      const origin = req.headers.origin;
      if (origin === undefined) return;
      let name: string | null = null;
      try {
        name = hostName(new URL(origin).host);
      } catch {
        // 'null' or garbage: refused below
      }
      if (name === null || !hosts.has(name))
        throw new RequestError(403, 'requests from that origin are not accepted (allowedHosts)', 'origin');
    },
    /** The owner of a request: null without tokens; else its token's id, or a 401. */
    authenticate(req: IncomingMessage): string | null {
      if (digests.length === 0) return null;
      const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(req.headers.authorization ?? '');
      if (m) {
        const digest = createHash('sha256').update(m[1]).digest();
        let id: string | null = null;
        for (const d of digests) if (timingSafeEqual(d.digest, digest)) id = d.id; // every token compared: no early exit
        if (id !== null) return id;
      }
      throw new RequestError(401, "expected 'Authorization: Bearer <token>' with a token this server knows", 'authorization', {
        'www-authenticate': 'Bearer realm="gated"',
      });
    },
  };
}

/** What a generation gives (the `done` event, or the JSON response with `stream: false`). */
export interface GenerationResult {
  /** The generated text (not the prompt). */
  readonly text: string;
  /** Tokens (characters) generated. */
  readonly tokens: number;
  readonly finishReason: 'length';
  /** The seed of the draws (the one given, or the one chosen): the same request with it gives the same text. */
  readonly seed: number | null;
  readonly seconds: number;
  readonly tokensPerSecond: number;
}

/**
 * Runs lib's decode loop (`generateTokens`: the prompt once, then one character per step, the
 * recurrent state carried), greedy at temperature 0 or sampling from a seeded generator, with
 * `<unk>` banned. Stops early, quietly, when `signal` fires (the client went away).
 */
async function runGeneration(
  model: Parameters<typeof generateTokens>[0],
  vocab: { readonly unkId: number | null; readonly tokens: readonly string[] },
  prompt: Int32Array,
  request: GenerateRequest,
  signal: AbortSignal,
  onToken: (index: number, id: number, text: string) => void,
): Promise<GenerationResult> {
  const t0 = performance.now();
  const seed = request.temperature === 0 ? null : (request.seed ?? randomBytes(4).readUInt32LE(0));
  const strategy =
    seed === null ? ('greedy' as const) : { temperature: request.temperature, topK: request.topK ?? undefined, topP: request.topP };
  let text = '';
  let n = 0;
  try {
    // lib's one decode loop: the recurrent state carried token to token, <unk> never chosen.
    for await (const g of generateTokens(model, {
      prompt,
      maxTokens: request.maxTokens,
      strategy,
      seed: seed ?? undefined,
      banTokens: vocab.unkId === null ? [] : [vocab.unkId],
      signal,
    })) {
      const ch = vocab.tokens[g.token];
      text += ch;
      onToken(n++, g.token, ch);
      await yieldToLoop(); // let other requests in between two tokens
    }
  } catch (e) {
    if (!(e instanceof AbortError)) throw e; // the client went away: stop quietly
  }
  const seconds = (performance.now() - t0) / 1000;
  return { text, tokens: n, finishReason: 'length', seed, seconds, tokensPerSecond: seconds > 0 ? n / seconds : 0 };
}

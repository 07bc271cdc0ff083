/**
 * The HTTP plumbing of the example server, on node:http alone: request errors that carry their
 * status, JSON bodies read under a size limit, JSON responses, server-sent event streams, and the
 * mapping from any thrown value to a response that says what went wrong without a stack trace.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { AbortError, FileError, FormatError, GatedError, ShapeError, ValueError } from '../../lib/index.js';

/**
 * A request the server refuses, with its HTTP status. `field` names the part of the request at
 * fault (`model.hiddenSize`, `data`, `prompt`) and starts the message, as lib's errors do.
 */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'RequestError';
  }
}

/** The JSON body of every error response. */
export interface ErrorBody {
  readonly error: {
    /** The HTTP status, again. */
    readonly status: number;
    /** What is wrong, starting with the field at fault when there is one. */
    readonly message: string;
    /** The field (or lib's `argument`) at fault, when known. */
    readonly field?: string;
  };
}

/** How a thrown value becomes a response: status, body, extra headers, and whether to log it as a server fault. */
export interface ErrorResponse {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Readonly<Record<string, string>>;
  readonly internal: boolean;
}

/**
 * Maps a thrown value to a response. RequestError: its own status. lib's typed errors for bad input
 * (ValueError, ShapeError: the caller's argument was wrong; FormatError: a data file is malformed)
 * give 400 with lib's message and `argument`; a FileError with ENOENT 404; an AbortError 499 (the
 * client went away). Anything else is a server fault: 500 with a request id, and no stack or path.
 */
export function errorResponse(error: unknown, requestId: string): ErrorResponse {
  const make = (
    status: number,
    message: string,
    field?: string,
    headers: Readonly<Record<string, string>> = {},
    internal = false,
  ): ErrorResponse => ({
    status,
    headers,
    internal,
    body: { error: field === undefined ? { status, message } : { status, message, field } },
  });
  if (error instanceof RequestError) return make(error.status, error.message, error.field, error.headers);
  if (error instanceof ValueError || error instanceof ShapeError || error instanceof FormatError) {
    return make(400, error.message, error.argument);
  }
  if (error instanceof FileError && error.code === 'ENOENT') return make(404, 'no such file', undefined);
  if (error instanceof AbortError) return make(499, 'request aborted');
  if (error instanceof GatedError && !(error instanceof FileError))
    return make(500, `${error.name}: ${error.message} (request ${requestId})`, undefined, {}, true);
  return make(500, `internal server error (request ${requestId}; see the server log)`, undefined, {}, true);
}

const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' } as const;

/** Sends `body` as JSON with `status` (nothing if the response is already under way or gone). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Options of {@link readJsonBody}. */
export interface ReadBodyOptions {
  /** The largest body accepted, in bytes; a larger one is a 413. */
  readonly limit: number;
}

/**
 * Reads a request's body as JSON. Refuses (RequestError) a `Content-Type` other than
 * `application/json` (415), a `Content-Length` or a streamed body over `limit` (413: reading stops
 * there and the rest is discarded by node:http once the response is sent), a malformed body (400
 * with the parser's message), a body that is not a JSON object (400), and a `__proto__` key at any
 * depth (400, without echoing it: such a key sets an object's prototype if the body is ever copied
 * with Object.assign). An empty body is `{}`.
 */
export function readJsonBody(req: IncomingMessage, options: ReadBodyOptions): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const declared = req.headers['content-length'];
  const hasBody = (declared !== undefined && declared !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && type !== 'application/json') {
    return Promise.reject(
      new RequestError(415, `expected application/json, got ${type === '' ? 'none' : JSON.stringify(type)}`, 'content-type'),
    );
  }
  if (declared !== undefined && Number(declared) > options.limit) {
    return Promise.reject(tooLarge(options.limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > options.limit) {
        failed = true;
        req.off('data', onData);
        req.resume(); // keep draining so the client can finish sending and read the 413
        reject(tooLarge(options.limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('error', (error) => {
      failed = true;
      reject(new RequestError(400, `could not read the request body: ${error.message}`));
    });
    req.once('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        resolve({});
        return;
      }
      let value: unknown;
      let prototypeKey = false;
      try {
        value = JSON.parse(text, (key, v: unknown) => {
          if (key === '__proto__') prototypeKey = true;
          return v;
        });
      } catch (error) {
        reject(new RequestError(400, `invalid JSON: ${(error as Error).message}`, 'body'));
        return;
      }
      if (prototypeKey) {
        reject(new RequestError(400, "a key that would set an object's prototype is not accepted", 'body'));
        return;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        reject(
          new RequestError(
            400,
            `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`,
            'body',
          ),
        );
        return;
      }
      resolve(value as Record<string, unknown>);
    });
  });
}

function tooLarge(limit: number): RequestError {
  return new RequestError(413, `request body larger than ${limit} bytes`, 'body', { connection: 'close' });
}

/**
 * One server-sent event stream (`text/event-stream`). Each event is `event: NAME`, an `id:` (a
 * counter given by the caller, so a reconnecting EventSource sends `Last-Event-ID`) and one `data:`
 * line of JSON. A comment line is sent every `heartbeatMs` so that idle proxies keep the connection.
 * When the client reads too slowly (more than `maxBuffered` bytes queued), droppable events are
 * skipped rather than queued without bound; the final events are never dropped.
 */
export class SseStream {
  private heartbeat: NodeJS.Timeout | null;
  private ended = false;
  private readonly maxBuffered: number;

  constructor(
    private readonly res: ServerResponse,
    options: { readonly heartbeatMs?: number; readonly maxBuffered?: number } = {},
  ) {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    this.maxBuffered = options.maxBuffered ?? 1 << 20;
    this.heartbeat = setInterval(() => this.write(': ping\n\n'), options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
    res.once('close', () => this.stop());
  }

  /** Whether the stream can still be written to. */
  get open(): boolean {
    return !this.ended && !this.res.destroyed && this.res.writable;
  }

  /** Sends one event; `droppable` events are skipped while the client is far behind. */
  send(event: string, data: unknown, options: { readonly id?: number; readonly droppable?: boolean } = {}): void {
    if (!this.open) return;
    if (options.droppable && this.res.writableLength > this.maxBuffered) return;
    const id = options.id !== undefined ? `id: ${options.id}\n` : '';
    this.write(`event: ${event}\n${id}data: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the stream (after anything already queued). */
  end(): void {
    if (this.ended) return;
    this.stop();
    if (!this.res.destroyed) this.res.end();
  }

  private write(text: string): void {
    if (this.open) this.res.write(text);
  }

  private stop(): void {
    this.ended = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

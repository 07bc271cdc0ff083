/**
 * The example HTTP service (examples/server) end to end, over loopback: the server starts on
 * 127.0.0.1 port 0 with a temporary data folder (a copy of moby-dick.txt and imdb.tsv from the shared
 * data, plus symbolic links that try to escape it) and a temporary model folder. It trains a tiny
 * character LSTM on a 20,000-character slice while the test follows its progress stream and asks
 * /health; cancels a running job and a queued one; lists the models; generates from the trained model
 * token by token; trains and queries a tiny classifier; refuses bad requests with 4xx and clear
 * messages (invalid JSON, missing and mistyped fields, path traversal in every spelling, oversized
 * bodies, unknown models and routes); survives clients that go away mid-stream and garbage on the
 * socket; and restarts with its models listed again.
 *
 * Then the deployment side (issue 10, items 10 and 11), each on a server of its own: a job over the
 * per-job memory budget is refused before it starts; a job whose process passes its memory limit is
 * killed and the server runs on; a cancelled job that does not stop in time is killed; bearer tokens
 * (required beyond loopback) and ownership of jobs and models; the Host / Origin allow-list; the
 * connection, per-owner job and disk limits; start-up removal of the temporary files of killed saves;
 * `__proto__` and odd keys in bodies never echoed; and the CLI's forced exit (a second Ctrl-C while
 * a job trains) exits 1, not SIGABRT.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DATA } from '../examples/lib/cli.js';
import { estimateJobMemory } from '../examples/server/memory.js';
import { parseJobConfig } from '../examples/server/schema.js';
import { type RunningServer, type ServerOptions, startServer } from '../examples/server/server.js';
import { readEvents, type SseEvent } from '../examples/server/sse-client.js';

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any; // parsed JSON of many shapes, checked field by field by the tests
}

let server: RunningServer;
let base: string;
let root: string;
const MOBY_SLICE = 20_000;
let mobyText: string;

/** One request; JSON bodies are sent as such unless `raw` is given. */
async function api(
  method: string,
  path: string,
  body?: unknown,
  init: { headers?: Record<string, string>; raw?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {
    ...(body !== undefined || init.raw !== undefined ? { 'content-type': 'application/json' } : {}),
    ...init.headers,
  };
  const res = await fetch(`${base}${path}`, { method, headers, body: init.raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** The response's server-sent events (checked to be a 200 event stream). */
function events(res: Response): AsyncGenerator<SseEvent> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return readEvents(res);
}

/** Every event of a job until its stream ends. */
async function follow(id: string, onEvent?: (e: SseEvent) => Promise<void> | void): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of events(await fetch(`${base}/jobs/${id}/events`))) {
    out.push(e);
    await onEvent?.(e);
  }
  return out;
}

const TINY_LM = {
  task: 'char-lm',
  data: 'text/moby.txt',
  name: 'tiny-moby',
  model: { cell: 'lstm', hiddenSize: 32, embedding: 16 },
  train: { epochs: 1, batchSize: 16, window: 32, maxChars: MOBY_SLICE, lr: 0.01 },
};

/** A job that takes many batches (it is cancelled long before it ends). */
const LONG_LM = {
  task: 'char-lm',
  data: 'text/moby.txt',
  model: { hiddenSize: 64, embedding: 16 },
  train: { epochs: 20, batchSize: 8, window: 16, maxChars: 50_000 },
};

/** A job whose batches take ~0.5 s (LSTM 512, 64 tracks of 128 steps). */
const HEAVY_LM = { ...LONG_LM, model: { hiddenSize: 512, embedding: 16 }, train: { ...LONG_LM.train, batchSize: 64, window: 128 } };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'gated-server-'));
  const data = join(root, 'data');
  mkdirSync(join(data, 'text'), { recursive: true });
  mkdirSync(join(data, 'sentiment'), { recursive: true });
  copyFileSync(join(DATA, 'text', 'moby-dick.txt'), join(data, 'text', 'moby.txt'));
  copyFileSync(join(DATA, 'sentiment', 'imdb.tsv'), join(data, 'sentiment', 'imdb.tsv'));
  writeFileSync(join(data, 'sentiment', 'broken.tsv'), '1\tfine\nnot a label line\n');
  // Outside the data folder: a file the server must never read, and links pointing at it.
  mkdirSync(join(root, 'outside'));
  writeFileSync(join(root, 'outside', 'secret.txt'), 'secret '.repeat(1000));
  symlinkSync(join(root, 'outside', 'secret.txt'), join(data, 'text', 'escape.txt'));
  symlinkSync(join(root, 'outside'), join(data, 'out-dir'));
  symlinkSync(join(data, 'text', 'moby.txt'), join(data, 'text', 'alias.txt')); // inside: allowed
  mobyText = Array.from(readFileSync(join(data, 'text', 'moby.txt'), 'utf8'))
    .slice(0, MOBY_SLICE)
    .join('');
  server = await startServer({
    port: 0,
    dataDir: data,
    modelDir: join(root, 'models'),
    maxJobs: 1,
    maxBodyBytes: 64 << 10,
    progressIntervalMs: 50,
    log: false,
  });
  base = server.url;
});

afterAll(async () => {
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('examples/server', () => {
  let lmJob = '';

  it('listens on loopback and answers /health', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await api('GET', '/health');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ok', jobs: { running: 0, queued: 0 }, models: 0 });
    expect(typeof r.body.uptimeSeconds).toBe('number');
  });

  it('trains a tiny character LM, streaming its progress, and /health answers while it trains', async () => {
    const created = await api('POST', '/jobs', TINY_LM);
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ name: 'tiny-moby', events: `/jobs/${created.body.id}/events` });
    expect(['queued', 'running']).toContain(created.body.status);
    expect(created.headers.get('location')).toBe(`/jobs/${created.body.id}`);
    lmJob = created.body.id;

    let healthDuringTraining: Reply | null = null;
    let healthMs = Infinity;
    const seen = await follow(lmJob, async (e) => {
      if (e.event === 'progress' && healthDuringTraining === null) {
        const t0 = performance.now();
        healthDuringTraining = await api('GET', '/health');
        healthMs = performance.now() - t0;
      }
    });
    const names = seen.map((e) => e.event);
    expect(names[0]).toBe('status');
    expect(names[names.length - 1]).toBe('done');
    expect(names).toContain('prepared');
    expect(names).toContain('epoch');
    const progress = seen.filter((e) => e.event === 'progress').map((e) => e.data);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    for (const p of progress) {
      expect(Number.isFinite(p.loss)).toBe(true);
      expect(p.loss).toBeGreaterThan(0);
      expect(p.examplesPerSecond).toBeGreaterThan(0);
      expect(p).toMatchObject({ epoch: 1, epochs: 1, metricName: 'bitsPerCharacter' });
    }
    const last = progress[progress.length - 1];
    expect(last.batch).toBe(last.batches); // the epoch's last batch is always reported
    const ids = seen.filter((e) => e.id !== null).map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    const done = seen[seen.length - 1].data;
    expect(done).toMatchObject({ model: 'tiny-moby', metric: { name: 'bitsPerCharacter', on: 'held-out' } });
    expect(Number.isFinite(done.metric.value)).toBe(true);
    expect(done.metric.value).toBeGreaterThan(0);

    expect(healthDuringTraining).not.toBeNull();
    const h = healthDuringTraining as unknown as Reply;
    expect(h.status).toBe(200);
    expect(h.body.jobs.running).toBe(1);
    expect(healthMs).toBeLessThan(2000); // generous: this machine is shared; the bench measures it properly

    const job = await api('GET', `/jobs/${lmJob}`);
    expect(job.body).toMatchObject({ status: 'done', subscribers: 0, result: { model: 'tiny-moby' } });
    expect(job.body.epochs).toHaveLength(1);
  });

  it('replays the current status and the final event to a client that connects late', async () => {
    const seen = await follow(lmJob);
    expect(seen.map((e) => e.event)).toEqual(['status', 'done']);
    expect(seen[0].data.status).toBe('done');
    // An EventSource reconnecting after the end (Last-Event-ID at the final event) is told to stop.
    const again = await fetch(`${base}/jobs/${lmJob}/events`, { headers: { 'last-event-id': String(seen[1].id) } });
    expect(again.status).toBe(204);
  });

  it('cancels a running job (cancelled event) and a queued one; a client leaving a stream leaves no listener', async () => {
    const running = await api('POST', '/jobs', LONG_LM);
    expect(running.status).toBe(202);
    const queued = await api('POST', '/jobs', { ...LONG_LM, name: 'never-trained' });
    expect(queued.status).toBe(202);
    expect(queued.body.status).toBe('queued');
    expect((await api('GET', '/health')).body.jobs).toEqual({ running: 1, queued: 1 });

    const c = await api('DELETE', `/jobs/${queued.body.id}`);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('cancelled');
    expect((await follow(queued.body.id)).map((e) => e.event)).toEqual(['status', 'cancelled']);
    expect((await api('DELETE', `/jobs/${queued.body.id}`)).status).toBe(409);

    // A client that goes away mid-stream: its listener is dropped.
    for await (const e of events(await fetch(`${base}/jobs/${running.body.id}/events`))) {
      if (e.event === 'progress') break;
    }
    await expect.poll(async () => (await api('GET', `/jobs/${running.body.id}`)).body.subscribers, { timeout: 5000 }).toBe(0);

    let cancelReply: Reply | null = null;
    const seen = await follow(running.body.id, async (e) => {
      if (e.event === 'progress' && cancelReply === null) cancelReply = await api('DELETE', `/jobs/${running.body.id}`);
    });
    expect(cancelReply).not.toBeNull();
    expect([200, 202]).toContain((cancelReply as unknown as Reply).status);
    const last = seen[seen.length - 1];
    expect(last.event).toBe('cancelled');
    expect(last.data.reason).toBe('cancelled by request');
    const after = await api('GET', `/jobs/${running.body.id}`);
    expect(after.body.status).toBe('cancelled');
    expect(after.body.epochs.length).toBeLessThan(20);

    const list = await api('GET', '/jobs');
    expect(list.body.jobs.map((j: { status: string }) => j.status)).toEqual(['cancelled', 'cancelled', 'done']);
    expect((await api('GET', '/health')).body.jobs).toEqual({ running: 0, queued: 0 });
  });

  it('lists the trained model and nothing from the cancelled jobs', async () => {
    const r = await api('GET', '/models');
    expect(r.status).toBe(200);
    expect(r.body.models).toHaveLength(1);
    // Trained in a child process (the default): the weights are read from the file on first use.
    expect(r.body.models[0]).toMatchObject({ name: 'tiny-moby', task: 'char-lm', tokenizer: 'char', labels: null, loaded: false });
    expect(r.body.models[0].vocabularySize).toBeGreaterThan(20);
    expect((await api('GET', '/models/tiny-moby')).body.name).toBe('tiny-moby');
  });

  it('generates from the trained model token by token, seeded', async () => {
    const body = { prompt: 'Call me Ishmael. ', maxTokens: 40, temperature: 0.8, topK: 20, seed: 7 };
    const res = await fetch(`${base}/models/tiny-moby/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const seen: SseEvent[] = [];
    for await (const e of events(res)) seen.push(e);
    const tokens = seen.filter((e) => e.event === 'token');
    expect(tokens).toHaveLength(40);
    expect(seen[seen.length - 1].event).toBe('done');
    tokens.forEach((t, i) => {
      expect(t.data.index).toBe(i);
      expect([...t.data.text]).toHaveLength(1); // one character per event
      expect(mobyText.includes(t.data.text)).toBe(true); // a character of the training text (never <unk>)
    });
    const done = seen[seen.length - 1].data;
    expect(done).toMatchObject({ tokens: 40, seed: 7, finishReason: 'length' });
    expect(done.text).toBe(tokens.map((t) => t.data.text).join(''));
    expect((await api('GET', '/models/tiny-moby')).body.loaded).toBe(true);

    // The same seed gives the same text; stream: false gives it as one JSON object.
    const again = await api('POST', '/models/tiny-moby/generate', { ...body, stream: false });
    expect(again.status).toBe(200);
    expect(again.body.text).toBe(done.text);
    const greedy = await api('POST', '/models/tiny-moby/generate', { prompt: 'The whale', maxTokens: 10, temperature: 0, stream: false });
    expect(greedy.body).toMatchObject({ tokens: 10, seed: null });

    // Characters the model never saw: a 400 naming them, or read as <unk> on request.
    const unknown = await api('POST', '/models/tiny-moby/generate', { prompt: 'Ω whale', maxTokens: 5 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('"Ω"');
    expect(unknown.body.error.field).toBe('prompt');
    const mapped = await api('POST', '/models/tiny-moby/generate', { prompt: 'Ω whale', maxTokens: 5, unknown: 'map', stream: false });
    expect(mapped.status).toBe(200);
    expect([...mapped.body.text]).toHaveLength(5);
  });

  it('stops a generation whose client goes away, and keeps serving', async () => {
    const res = await fetch(`${base}/models/tiny-moby/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Ahab', maxTokens: 2000 }),
    });
    let n = 0;
    for await (const e of events(res)) if (e.event === 'token' && ++n === 3) break;
    expect(n).toBe(3);
    expect((await api('GET', '/health')).status).toBe(200);
  });

  it('trains a tiny classifier on LABEL<TAB>TEXT data and classifies', async () => {
    const created = await api('POST', '/jobs', {
      task: 'classifier',
      data: 'sentiment/imdb.tsv',
      name: 'tiny-imdb',
      labelNames: ['negative', 'positive'],
      model: { cell: 'gru', hiddenSize: 16, embedding: 16 },
      train: { epochs: 2, batchSize: 16, maxExamples: 200, maxLen: 40, lr: 0.01 },
    });
    expect(created.status).toBe(202);
    const seen = await follow(created.body.id);
    const done = seen[seen.length - 1];
    expect(done.event).toBe('done');
    expect(done.data.metric.name).toBe('accuracy');
    expect(done.data.metric.value).toBeGreaterThanOrEqual(0);
    expect(done.data.metric.value).toBeLessThanOrEqual(1);

    const one = await api('POST', '/models/tiny-imdb/classify', { text: 'A wonderful, moving film.' });
    expect(one.status).toBe(200);
    expect(['negative', 'positive']).toContain(one.body.label);
    const p = one.body.probabilities;
    expect(p.negative + p.positive).toBeCloseTo(1, 6);
    const many = await api('POST', '/models/tiny-imdb/classify', { texts: ['Awful.', 'Great acting!', 'zzqxv'] });
    expect(many.status).toBe(200);
    expect(many.body.results).toHaveLength(3);
    expect(many.body.results[2].unknownWords).toBe(1); // a word the model never saw

    // Each task's endpoint only.
    expect((await api('POST', '/models/tiny-imdb/generate', { prompt: 'a' })).status).toBe(400);
    expect((await api('POST', '/models/tiny-moby/classify', { text: 'a' })).status).toBe(400);
  });

  it("reports a malformed data file as the job's error event, naming the line", async () => {
    const created = await api('POST', '/jobs', { task: 'classifier', data: 'sentiment/broken.tsv' });
    expect(created.status).toBe(202);
    const seen = await follow(created.body.id);
    const last = seen[seen.length - 1];
    expect(last.event).toBe('error');
    expect(last.data.message).toContain('sentiment/broken.tsv:2');
    expect(last.data.message).not.toContain(root); // no server path

    const tooShort = await api('POST', '/jobs', { ...TINY_LM, name: 'too-short', train: { maxChars: 100, batchSize: 1024 } });
    const end = (await follow(tooShort.body.id)).pop() as SseEvent;
    expect(end.event).toBe('error');
    expect(end.data.message).toMatch(/^train\.batchSize: "text\/moby\.txt" gives 95 training characters, too few for 1024 tracks/);
    expect((await api('GET', `/jobs/${tooShort.body.id}`)).body).toMatchObject({ status: 'error', error: end.data.message });
  });

  describe('bad requests get a 4xx with a clear message', () => {
    const job = (over: Record<string, unknown>) => ({ task: 'char-lm', data: 'text/moby.txt', ...over });
    const cases: [string, () => Promise<Reply>, number, RegExp][] = [
      ['invalid JSON', () => api('POST', '/jobs', undefined, { raw: '{"task": "char-lm",' }), 400, /^body: invalid JSON/],
      ['a JSON array', () => api('POST', '/jobs', [1, 2]), 400, /expected a JSON object, got an array/],
      ['no task', () => api('POST', '/jobs', { data: 'text/moby.txt' }), 400, /^task: required/],
      ['no data', () => api('POST', '/jobs', { task: 'char-lm' }), 400, /^data: required/],
      [
        'a wrong task',
        () => api('POST', '/jobs', job({ task: 'translate' })),
        400,
        /^task: expected one of 'char-lm', 'classifier', got "translate"/,
      ],
      [
        'a string for a size',
        () => api('POST', '/jobs', job({ model: { hiddenSize: 'x' } })),
        400,
        /^model\.hiddenSize: expected an integer in \[1, 4096\], got "x"/,
      ],
      [
        'a fraction for a size',
        () => api('POST', '/jobs', job({ train: { epochs: 1.5 } })),
        400,
        /^train\.epochs: expected an integer in \[1, 100\], got 1\.5/,
      ],
      ['a negative rate', () => api('POST', '/jobs', job({ train: { lr: -1 } })), 400, /^train\.lr: expected a number in \(0, 1\]/],
      ['an unknown field', () => api('POST', '/jobs', job({ model: { hidden: 64 } })), 400, /^model\.hidden: unknown field/],
      [
        'a field of the other task',
        () => api('POST', '/jobs', job({ train: { maxLen: 5 } })),
        400,
        /^train\.maxLen: only for task 'classifier'/,
      ],
      [
        'a model too large',
        () => api('POST', '/jobs', job({ model: { hiddenSize: 4096, layers: 8 } })),
        400,
        /^model: about [\d,]+ parameters, above the limit/,
      ],
      ['a bad model name', () => api('POST', '/jobs', job({ name: '../evil' })), 400, /^name: expected 1-64 characters/],
      [
        'a taken model name',
        () => api('POST', '/jobs', job({ name: 'tiny-moby' })),
        409,
        /^name: a model named 'tiny-moby' exists already/,
      ],
      [
        '../../etc/passwd',
        () => api('POST', '/jobs', job({ data: '../../etc/passwd' })),
        400,
        /^data: expected a path inside the data folder: '\.\.' segments/,
      ],
      [
        'text/../../x',
        () => api('POST', '/jobs', job({ data: 'text/../../outside/secret.txt' })),
        400,
        /^data: expected a path inside the data folder/,
      ],
      [
        'an absolute path',
        () => api('POST', '/jobs', job({ data: '/etc/passwd' })),
        400,
        /^data: expected a path relative to the data folder, got an absolute path/,
      ],
      [
        'a URL-encoded ..%2f',
        () => api('POST', '/jobs', job({ data: '..%2f..%2fetc%2fpasswd' })),
        400,
        /^data: expected '\/'-separated names/,
      ],
      ['a backslash path', () => api('POST', '/jobs', job({ data: '..\\..\\etc\\passwd' })), 400, /^data: expected '\/'-separated names/],
      [
        'a missing file',
        () => api('POST', '/jobs', job({ data: 'text/nothing.txt' })),
        404,
        /^data: no file "text\/nothing\.txt" in the data folder/,
      ],
      ['a directory', () => api('POST', '/jobs', job({ data: 'text' })), 400, /^data: "text" is not a regular file/],
      [
        'a symlink out of the data folder',
        () => api('POST', '/jobs', job({ data: 'text/escape.txt' })),
        403,
        /^data: "text\/escape\.txt" resolves outside the data folder/,
      ],
      [
        'a linked folder out of it',
        () => api('POST', '/jobs', job({ data: 'out-dir/secret.txt' })),
        403,
        /resolves outside the data folder/,
      ],
      [
        'a body over the limit',
        () => api('POST', '/jobs', undefined, { raw: JSON.stringify({ task: 'char-lm', data: 'x'.repeat(200_000) }) }),
        413,
        /^body: request body larger than 65536 bytes/,
      ],
      [
        'a form body',
        () => api('POST', '/jobs', undefined, { raw: 'task=char-lm', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
        415,
        /expected application\/json/,
      ],
      ['an unknown job', () => api('GET', '/jobs/123456'), 404, /^id: no job with id "123456"/],
      ['an unknown model', () => api('POST', '/models/nobody/generate', { prompt: 'a' }), 404, /^name: no model named 'nobody'/],
      [
        'a model name with ..%2f',
        () => api('POST', '/models/..%2f..%2fetc%2fpasswd/generate', { prompt: 'a' }),
        400,
        /^name: expected 1-64 characters/,
      ],
      ['malformed percent-encoding', () => api('GET', '/models/%E0%A4%A'), 400, /^path: malformed percent-encoding/],
      ['an unknown route', () => api('GET', '/admin'), 404, /^path: nothing at "\/admin"/],
      ['a wrong method', () => api('PUT', '/jobs', {}), 405, /^method: PUT is not allowed here \(allowed: GET, POST, HEAD, OPTIONS\)/],
      ['no prompt', () => api('POST', '/models/tiny-moby/generate', { maxTokens: 3 }), 400, /^prompt: required/],
      [
        'too many tokens',
        () => api('POST', '/models/tiny-moby/generate', { prompt: 'a', maxTokens: 1e9 }),
        400,
        /^maxTokens: expected an integer in \[1, 2000\]/,
      ],
      [
        'a negative temperature',
        () => api('POST', '/models/tiny-moby/generate', { prompt: 'a', temperature: -1 }),
        400,
        /^temperature: expected a number in \[0, 10\]/,
      ],
      [
        'text and texts',
        () => api('POST', '/models/tiny-imdb/classify', { text: 'a', texts: ['b'] }),
        400,
        /^texts: give text or texts, not both/,
      ],
      [
        'a number to classify',
        () => api('POST', '/models/tiny-imdb/classify', { texts: ['ok', 5] }),
        400,
        /^texts\[1\]: expected a string, got 5/,
      ],
    ];
    for (const [what, send, status, message] of cases) {
      it(what, async () => {
        const r = await send();
        expect(r.status).toBe(status);
        expect(r.headers.get('content-type')).toMatch(/^application\/json/);
        expect(r.body.error.status).toBe(status);
        expect(r.body.error.message).toMatch(message);
        expect(JSON.stringify(r.body)).not.toContain(root); // never a server path
      });
    }

    it('a 405 names the allowed methods in Allow', async () => {
      const r = await api('DELETE', '/models');
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    });

    it('garbage on the socket gets a 400, and the server keeps serving', async () => {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
        let text = '';
        socket.on('data', (d) => {
          text += d.toString();
        });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
      expect((await api('GET', '/health')).status).toBe(200);
    });
  });

  it('lists its models again after a restart, generates from them as before, and trains on its own thread with trainIn: main', async () => {
    const before = await api('POST', '/models/tiny-moby/generate', { prompt: 'Call me', maxTokens: 20, temperature: 0, stream: false });
    await server.close();
    server = await startServer({ port: 0, dataDir: join(root, 'data'), modelDir: join(root, 'models'), trainIn: 'main', log: false });
    base = server.url;
    const models = await api('GET', '/models');
    expect(models.body.models.map((m: { name: string; loaded: boolean }) => [m.name, m.loaded]).sort()).toEqual([
      ['tiny-imdb', false],
      ['tiny-moby', false],
    ]);
    const after = await api('POST', '/models/tiny-moby/generate', { prompt: 'Call me', maxTokens: 20, temperature: 0, stream: false });
    expect(after.body.text).toBe(before.body.text);
    expect((await api('GET', '/jobs')).body.jobs).toEqual([]);

    const created = await api('POST', '/jobs', {
      ...TINY_LM,
      name: 'inline',
      model: { cell: 'gru', hiddenSize: 16, embedding: 8 },
      train: { ...TINY_LM.train, maxChars: 5000 },
    });
    const seen = await follow(created.body.id);
    expect(seen[seen.length - 1].event).toBe('done');
    expect((await api('GET', '/models/inline')).body.loaded).toBe(true); // kept in memory
    const gen = await api('POST', '/models/inline/generate', { prompt: 'The', maxTokens: 5, stream: false });
    expect([...gen.body.text]).toHaveLength(5);
  });

  it('closes cleanly while a job trains and a client follows it: the job ends cancelled', async () => {
    const created = await api('POST', '/jobs', { ...LONG_LM, name: 'interrupted' });
    let closing: Promise<void> | null = null;
    const seen = await follow(created.body.id, (e) => {
      if (e.event === 'progress' && closing === null) closing = server.close();
    });
    await closing;
    expect(seen[seen.length - 1]).toMatchObject({ event: 'cancelled', data: { reason: 'the server is shutting down' } });
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// deployed: limits, tokens, hosts

/** A request with any headers (fetch refuses to set Host), against `port`. */
function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => {
          text += d;
        })
        .on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('examples/server deployed', () => {
  const A = 'token-a-0123456789abcdef';
  const B = 'token-b-0123456789abcdef';
  let dataDir: string;
  beforeAll(() => {
    dataDir = join(root, 'data');
  });

  /** A server of its own (fresh model folder unless given), closed when `body` ends. */
  async function withServer(
    options: Partial<ServerOptions>,
    body: (s: RunningServer, call: typeof api, modelDir: string) => Promise<void>,
  ): Promise<void> {
    const modelDir = options.modelDir ?? mkdtempSync(join(root, 'models-'));
    const s = await startServer({ port: 0, dataDir, log: false, ...options, modelDir });
    const call = async (
      method: string,
      path: string,
      b?: unknown,
      init: { headers?: Record<string, string>; raw?: string } = {},
    ): Promise<Reply> => {
      const saved = base;
      base = s.url;
      try {
        return await api(method, path, b, init);
      } finally {
        base = saved;
      }
    };
    try {
      await body(s, call, modelDir);
    } finally {
      await s.close();
    }
  }

  /** Every event of a job until its stream ends, on server `s` with `headers`. */
  async function followOn(
    s: RunningServer,
    id: string,
    headers: Record<string, string> = {},
    onEvent?: (e: SseEvent) => Promise<void> | void,
  ): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for await (const e of events(await fetch(`${s.url}/jobs/${id}/events`, { headers }))) {
      out.push(e);
      await onEvent?.(e);
    }
    return out;
  }

  it("refuses the issue's job that fits every field limit but needs > 8 GB of activations (rnn 1024, batch 1024, window 512)", async () => {
    const issue = {
      task: 'char-lm',
      data: 'text/moby.txt',
      model: { cell: 'rnn', hiddenSize: 1024 },
      train: { batchSize: 1024, window: 512, maxChars: 5000000 },
    };
    const estimate = estimateJobMemory(parseJobConfig(issue), 1 << 20);
    expect(estimate.activations).toBeGreaterThan(8 * 2 ** 30);
    await withServer({}, async (_s, call) => {
      const r = await call('POST', '/jobs', issue);
      expect(r.status).toBe(400);
      expect(r.body.error.field).toBe('train');
      expect(r.body.error.message).toMatch(
        /^train: needs about \d+\.\d GiB to train \(activations \d+\.\d GiB: train\.batchSize 1024 x train\.window 512 x model\.hiddenSize 1024; .*\), above this server's per-job budget of 2\.0 GiB: lower train\.batchSize, train\.window or model\.hiddenSize$/,
      );
      expect((await call('GET', '/jobs')).body.jobs).toEqual([]);
      // The same model with a batch that fits is accepted.
      const fits = await call('POST', '/jobs', { ...issue, name: 'fits', train: { batchSize: 4, window: 32, maxChars: 5000, epochs: 1 } });
      expect(fits.status).toBe(202);
      expect(fits.body.status).toMatch(/queued|running/);
    });
  });

  it.runIf(existsSync('/proc/self/status'))('kills a job whose process passes its memory limit; the server runs on', async () => {
    await withServer({ jobMemoryLimitBytes: 32 << 20 }, async (s, call) => {
      const created = await call('POST', '/jobs', { ...TINY_LM, name: 'too-big' });
      expect(created.status).toBe(202);
      const end = (await followOn(s, created.body.id)).pop() as SseEvent;
      expect(end.event).toBe('error');
      expect(end.data.message).toMatch(
        /^the job's process reached \d+ MiB, above its memory limit of 32 MiB, and was stopped: lower train\.batchSize/,
      );
      const job = (await call('GET', `/jobs/${created.body.id}`)).body;
      expect(job.memory.peakResidentBytes).toBeGreaterThan(32 << 20);
      expect((await call('GET', '/health')).status).toBe(200);
      expect((await call('GET', '/models')).body.models).toEqual([]);
    });
  });

  it('kills a cancelled job that has not stopped within cancelGraceMs: it ends cancelled, the server runs on', async () => {
    await withServer({ cancelGraceMs: 1 }, async (s, call) => {
      const created = await call('POST', '/jobs', HEAVY_LM); // batches of ~0.5 s: it cannot stop within 1 ms
      let cancelled: Reply | null = null;
      const seen = await followOn(s, created.body.id, {}, async (e) => {
        if (e.event === 'progress' && cancelled === null) cancelled = await call('DELETE', `/jobs/${created.body.id}`);
      });
      expect(seen[seen.length - 1]).toMatchObject({
        event: 'cancelled',
        data: { reason: 'cancelled by request (it did not stop within 1 ms and was killed)' },
      });
      expect((await call('GET', '/health')).body.jobs).toEqual({ running: 0, queued: 0 });
      // The next job trains as usual.
      const next = await call('POST', '/jobs', { ...TINY_LM, name: 'after-kill', train: { ...TINY_LM.train, maxChars: 3000 } });
      expect((await followOn(s, next.body.id)).pop()?.event).toBe('done');
    });
  });

  it('with tokens: 401 without one (but /health), and each token sees only its own jobs and models', async () => {
    await withServer({ tokens: [A, B] }, async (s, call, modelDir) => {
      const asA = { authorization: `Bearer ${A}` };
      const asB = { authorization: `Bearer ${B}` };
      expect((await call('GET', '/health')).status).toBe(200);
      for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: A }] as Record<string, string>[]) {
        const r = await call('GET', '/jobs', undefined, { headers });
        expect(r.status).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer realm="gated"');
        expect(r.body.error.message).toMatch(/^authorization: expected 'Authorization: Bearer <token>'/);
      }
      expect((await call('GET', '/nothing-here')).status).toBe(401); // routes are not revealed either

      const created = await call(
        'POST',
        '/jobs',
        { ...TINY_LM, name: 'a-model', train: { ...TINY_LM.train, maxChars: 3000 } },
        { headers: asA },
      );
      expect(created.status).toBe(202);
      const id = created.body.id;
      expect((await call('GET', `/jobs/${id}`, undefined, { headers: asB })).status).toBe(404);
      expect((await call('DELETE', `/jobs/${id}`, undefined, { headers: asB })).status).toBe(404);
      expect((await call('GET', '/jobs', undefined, { headers: asB })).body.jobs).toEqual([]);
      expect((await fetch(`${s.url}/jobs/${id}/events`, { headers: asB })).status).toBe(404);
      expect((await followOn(s, id, asA)).pop()?.event).toBe('done');

      expect((await call('GET', '/models', undefined, { headers: asA })).body.models.map((m: { name: string }) => m.name)).toEqual([
        'a-model',
      ]);
      expect((await call('GET', '/models', undefined, { headers: asB })).body.models).toEqual([]);
      const gen = { prompt: 'The', maxTokens: 3, stream: false };
      expect((await call('POST', '/models/a-model/generate', gen, { headers: asB })).status).toBe(404);
      expect((await call('GET', '/models/a-model', undefined, { headers: asB })).status).toBe(404);
      expect((await call('POST', '/models/a-model/generate', gen, { headers: asA })).status).toBe(200);
      // The sidecar names the owner by the token's id, never the token.
      const sidecar = readFileSync(join(modelDir, 'a-model.json'), 'utf8');
      expect(sidecar).not.toContain(A);
      expect(JSON.parse(sidecar).owner).toMatch(/^[0-9a-f]{16}$/);
    });
  });

  it('refuses to listen beyond loopback without tokens, and weak tokens', async () => {
    await expect(startServer({ port: 0, host: '0.0.0.0', dataDir, modelDir: join(root, 'models-any'), log: false })).rejects.toThrow(
      /beyond loopback, needs tokens/,
    );
    await expect(startServer({ port: 0, dataDir, modelDir: join(root, 'models-any'), tokens: ['short'], log: false })).rejects.toThrow(
      /at least 16 printable characters/,
    );
    const open = await startServer({ port: 0, host: '0.0.0.0', dataDir, modelDir: join(root, 'models-any'), tokens: [A], log: false });
    try {
      const r = await rawRequest(open.port, 'GET', '/models', { host: 'models.example.com', authorization: `Bearer ${A}` });
      expect(r.status).toBe(200); // beyond loopback without allowedHosts: any host, the token decides
    } finally {
      await open.close();
    }
  });

  it('answers only to its allowed host names (DNS rebinding) and origins', async () => {
    await withServer({}, async (s) => {
      const port = s.port;
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
        expect((await rawRequest(port, 'GET', '/health', { host })).status, host).toBe(200);
      }
      const evil = await rawRequest(port, 'GET', '/models', { host: `attacker.example:${port}` });
      expect(evil.status).toBe(403);
      expect(JSON.parse(evil.text).error.message).toMatch(/^host: this server does not answer to that host name/);
      expect(
        (
          await rawRequest(
            port,
            'POST',
            '/jobs',
            { host: `127.0.0.1:${port}`, origin: 'http://attacker.example', 'content-type': 'application/json' },
            '{}',
          )
        ).status,
      ).toBe(403);
      expect((await rawRequest(port, 'GET', '/health', { host: `127.0.0.1:${port}`, origin: 'null' })).status).toBe(403);
      expect((await rawRequest(port, 'GET', '/health', { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status).toBe(
        200,
      );
    });
    await withServer({ allowedHosts: ['models.internal'] }, async (s) => {
      expect((await rawRequest(s.port, 'GET', '/health', { host: 'models.internal' })).status).toBe(200);
      expect((await rawRequest(s.port, 'GET', '/health', { host: `127.0.0.1:${s.port}` })).status).toBe(403);
    });
  });

  it('limits connections, jobs per token, models and their disk', async () => {
    await withServer({ maxConnections: 2 }, async (s, call) => {
      const open = (): Promise<Socket> =>
        new Promise((resolve) => {
          const socket = connect(s.port, '127.0.0.1', () => resolve(socket));
        });
      const held = [await open(), await open()];
      await expect.poll(() => new Promise<number>((r) => s.server.getConnections((_e, n) => r(n)))).toBe(2);
      const third = await open();
      const closed = await new Promise<boolean>((resolve) => {
        third.on('close', () => resolve(true));
        third.write('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
        setTimeout(() => resolve(false), 5000);
      });
      expect(closed).toBe(true); // closed without an answer
      for (const socket of held) socket.destroy();
      await expect.poll(async () => (await call('GET', '/health')).status).toBe(200);
    });
    await withServer({ maxJobsPerOwner: 1 }, async (_s, call) => {
      expect((await call('POST', '/jobs', { ...LONG_LM, name: 'first' })).status).toBe(202);
      const second = await call('POST', '/jobs', { ...LONG_LM, name: 'second' });
      expect(second.status).toBe(429);
      expect(second.body.error.message).toMatch(/you have 1 job\(s\) queued or running \(the limit\)/);
    });
    await withServer({ maxModelBytes: 1 << 20 }, async (_s, call) => {
      const big = await call('POST', '/jobs', { ...TINY_LM, name: 'big', model: { hiddenSize: 512, embedding: 64 } });
      expect(big.status).toBe(507);
      expect(big.body.error.message).toMatch(/^the model could take \d+ MiB, .* of the 1 MiB quota/);
      expect((await call('POST', '/jobs', { ...TINY_LM, name: 'small', model: { hiddenSize: 8, embedding: 4 } })).status).toBe(202);
    });
    await withServer({ maxModels: 1 }, async (_s, call) => {
      expect((await call('POST', '/jobs', { ...LONG_LM, name: 'only' })).status).toBe(202);
      expect((await call('POST', '/jobs', { ...LONG_LM, name: 'one-more' })).status).toBe(507);
    });
  });

  it('removes the temporary files of killed saves at start, and keeps those of live writers', async () => {
    const modelDir = mkdtempSync(join(root, 'models-'));
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number; // a pid that has exited
    const stale = [`.m.safetensors.${dead}.0a1b2c.tmp`, `.m.json.${dead}.ff.tmp`];
    const live = `.m.safetensors.${process.pid}.abcdef.tmp`;
    for (const name of [...stale, live]) writeFileSync(join(modelDir, name), 'partial');
    await withServer({ modelDir }, async () => {
      for (const name of stale) expect(existsSync(join(modelDir, name)), name).toBe(false);
      expect(existsSync(join(modelDir, live))).toBe(true);
    });
  });

  it('never echoes __proto__ or odd keys of a body', async () => {
    await withServer({}, async (_s, call) => {
      const marker = 'MARKER-7f3a';
      for (const raw of [
        `{"task":"char-lm","data":"text/moby.txt","__proto__":{"polluted":"${marker}"}}`,
        `{"task":"char-lm","data":"text/moby.txt","model":{"__proto__":{"hiddenSize":"${marker}"}}}`,
        `{"task":"char-lm","data":"text/moby.txt","<img src=x onerror=${marker}>":1}`,
        `{"task":"char-lm","data":"text/moby.txt","train":{"${'x'.repeat(200)}${marker}":1}}`,
      ]) {
        const r = await call('POST', '/jobs', undefined, { raw });
        expect(r.status, raw).toBe(400);
        const text = JSON.stringify(r.body);
        expect(text).not.toContain(marker);
        expect(text).not.toContain('__proto__');
        expect(text).not.toContain('<img');
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  it(
    "the CLI's forced exit (a second SIGINT while a job trains in a worker thread) exits 1, not SIGABRT",
    { timeout: 90_000 },
    async () => {
      const modelDir = mkdtempSync(join(root, 'models-'));
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'examples/server/main.ts',
          '--port',
          '0',
          '--data',
          dataDir,
          '--models',
          modelDir,
          '--train-in',
          'worker',
          '--quiet',
        ],
        {
          cwd: join(import.meta.dirname, '..'),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('exit', (code, signal) => resolve({ code, signal })),
      );
      await expect.poll(() => /gated server on (http:\/\/\S+)/.exec(stdout)?.[1], { timeout: 30_000 }).toBeDefined();
      const url = /gated server on (http:\/\/\S+)/.exec(stdout)![1];
      // Batches of ~0.5 s, so that the second signal lands while a kernel call is in flight.
      const created = await fetch(`${url}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(HEAVY_LM),
      });
      const { id } = (await created.json()) as { id: string };
      for await (const e of events(await fetch(`${url}/jobs/${id}/events`))) if (e.event === 'progress') break;
      child.kill('SIGINT');
      await expect.poll(() => stderr, { timeout: 10_000 }).toContain('again to force');
      child.kill('SIGINT');
      const { code, signal } = await exited;
      expect({ code, signal, stderr: stderr.includes('terminate called') ? stderr : '' }).toEqual({ code: 1, signal: null, stderr: '' });
    },
  );
});

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
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DATA } from '../examples/lib/cli.js';
import { type RunningServer, startServer } from '../examples/server/server.js';
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
async function api(method: string, path: string, body?: unknown, init: { headers?: Record<string, string>; raw?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(body !== undefined || init.raw !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers };
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
  task: 'char-lm', data: 'text/moby.txt', name: 'tiny-moby',
  model: { cell: 'lstm', hiddenSize: 32, embedding: 16 },
  train: { epochs: 1, batchSize: 16, window: 32, maxChars: MOBY_SLICE, lr: 0.01 },
};

/** A job that takes many batches (it is cancelled long before it ends). */
const LONG_LM = {
  task: 'char-lm', data: 'text/moby.txt', model: { hiddenSize: 64, embedding: 16 }, train: { epochs: 20, batchSize: 8, window: 16, maxChars: 50_000 },
};

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
  mobyText = Array.from(readFileSync(join(data, 'text', 'moby.txt'), 'utf8')).slice(0, MOBY_SLICE).join('');
  server = await startServer({ port: 0, dataDir: data, modelDir: join(root, 'models'), maxJobs: 1, maxBodyBytes: 64 << 10, progressIntervalMs: 50, log: false });
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
    // Trained in a worker thread (the default): the weights are read from the file on first use.
    expect(r.body.models[0]).toMatchObject({ name: 'tiny-moby', task: 'char-lm', tokenizer: 'char', labels: null, loaded: false });
    expect(r.body.models[0].vocabularySize).toBeGreaterThan(20);
    expect((await api('GET', '/models/tiny-moby')).body.name).toBe('tiny-moby');
  });

  it('generates from the trained model token by token, seeded', async () => {
    const body = { prompt: 'Call me Ishmael. ', maxTokens: 40, temperature: 0.8, topK: 20, seed: 7 };
    const res = await fetch(`${base}/models/tiny-moby/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
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
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Ahab', maxTokens: 2000 }),
    });
    let n = 0;
    for await (const e of events(res)) if (e.event === 'token' && ++n === 3) break;
    expect(n).toBe(3);
    expect((await api('GET', '/health')).status).toBe(200);
  });

  it('trains a tiny classifier on LABEL<TAB>TEXT data and classifies', async () => {
    const created = await api('POST', '/jobs', {
      task: 'classifier', data: 'sentiment/imdb.tsv', name: 'tiny-imdb', labelNames: ['negative', 'positive'],
      model: { cell: 'gru', hiddenSize: 16, embedding: 16 }, train: { epochs: 2, batchSize: 16, maxExamples: 200, maxLen: 40, lr: 0.01 },
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

  it('reports a malformed data file as the job\'s error event, naming the line', async () => {
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
      ['a wrong task', () => api('POST', '/jobs', job({ task: 'translate' })), 400, /^task: expected one of 'char-lm', 'classifier', got "translate"/],
      ['a string for a size', () => api('POST', '/jobs', job({ model: { hiddenSize: 'x' } })), 400, /^model\.hiddenSize: expected an integer in \[1, 4096\], got "x"/],
      ['a fraction for a size', () => api('POST', '/jobs', job({ train: { epochs: 1.5 } })), 400, /^train\.epochs: expected an integer in \[1, 100\], got 1\.5/],
      ['a negative rate', () => api('POST', '/jobs', job({ train: { lr: -1 } })), 400, /^train\.lr: expected a number in \(0, 1\]/],
      ['an unknown field', () => api('POST', '/jobs', job({ model: { hidden: 64 } })), 400, /^model\.hidden: unknown field/],
      ['a field of the other task', () => api('POST', '/jobs', job({ train: { maxLen: 5 } })), 400, /^train\.maxLen: only for task 'classifier'/],
      ['a model too large', () => api('POST', '/jobs', job({ model: { hiddenSize: 4096, layers: 8 } })), 400, /^model: about [\d,]+ parameters, above the limit/],
      ['a bad model name', () => api('POST', '/jobs', job({ name: '../evil' })), 400, /^name: expected 1-64 characters/],
      ['a taken model name', () => api('POST', '/jobs', job({ name: 'tiny-moby' })), 409, /^name: a model named 'tiny-moby' exists already/],
      ['../../etc/passwd', () => api('POST', '/jobs', job({ data: '../../etc/passwd' })), 400, /^data: expected a path inside the data folder: '\.\.' segments/],
      ['text/../../x', () => api('POST', '/jobs', job({ data: 'text/../../outside/secret.txt' })), 400, /^data: expected a path inside the data folder/],
      ['an absolute path', () => api('POST', '/jobs', job({ data: '/etc/passwd' })), 400, /^data: expected a path relative to the data folder, got an absolute path/],
      ['a URL-encoded ..%2f', () => api('POST', '/jobs', job({ data: '..%2f..%2fetc%2fpasswd' })), 400, /^data: expected '\/'-separated names/],
      ['a backslash path', () => api('POST', '/jobs', job({ data: '..\\..\\etc\\passwd' })), 400, /^data: expected '\/'-separated names/],
      ['a missing file', () => api('POST', '/jobs', job({ data: 'text/nothing.txt' })), 404, /^data: no file "text\/nothing\.txt" in the data folder/],
      ['a directory', () => api('POST', '/jobs', job({ data: 'text' })), 400, /^data: "text" is not a regular file/],
      ['a symlink out of the data folder', () => api('POST', '/jobs', job({ data: 'text/escape.txt' })), 403, /^data: "text\/escape\.txt" resolves outside the data folder/],
      ['a linked folder out of it', () => api('POST', '/jobs', job({ data: 'out-dir/secret.txt' })), 403, /resolves outside the data folder/],
      ['a body over the limit', () => api('POST', '/jobs', undefined, { raw: JSON.stringify({ task: 'char-lm', data: 'x'.repeat(200_000) }) }), 413, /^body: request body larger than 65536 bytes/],
      ['a form body', () => api('POST', '/jobs', undefined, { raw: 'task=char-lm', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, /expected application\/json/],
      ['an unknown job', () => api('GET', '/jobs/123456'), 404, /^id: no job with id "123456"/],
      ['an unknown model', () => api('POST', '/models/nobody/generate', { prompt: 'a' }), 404, /^name: no model named 'nobody'/],
      ['a model name with ..%2f', () => api('POST', '/models/..%2f..%2fetc%2fpasswd/generate', { prompt: 'a' }), 400, /^name: expected 1-64 characters/],
      ['malformed percent-encoding', () => api('GET', '/models/%E0%A4%A'), 400, /^path: malformed percent-encoding/],
      ['an unknown route', () => api('GET', '/admin'), 404, /^path: nothing at "\/admin"/],
      ['a wrong method', () => api('PUT', '/jobs', {}), 405, /^method: PUT is not allowed here \(allowed: GET, POST, HEAD, OPTIONS\)/],
      ['no prompt', () => api('POST', '/models/tiny-moby/generate', { maxTokens: 3 }), 400, /^prompt: required/],
      ['too many tokens', () => api('POST', '/models/tiny-moby/generate', { prompt: 'a', maxTokens: 1e9 }), 400, /^maxTokens: expected an integer in \[1, 2000\]/],
      ['a negative temperature', () => api('POST', '/models/tiny-moby/generate', { prompt: 'a', temperature: -1 }), 400, /^temperature: expected a number in \[0, 10\]/],
      ['text and texts', () => api('POST', '/models/tiny-imdb/classify', { text: 'a', texts: ['b'] }), 400, /^texts: give text or texts, not both/],
      ['a number to classify', () => api('POST', '/models/tiny-imdb/classify', { texts: ['ok', 5] }), 400, /^texts\[1\]: expected a string, got 5/],
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
        socket.on('data', (d) => { text += d.toString(); });
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
    expect(models.body.models.map((m: { name: string; loaded: boolean }) => [m.name, m.loaded]).sort()).toEqual([['tiny-imdb', false], ['tiny-moby', false]]);
    const after = await api('POST', '/models/tiny-moby/generate', { prompt: 'Call me', maxTokens: 20, temperature: 0, stream: false });
    expect(after.body.text).toBe(before.body.text);
    expect((await api('GET', '/jobs')).body.jobs).toEqual([]);

    const created = await api('POST', '/jobs', { ...TINY_LM, name: 'inline', model: { cell: 'gru', hiddenSize: 16, embedding: 8 }, train: { ...TINY_LM.train, maxChars: 5000 } });
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

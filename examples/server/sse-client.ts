/**
 * Reading the service's server-sent event streams from Node (`fetch` + this), e.g. a job's progress:
 *
 *   for await (const e of readEvents(await fetch(`${url}/jobs/${id}/events`))) console.log(e.event, e.data);
 *
 * Used by test/server.test.ts and bench/server-latency.ts.
 */

/** One event: its `event:` name (default `'message'`), its `id:` (or null) and its `data:` lines parsed as JSON. */
export interface SseEvent {
  readonly event: string;
  readonly id: string | null;
  readonly data: any; // whatever JSON the server sent
}

/** Yields the events of `res`'s body as they arrive; breaking out of the loop closes the connection. */
export async function* readEvents(res: Response): AsyncGenerator<SseEvent> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let id: string | null = null;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue; // a comment (keep-alive)
          const colon = line.indexOf(':');
          const field = line.slice(0, colon);
          const text = line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = text;
          else if (field === 'id') id = text;
          else if (field === 'data') data.push(text);
        }
        if (data.length > 0) yield { event, id, data: JSON.parse(data.join('\n')) };
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

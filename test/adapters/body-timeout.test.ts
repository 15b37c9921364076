/**
 * `bodyTimeout`: a client that sends the headers and part of an urlencoded body, then stalls,
 * gets 408 `{"error":"request_timeout"}` and a closed connection once the adapter has waited
 * `bodyTimeout` for the body it must read to find `_csrf` — not Node's 300 s `requestTimeout`.
 * Every app runs with a short `bodyTimeout` (100 ms), so the test waits a fraction of a second.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_BODY_TIMEOUT } from '../../src/adapters/shared/http.js';
import { readForm } from '../../src/adapters/shared/web.js';
import { isTesseraError } from '../../src/core/errors.js';
import { startExpress, startFastify, startFetch, startHono, startNode } from './apps.js';
import { type RunningApp, testEngine } from './support.js';

const TIMEOUT = 100;

/** Headers and the first bytes of a 100-byte form, then nothing: what the server answers. */
function stall(base: string): Promise<{ head: string; body: string; closed: boolean }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      raw += d;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const at = raw.indexOf('\r\n\r\n');
      let body = raw.slice(at + 4);
      // A chunked body: keep the data of the first chunk.
      if (/transfer-encoding: chunked/i.test(raw.slice(0, at))) body = body.split('\r\n')[1] ?? '';
      resolve({ head: raw.slice(0, at), body, closed: true });
    });
    socket.write(
      'POST /set HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n' +
        '_csrf=abc&key=',
    );
  });
}

describe.each([
  ['node:http', (e: Parameters<typeof startNode>[0]) => startNode(e, { bodyTimeout: TIMEOUT })],
  [
    'Express 4',
    (e: Parameters<typeof startNode>[0]) => startExpress(e, 'express4', { bodyTimeout: TIMEOUT }),
  ],
  [
    'Express 5',
    (e: Parameters<typeof startNode>[0]) => startExpress(e, 'express', { bodyTimeout: TIMEOUT }),
  ],
  ['Fastify', (e: Parameters<typeof startNode>[0]) => startFastify(e, { bodyTimeout: TIMEOUT })],
  ['Hono', (e: Parameters<typeof startNode>[0]) => startHono(e, { bodyTimeout: TIMEOUT })],
  ['fetch', (e: Parameters<typeof startNode>[0]) => startFetch(e, { bodyTimeout: TIMEOUT })],
])('%s: a stalled urlencoded body', (_name, start) => {
  let app: RunningApp | undefined;
  afterEach(async () => {
    await app?.close();
  });

  it('answers 408 request_timeout after bodyTimeout and closes the connection', async () => {
    app = await start(testEngine().engine);
    const began = Date.now();
    const res = await stall(app.url);
    const waited = Date.now() - began;
    expect(res.head).toMatch(/^HTTP\/1\.1 408 /);
    expect(res.head).toMatch(/^content-type: application\/json/im);
    expect(res.head).toMatch(/^connection: close/im);
    expect(JSON.parse(res.body)).toEqual({ error: 'request_timeout' });
    expect(waited).toBeGreaterThanOrEqual(TIMEOUT - 5);
    // Far below any server-side timeout of Node or the frameworks.
    expect(waited).toBeLessThan(5_000);
  }, 10_000);
});

describe('bodyTimeout default', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits 10 s for a body by default, then fails with ERR_BAD_REQUEST 408', async () => {
    expect(DEFAULT_BODY_TIMEOUT).toBe(10_000);
    vi.useFakeTimers();
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('_csrf=abc'));
      },
    });
    const request = new Request('http://127.0.0.1/', {
      method: 'POST',
      body: stalled,
      duplex: 'half',
    } as RequestInit);
    let outcome: unknown = 'pending';
    readForm(request, 65_536).then(
      (v) => {
        outcome = v;
      },
      (e: unknown) => {
        outcome = e;
      },
    );
    await vi.advanceTimersByTimeAsync(DEFAULT_BODY_TIMEOUT - 1);
    expect(outcome).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(isTesseraError(outcome, 'ERR_BAD_REQUEST')).toBe(true);
    expect((outcome as { status: number }).status).toBe(408);
  });
});

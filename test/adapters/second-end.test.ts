/**
 * A second `res.end()` is ignored by the node:http / Express glue (natively, one with a body emits
 * an 'error' no one listens to). Its callback must still be called as Node calls it — once the
 * response has finished — or an app that waits for it (`await new Promise((r) => res.end(r))`
 * in cleanup code) waits forever. Both paths: the commit inside the app's end() (nothing to
 * write) and the commit that writes first (the first end() waits for it).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import * as nodeAdapter from '../../src/adapters/node/index.js';
import { createSessions } from '../../src/core/engine.js';
import { memoryStore } from '../../src/stores/memory/index.js';

const KEYS = [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }];

describe('a second res.end(callback)', () => {
  it.each([
    ['nothing to write (ended inside the app’s end())', '/read'],
    ['a write (the first end() waits for the commit)', '/write'],
  ])('calls its callback once the response finished: %s', async (_, path) => {
    const engine = createSessions({ keys: KEYS, store: memoryStore(), allowInsecure: true });
    const called: string[] = [];
    const listener = nodeAdapter.session(engine)(
      (req: IncomingMessage & { session: { set(k: string, v: unknown): void } }, res) => {
        if (req.url === '/write') req.session.set('a', 1);
        res.end('first');
        (res as ServerResponse).end(() => called.push('second'));
      },
    );
    const server = createServer(listener as never);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      expect(await res.text()).toBe('first');
      await new Promise((r) => setTimeout(r, 50));
      expect(called).toEqual(['second']);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

/**
 * Review of issue 12: a sealed session whose cookie would be too large, on a response that
 * starts streaming before the commit (node:http). The seal is made when the head goes out
 * (`commitCookieNow`), so the failure surfaces in `res.write`. The response must still end —
 * with a 413 while nothing was sent, never a hang, a crash or a 200 whose session was silently
 * dropped.
 */
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/node/index.js';
import { close, listen, testSealedEngine } from '../adapters/support.js';

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await close(s);
});

async function run(stream: boolean) {
  const { engine } = testSealedEngine({ logger: false });
  const withSession = session(engine, { allowInsecure: true } as never);
  const server = createServer(
    withSession(async (req, res) => {
      req.session.set('blob', 'x'.repeat(6000));
      if (stream) {
        res.setHeader('content-type', 'text/plain');
        res.write('part one;');
        res.end('part two');
      } else {
        res.end('done');
      }
    }),
  );
  servers.push(server);
  const url = await listen(server);
  const ac = AbortSignal.timeout(3000);
  const res = await fetch(`${url}/`, { signal: ac });
  const body = await res.text();
  return { status: res.status, body, setCookie: res.headers.get('set-cookie') };
}

describe('review issue 12: a sealed cookie too large on a streamed node:http response', () => {
  it('without streaming: 413 (the baseline)', async () => {
    const r = await run(false);
    expect(r.status).toBe(413);
    expect(r.setCookie).toBeNull();
  });

  it('streaming: answers 413 (the head was not sent yet), not a 200 that drops the session', async () => {
    const r = await run(true);
    expect(r.status).toBe(413);
    expect(r.setCookie).toBeNull();
  });
});

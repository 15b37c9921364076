/**
 * The demo over HTTP with short timeouts: sensitive actions need a fresh login (checked after
 * CSRF and before 404), idle and absolute deadlines end sessions and leave an `expired` event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Client,
  COOKIE,
  call,
  type DemoProcess,
  isClearing,
  parseSetCookie,
  signedIn,
  startDemo,
  waitFor,
} from './helpers.js';

let short: DemoProcess;

beforeAll(async () => {
  short = await startDemo({
    TESSERA_FRESH_AGE: '1',
    TESSERA_IDLE_TIMEOUT: '2',
    TESSERA_ABSOLUTE_TIMEOUT: '4',
  });
});

afterAll(async () => {
  await short?.stop();
});

function me(c: Client) {
  return c.get('/api/me');
}

async function eventsOf(c: Client): Promise<{ type: string; reason?: string }[]> {
  const a = await c.get('/api/events');
  expect(a.status).toBe(200);
  return a.json();
}

describe('demo freshness and expiry', () => {
  it('needs a fresh login for sensitive actions, checked before 404', async () => {
    const c = await signedIn(short.url, 'alice');
    expect((await c.post('/api/sessions/revoke-others')).status).toBe(204);
    let stale = await c.post('/api/sessions/revoke-others');
    await waitFor(
      'the login to go stale',
      async () => {
        stale = await c.post('/api/sessions/revoke-others');
        return stale.status === 403;
      },
      5000,
      100,
    );
    expect(stale.json()).toEqual({ error: 'reauth_required' });
    const unknown = await c.post('/api/sessions/AAAAAAAAAAAAAAAAAAAAAA/revoke');
    expect(unknown.status).toBe(403);
    expect(unknown.json()).toEqual({ error: 'reauth_required' });
    const pw = await c.post('/api/password', {
      json: { current: 'alice-password', next: 'whatever-long' },
    });
    expect(pw.json()).toEqual({ error: 'reauth_required' });
    // Without the token, CSRF comes first.
    expect((await c.post('/api/sessions/revoke-others', { csrf: false })).json()).toEqual({
      error: 'csrf',
    });
    expect((await c.post('/api/reauth', { json: { password: 'alice-password' } })).status).toBe(
      204,
    );
    expect((await c.post('/api/sessions/revoke-others')).status).toBe(204);
    expect((await c.post('/api/sessions/AAAAAAAAAAAAAAAAAAAAAA/revoke')).status).toBe(404);
  });

  it('ends an idle session, clears its cookie, and records expired', async () => {
    const c = await signedIn(short.url, 'bob');
    const idle = Date.parse(
      (await me(c)).json<{ session: { idleExpiresAt: string } }>().session.idleExpiresAt,
    );
    const token = c.session!;
    await waitFor('the idle deadline', () => Date.now() > idle + 100, 5000);
    const a = await call(short.url, 'GET', '/api/me', {
      headers: { cookie: `${COOKIE}=${token}` },
    });
    expect(a.status).toBe(401);
    expect(a.cookies.map(parseSetCookie).some((x) => x.name === COOKIE && isClearing(x))).toBe(
      true,
    );
    const again = await signedIn(short.url, 'bob');
    const expired = (await eventsOf(again)).find((e) => e.type === 'expired');
    expect(expired).toMatchObject({ reason: 'idle' });
  });

  it('ends a busy session at its absolute deadline', async () => {
    const c = await signedIn(short.url, 'alice');
    const absolute = Date.parse(
      (await me(c)).json<{ session: { absoluteExpiresAt: string } }>().session.absoluteExpiresAt,
    );
    const cookie = { cookie: `${COOKIE}=${c.session!}` };
    const seen: number[] = [];
    await waitFor(
      'the absolute deadline',
      async () => {
        seen.push((await call(short.url, 'GET', '/api/me', { headers: cookie })).status);
        return Date.now() > absolute + 100;
      },
      8000,
      250,
    );
    // Activity kept it alive past the 2 s idle timeout, but not past the absolute deadline.
    expect(seen.filter((s) => s === 200).length).toBeGreaterThan(8);
    expect((await call(short.url, 'GET', '/api/me', { headers: cookie })).status).toBe(401);
    const again = await signedIn(short.url, 'alice');
    expect((await eventsOf(again)).find((e) => e.type === 'expired')).toMatchObject({
      reason: 'absolute',
    });
  });
});

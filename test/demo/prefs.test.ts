/**
 * The demo's `/api/prefs`: a JSON object in the session's data, merged key by key, with size and
 * shape limits, and no lost writes under parallel PATCHes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, COOKIE, call, type DemoProcess, signedIn, startDemo } from './helpers.js';

let demo: DemoProcess;
let base: string;

beforeAll(async () => {
  demo = await startDemo({ TESSERA_ROTATION_GRACE: '5' });
  base = demo.url;
});

afterAll(async () => {
  await demo?.stop();
});

/** `[[…[1]…]]`: `levels` arrays around 1 (a prefs value `levels` deep below the top object). */
function nest(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

function patch(c: Client, body: unknown) {
  return c.send('PATCH', '/api/prefs', { json: body });
}

describe('demo prefs', () => {
  it('starts empty, merges key by key, and deletes a key set to null', async () => {
    const c = await signedIn(base, 'alice');
    const empty = await c.get('/api/prefs');
    expect(empty.status).toBe(200);
    expect(empty.header('cache-control')).toBe('no-store');
    expect(empty.json()).toEqual({});
    expect((await patch(c, { theme: 'dark' })).json()).toEqual({ theme: 'dark' });
    expect((await patch(c, { lang: 'fr', size: 3 })).json()).toEqual({
      theme: 'dark',
      lang: 'fr',
      size: 3,
    });
    const r = await patch(c, { theme: null, nested: { a: [1, 2] } });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ lang: 'fr', size: 3, nested: { a: [1, 2] } });
    expect((await c.get('/api/prefs')).json()).toEqual({
      lang: 'fr',
      size: 3,
      nested: { a: [1, 2] },
    });
    expect((await patch(c, { missing: null })).json()).toEqual({
      lang: 'fr',
      size: 3,
      nested: { a: [1, 2] },
    });
  });

  it('keeps prefs per session', async () => {
    const a = await signedIn(base, 'alice');
    const b = await signedIn(base, 'alice');
    await patch(a, { only: 'a' });
    expect((await b.get('/api/prefs')).json()).toEqual({});
  });

  it('answers 400 to a body that is not an object, or has a forbidden key at any depth', async () => {
    const c = await signedIn(base, 'bob');
    await patch(c, { keep: true });
    const bad = [
      '[]',
      '[1,2]',
      '"text"',
      '42',
      'null',
      'true',
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"admin":true}}}',
      '{"prototype":1}',
      '{"a":{"b":{"__proto__":{"x":1}}}}',
      '{"a":[{"constructor":1}]}',
    ];
    for (const body of bad) {
      const r = await c.send('PATCH', '/api/prefs', {
        body,
        headers: { 'content-type': 'application/json' },
      });
      expect(r.status, body).toBe(400);
      expect(r.json<{ error: string }>().error).toBeTruthy();
    }
    const form = await c.send('PATCH', '/api/prefs', { form: { a: '1', _csrf: c.token! } });
    expect(form.status).toBe(400);
    expect((await c.get('/api/prefs')).json()).toEqual({ keep: true });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('answers 400 to deeply nested JSON (8,000 arrays) and keeps serving', async () => {
    const c = await signedIn(base, 'alice');
    await patch(c, { keep: 1 });
    const depth = 8000;
    for (const body of [
      `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`,
      `{"a":${'{"b":'.repeat(2000)}1${'}'.repeat(2000)}}`,
    ]) {
      const r = await c.send('PATCH', '/api/prefs', {
        body,
        headers: { 'content-type': 'application/json' },
      });
      expect(r.status).toBe(400);
      expect(r.json()).toEqual({ error: 'bad_request' });
    }
    // Nesting up to the documented depth is fine; one level more is not.
    const ok = await patch(c, { deep: nest(31) });
    expect(ok.status).toBe(200);
    expect((await patch(c, { deeper: nest(32) })).status).toBe(400);
    expect((await c.get('/api/prefs')).json()).toEqual({ keep: 1, deep: nest(31) });
    expect((await call(base, 'GET', '/healthz')).status).toBe(200);
    expect(demo.child.exitCode).toBeNull();
  });

  it('accepts a merged result of exactly 4096 UTF-8 bytes and refuses one byte more with 413', async () => {
    const c = await signedIn(base, 'bob');
    // {"k":"…"} is 8 bytes of JSON around the value; é is 2 bytes in UTF-8.
    const value = `${'é'.repeat(2000)}${'x'.repeat(4096 - 8 - 4000)}`;
    const ok = await patch(c, { k: value });
    expect(ok.status).toBe(200);
    expect(Buffer.byteLength(JSON.stringify(ok.json()))).toBe(4096);
    const over = await patch(c, { k: `${value}x` });
    expect(over.status).toBe(413);
    const grow = await patch(c, { z: 1 });
    expect(grow.status).toBe(413);
    expect((await c.get('/api/prefs')).json()).toEqual({ k: value });
    expect((await patch(c, { k: null, small: 1 })).json()).toEqual({ small: 1 });
  });

  it('refuses a merge that only grows too big across several PATCHes', async () => {
    const c = await signedIn(base, 'alice');
    expect((await patch(c, { a: 'x'.repeat(2500) })).status).toBe(200);
    expect((await patch(c, { b: 'y'.repeat(2500) })).status).toBe(413);
    expect(Object.keys((await c.get('/api/prefs')).json<object>())).toEqual(['a']);
  });

  it('keeps every key of 40 parallel PATCHes of different keys', async () => {
    const c = await signedIn(base, 'alice');
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => patch(c, { [`key${i}`]: i })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
    const prefs = (await c.get('/api/prefs')).json<Record<string, number>>();
    expect(Object.keys(prefs)).toHaveLength(40);
    for (let i = 0; i < 40; i++) expect(prefs[`key${i}`]).toBe(i);
  });

  it('needs a session (401) and the CSRF token (403)', async () => {
    const anon = await call(base, 'GET', '/api/prefs');
    expect(anon.status).toBe(401);
    const c = await signedIn(base, 'bob');
    const noToken = await c.send('PATCH', '/api/prefs', { json: { a: 1 }, csrf: false });
    expect(noToken.status).toBe(403);
    expect(noToken.json()).toEqual({ error: 'csrf' });
  });

  it('serves prefs read-only through a rotated-out token within the grace', async () => {
    const c = await signedIn(base, 'alice');
    await patch(c, { mode: 'compact' });
    const old = { cookie: `${COOKIE}=${c.session!}` };
    expect((await c.post('/api/reauth', { json: { password: 'alice-password' } })).status).toBe(
      204,
    );
    const read = await call(base, 'GET', '/api/prefs', { headers: old });
    expect(read.status).toBe(200);
    expect(read.json()).toEqual({ mode: 'compact' });
    expect(read.cookies).toEqual([]);
    const write = await call(base, 'PATCH', '/api/prefs', {
      headers: { ...old, 'x-csrf-token': c.token!, 'content-type': 'application/json' },
      body: '{"mode":"wide"}',
    });
    expect(write.status).toBe(401);
    expect((await c.get('/api/prefs')).json()).toEqual({ mode: 'compact' });
  });
});

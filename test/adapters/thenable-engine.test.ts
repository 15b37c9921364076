/**
 * An engine whose `load` / `commit` answer with a thenable that is not this realm's Promise
 * (another realm's Promise — Jest's environments, a `vm` context — or a promise library), as the
 * `SessionEngine` contract allows: the fetch and Hono glue must still wait for it, so the CSRF
 * check runs and the handler sees the session. Taking such a thenable for a loaded start ran
 * the handler of an unsafe request with no session and no CSRF check.
 */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import * as fetchAdapter from '../../src/adapters/fetch/index.js';
import * as honoAdapter from '../../src/adapters/hono/index.js';
import type { SessionEngine } from '../../src/core/contract.js';
import { createSessions } from '../../src/core/engine.js';
import { memoryStore } from '../../src/stores/memory/index.js';

/** A promise-library-style thenable: `then` returns another one of its kind, never a Promise. */
class Thenable<T> {
  readonly #p: Promise<T>;
  constructor(p: Promise<T>) {
    this.#p = p;
  }
  // biome-ignore lint/suspicious/noThenProperty: a thenable is the point of this test.
  then<A, B>(
    ok?: ((v: T) => A | PromiseLike<A>) | null,
    fail?: ((e: unknown) => B | PromiseLike<B>) | null,
  ): Thenable<A | B> {
    return new Thenable(this.#p.then(ok, fail));
  }
}

/** The engine with `load` and `commit` answering thenables, and no synchronous path. */
function foreign(engine: SessionEngine): SessionEngine {
  return new Proxy(engine, {
    get(target, prop) {
      if (prop === 'loadNow' || prop === 'commitNow') return undefined;
      const v = Reflect.get(target, prop, target);
      if (prop === 'load' || prop === 'commit')
        return (x: never) => new Thenable((v as (x: never) => Promise<unknown>).call(target, x));
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as SessionEngine;
}

async function signedIn(): Promise<{ engine: SessionEngine; cookie: string }> {
  const keys = [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }];
  const engine = createSessions({ keys, store: memoryStore({ sweepIntervalMs: 0 }) });
  const s = await engine.load({ method: 'GET' });
  await s.authenticate('u1');
  const { setCookie } = await engine.commit(s);
  return { engine: foreign(engine as unknown as SessionEngine), cookie: setCookie!.split(';')[0]! };
}

const post = (cookie: string) =>
  new Request('https://app.example/change', {
    method: 'POST',
    headers: { cookie, origin: 'https://app.example', 'content-type': 'application/json' },
    body: '{}',
  });

describe('an engine answering thenables that are not Promises', () => {
  it('fetch: refuses an unsafe request without a CSRF token, and serves a safe one its session', async () => {
    const { engine, cookie } = await signedIn();
    const handle = fetchAdapter.session(engine);
    let ran = 0;
    const handler = (s: { userId: string | null } | undefined) => {
      ran++;
      return new Response(`user:${s?.userId}`);
    };
    const refused = await handle(post(cookie), handler as never);
    expect(refused.status).toBe(403);
    expect(ran).toBe(0);
    const read = await handle(
      new Request('https://app.example/', { headers: { cookie } }),
      handler as never,
    );
    expect(await read.text()).toBe('user:u1');
  });

  it('Hono: refuses an unsafe request without a CSRF token, and serves a safe one its session', async () => {
    const { engine, cookie } = await signedIn();
    const app = new Hono();
    let ran = 0;
    app.use(honoAdapter.session(engine) as never);
    app.all('*', (c) => {
      ran++;
      return c.text(
        `user:${(c.get('session' as never) as { userId?: string } | undefined)?.userId}`,
      );
    });
    const refused = await app.request(post(cookie));
    expect(refused.status).toBe(403);
    expect(ran).toBe(0);
    const read = await app.request(new Request('https://app.example/', { headers: { cookie } }));
    expect(await read.text()).toBe('user:u1');
  });
});

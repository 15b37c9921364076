import type { IncomingMessage } from 'node:http';
import { describe, expectTypeOf, it } from 'vitest';
import type * as expressAdapter from '../src/adapters/express/index.js';
import type * as fastifyAdapter from '../src/adapters/fastify/index.js';
import type * as fetchAdapter from '../src/adapters/fetch/index.js';
import type * as honoAdapter from '../src/adapters/hono/index.js';
import type * as nodeAdapter from '../src/adapters/node/index.js';
import {
  clientBucket,
  createSessions,
  type GuessLimiter,
  type KeyRing,
  memoryGuessLimiter,
  type Session,
  type SessionEventType,
  type SessionManager,
  type SessionsOptions,
  slotTagFor,
  TesseraError,
  type TesseraErrorCode,
} from '../src/index.js';
import { memoryStore } from '../src/stores/memory/index.js';

type Data = { count: number; theme: 'dark' | 'light' };

describe('types', () => {
  it('types session data by key', () => {
    const engine = createSessions<Data>({ store: memoryStore(), keys: [] as never });
    expectTypeOf(engine).toEqualTypeOf<SessionManager<Data>>();
    const s = {} as Session<Data>;
    expectTypeOf(s.get('count')).toEqualTypeOf<number | undefined>();
    expectTypeOf(s.get('theme')).toEqualTypeOf<'dark' | 'light' | undefined>();
    // @ts-expect-error a key that is not in Data
    s.get('missing');
    // @ts-expect-error a value of the wrong type
    s.set('count', 'one');
    s.update('count', (n) => (n ?? 0) + 1);
    expectTypeOf(s.handle).toEqualTypeOf<string | null>();
    expectTypeOf(s.authenticate).returns.toEqualTypeOf<Promise<void>>();
  });

  it('keeps error codes and event types closed unions', () => {
    expectTypeOf<'ERR_STORE_UNAVAILABLE'>().toExtend<TesseraErrorCode>();
    expectTypeOf<'ERR_NOPE'>().not.toExtend<TesseraErrorCode>();
    expectTypeOf(new TesseraError('ERR_CSRF', 'x').code).toEqualTypeOf<TesseraErrorCode>();
    expectTypeOf<'theft_suspected'>().toExtend<SessionEventType>();
    expectTypeOf<'login'>().not.toExtend<SessionEventType>();
  });

  it('gives every adapter the same exported names', () => {
    const names = [
      'csrfToken',
      'getSession',
      'hstsHeader',
      'login',
      'logout',
      'session',
      'verifyCSRF',
    ] as const;
    type Names = (typeof names)[number];
    expectTypeOf<keyof typeof nodeAdapter>().toEqualTypeOf<Names>();
    expectTypeOf<keyof typeof expressAdapter>().toEqualTypeOf<Names>();
    expectTypeOf<keyof typeof fastifyAdapter>().toEqualTypeOf<Names>();
    expectTypeOf<keyof typeof honoAdapter>().toEqualTypeOf<Names>();
    expectTypeOf<keyof typeof fetchAdapter>().toEqualTypeOf<Names>();
  });

  it('gives verifyCSRF the same shape in every adapter: (reqOrCtx) => Promise<void>', () => {
    expectTypeOf<typeof nodeAdapter.verifyCSRF>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<typeof expressAdapter.verifyCSRF>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<typeof fastifyAdapter.verifyCSRF>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<typeof honoAdapter.verifyCSRF>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<typeof fetchAdapter.verifyCSRF>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<typeof nodeAdapter.verifyCSRF>().parameters.toEqualTypeOf<[IncomingMessage]>();
    expectTypeOf<typeof fetchAdapter.verifyCSRF>().parameters.toEqualTypeOf<[Request]>();
  });

  it('exports the guessing limiter, the keyed slot tag and the re-authentication option', () => {
    expectTypeOf(memoryGuessLimiter).returns.toEqualTypeOf<GuessLimiter>();
    expectTypeOf(clientBucket).toEqualTypeOf<(ip: string) => string>();
    expectTypeOf(slotTagFor).parameters.toEqualTypeOf<[KeyRing, string]>();
    expectTypeOf<SessionsOptions['reauthRestartsAbsolute']>().toEqualTypeOf<boolean | undefined>();
  });
});

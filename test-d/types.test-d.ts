import type { IncomingMessage } from 'node:http';
import { describe, expectTypeOf, it } from 'vitest';
import type * as expressAdapter from '../src/adapters/express/index.js';
import type * as fastifyAdapter from '../src/adapters/fastify/index.js';
import type * as fetchAdapter from '../src/adapters/fetch/index.js';
import type * as honoAdapter from '../src/adapters/hono/index.js';
import type * as nodeAdapter from '../src/adapters/node/index.js';
import {
  type AnyTesseraErrorCode,
  type BadRequestReason,
  type CSRFRejection,
  clientBucket,
  createSessions,
  type GuessLimiter,
  isTesseraError,
  type KeyRing,
  memoryGuessLimiter,
  type SealedSessionManager,
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
    const csrf = new TesseraError('ERR_CSRF', 'x', { details: { reason: 'bad_token' } });
    expectTypeOf(csrf.code).toEqualTypeOf<'ERR_CSRF'>();
    expectTypeOf<TesseraError['code']>().toEqualTypeOf<AnyTesseraErrorCode>();
    expectTypeOf<'theft_suspected'>().toExtend<SessionEventType>();
    expectTypeOf<'login'>().not.toExtend<SessionEventType>();
  });

  it("narrows an error to its code with isTesseraError, with that code's details", () => {
    const e: unknown = null;
    if (isTesseraError(e, 'ERR_SESSION_LIMIT')) {
      expectTypeOf(e).toEqualTypeOf<TesseraError<'ERR_SESSION_LIMIT'>>();
      expectTypeOf(e.code).toEqualTypeOf<'ERR_SESSION_LIMIT'>();
      expectTypeOf(e.details.limit).toEqualTypeOf<number>();
      expectTypeOf(e.details.policy).toEqualTypeOf<'reject'>();
    }
    if (isTesseraError(e, 'ERR_CSRF'))
      expectTypeOf(e.details.reason).toEqualTypeOf<CSRFRejection>();
    if (isTesseraError(e, 'ERR_DATA_TOO_LARGE')) {
      expectTypeOf(e.details).toEqualTypeOf<{ readonly size: number; readonly limit: number }>();
    }
    if (isTesseraError(e, 'ERR_BAD_REQUEST'))
      expectTypeOf(e.details.reason).toEqualTypeOf<BadRequestReason>();
    // A TesseraError already caught narrows further too (the onError hook's argument).
    const caught = {} as TesseraError;
    if (isTesseraError(caught, 'ERR_INVALID_ID'))
      expectTypeOf(caught.details.field).toEqualTypeOf<string | undefined>();
    // Unnarrowed, the details are some code's or a later code's: an object, read after narrowing.
    expectTypeOf(caught.details).toExtend<Readonly<Record<string, unknown>>>();
    // @ts-expect-error not every code's details have a limit
    caught.details.limit;
    // A narrowed error is still a TesseraError.
    expectTypeOf<TesseraError<'ERR_CSRF'>>().toExtend<TesseraError>();
  });

  it('keeps the promise that adding a code is not breaking: a caught code is open, its switch needs a default', () => {
    const e = {} as TesseraError;
    expectTypeOf<Exclude<typeof e.code, TesseraErrorCode>>().not.toBeNever();
    switch (e.code) {
      case 'ERR_CONFIG':
      case 'ERR_CSRF':
        break;
      default: {
        // @ts-expect-error no exhaustive switch compiles: a later minor release may add a code
        const exhaustive: never = e.code;
        void exhaustive;
      }
    }
  });

  it('requires the details a code carries, and refuses unknown codes and foreign details', () => {
    // @ts-expect-error ERR_SESSION_LIMIT carries its limit and policy
    new TesseraError('ERR_SESSION_LIMIT', 'x');
    // @ts-expect-error ERR_CSRF carries its reason
    new TesseraError('ERR_CSRF', 'x', { cause: 1 });
    // @ts-expect-error not a code of this version
    new TesseraError('ERR_NOPE', 'x');
    // @ts-expect-error ERR_CONFIG carries no details
    new TesseraError('ERR_CONFIG', 'x', { details: { limit: 1 } });
    expectTypeOf(new TesseraError('ERR_CONFIG', 'x')).toEqualTypeOf<TesseraError<'ERR_CONFIG'>>();
  });

  it('names the CSRF check with one verb in one casing: verifyCSRF on both engines and every adapter', () => {
    expectTypeOf<SessionManager>().toHaveProperty('verifyCSRF');
    expectTypeOf<SealedSessionManager>().toHaveProperty('verifyCSRF');
    expectTypeOf<SessionManager>().not.toHaveProperty('checkCSRF');
    expectTypeOf<SealedSessionManager>().not.toHaveProperty('checkCSRF');
  });

  it('gives every adapter the same exported names', () => {
    const names = [
      'csrfToken',
      'errorStatus',
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

/**
 * Typed session data without augmentation: this program declares no `Register`, so every
 * default stays `SessionData` (`Record<string, unknown>`). The augmented cases are whole projects
 * of their own (a module augmentation reaches a whole program): test-d/fixtures/, checked by
 * test/typing.test.ts.
 */
import type { Request as ExpressRequest } from 'express';
import type { FastifyRequest } from 'fastify';
import type { ContextVariableMap } from 'hono';
import { describe, expectTypeOf, it } from 'vitest';
import type { SessionEnv } from '../src/adapters/hono/index.js';
import type { SessionRequest } from '../src/adapters/node/index.js';
import {
  createSealedSessions,
  createSessions,
  type Register,
  type RegisteredData,
  type SealedSession,
  type Session,
  type SessionData,
  type SessionManager,
} from '../src/index.js';
import { memoryStore } from '../src/stores/memory/index.js';

describe('Register, not augmented', () => {
  it('is empty, and the registered data type is SessionData', () => {
    expectTypeOf<keyof Register>().toEqualTypeOf<never>();
    expectTypeOf<RegisteredData>().toEqualTypeOf<SessionData>();
    expectTypeOf<SessionData>().toEqualTypeOf<Record<string, unknown>>();
  });

  it('leaves the engines and sessions on SessionData', () => {
    const engine = createSessions({ store: memoryStore(), keys: [] as never });
    expectTypeOf(engine).toEqualTypeOf<SessionManager<SessionData>>();
    expectTypeOf<Session>().toEqualTypeOf<Session<SessionData>>();
    expectTypeOf<Session['get']>().returns.toEqualTypeOf<unknown>();
    const sealed = createSealedSessions({ keys: [] as never });
    expectTypeOf(sealed.load).returns.resolves.toEqualTypeOf<SealedSession<SessionData>>();
  });

  it("types every framework's request session as Session<SessionData>", () => {
    expectTypeOf<ExpressRequest['session']>().toEqualTypeOf<Session<SessionData>>();
    expectTypeOf<FastifyRequest['session']>().toEqualTypeOf<Session<SessionData>>();
    expectTypeOf<ContextVariableMap['session']>().toEqualTypeOf<Session<SessionData>>();
    expectTypeOf<SessionEnv['Variables']['session']>().toEqualTypeOf<Session<SessionData>>();
    expectTypeOf<SessionRequest['session']>().toEqualTypeOf<Session<SessionData>>();
  });
});

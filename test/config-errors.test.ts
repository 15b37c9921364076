/**
 * Configuration mistakes adopters made, each answered at construction with a specific error
 * that says what is wrong and how to fix it (instead of a misleading one, silence, or a 503 on
 * every request later).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createSealedSessions, memoryRevocationStore } from '../src/core/sealed.js';
import { createSessions, generateKey, TesseraError } from '../src/index.js';
import { memoryStore } from '../src/stores/memory/index.js';
import { redisStore } from '../src/stores/redis/index.js';

/** The error `fn` throws (it must throw a TesseraError). */
function thrown(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TesseraError) return e;
    throw new Error(`not a TesseraError: ${String(e)}`);
  }
  throw new Error('did not throw');
}

const key = () => generateKey('k1');
const store = () => memoryStore();
// The options as a JavaScript app (or one with a loosely typed config object) passes them.
const loose = (o: Record<string, unknown>) =>
  createSessions(o as unknown as Parameters<typeof createSessions>[0]);

describe('the key ring at construction', () => {
  it('says to wrap a single key in a list (keys: generateKey()), not that the ring is empty', () => {
    const e = thrown(() => loose({ store: store(), keys: generateKey() }));
    expect(e.code).toBe('ERR_KEY');
    expect(e.message).toMatch(/one object, not a list/);
    expect(e.message).toContain('keys: [generateKey()]');
    expect(e.message).not.toMatch(/empty/);
  });

  it("says a passphrase is not a key (keys: ['keyboard cat']) without repeating it", () => {
    const e = thrown(() => loose({ store: store(), keys: ['keyboard cat'] }));
    expect(e.code).toBe('ERR_KEY');
    expect(e.message).toMatch(/keys\[0\] is a string, not a key/);
    expect(e.message).not.toMatch(/Key id undefined/);
    expect(e.message).not.toContain('keyboard cat');
    const whole = thrown(() => loose({ store: store(), keys: 'keyboard cat' }));
    expect(whole.code).toBe('ERR_KEY');
    expect(whole.message).toMatch(/keys is a string/);
    expect(whole.message).not.toContain('keyboard cat');
  });

  it('names the position of a key object without an id', () => {
    const { secret, createdAt } = key();
    const e = thrown(() => loose({ store: store(), keys: [key(), { secret, createdAt }] }));
    expect(e.code).toBe('ERR_KEY');
    expect(e.message).toMatch(/keys\[1\] has no id/);
  });

  it('refuses a 64-character hex secret (docs/keys.md says base64 of 32 bytes)', () => {
    const hex = randomBytes(32).toString('hex');
    const e = thrown(() =>
      createSessions({ store: store(), keys: [{ id: 'k1', secret: hex, createdAt: 0 }] }),
    );
    expect(e.code).toBe('ERR_KEY');
    expect(e.message).toMatch(/hex secret \(64 hex digits\)/);
    expect(e.message).toContain("Buffer.from(hex, 'hex').toString('base64')");
    expect(e.message).not.toContain(hex);
    // Its conversion is accepted, as is the same bytes' base64 (what it silently was before).
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    expect(() =>
      createSessions({ store: store(), keys: [{ id: 'k1', secret: b64, createdAt: 0 }] }),
    ).not.toThrow();
  });
});

describe('options.store at construction', () => {
  it('says a store URL string must be opened first, not that the store is missing', () => {
    const e = thrown(() => loose({ store: 'redis://127.0.0.1:6379', keys: [key()] }));
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/options\.store is a string, not a store/);
    expect(e.message).toContain('openStore(url)');
    expect(e.message).not.toMatch(/missing/);
  });

  it('refuses a factory that was not called, a Redis client and a partial object', () => {
    const f = thrown(() => loose({ store: redisStore, keys: [key()] }));
    expect(f.code).toBe('ERR_CONFIG');
    expect(f.message).toMatch(/is a function \(redisStore\), not a store/);
    // An ioredis client has get(): it passed the old check, and every request then failed.
    const client = new Redis({ lazyConnect: true });
    try {
      const c = thrown(() => loose({ store: client, keys: [key()] }));
      expect(c.code).toBe('ERR_CONFIG');
      expect(c.message).toMatch(/not a session store/);
      expect(c.message).toContain('redisStore({ client })');
    } finally {
      client.disconnect();
    }
    const partial = thrown(() =>
      loose({ store: { name: 'x', get: async () => null }, keys: [key()] }),
    );
    expect(partial.code).toBe('ERR_CONFIG');
    expect(partial.message).toMatch(/lacks getByHandle, create/);
    expect(thrown(() => loose({ keys: [key()] })).message).toMatch(/options\.store is missing/);
  });
});

describe('unknown options at construction', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ maxAge: 3_600_000 }, /Unknown option maxAge — did you mean absoluteTimeout/],
    [{ idleTimout: 600 }, /Unknown option idleTimout — did you mean idleTimeout\?/],
    [{ IdleTimeout: 600 }, /did you mean idleTimeout\?/],
    [{ secret: 'keyboard cat' }, /Unknown option secret — did you mean keys\?/],
    [{ name: 'sid' }, /Unknown option name — did you mean cookie\.name\?/],
    [{ resave: false }, /tessera has no resave/],
    [{ saveUninitialized: false }, /tessera has no saveUninitialized/],
    [{ secure: false }, /Unknown option secure — did you mean cookie\.secure\?/],
    [{ cookie: { maxAge: 1000 } }, /Unknown option cookie\.maxAge — .*persistent: true/],
    [{ cookie: { sameSite: 'Lax', httpOnyl: true } }, /did you mean cookie\.httpOnly\?/],
    [{ csrf: { origin: ['https://a.example'] } }, /did you mean csrf\.origins\?/],
    [{ sessionLimit: { maximum: 3 } }, /did you mean sessionLimit\.max\?/],
    [{ csrf: true }, /Option csrf must be an object/],
    [{ zzzzzzzzz: 1 }, /Unknown option zzzzzzzzz; known options: store, keys, /],
  ];
  for (const [extra, message] of cases) {
    it(`refuses ${JSON.stringify(extra)} with ERR_CONFIG naming what to use`, () => {
      const e = thrown(() => loose({ store: store(), keys: [key()], ...extra }));
      expect(e.code).toBe('ERR_CONFIG');
      expect(e.message).toMatch(message);
    });
  }

  it('accepts every documented option, and sealed mode its own revocation option', () => {
    expect(() =>
      createSessions({
        store: store(),
        keys: [key()],
        preset: 'nist-aal2',
        idleTimeout: 600,
        absoluteTimeout: 3600,
        cookie: { name: '__Host-x', sameSite: 'Strict', path: '/' },
        csrf: { enabled: true, origins: ['https://a.example'], headerName: 'x-t' },
        sessionLimit: { max: 3, policy: 'reject' },
        now: Date.now,
      }),
    ).not.toThrow();
    expect(() =>
      createSealedSessions({ keys: [key()], revocation: { store: memoryRevocationStore() } }),
    ).not.toThrow();
    const e = thrown(() =>
      createSealedSessions({ keys: [key()], maxAge: 60 } as unknown as Parameters<
        typeof createSealedSessions
      >[0]),
    );
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/did you mean absoluteTimeout/);
  });
});

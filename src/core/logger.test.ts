import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions } from './engine.js';
import type { KeyInput } from './keys.js';
import { type LogFields, type Logger, logText, TesseraLog } from './logger.js';
import { createSealedSessions } from './sealed.js';
import type { SessionStore } from './types.js';

const K1: KeyInput = { id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 };

interface Line {
  level: string;
  fields: LogFields;
  message: string;
}

function capture(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (fields: LogFields, message: string) => {
    lines.push({ level, fields, message });
  };
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** A memory store whose calls fail while `down` is set. */
function flaky(): { store: SessionStore; down: { on: boolean } } {
  const inner = memoryStore({ sweepIntervalMs: 0 });
  const down = { on: false };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'close') return v;
      return (...args: unknown[]) =>
        down.on
          ? Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:6379'))
          : (v as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return { store, down };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('TesseraLog', () => {
  it('writes pino-shaped lines (fields, then the message) with the tessera prefix', () => {
    const { logger, lines } = capture();
    new TesseraLog(logger).write('warn', { event: 'x', a: 1 }, 'hello');
    expect(lines).toEqual([
      { level: 'warn', fields: { event: 'x', a: 1 }, message: 'tessera: hello' },
    ]);
  });

  it('takes a pino logger as it is: one JSON line with the fields and the message', () => {
    const out: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        out.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const engine = createSessions({
      store: memoryStore(),
      keys: [K1],
      allowInsecure: true,
      logger,
    });
    engine.log.write('info', { event: 'csrf_rejected', reason: 'cross_site' }, 'refused');
    const lines = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, event: 'allow_insecure', cookie: 'tessera' }),
      expect.objectContaining({ level: 30, event: 'csrf_rejected', msg: 'tessera: refused' }),
    ]);
    expect(String(lines[0]!.msg)).toMatch(/^tessera: allowInsecure is on/);
  });

  it('prints one line per call on console, warnings and errors only', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    for (const log of [new TesseraLog(), new TesseraLog(console)]) {
      log.write('warn', { event: 'x' }, 'careful');
      log.write('info', { event: 'x' }, 'routine');
      log.write('error', { event: 'x', err: new Error('boom') }, 'broken');
    }
    expect(warn.mock.calls).toEqual([['tessera: careful'], ['tessera: careful']]);
    expect(info).not.toHaveBeenCalled();
    expect(error.mock.calls.map((c) => c[0])).toEqual(['tessera: broken', 'tessera: broken']);
    expect((error.mock.calls[0]![1] as Error).message).toBe('boom');
  });

  it('logs nothing with logger: false, and survives a logger that throws', () => {
    const quiet = new TesseraLog(false);
    expect(quiet.enabled).toBe(false);
    expect(quiet.once('warn', 'k', { event: 'e' }, 'm')).toBe(false);
    const broken = new TesseraLog({
      warn: () => {
        throw new Error('disk full');
      },
      error: () => {
        throw new Error('disk full');
      },
    });
    expect(() => broken.write('warn', { event: 'e' }, 'm')).not.toThrow();
    expect(() => broken.storeError('ERR_STORE_UNAVAILABLE', 'redis')).not.toThrow();
  });

  it('logs a cause once per logger and process, and stops after 32 causes with one last line', () => {
    const { logger, lines } = capture();
    const a = new TesseraLog(logger);
    const b = new TesseraLog(logger);
    expect(a.once('warn', 'h1', { event: 'flood' }, 'h1')).toBe(true);
    expect(b.once('warn', 'h1', { event: 'flood' }, 'h1')).toBe(false);
    for (let i = 2; i <= 100; i++) a.once('warn', `h${i}`, { event: 'flood' }, `h${i}`);
    expect(lines).toHaveLength(33);
    expect(lines.at(-1)!.message).toMatch(/more causes of "flood" than 32: no longer logged/);
    // Another logger has its own memory.
    const other = capture();
    expect(new TesseraLog(other.logger).once('warn', 'h1', { event: 'flood' }, 'h1')).toBe(true);
  });

  it('rate-limits a repeating line: the first at once, then one count per window, then quiet', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { logger, lines } = capture();
    const log = new TesseraLog(logger, { windowMs: 10_000 });
    for (let i = 0; i < 500; i++)
      log.storeError('ERR_STORE_UNAVAILABLE', 'redis', new Error(`e${i}`));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toBe(
      'tessera: the redis session store failed (ERR_STORE_UNAVAILABLE: e0): requests that need the store get 503 until it recovers.',
    );
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      level: 'error',
      fields: { event: 'store_error', repeated: 499 },
      message: 'tessera: 499 more in the last 10 s (last: ERR_STORE_UNAVAILABLE: e499).',
    });
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    // After a quiet window the next failure is news again.
    log.storeError('ERR_STORE_UNAVAILABLE', 'redis', new Error('again'));
    expect(lines).toHaveLength(3);
    log.close();
  });

  it('keeps outside text to one printable line of at most 200 characters', () => {
    expect(logText('evil.example\r\nX-Injected: 1')).toBe('evil.example??X-Injected: 1');
    expect(logText('a'.repeat(500))).toHaveLength(201);
  });
});

describe('logger option', () => {
  it('refuses a value that is not a logger', () => {
    for (const logger of [{}, 'console', { warn() {} }, null])
      expect(() =>
        createSessions({ store: memoryStore(), keys: [K1], logger: logger as never }),
      ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });

  it('logs store failures once with the cause, then a count, never one line per request', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { logger, lines } = capture();
    const { store, down } = flaky();
    const engine = createSessions({ store, keys: [K1], logger });
    const s = await engine.load({ cookie: undefined, method: 'GET' });
    s.set('a', 1);
    const cookie = (await engine.commit(s)).setCookie!.split(';')[0]!;
    down.on = true;
    for (let i = 0; i < 20; i++)
      await expect(engine.load({ cookie, method: 'GET' })).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      fields: { event: 'store_error', store: 'memory', reason: 'ERR_STORE_UNAVAILABLE' },
    });
    expect(lines[0]!.message).toContain('ECONNREFUSED 10.0.0.5:6379');
    vi.advanceTimersByTime(10_000);
    expect(lines.map((l) => l.fields.repeated)).toEqual([undefined, 19]);
    const text = JSON.stringify(lines);
    expect(text).not.toContain(cookie.split('=')[1]!);
    expect(text).not.toContain(cookie.split('=')[1]!.slice(-20));
    engine.log.close();
  });
});

describe('allowInsecure', () => {
  it('chooses a cookie a browser keeps on plain http, and says so once', async () => {
    const { logger, lines } = capture();
    for (const make of [
      () => createSessions({ store: memoryStore(), keys: [K1], allowInsecure: true, logger }),
      () => createSealedSessions({ keys: [K1], allowInsecure: true, logger }),
    ]) {
      const engine = make();
      expect(engine.cookieName).toBe('tessera');
      const s = await engine.load({ cookie: undefined, method: 'GET' });
      s.set('a', 1);
      const { setCookie } = await engine.commit(s as never);
      expect(setCookie).toMatch(/^tessera=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(setCookie).not.toMatch(/Secure/);
    }
    const said = lines.filter((l) => l.fields.event === 'allow_insecure');
    expect(said).toHaveLength(1);
    expect(said[0]!.level).toBe('warn');
    expect(said[0]!.message).toMatch(/"tessera" without Secure/);
    expect(said[0]!.message).toMatch(/never use it in production/);
    expect(said[0]!.message).toMatch(/trustProxy/);
  });

  it('refuses a Secure or prefixed cookie with it, which could never stick over plain http', () => {
    for (const cookie of [
      { secure: true },
      { name: '__Host-app' },
      { name: '__Secure-app' },
      { name: 'app', secure: true },
    ])
      expect(() =>
        createSessions({ store: memoryStore(), keys: [K1], allowInsecure: true, cookie }),
      ).toThrow(
        expect.objectContaining({
          code: 'ERR_CONFIG',
          message: expect.stringContaining('the session would never stick'),
        }),
      );
    expect(() =>
      createSessions({ store: memoryStore(), keys: [K1], allowInsecure: 'yes' as never }),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });

  it('keeps a cookie the app named, without Secure', () => {
    const engine = createSessions({
      store: memoryStore(),
      keys: [K1],
      allowInsecure: true,
      cookie: { name: 'dev_sid' },
      logger: false,
    });
    expect(engine.cookieName).toBe('dev_sid');
    expect(engine.clearCookie()).not.toMatch(/Secure/);
  });

  it('leaves the secure default alone without it', () => {
    const { logger, lines } = capture();
    const engine = createSessions({ store: memoryStore(), keys: [K1], logger });
    expect(engine.cookieName).toBe('__Host-tessera');
    expect(engine.clearCookie()).toMatch(/; Secure;/);
    expect(lines).toEqual([]);
  });
});

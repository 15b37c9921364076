import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions } from './engine.js';
import type { KeyInput } from './keys.js';
import { createSealedSessions } from './sealed.js';

const K1: KeyInput = { id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 };

type Data = Record<string, unknown>;

describe('data keys (one rule, both modes)', () => {
  it('refuses a __proto__ key in sealed mode, as the server-side engine does', async () => {
    const sealed = createSealedSessions<Data>({ keys: [K1] });
    const engine = createSessions<Data>({ store: memoryStore(), keys: [K1] });
    const a = await sealed.load({ method: 'POST' });
    const b = await engine.load({ method: 'POST' });
    for (const s of [a, b]) {
      for (const write of [
        () => s.set('__proto__', { isAdmin: true }),
        () => s.update('__proto__', () => ({ isAdmin: true })),
        () => s.unset('__proto__'),
      ]) {
        expect(write).toThrow(expect.objectContaining({ code: 'ERR_INVALID_DATA' }));
      }
      s.set('theme', 'dark');
      expect((s.data as Data).isAdmin).toBeUndefined();
      expect(Object.getPrototypeOf(s.data)).toBe(Object.prototype);
    }
    // Nothing was sealed with a changed prototype: the cookie opens to the plain key only.
    const { setCookie } = await sealed.commit(a);
    const value = /=([^;]*)/.exec(setCookie!)![1];
    const again = await sealed.load({ cookie: `__Host-tessera=${value}`, method: 'GET' });
    expect(again.data).toEqual({ theme: 'dark' });
  });
});

describe('re-authentication and the absolute deadline (one rule, both modes)', () => {
  const HOUR = 3_600_000;

  /** Sign alice in at t0, re-authenticate at t0 + 11 h; report the absolute deadline and whether she is signed in at t0 + 13 h. */
  async function scenario(reauthRestartsAbsolute: boolean | undefined) {
    const out: { mode: string; absolute: number | null; at13h: string | null }[] = [];
    const t0 = 1_800_000_000_000;
    for (const mode of ['server', 'sealed'] as const) {
      let t = t0;
      const opts = {
        keys: [K1],
        now: () => t,
        absoluteTimeout: 12 * 3600,
        idleTimeout: 12 * 3600,
        ...(reauthRestartsAbsolute === undefined ? {} : { reauthRestartsAbsolute }),
      };
      const m =
        mode === 'server'
          ? createSessions<Data>({ store: memoryStore({ sweepIntervalMs: 0 }), ...opts })
          : createSealedSessions<Data>(opts);
      let cookie: string | undefined;
      const step = async (fn: (s: { authenticate(u: string): Promise<void> }) => Promise<void>) => {
        const s = await m.load({ cookie, method: 'POST' } as never);
        await fn(s as never);
        const { setCookie } = await m.commit(s as never);
        if (setCookie) cookie = setCookie.split(';')[0];
        return s as unknown as { absoluteExpiresAt: number | null; userId: string | null };
      };
      await step((s) => s.authenticate('alice'));
      t = t0 + 11 * HOUR;
      const re = await step((s) => s.authenticate('alice'));
      t = t0 + 13 * HOUR;
      const later = await step(async () => {});
      out.push({ mode, absolute: re.absoluteExpiresAt, at13h: later.userId });
    }
    return { t0, out };
  }

  it('restarts the absolute deadline on re-authentication by default (SP 800-63B-4 §5.2)', async () => {
    const { t0, out } = await scenario(undefined);
    for (const r of out) {
      expect(r, r.mode).toEqual({ mode: r.mode, absolute: t0 + 23 * HOUR, at13h: 'alice' });
    }
  });

  it('keeps the sign-in deadline when reauthRestartsAbsolute is false', async () => {
    const { t0, out } = await scenario(false);
    for (const r of out) {
      expect(r, r.mode).toEqual({ mode: r.mode, absolute: t0 + 12 * HOUR, at13h: null });
    }
  });

  it('refuses a reauthRestartsAbsolute that is not a boolean', () => {
    expect(() =>
      createSealedSessions({ keys: [K1], reauthRestartsAbsolute: 'no' as unknown as boolean }),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });
});

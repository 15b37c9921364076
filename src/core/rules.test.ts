import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions } from './engine.js';
import type { KeyInput } from './keys.js';
import { idleDeadline, isFresh, keepData, touchDue, verifyCSRFWith } from './rules.js';
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

describe('the last touch up to the absolute deadline (one rule, both modes)', () => {
  // idle 1800 s, absolute 3600 s, touch fraction 0.1 (180 s). A sign-in at 0; a use at 1650 moves
  // the idle deadline to 3450; a use at 3400 would move it by only 150 s (to the cap, 3600): under
  // the touch fraction, yet the one touch that lets an active session live to its absolute deadline.
  const S = 1000;
  const table: {
    title: string;
    uses: number[];
    at: number;
    user: string | null;
    touches: number;
  }[] = [
    {
      title: 'lives to its absolute deadline when used just short of it',
      uses: [1650, 3400],
      at: 3570,
      user: 'alice',
      touches: 2,
    },
    {
      title: 'ends at the absolute deadline',
      uses: [1650, 3400],
      at: 3600,
      user: null,
      touches: 2,
    },
    {
      title: 'writes the last touch once: a use at the cap writes nothing',
      uses: [1650, 3400, 3500],
      at: 3570,
      user: 'alice',
      touches: 2,
    },
    {
      title: 'ends at the idle deadline when not used near the cap',
      uses: [1650],
      at: 3460,
      user: null,
      touches: 1,
    },
  ];

  for (const row of table) {
    for (const mode of ['server', 'sealed'] as const) {
      it(`${row.title} (${mode})`, async () => {
        const t0 = 1_800_000_000_000;
        let t = t0;
        const opts = { keys: [K1], now: () => t, idleTimeout: 1800, absoluteTimeout: 3600 };
        const m =
          mode === 'server'
            ? createSessions<Data>({ store: memoryStore({ sweepIntervalMs: 0 }), ...opts })
            : createSealedSessions<Data>(opts);
        let touches = 0;
        m.on('touched', () => {
          touches++;
        });
        let cookie: string | undefined;
        const step = async (method: string, fn: (s: never) => Promise<void>) => {
          const s = await m.load({ cookie, method } as never);
          await fn(s as never);
          const { setCookie } = await m.commit(s as never);
          if (setCookie) cookie = setCookie.split(';')[0];
          return s as unknown as { userId: string | null };
        };
        await step('POST', (s: { authenticate(u: string): Promise<void> }) =>
          s.authenticate('alice'),
        );
        for (const at of row.uses) {
          t = t0 + at * S;
          await step('GET', async () => {});
        }
        t = t0 + row.at * S;
        const last = await step('GET', async () => {});
        expect({ user: last.userId, touches }).toEqual({ user: row.user, touches: row.touches });
      });
    }
  }
});

describe('rules', () => {
  it('keepData copies, and keeps only own keys of the data', () => {
    const data = { cart: [1], theme: 'dark' };
    const all = keepData(data, 'all');
    expect(all).toEqual(data);
    expect(all).not.toBe(data);
    expect(keepData(data, 'none')).toEqual({});
    // Inherited names are never copied in (no prototype key reaches the new data).
    const kept = keepData(data, ['cart', 'toString', '__proto__', 'constructor']);
    expect(kept).toEqual({ cart: [1] });
    expect(Object.keys(kept)).toEqual(['cart']);
  });

  it('touchDue moves the deadline past the touch fraction, and once more to the absolute cap', () => {
    const o = { idleMs: 1800, touchMs: 180 };
    const at = (idleExpiresAt: number, now: number) =>
      touchDue(o, now, { idleExpiresAt, absoluteExpiresAt: 3600 });
    expect(at(1800, 100)).toBe(false); // moves 100 ≤ 180
    expect(at(1800, 181)).toBe(true); // moves 181
    expect(at(3450, 3400)).toBe(true); // reaches the cap: the last touch
    expect(at(3600, 3500)).toBe(false); // already at the cap
    expect(idleDeadline(o, 3400, 3600)).toBe(3600);
  });

  it('isFresh needs a sign-in within maxAge seconds', () => {
    expect(isFresh(null, 1000, 60)).toBe(false);
    expect(isFresh(1000, 61_000, 60)).toBe(true);
    expect(isFresh(1000, 61_001, 60)).toBe(false);
  });

  it('verifyCSRFWith runs the header half before the token check, and reports in reportOnly', () => {
    const policy = {
      enabled: true,
      origins: new Set<string>(),
      allowSameSite: false,
      reportOnly: false,
    };
    const rejected: string[] = [];
    const run = (req: { method: string; secFetchSite?: string }, presented?: string) =>
      verifyCSRFWith(
        policy,
        req,
        presented,
        (t) => (t === 'good' ? null : 'bad_token'),
        (r) => rejected.push(r),
      );
    expect(run({ method: 'GET' })).toEqual({ ok: true });
    expect(run({ method: 'POST', secFetchSite: 'cross-site' }, 'good')).toEqual({
      ok: false,
      reason: 'cross_site',
    });
    expect(run({ method: 'POST' })).toEqual({ ok: false, reason: 'missing_token' });
    expect(run({ method: 'POST' }, 'forged')).toEqual({ ok: false, reason: 'bad_token' });
    expect(run({ method: 'POST' }, 'good')).toEqual({ ok: true });
    expect(
      verifyCSRFWith(
        { ...policy, reportOnly: true },
        { method: 'POST' },
        'x',
        () => 'bad_token',
        (r) => rejected.push(r),
      ),
    ).toEqual({ ok: true });
    expect(rejected).toEqual(['cross_site', 'missing_token', 'bad_token', 'bad_token']);
  });
});

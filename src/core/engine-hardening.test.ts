/**
 * Hardening tests of the server-side engine: each attacks one seam named in the hardening issue.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions, type Session, type SessionManager } from './engine.js';
import type { SessionEvent } from './events.js';
import type { KeyInput } from './keys.js';
import type { SessionsOptions } from './options.js';
import { createSealedSessions } from './sealed.js';

const key = (id: string): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt: 0,
});
const K1 = key('k1');

type Data = Record<string, unknown>;

function setup(opts: Partial<SessionsOptions<Data>> = {}) {
  let t = 1_800_000_000_000;
  const clock = {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
  const store = memoryStore({ sweepIntervalMs: 0 });
  const events: SessionEvent[] = [];
  const engine = createSessions<Data>({ store, keys: [K1], now: clock.now, ...opts });
  engine.on('*', (e) => events.push(e));
  return { engine, clock, events, store };
}

async function request(
  engine: SessionManager<Data>,
  token: string | null,
  method = 'GET',
  fn?: (s: Session<Data>) => Promise<void> | void,
  ip = '127.0.0.1',
) {
  const s = await engine.load({
    cookie: token ? `__Host-tessera=${token}` : undefined,
    method,
    userAgent: 'test-agent',
    ip,
  });
  if (fn) await fn(s);
  const r = await engine.commit(s);
  const m = r.setCookie ? /^__Host-tessera=([^;]+)/.exec(r.setCookie) : null;
  return { s, ...r, token: m ? m[1]! : null };
}

async function signedIn(engine: SessionManager<Data>, userId: string): Promise<string> {
  const r = await request(engine, null, 'POST', async (s) => {
    s.set('n', 1);
    await s.authenticate(userId);
  });
  return r.token!;
}

/** Replace character `i` by a non-ASCII one with the same low byte (what a latin1 read keeps). */
function spoof(token: string, i: number): string {
  return token.slice(0, i) + String.fromCharCode(0x100 + token.charCodeAt(i)) + token.slice(i + 1);
}

describe('CSRF token comparison', () => {
  it('refuses U+01xx spellings of a valid synchronizer token, in every position', async () => {
    const { engine } = setup();
    const token = await signedIn(engine, 'alice');
    const s = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' });
    const good = s.csrfToken();
    expect(engine.checkCSRF(s, { method: 'POST' }, good)).toEqual({ ok: true });
    for (let i = good.indexOf('.') + 1; i < good.length; i++) {
      expect(engine.checkCSRF(s, { method: 'POST' }, spoof(good, i))).toEqual({
        ok: false,
        reason: 'bad_token',
      });
    }
  });

  it('refuses U+01xx spellings of a valid double-submit token (sealed mode)', async () => {
    const sealed = createSealedSessions<Data>({ keys: [K1] });
    const s = await sealed.load({ method: 'POST' });
    const good = s.csrfToken();
    expect(sealed.checkCSRF(s, { method: 'POST' }, good)).toEqual({ ok: true });
    for (let i = 0; i < good.length; i++) {
      expect(sealed.checkCSRF(s, { method: 'POST' }, spoof(good, i)).ok).toBe(false);
    }
  });
});

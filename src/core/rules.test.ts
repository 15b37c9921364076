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

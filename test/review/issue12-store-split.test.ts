/**
 * Review of issue 12 (store contract split): `KeyValueStore` is now optional for a store, yet
 * `revocationStoreFrom(store)` accepts any object and only calls `kvGet` at the first load of a
 * signed-in sealed session. A store that implements `SessionStore` alone (the docs' own
 * "write your own store" example) then turns EVERY signed-in request into a 503 (a TypeError
 * reported as ERR_STORE_UNAVAILABLE), instead of being refused with ERR_CONFIG when the app starts.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mapStore } from '../../examples/custom-store.js';
import { createSealedSessions, revocationStoreFrom } from '../../src/core/sealed.js';

const K1 = { id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 };

describe('review issue 12: a SessionStore without the key-value space', () => {
  it('revocationStoreFrom refuses a store without kvGet/kvSet at construction (ERR_CONFIG), not with a 503 per request', async () => {
    const store = mapStore();
    let thrown: unknown;
    let sessions: ReturnType<typeof createSealedSessions> | undefined;
    try {
      sessions = createSealedSessions({
        keys: [K1],
        // A JavaScript caller (or `as any`) is not stopped by the Pick<KeyValueStore> type.
        revocation: { store: revocationStoreFrom(store as never) },
      });
    } catch (e) {
      thrown = e;
    }
    if (sessions) {
      // Today: construction succeeds; sign in, then the next load of the signed-in seal fails.
      const s = await sessions.load({ method: 'POST' });
      await s.authenticate('alice');
      const { setCookie } = await sessions.commit(s);
      const cookie = setCookie!.slice(0, setCookie!.indexOf(';'));
      try {
        await sessions.load({ method: 'GET', cookie });
      } catch (e) {
        thrown = e;
      }
    }
    expect((thrown as { code?: string } | undefined)?.code).toBe('ERR_CONFIG');
  });
});

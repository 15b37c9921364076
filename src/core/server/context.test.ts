import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryStore } from '../../stores/memory/index.js';
import { KeyRing } from '../keys.js';
import { resolveOptions } from '../options.js';
import * as token from '../token.js';
import type { SessionStore } from '../types.js';
import { ServerContext } from './context.js';

// Count the HMACs behind the slot tags (the real function answers).
vi.mock('../token.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../token.js')>();
  return { ...real, slotTagFor: vi.fn(real.slotTagFor) };
});

const key = (id: string, createdAt: number) => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt,
});

/** A context over a store that asks for slot tags, as the Redis store does. */
function contextOn(ring: KeyRing): ServerContext {
  const store = Object.assign(memoryStore({ sweepIntervalMs: 0 }), {
    slotTags: true,
  }) as SessionStore;
  return new ServerContext(resolveOptions({ store, keys: ring }), {
    emit: () => {},
    clockAllowance: () => 0,
    resyncClock: async () => false,
  });
}

/** A signed-in record of `userId` whose id carries `tag`. */
const recordOf = (userId: string, tag: string) => ({
  kind: 'live' as const,
  id: `${tag}.${randomBytes(32).toString('base64url')}`,
  handle: `${tag}.${randomBytes(16).toString('base64url')}`,
  userId,
  createdAt: 0,
  lastSeenAt: 0,
  authenticatedAt: 0,
  idleExpiresAt: 1,
  absoluteExpiresAt: 1,
  createdIp: null,
  createdUserAgent: null,
  lastIp: null,
  lastUserAgent: null,
  version: 1,
  data: '',
});

describe('ServerContext slot tags', () => {
  afterEach(() => {
    vi.mocked(token.slotTagFor).mockClear();
  });

  it("computes a user's slot tag once, and judges strayed records as before", () => {
    const ring = new KeyRing([key('k1', 0)]);
    const ctx = contextOn(ring);
    const tagFor = vi.mocked(token.slotTagFor);
    for (const userId of ['alice', 'bob', 'Zoë 🦊']) {
      const tag = tagFor(ring, userId);
      const right = recordOf(userId, tag);
      const wrong = recordOf(userId, tag === 'AAAA' ? 'BBBB' : 'AAAA');
      tagFor.mockClear();
      for (let i = 0; i < 5; i++) {
        expect(ctx.strayed(right)).toBe(false);
        expect(ctx.strayed(wrong)).toBe(true);
      }
      expect(tagFor).toHaveBeenCalledTimes(1);
      // A sign-in mints the user's id with the same tag, without another HMAC.
      expect(token.tagOfId(ctx.mint(userId).parsed.id)).toBe(tag);
      expect(tagFor).toHaveBeenCalledTimes(1);
    }
  });

  it('remembers a bounded number of users, and still answers right for the others', () => {
    const ring = new KeyRing([key('k1', 0)]);
    const ctx = contextOn(ring);
    const users = Array.from({ length: 10_050 }, (_, i) => `user-${i}`);
    for (const u of users) ctx.slotTag(u);
    const tagFor = vi.mocked(token.slotTagFor);
    tagFor.mockClear();
    // The first 50 were dropped to keep 10,000: asked again, they cost an HMAC each.
    for (const u of users.slice(0, 50)) expect(ctx.slotTag(u)).toBe(tagFor(ring, u));
    expect(tagFor).toHaveBeenCalledTimes(100);
    tagFor.mockClear();
    for (const u of users.slice(-100)) ctx.slotTag(u);
    expect(tagFor).toHaveBeenCalledTimes(0);
  });

  it('keeps tags through a key rotation, and forgets them for a ring with another slot subkey', () => {
    const k1 = key('k1', 0);
    const ring = new KeyRing([k1]);
    const ctx = contextOn(ring);
    const tag = ctx.slotTag('alice');
    // A new primary key leaves the oldest key, and so the tag, as it was.
    const rotated = new KeyRing([key('k2', 1), k1]);
    expect(token.slotTagFor(rotated, 'alice')).toBe(tag);
    // Options naming a ring whose oldest key is another: the remembered tag is not used.
    const other = new KeyRing([key('k3', 0)]);
    (ctx.options as { ring: KeyRing }).ring = other;
    expect(ctx.slotTag('alice')).toBe(token.slotTagFor(other, 'alice'));
    (ctx.options as { ring: KeyRing }).ring = ring;
    expect(ctx.slotTag('alice')).toBe(tag);
  });
});

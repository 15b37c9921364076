import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyRing } from './keys.js';
import { mintToken, newHandle, slotTagFor, storeKey, verifyToken } from './token.js';

const secret = () => randomBytes(32).toString('base64');
const ring = new KeyRing([{ id: 'k1', secret: secret(), createdAt: 0 }]);

describe('tokens', () => {
  it('carries 256 bits of randomness and verifies, with kind, key id and tag', () => {
    const { token, parsed } = mintToken(ring, 's', 'abc123');
    expect(token).toMatch(/^s\.k1\.abc123\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
    expect(verifyToken(ring, token)).toEqual(parsed);
    expect(parsed.secret).toBe(token.split('.')[3]);
    expect(parsed.id).toBe(`abc123.${storeKey(token, '').split('.').pop()}`);
    expect(parsed.id).not.toContain(token.split('.')[3]);
  });

  it('never repeats (10,000 draws)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) seen.add(mintToken(ring, 's').token);
    expect(seen.size).toBe(10_000);
  });

  it('rejects every single-character change of a valid token', () => {
    const { token } = mintToken(ring, 's', 'tg');
    fc.assert(
      fc.property(
        fc.nat(token.length - 1),
        fc.constantFrom(...'ABCabc019-_.'.split('')),
        (i, c) => {
          fc.pre(token[i] !== c);
          const t = token.slice(0, i) + c + token.slice(i + 1);
          expect(typeof verifyToken(ring, t)).toBe('string');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never throws and never accepts arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        expect(typeof verifyToken(ring, s)).toBe('string');
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses a token under another ring, and a retired key as unknown_key', () => {
    const other = new KeyRing([{ id: 'k1', secret: secret(), createdAt: 0 }]);
    const { token } = mintToken(other, 's');
    expect(verifyToken(ring, token)).toBe('bad_mac');
    const k2 = new KeyRing([{ id: 'k2', secret: secret(), createdAt: 0 }]);
    expect(verifyToken(ring, mintToken(k2, 's').token)).toBe('unknown_key');
  });

  it('verifies tokens of every key in the ring, minting with the first (rotation)', () => {
    const a = { id: 'a', secret: secret(), createdAt: 0 };
    const b = { id: 'b', secret: secret(), createdAt: 1 };
    const old = new KeyRing([a]);
    const rotated = new KeyRing([b, a]);
    const t = mintToken(old, 's').token;
    expect(typeof verifyToken(rotated, t)).toBe('object');
    expect(mintToken(rotated, 's').token.startsWith('s.b.')).toBe(true);
  });

  it('derives stable, keyed slot tags and random handles', () => {
    expect(slotTagFor(ring, 'alice')).toMatch(/^[A-Za-z0-9_-]{4}$/);
    expect(slotTagFor(ring, 'alice')).toBe(slotTagFor(ring, 'alice'));
    expect(slotTagFor(ring, 'alice')).not.toBe(slotTagFor(ring, 'bob'));
    // Keyed: another ring gives another tag; the oldest key decides, so rotation keeps it.
    const a = { id: 'a', secret: secret(), createdAt: 0 };
    const b = { id: 'b', secret: secret(), createdAt: 1 };
    expect(slotTagFor(new KeyRing([a]), 'alice')).not.toBe(slotTagFor(ring, 'alice'));
    for (const r of [
      [a, b],
      [b, a],
    ]) {
      expect(slotTagFor(new KeyRing(r), 'alice')).toBe(slotTagFor(new KeyRing([a]), 'alice'));
    }
    expect(newHandle()).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newHandle()).not.toBe(newHandle());
  });
});

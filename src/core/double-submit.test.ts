import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { csrfTokenFor } from './csrf.js';
import { signDoubleSubmit, verifyDoubleSubmit } from './double-submit.js';
import { type KeyInput, KeyRing } from './keys.js';

const key = (id: string): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt: 0,
});
const K1 = key('k1');
const K2 = key('k2');
const ring = new KeyRing([K1]);

describe('signed double-submit token', () => {
  it('verifies for its binding, with a fresh nonce per token', () => {
    const a = signDoubleSubmit(ring, 'session-a');
    const b = signDoubleSubmit(ring, 'session-a');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^k1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(verifyDoubleSubmit(ring, 'session-a', a)).toBe(true);
    expect(verifyDoubleSubmit(ring, 'session-a', b)).toBe(true);
  });

  it('refuses a token of another session, including near-miss bindings', () => {
    const t = signDoubleSubmit(ring, 'handle.binding');
    for (const other of ['handle.bindin', 'handle.bindingx', 'Handle.binding', 'other', ' ']) {
      expect(verifyDoubleSubmit(ring, other, t)).toBe(false);
    }
    expect(verifyDoubleSubmit(ring, '', t)).toBe(false);
    expect(() => signDoubleSubmit(ring, '')).toThrow(TypeError);
  });

  it('refuses a forged token: any changed character, a swapped nonce, a foreign key', () => {
    const binding = 'handle.binding';
    const t = signDoubleSubmit(ring, binding);
    for (let i = 0; i < t.length; i++) {
      const ch = t[i] === 'A' ? 'B' : 'A';
      expect(
        verifyDoubleSubmit(ring, binding, t.slice(0, i) + ch + t.slice(i + 1)),
        `char ${i}`,
      ).toBe(false);
    }
    const [kid, , mac] = t.split('.');
    const otherNonce = signDoubleSubmit(ring, binding).split('.')[1];
    expect(verifyDoubleSubmit(ring, binding, `${kid}.${otherNonce}.${mac}`)).toBe(false);
    const foreign = signDoubleSubmit(new KeyRing([key('k1')]), binding);
    expect(verifyDoubleSubmit(ring, binding, foreign)).toBe(false);
    for (const junk of ['', '.', 'k1..', `${t}.`, `.${t}`, `${t} `, t.repeat(2), 'k1.x.y']) {
      expect(verifyDoubleSubmit(ring, binding, junk)).toBe(false);
    }
  });

  it('is not interchangeable with the synchronizer token for the same binding', () => {
    expect(verifyDoubleSubmit(ring, 'b', csrfTokenFor(ring, 'b'))).toBe(false);
  });

  it('survives a key rotation and dies with the retired key', () => {
    const old = signDoubleSubmit(new KeyRing([K1]), 'b');
    expect(verifyDoubleSubmit(new KeyRing([K2, K1]), 'b', old)).toBe(true);
    expect(signDoubleSubmit(new KeyRing([K2, K1]), 'b')).toMatch(/^k2\./);
    expect(verifyDoubleSubmit(new KeyRing([K2]), 'b', old)).toBe(false);
  });

  it('never accepts a random string (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (s) => !verifyDoubleSubmit(ring, 'b', s)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (n, m) =>
          !verifyDoubleSubmit(
            ring,
            'b',
            `k1.${Buffer.from(n).toString('base64url')}.${Buffer.from(m).toString('base64url')}`,
          ),
      ),
      { numRuns: 2000 },
    );
  });
});

import { createDecipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aeadOpen,
  aeadSeal,
  decodeBase64,
  deriveKey,
  hmac,
  isCanonicalBase64url,
  randomToken,
  safeEqual,
  sha256,
} from './crypto.js';

describe('crypto', () => {
  it('matches the RFC 4231 HMAC-SHA256 test case 2 and FIPS 180-2 SHA-256 "abc"', () => {
    const mac = hmac(Buffer.from('Jefe'), 'what do ya want for nothing?');
    expect(Buffer.from(mac, 'base64url').toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(Buffer.from(sha256('abc'), 'base64url').toString('hex')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('matches the RFC 5869 HKDF-SHA256 test case 3 (first 32 bytes), and separates purposes', () => {
    const ikm = Buffer.alloc(22, 0x0b);
    expect(deriveKey(ikm, '', '').toString('hex')).toBe(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d',
    );
    expect(deriveKey(ikm, 'tessera/token').equals(deriveKey(ikm, 'tessera/csrf'))).toBe(false);
  });

  it('seals with AES-256-GCM in the iv ‖ ct ‖ tag layout that a standard decipher opens', () => {
    const key = Buffer.alloc(32, 7);
    const sealed = aeadSeal(key, 'héllo', 'aad');
    const raw = Buffer.from(sealed, 'base64url');
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    d.setAAD(Buffer.from('aad'));
    d.setAuthTag(raw.subarray(raw.length - 16));
    expect(Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString()).toBe(
      'héllo',
    );
    expect(aeadOpen(key, sealed, 'aad')).toBe('héllo');
  });

  it('opens nothing after any one-byte change, under another aad or key, or in a non-canonical spelling', () => {
    const key = Buffer.alloc(32, 9);
    const sealed = aeadSeal(key, '{"a":1}', 'h1');
    const raw = Buffer.from(sealed, 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const t = Buffer.from(raw);
      t[i]! ^= 0x01;
      expect(aeadOpen(key, t.toString('base64url'), 'h1')).toBeNull();
    }
    expect(aeadOpen(key, sealed, 'h2')).toBeNull();
    expect(aeadOpen(Buffer.alloc(32, 8), sealed, 'h1')).toBeNull();
    expect(aeadOpen(key, `${sealed}!`, 'h1')).toBeNull();
    expect(aeadOpen(key, `${sealed.slice(0, 10)}\n${sealed.slice(10)}`, 'h1')).toBeNull();
    expect(aeadOpen(key, 'short', 'h1')).toBeNull();
  });

  it('draws fresh randomness every time and decodes only canonical base64', () => {
    const seen = new Set(Array.from({ length: 5000 }, () => randomToken(32)));
    expect(seen.size).toBe(5000);
    expect(aeadSeal(Buffer.alloc(32), 'x', '')).not.toBe(aeadSeal(Buffer.alloc(32), 'x', ''));
    expect(decodeBase64(Buffer.alloc(32, 1).toString('base64'))?.length).toBe(32);
    expect(decodeBase64('AQ==')?.length).toBe(1);
    expect(decodeBase64('AR==')).toBeNull();
    expect(decodeBase64('not base64!')).toBeNull();
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'ab')).toBe(false);
  });
});

describe('isCanonicalBase64url', () => {
  it('agrees with decoding and re-encoding (the check it replaces) on any string', () => {
    const b64ish = fc
      .array(fc.constantFrom(...'AQgw_-+/=Zz09 \n.!é'.split('')), { maxLength: 40 })
      .map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(b64ish, fc.string({ maxLength: 40 })), (s) => {
        expect(isCanonicalBase64url(s)).toBe(
          Buffer.from(s, 'base64url').toString('base64url') === s,
        );
      }),
      { numRuns: 5000 },
    );
  });

  it('makes aeadOpen refuse a seal whose last character has unused bits set, or padding', () => {
    const key = Buffer.alloc(32, 3);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const text of ['a', 'ab', 'abc']) {
      const sealed = aeadSeal(key, text, 'x');
      expect(aeadOpen(key, sealed, 'x')).toBe(text);
      expect(aeadOpen(key, `${sealed}=`, 'x')).toBeNull();
      const last = alphabet.indexOf(sealed.at(-1)!);
      if (sealed.length % 4 === 0) continue;
      // Every other spelling that Node decodes to the same bytes.
      for (let bits = 1; bits < (sealed.length % 4 === 2 ? 16 : 4); bits++) {
        const respelled = sealed.slice(0, -1) + alphabet[last | bits];
        expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(sealed, 'base64url'));
        expect(aeadOpen(key, respelled, 'x')).toBeNull();
      }
    }
  });
});

describe('safeEqual', () => {
  it('refuses non-ASCII spellings whose low bytes equal the expected string', () => {
    const good = 'AbC-_9';
    expect(safeEqual(good, good)).toBe(true);
    for (let i = 0; i < good.length; i++) {
      // U+01xx and U+FFxx carry the same low byte as the ASCII character they replace.
      for (const high of [0x100, 0xff00]) {
        const spoof =
          good.slice(0, i) + String.fromCharCode(high + good.charCodeAt(i)) + good.slice(i + 1);
        expect(safeEqual(spoof, good)).toBe(false);
        expect(safeEqual(good, spoof)).toBe(false);
      }
    }
    expect(safeEqual('\u00e9', '\u00e9')).toBe(false);
    expect(safeEqual('ab', 'abc')).toBe(false);
  });
});

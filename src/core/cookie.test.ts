import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertCookieConfig,
  findCookie,
  MAX_COOKIE_BYTES,
  parseCookies,
  serializeCookie,
} from './cookie.js';

const octet = fc.constantFrom(
  ..."!#$%&'()*+-./0123456789:<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~".split(
    '',
  ),
);
const value = fc.array(octet, { maxLength: 200 }).map((a) => a.join(''));
const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);

describe('findCookie', () => {
  it('finds a serialized cookie among arbitrary others (round trip)', () => {
    fc.assert(
      fc.property(
        name,
        value,
        fc.array(fc.tuple(name, value), { maxLength: 8 }),
        (n, v, others) => {
          const rest = others.filter(([o]) => o !== n);
          const parts = [...rest.map(([o, ov]) => `${o}=${ov}`)];
          parts.splice(Math.floor(parts.length / 2), 0, serializeCookie(n, v).split(';')[0]!);
          const got = findCookie(parts.join('; '), n);
          expect(got).toEqual({
            kind: 'one',
            value: v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v,
          });
        },
      ),
    );
  });

  it('never throws on any header string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500 }), name, (h, n) => {
        const r = findCookie(h, n);
        expect(['absent', 'one', 'duplicate', 'invalid']).toContain(r.kind);
        parseCookies(h);
      }),
    );
  });

  it('reports a repeated name as duplicate, whatever the values', () => {
    fc.assert(
      fc.property(name, value, value, (n, a, b) => {
        expect(findCookie(`${n}=${a}; x=1; ${n}=${b}`, n).kind).toBe('duplicate');
      }),
    );
  });

  it('is exact about names: a prefix or suffix is another cookie', () => {
    expect(findCookie('__Host-tesseraX=1; X__Host-tessera=2', '__Host-tessera').kind).toBe(
      'absent',
    );
    expect(findCookie(' __Host-tessera = v ', '__Host-tessera')).toEqual({
      kind: 'one',
      value: 'v',
    });
  });

  it('refuses oversized values and characters outside cookie-octet', () => {
    expect(findCookie(`a=${'x'.repeat(MAX_COOKIE_BYTES)}`, 'a').kind).toBe('invalid');
    for (const bad of ['a b', 'a\\b', 'a,b', '\u00e9', 'a"b'])
      expect(findCookie(`n=${bad}`, 'n').kind).toBe('invalid');
  });
});

describe('serializeCookie', () => {
  it('writes secure defaults', () => {
    expect(serializeCookie('__Host-s', 'v')).toBe(
      '__Host-s=v; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
    expect(serializeCookie('s', 'v', { maxAge: 60, sameSite: 'Strict', httpOnly: false })).toBe(
      's=v; Path=/; Max-Age=60; Secure; SameSite=Strict',
    );
  });

  it('refuses values a cookie cannot carry instead of truncating', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 50 }).filter((s) => /[\s;,"\\\u0080-\uffff]/.test(s)),
        (v) => {
          expect(() => serializeCookie('n', v)).toThrow(
            expect.objectContaining({ code: 'ERR_DATA_TOO_LARGE' }),
          );
        },
      ),
    );
    expect(() => serializeCookie('n', 'x'.repeat(MAX_COOKIE_BYTES))).toThrow();
  });
});

describe('assertCookieConfig', () => {
  it('refuses insecure prefix combinations (RFC 6265bis §4.1.3)', () => {
    expect(() => assertCookieConfig('__Host-a', { domain: 'example.com' })).toThrow(/Domain/);
    expect(() => assertCookieConfig('__Host-a', { path: '/app' })).toThrow(/Path/);
    expect(() => assertCookieConfig('__Host-a', { secure: false })).toThrow(/Secure/);
    expect(() => assertCookieConfig('__Secure-a', { secure: false })).toThrow(/Secure/);
    expect(() => assertCookieConfig('a b', {})).toThrow(/token/);
    expect(() => assertCookieConfig('a', { path: '/x;Domain=evil' })).toThrow(/path/);
    expect(() => assertCookieConfig('__Host-a', {})).not.toThrow();
  });
});

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

/**
 * The pair-by-pair parser findCookie replaced (it split the header at every `;`), kept as the
 * oracle the jumping one must agree with on every header.
 */
function splittingFindCookie(header: string | undefined, n: string): ReturnType<typeof findCookie> {
  if (!header) return { kind: 'absent' };
  const white = (c: number) => c === 32 || c === 9;
  let found: string | undefined;
  let count = 0;
  let from = 0;
  const len = header.length;
  while (from < len) {
    let end = header.indexOf(';', from);
    if (end === -1) end = len;
    let s = from;
    while (s < end && white(header.charCodeAt(s))) s++;
    const eq = header.indexOf('=', s);
    if (eq !== -1 && eq < end) {
      let ne = eq;
      while (ne > s && white(header.charCodeAt(ne - 1))) ne--;
      if (ne - s === n.length && header.startsWith(n, s)) {
        count++;
        let vs = eq + 1;
        let ve = end;
        while (vs < ve && white(header.charCodeAt(vs))) vs++;
        while (ve > vs && white(header.charCodeAt(ve - 1))) ve--;
        if (ve - vs >= 2 && header.charCodeAt(vs) === 34 && header.charCodeAt(ve - 1) === 34) {
          vs++;
          ve--;
        }
        found = header.slice(vs, ve);
      }
    }
    from = end + 1;
  }
  if (count === 0 || found === undefined) return { kind: 'absent' };
  if (count > 1) return { kind: 'duplicate' };
  for (let i = 0; i < found.length; i++) {
    const c = found.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x2c || c === 0x3b || c === 0x5c)
      return { kind: 'invalid' };
  }
  if (found.length + n.length > MAX_COOKIE_BYTES) return { kind: 'invalid' };
  return { kind: 'one', value: found };
}

describe('findCookie against name-confusion attacks', () => {
  const N = '__Host-tessera';

  it('agrees with the pair-by-pair parser on headers built from the name, separators and whitespace', () => {
    // Pieces an attacker can arrange: the name and its parts, `;`, `=`, quotes, SP, HTAB, a
    // longer name around it, and values.
    const piece = fc.constantFrom(
      N,
      '__Host-',
      'tessera',
      'X',
      ';',
      '; ',
      '=',
      ' ',
      '\t',
      '"',
      'v1.k.AAAA',
      'a',
      ',',
      '\\',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 24 }), (parts) => {
        const h = parts.join('');
        expect(findCookie(h, N)).toEqual(splittingFindCookie(h, N));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with the pair-by-pair parser on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.constantFrom('a', 'ab', N), (h, n) => {
        expect(findCookie(h, n)).toEqual(splittingFindCookie(h, n));
        const planted = `${h}; ${n}=v`;
        expect(findCookie(planted, n)).toEqual(splittingFindCookie(planted, n));
      }),
      { numRuns: 2000 },
    );
  });

  it('does not take the name as the end of a longer name', () => {
    expect(findCookie(`X${N}=evil`, N).kind).toBe('absent');
    expect(findCookie(`a=1; X${N}=evil`, N).kind).toBe('absent');
    expect(findCookie(`X${N}=evil; ${N}=good`, N)).toEqual({ kind: 'one', value: 'good' });
    expect(findCookie(`${N}=good; __Secure-${N}=evil`, N)).toEqual({ kind: 'one', value: 'good' });
  });

  it('does not take the name as the start of a longer name', () => {
    expect(findCookie(`${N}X=evil; ${N}2=e`, N).kind).toBe('absent');
    expect(findCookie(`${N}X=evil; ${N}=good`, N)).toEqual({ kind: 'one', value: 'good' });
  });

  it('does not take the name inside a value', () => {
    expect(findCookie(`a=${N}=evil`, N).kind).toBe('absent');
    expect(findCookie(`a= ${N}=evil`, N).kind).toBe('absent');
    expect(findCookie(`a="${N}=evil"`, N).kind).toBe('absent');
    expect(findCookie(`a=x${N}=evil; ${N}=good`, N)).toEqual({ kind: 'one', value: 'good' });
    expect(findCookie(`${N}=good; b=${N}=evil`, N)).toEqual({ kind: 'one', value: 'good' });
    // A value holding the name twice does not make the real one a duplicate.
    expect(findCookie(`${N}=${N}${N}`, N)).toEqual({ kind: 'one', value: `${N}${N}` });
  });

  it('does not take a pair without "=" as the cookie', () => {
    expect(findCookie(N, N).kind).toBe('absent');
    expect(findCookie(`${N}; a=1`, N).kind).toBe('absent');
    expect(findCookie(`a=1; ${N} ; b=${N}`, N).kind).toBe('absent');
    expect(findCookie(`${N}; ${N}=good`, N)).toEqual({ kind: 'one', value: 'good' });
  });

  it('reports duplicates wherever they stand, with any whitespace', () => {
    for (const h of [
      `${N}=a; ${N}=b`,
      `${N}=a;${N}=b`,
      `${N}=a;\t${N} =b`,
      `x=1; ${N}=a; y=2; ${N}=a`,
      `${N}=; ${N}=b`,
      ` ${N} = a ;  ${N}\t=\tb `,
    ])
      expect(findCookie(h, N).kind).toBe('duplicate');
  });

  it('reads the value with the same whitespace and quoting rules', () => {
    for (const [h, v] of [
      [`${N}=v`, 'v'],
      [` ${N}=v`, 'v'],
      [`\t${N}\t=\tv\t`, 'v'],
      [`a=1;  ${N}  =  v  ; b=2`, 'v'],
      [`${N}="v"`, 'v'],
      [`${N}= "v" `, 'v'],
      [`${N}=a=b`, 'a=b'],
    ] as const)
      expect(findCookie(h, N)).toEqual({ kind: 'one', value: v });
    expect(findCookie(`${N}=`, N)).toEqual({ kind: 'one', value: '' });
  });

  it('refuses a value with bytes a cookie may not hold', () => {
    for (const bad of ['a b', 'a\\b', 'a,b', '\u00e9', 'a"b', 'a\u0000b', 'a\rb', 'a\nb'])
      expect(findCookie(`x=1; ${N}=${bad}; y=2`, N).kind).toBe('invalid');
  });

  it('is case-sensitive about the name', () => {
    expect(findCookie(`__host-tessera=v`, N).kind).toBe('absent');
    expect(findCookie(`__HOST-TESSERA=v; ${N}=good`, N)).toEqual({ kind: 'one', value: 'good' });
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

import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../core/errors.js';
import { makeRecord, makeTombstone } from '../../testing/index.js';
import { decodeEntry, encodeLive, encodeTombstone, SEP } from './codec.js';

/**
 * The reading of a record that decodeEntry had before its plain-field reader: the head as one
 * JSON array. Every stored record must read the same either way.
 */
function jsonFields(raw: string): unknown[] {
  const head = raw.startsWith('1') ? raw.split(SEP).slice(0, 14).join(SEP) : raw;
  const f = JSON.parse(`[${head.replaceAll(SEP, ',')}]`) as unknown[];
  if (f[0] !== 1) return f;
  // A last IP or user agent of 0 is the first one.
  if (f[10] === 0) f[10] = f[8];
  if (f[11] === 0) f[11] = f[9];
  return f;
}

/** The head's fields as decodeEntry returned them, in the stored order. */
function fieldsOf(raw: string): unknown[] {
  const e = decodeEntry('id', raw);
  if (e.kind === 'rotated') {
    const reason = e.reason === 'login' ? 'l' : 'r';
    return [0, e.handle, e.userId, e.rotatedAt, e.graceUntil, e.expiresAt, reason];
  }
  return [
    1,
    e.handle,
    e.userId,
    e.createdAt,
    e.lastSeenAt,
    e.authenticatedAt,
    e.idleExpiresAt,
    e.absoluteExpiresAt,
    e.createdIp,
    e.createdUserAgent,
    e.lastIp,
    e.lastUserAgent,
    e.version,
  ];
}

/** decodeEntry's error code for `raw`, or 'read'. */
function outcome(raw: string): string {
  try {
    decodeEntry('id', raw);
    return 'read';
  } catch (e) {
    return isTesseraError(e) ? e.code : String(e);
  }
}

const awkward = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0',
  'quote " and backslash \\ inside',
  'tab\tnewline\ncontrol\u0002',
  'unicode Zoë 🦊 \u2028 line separator',
  'lone \ud800 surrogate',
  '',
  'null',
  '0',
  '"quoted"',
];

describe('redis record codec', () => {
  it('reads back every record it writes, awkward strings and numbers included', () => {
    const numbers = [0, 1, 1_733_212_345_678, 1_733_212_345_678.125, 2 ** 53 + 2, 1e21, 1.5e-7];
    for (const [i, s] of awkward.entries()) {
      const n = numbers[i % numbers.length]!;
      const r = makeRecord({
        handle: `h-${s}`,
        userId: i % 2 === 0 ? `user ${s}` : null,
        createdAt: n,
        lastSeenAt: n,
        authenticatedAt: i % 3 === 0 ? null : n,
        createdIp: i % 2 === 0 ? null : s,
        createdUserAgent: s,
        lastIp: '198.51.100.1',
        lastUserAgent: i % 2 === 0 ? s : `${s}!`,
        version: i + 1,
        data: `{"s":${JSON.stringify(s)}}${SEP}raw`,
      });
      const raw = encodeLive(r, r.userId === null ? null : 'AbCd');
      const e = decodeEntry(r.id, raw);
      expect(e).toEqual({ ...r, kind: 'live' });
      expect(fieldsOf(raw)).toEqual(jsonFields(raw).slice(0, 13));
      const t = makeTombstone(r, { reason: i % 2 === 0 ? 'login' : 'regenerate' });
      const traw = encodeTombstone(t, r.userId === null ? null : 'AbCd');
      expect(decodeEntry(t.id, traw)).toEqual(t);
      expect(fieldsOf(traw)).toEqual(jsonFields(traw).slice(0, 7));
    }
  });

  it('reads a head in any JSON form the same as JSON.parse does', () => {
    const base = encodeLive(makeRecord({ userId: 'u', createdIp: '192.0.2.1' }), 'AbCd').split(SEP);
    // Number and string fields written in forms its encoder does not use, and older records.
    const variants: [number, string][] = [
      [3, '1.733e12'],
      [3, '1733212345678.50'],
      [4, ' 1733212345678'],
      [5, '-0'],
      [5, '1E3'],
      [8, '"\\u0031\\u0039\\u0032.0.2.1"'],
      [2, '"u\\"v"'],
      [9, '"a\\/b"'],
      [12, '7.0'],
      [12, '12345678901234567890'],
      [12, '66426239989576104'],
      [3, '9007199254740993'],
    ];
    for (const [field, text] of variants) {
      const raw = base.map((f, i) => (i === field ? text : f)).join(SEP);
      expect(fieldsOf(raw), text).toEqual(jsonFields(raw).slice(0, 13));
    }
  });

  it('refuses what JSON.parse refuses, or what is no record, with ERR_STORE_CORRUPT', () => {
    const base = encodeLive(makeRecord({ userId: 'u' }), 'AbCd').split(SEP);
    const bad: [number, string][] = [
      [3, ''],
      [3, '01'],
      [3, '1.'],
      [3, '.5'],
      [3, '+1'],
      [3, '1-2'],
      [3, '0x10'],
      [3, 'Infinity'],
      [3, 'NaN'],
      [3, '-'],
      [3, '"1"'],
      [2, '"u'],
      [2, 'u"'],
      [2, '"'],
      [2, '"a"b"'],
      [2, '"tab\there"'],
      [2, '"nul\u0000"'],
      [2, '"bad \\x escape"'],
      [2, 'nul'],
      [2, 'nulll'],
      [2, 'true'],
      [1, '1'],
      [12, '"7"'],
    ];
    for (const [field, text] of bad) {
      const raw = base.map((f, i) => (i === field ? text : f)).join(SEP);
      expect(outcome(raw), `${field}: ${text}`).toBe('ERR_STORE_CORRUPT');
    }
    for (const raw of ['', '1', `1${SEP}not json`, '2', `0${SEP}"h"`, 'x'.repeat(50)]) {
      expect(outcome(raw), raw).toBe('ERR_STORE_CORRUPT');
    }
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type BadRequestReason,
  ERROR_CODES,
  TesseraError,
  type TesseraErrorCode,
} from '../../core/errors.js';
import { errorBody } from './http.js';
import { ERROR_STATUS, errorName, errorStatus } from './status.js';

/**
 * The statuses and names on the wire before the table moved out of src/core/errors.ts (its
 * DEFAULT_STATUS, the `{ status }` overrides at the throw sites, and http.ts's ERROR_NAMES):
 * the move changes none of them. ERR_USAGE and ERR_INVALID_ID were ERR_CONFIG (500, and 400
 * where the throw site said so).
 */
const WIRE: Record<TesseraErrorCode, [number, string]> = {
  ERR_CONFIG: [500, 'config'],
  ERR_USAGE: [500, 'usage'],
  ERR_INVALID_ID: [400, 'invalid_id'],
  ERR_STORE_UNAVAILABLE: [503, 'store_unavailable'],
  ERR_STORE_CORRUPT: [500, 'store_corrupt'],
  ERR_CONFLICT: [409, 'conflict'],
  ERR_CSRF: [403, 'csrf'],
  ERR_DATA_TOO_LARGE: [413, 'too_large'],
  ERR_INVALID_DATA: [400, 'invalid_data'],
  ERR_UNSUPPORTED: [501, 'unsupported'],
  ERR_SESSION_READ_ONLY: [409, 'session_read_only'],
  ERR_BAD_REQUEST: [400, 'bad_request'],
  ERR_SESSION_LIMIT: [429, 'session_limit'],
  ERR_SESSION_REVOKED: [401, 'session_revoked'],
  ERR_INSECURE_TRANSPORT: [421, 'insecure_transport'],
  ERR_KEY: [500, 'key'],
};

const BAD_REQUEST: Record<BadRequestReason, [number, string]> = {
  malformed: [400, 'bad_request'],
  no_host: [400, 'bad_request'],
  too_large: [413, 'too_large'],
  timeout: [408, 'request_timeout'],
  json_only: [415, 'unsupported_media_type'],
};

/** An error of any code, with details enough for every code's status rule. */
function errorOf(code: TesseraErrorCode, reason: BadRequestReason = 'malformed'): TesseraError {
  return new TesseraError(code, 'x', {
    details: { reason, limit: 1, size: 2, policy: 'reject' },
  } as never);
}

describe('the status table', () => {
  it('has a status for every code, and no entry for a code that does not exist', () => {
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    expect(Object.keys(WIRE).sort()).toEqual([...ERROR_CODES].sort());
  });

  it('answers every code with the status and name it had on the wire', () => {
    for (const code of ERROR_CODES) {
      const e = errorOf(code);
      const status = errorStatus(e);
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThanOrEqual(599);
      expect([status, errorName(e)], code).toEqual(WIRE[code]);
      expect(errorBody(e), code).toEqual({
        status,
        body: JSON.stringify({ error: WIRE[code][1] }),
      });
    }
  });

  it('answers ERR_BAD_REQUEST by its reason (400, 408, 413, 415)', () => {
    for (const [reason, expected] of Object.entries(BAD_REQUEST)) {
      const e = errorOf('ERR_BAD_REQUEST', reason as BadRequestReason);
      expect([errorStatus(e), errorName(e)], reason).toEqual(expected);
    }
  });

  it('answers a code this version does not know with 500, never throwing', () => {
    // What a newer tessera's error looks like to this table (a code added in a minor release).
    const future = Object.assign(Object.create(TesseraError.prototype) as TesseraError, {
      code: 'ERR_FROM_THE_FUTURE',
      details: {},
    });
    expect(errorStatus(future)).toBe(500);
    expect(errorName(future)).toBe('from_the_future');
    // Nor is a name on Object.prototype a code.
    const proto = Object.assign(Object.create(TesseraError.prototype) as TesseraError, {
      code: 'toString',
      details: {},
    });
    expect(errorStatus(proto)).toBe(500);
  });

  it('sends the hint of ERR_INSECURE_TRANSPORT, and no hint for any other code', () => {
    const refused = new TesseraError('ERR_INSECURE_TRANSPORT', 'x', {
      details: { hint: 'set trustProxy' },
    });
    expect(errorBody(refused)).toEqual({
      status: 421,
      body: '{"error":"insecure_transport","hint":"set trustProxy"}',
    });
    const other = new TesseraError('ERR_CONFIG', 'x', {
      details: { hint: 'no' } as never,
    });
    expect(errorBody(other).body).toBe('{"error":"config"}');
  });

  it('is the table docs/errors.md shows: every code once, with its status and name', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)` \|.*\| (\d{3})[^|]*\| `(\w+)`[^|]*\|$/gm)];
    expect(rows.map((r) => r[1]).sort()).toEqual([...ERROR_CODES].sort());
    for (const [, code, status, name] of rows)
      expect([Number(status), name], code).toEqual(WIRE[code as TesseraErrorCode]);
  });
});

import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isTesseraError, TesseraError } from './errors.js';

describe('TesseraError', () => {
  it('keeps the code, frozen details and the cause, and never reads another code as this one', () => {
    const cause = new Error('driver');
    const e = new TesseraError('ERR_SESSION_LIMIT', 'limit', {
      cause,
      details: { limit: 3, policy: 'reject' },
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('TesseraError');
    expect(e.code).toBe('ERR_SESSION_LIMIT');
    expect(e.details).toEqual({ limit: 3, policy: 'reject' });
    expect(Object.isFrozen(e.details)).toBe(true);
    expect(e.cause).toBe(cause);
    expect(isTesseraError(e, 'ERR_SESSION_LIMIT')).toBe(true);
    expect(isTesseraError(e, 'ERR_CSRF')).toBe(false);
    expect(isTesseraError(e)).toBe(true);
    // A look-alike is not one: the guard checks the class, not the shape.
    expect(isTesseraError({ code: 'ERR_SESSION_LIMIT', details: { limit: 3 } })).toBe(false);
    expect(isTesseraError(new Error('ERR_CSRF'), 'ERR_CSRF')).toBe(false);
  });

  it('gives a code without details an empty frozen object, not undefined', () => {
    const e = new TesseraError('ERR_CONFIG', 'x');
    expect(e.details).toEqual({});
    expect(Object.isFrozen(e.details)).toBe(true);
    expect('cause' in e).toBe(false);
  });

  it('copies the details, so a caller that changes its object changes no error', () => {
    const details = { limit: 1, policy: 'reject' as const };
    const e = new TesseraError('ERR_SESSION_LIMIT', 'x', { details });
    details.limit = 99;
    expect(e.details.limit).toBe(1);
  });

  it('lists every code once, each ERR_ and upper-case', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) expect(code).toMatch(/^ERR_[A-Z_]+$/);
    expect(ERROR_CODES).toContain('ERR_USAGE');
    expect(ERROR_CODES).toContain('ERR_INVALID_ID');
  });

  it('answers the deprecated status with 500 while no adapter module is loaded (the core knows no HTTP)', async () => {
    // This file imports the core only: no adapter has given the errors their status table yet.
    const csrf = new TesseraError('ERR_CSRF', 'x', { details: { reason: 'bad_token' } });
    expect(csrf.status).toBe(500);
    // Loading any adapter module backs it with the adapters' table.
    const { errorStatus } = await import('../adapters/shared/status.js');
    expect(csrf.status).toBe(403);
    for (const code of ERROR_CODES) {
      const e = new TesseraError(code, 'x', {
        details: { reason: 'malformed', limit: 1, size: 2, policy: 'reject' },
      } as never);
      expect(e.status, code).toBe(errorStatus(e));
    }
  });
});

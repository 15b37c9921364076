/**
 * Review of issue 12 (errors): `err.status` is now a deprecated getter backed by the adapters'
 * status table, registered as a side effect when an adapter module loads. In a program that
 * uses the core alone (its own framework: Koa, a Next.js route, a worker) every TesseraError
 * answers `status` 500 — ERR_SESSION_LIMIT, ERR_CSRF, ERR_INVALID_ID included — where the
 * previous release answered 429 / 403 / 400. docs/errors.md says `err.status` "still answers the
 * same number" and then that it is 500 without an adapter: the same expression gives a different
 * number depending on which modules happen to be imported elsewhere in the process.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Run a snippet in a fresh Node process that imports the built root entry only. */
function statusesInCoreOnlyProcess(): Record<string, number> {
  const code = `
    const { TesseraError } = await import('tessera-session');
    const out = {
      ERR_CSRF: new TesseraError('ERR_CSRF', 'x', { details: { reason: 'bad_token' } }).status,
      ERR_SESSION_LIMIT: new TesseraError('ERR_SESSION_LIMIT', 'x', { details: { limit: 3, policy: 'reject' } }).status,
      ERR_INVALID_ID: new TesseraError('ERR_INVALID_ID', 'x').status,
      ERR_STORE_UNAVAILABLE: new TesseraError('ERR_STORE_UNAVAILABLE', 'x').status,
    };
    console.log(JSON.stringify(out));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: process.cwd(),
    encoding: 'utf8',
  });
  return JSON.parse(out) as Record<string, number>;
}

describe('review issue 12: err.status in a core-only program (npm run build first)', () => {
  it('answers the code status (403 / 429 / 400 / 503), not 500, when no adapter module is loaded', () => {
    expect(statusesInCoreOnlyProcess()).toEqual({
      ERR_CSRF: 403,
      ERR_SESSION_LIMIT: 429,
      ERR_INVALID_ID: 400,
      ERR_STORE_UNAVAILABLE: 503,
    });
  });
});

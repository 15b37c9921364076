import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import { memoryStore } from '../src/stores/memory/index.js';

describe('root exports', () => {
  it('exports the documented guessing limiter, so an app can configure it', () => {
    expect(typeof root.memoryGuessLimiter).toBe('function');
    expect(root.clientBucket('::ffff:192.0.2.1')).toBe('192.0.2.1');
    const limiter: root.GuessLimiter = root.memoryGuessLimiter({ limit: 50 });
    const options: root.GuessLimiterOptions = { limit: 1 };
    expect(root.memoryGuessLimiter(options).hit('a', 0).delayMs).toBe(0);
    const keys = [root.generateKey('k1')];
    expect(() =>
      root.createSessions({ store: memoryStore(), keys, guessLimiter: limiter }),
    ).not.toThrow();
  });

  it('keeps the token, cookie and CSRF primitives out of the root entry (no part of the semver promise)', () => {
    const primitives = [
      'mintToken',
      'verifyToken',
      'parseCookies',
      'findCookie',
      'serializeCookie',
      'assertCookieConfig',
      'MAX_COOKIE_BYTES',
      'csrfTokenFor',
      'verifyCsrfToken',
      'verifyCSRFToken',
      'checkRequestOrigin',
      'normalizeOrigin',
      'isSafeMethod',
      'signDoubleSubmit',
      'verifyDoubleSubmit',
    ];
    for (const name of primitives) expect(Object.keys(root), name).not.toContain(name);
    // What the root does export at run time: the engines, errors, keys, limiter, logger and the
    // keyed slot tag a Redis Cluster store used on its own needs.
    expect(Object.keys(root).sort()).toEqual(
      [
        'KeyRing',
        'PRESETS',
        'SealedSession',
        'SealedSessionManager',
        'Session',
        'SessionManager',
        'TesseraError',
        'TesseraLog',
        'clientBucket',
        'createSealedSessions',
        'createSessions',
        'errorStatus',
        'generateKey',
        'isTesseraError',
        'memoryGuessLimiter',
        'memoryRevocationStore',
        'revocationStoreFrom',
        'slotTagFor',
        'storeRevocation',
        'storeUnavailable',
      ].sort(),
    );
  });
});

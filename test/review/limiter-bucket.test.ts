/**
 * Review: the guessing limiter's client bucket must not let an IPv4 client get a fresh budget by
 * spelling its address with a port, as some proxies put it in X-Forwarded-For (Azure Application
 * Gateway, IIS ARR: `203.0.113.7:51234`, a new source port per connection).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSessions } from '../../src/core/engine.js';
import { KeyRing } from '../../src/core/keys.js';
import { clientBucket, memoryGuessLimiter } from '../../src/core/limiter.js';
import { mintToken } from '../../src/core/token.js';
import { memoryStore } from '../../src/stores/memory/index.js';

describe('review: guessing limiter buckets', () => {
  it('buckets an IPv4 address with a port (X-Forwarded-For from Azure / IIS ARR) as the address', () => {
    expect(clientBucket('203.0.113.7:51234')).toBe('203.0.113.7');
    expect(clientBucket('203.0.113.7:51235')).toBe('203.0.113.7');
    expect(clientBucket('[203.0.113.7]:443')).toBe('203.0.113.7');
    expect(clientBucket('[::ffff:203.0.113.7]:443')).toBe('203.0.113.7');
    // Not an address with a port: left as it is.
    expect(clientBucket('203.0.113.7:')).toBe('203.0.113.7:');
    expect(clientBucket('203.0.113.7:99999')).toBe('203.0.113.7:99999');
  });

  it('slows forged tokens from one IPv4 client however its source port changes', async () => {
    const secret = randomBytes(32).toString('base64');
    const sessions = createSessions({
      store: memoryStore({ sweepIntervalMs: 0 }),
      keys: [{ id: 'k1', secret, createdAt: 0 }],
      guessLimiter: memoryGuessLimiter({ limit: 3, stepMs: 1, maxDelayMs: 1 }),
    });
    const suspected: unknown[] = [];
    sessions.on('guessing_suspected', (e) => suspected.push(e));
    // Tokens under the app's key id whose MAC is wrong: what a guesser sends.
    const other = new KeyRing([
      { id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 },
    ]);
    for (let port = 40_000; port < 40_010; port++) {
      const forged = mintToken(other, 's').token;
      await sessions.load({
        method: 'GET',
        cookie: `__Host-tessera=${forged}`,
        ip: `203.0.113.7:${port}`,
      });
    }
    expect(suspected).toHaveLength(1);
  });
});

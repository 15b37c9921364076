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
});

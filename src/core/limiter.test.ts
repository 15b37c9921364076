import { describe, expect, it } from 'vitest';
import { clientBucket, memoryGuessLimiter } from './limiter.js';

describe('clientBucket', () => {
  it('puts every spelling of addresses in one IPv6 /64 into one bucket', () => {
    const same = [
      '2001:db8:1:2::1',
      '2001:0db8:0001:0002:0000:0000:0000:0001',
      '2001:DB8:1:2:ffff:ffff:ffff:ffff',
      '[2001:db8:1:2::abcd]',
      'fe80::1%eth0'.replace('fe80::1', '2001:db8:1:2::9'),
      '2001:db8:1:2:0:0:192.0.2.1',
    ];
    for (const ip of same) expect(clientBucket(ip)).toBe('2001:db8:1:2::/64');
    expect(clientBucket('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientBucket('::1')).toBe('0:0:0:0::/64');
  });

  it('maps IPv4-mapped IPv6 addresses, dotted or hex, to the IPv4 address', () => {
    expect(clientBucket('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientBucket('::FFFF:c000:0201')).toBe('192.0.2.1');
    expect(clientBucket('0:0:0:0:0:ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientBucket('192.0.2.1')).toBe('192.0.2.1');
  });

  it('returns anything that is not an address unchanged', () => {
    for (const x of ['', 'localhost', '1::2::3', '::ffff:300.1.1.1', 'g::1', '1:2:3:4:5:6:7:8:9']) {
      expect(clientBucket(x)).toBe(x);
    }
  });
});

describe('memoryGuessLimiter', () => {
  it('slows a client down past the limit and reports the first crossing once per window', () => {
    const l = memoryGuessLimiter({ limit: 2, stepMs: 10, maxDelayMs: 25, windowMs: 1000 });
    expect(l.hit('a', 0)).toEqual({ delayMs: 0, firstOverLimit: false });
    expect(l.hit('a', 1)).toEqual({ delayMs: 0, firstOverLimit: false });
    expect(l.hit('a', 2)).toEqual({ delayMs: 10, firstOverLimit: true });
    expect(l.hit('a', 3)).toEqual({ delayMs: 20, firstOverLimit: false });
    expect(l.hit('a', 4)).toEqual({ delayMs: 25, firstOverLimit: false });
    expect(l.hit('b', 5).delayMs).toBe(0);
    expect(l.hit('a', 1000)).toEqual({ delayMs: 0, firstOverLimit: false });
  });
});

import { describe, expect, it } from 'vitest';
import { Packer } from '../../src/stores/memory/packed.js';
import { makeRecord } from '../../src/testing/index.js';

/** A fresh copy of a string (equal content, another object), as a header parser makes. */
const fresh = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

describe('memory store packing', () => {
  it('unpacks exactly what was packed, nulls included, as a fresh object each time', () => {
    const packer = new Packer();
    const full = makeRecord({
      userId: 'u',
      authenticatedAt: 1_700_000_000_123,
      createdIp: '203.0.113.7',
      createdUserAgent: 'Mozilla/5.0',
      lastIp: '2001:db8::1',
      lastUserAgent: 'curl/8.5.0',
      version: 7,
      data: '{"a":1}',
    });
    const bare = makeRecord({
      authenticatedAt: null,
      createdIp: null,
      createdUserAgent: null,
      lastIp: null,
      lastUserAgent: null,
    });
    for (const r of [full, bare]) {
      const p = packer.pack(r);
      const out = packer.unpack(p);
      expect(out).toStrictEqual(r);
      expect(out).not.toBe(r);
      expect(packer.unpack(p)).not.toBe(out);
      // Changing what was unpacked changes nothing stored.
      out.lastSeenAt = 0;
      out.data = 'changed';
      expect(packer.unpack(p)).toStrictEqual(r);
    }
  });

  it('stores each distinct IP and User-Agent once, and lets go of it with the last record', () => {
    const packer = new Packer();
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0';
    const packed = Array.from({ length: 100 }, () =>
      packer.pack(
        makeRecord({
          createdIp: fresh('10.0.0.1'),
          lastIp: fresh('10.0.0.1'),
          createdUserAgent: fresh(ua),
          lastUserAgent: fresh(ua),
        }),
      ),
    );
    expect(packer.stats().internedStrings).toBe(2);
    // A touch from another agent holds one more string; touching back drops it again.
    packer.touch(packed[0]!, { lastSeenAt: 1, idleExpiresAt: 2, lastUserAgent: 'curl/8.5.0' });
    expect(packer.stats().internedStrings).toBe(3);
    expect(packer.unpack(packed[0]!).lastUserAgent).toBe('curl/8.5.0');
    packer.update(packed[0]!, 1, { lastUserAgent: fresh(ua), lastIp: null });
    expect(packer.stats().internedStrings).toBe(2);
    expect(packer.unpack(packed[0]!)).toMatchObject({ lastIp: null, lastUserAgent: ua });
    for (const p of packed) packer.release(p);
    expect(packer.stats().internedStrings).toBe(0);
  });

  it('takes the slab in chunks of 4,096 slots and reuses freed slots before growing', () => {
    const packer = new Packer();
    const first = Array.from({ length: 4_097 }, () => packer.pack(makeRecord()));
    const twoChunks = packer.stats().slabBytes;
    expect(twoChunks).toBe(2 * 4_096 * (7 * 8 + 4 * 4));
    for (const p of first) packer.release(p);
    // Releasing twice is harmless: a slot is never handed out twice.
    packer.release(first[0]!);
    const second = Array.from({ length: 4_097 }, () => packer.pack(makeRecord()));
    expect(packer.stats().slabBytes).toBe(twoChunks);
    expect(new Set(second.map((p) => p.slot)).size).toBe(4_097);
    expect(packer.unpack(second[4_096]!).id).toBe(second[4_096]!.id);
  });

  it('bumps the version only with data, and reads authenticatedAt null back as null', () => {
    const packer = new Packer();
    const r = makeRecord({ authenticatedAt: 5, version: 3 });
    const p = packer.pack(r);
    packer.update(p, 3, { lastSeenAt: 9 });
    expect(packer.version(p)).toBe(3);
    packer.update(p, 3, { data: '{"b":2}', authenticatedAt: null });
    expect(packer.unpack(p)).toMatchObject({
      version: 4,
      data: '{"b":2}',
      authenticatedAt: null,
      lastSeenAt: 9,
    });
  });
});

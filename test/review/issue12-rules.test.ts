/**
 * Review of issue 12 (the shared rules): attacks on the rule functions both modes now call.
 */
import { describe, expect, it } from 'vitest';
import {
  assertDataKey,
  keepData,
  revokedBy,
  sessionDeadlines,
  touchDue,
} from '../../src/core/rules.js';

describe('review issue 12: keepData', () => {
  it('never sets the prototype of the kept data, even for a "__proto__" own key (data parsed from JSON)', () => {
    // Server-side data comes from JSON.parse of a store record; JSON.parse makes "__proto__" an
    // own key. keepData promises "a new object holding only own keys of data".
    const data = JSON.parse('{"__proto__": {"isAdmin": true}, "cart": [1]}') as Record<
      string,
      unknown
    >;
    const kept = keepData(data, ['__proto__', 'cart']);
    expect(Object.getPrototypeOf(kept)).toBe(Object.prototype);
    expect((kept as { isAdmin?: unknown }).isAdmin).toBeUndefined();
  });

  it("'all' keeps a JSON own __proto__ key as data, not as the prototype", () => {
    const data = JSON.parse('{"__proto__": {"isAdmin": true}}') as Record<string, unknown>;
    const kept = keepData(data, 'all');
    expect(Object.getPrototypeOf(kept)).toBe(Object.prototype);
    expect((kept as { isAdmin?: unknown }).isAdmin).toBeUndefined();
  });
});

describe('review issue 12: data keys', () => {
  it('refuses __proto__ and takes constructor / prototype as plain keys', () => {
    expect(() => assertDataKey('__proto__')).toThrow(/__proto__/);
    expect(() => assertDataKey('constructor')).not.toThrow();
    expect(() => assertDataKey('prototype')).not.toThrow();
  });
});

describe('review issue 12: touch and deadlines at the edges', () => {
  const settings = { idleMs: 1_800_000, touchMs: 360_000 };
  it('idle longer than absolute: the idle deadline is the absolute one, no touch is ever due', () => {
    const s = { idleMs: 7_200_000, absoluteMs: 3_600_000, reauthRestartsAbsolute: true };
    const d = sessionDeadlines(s, 0, null);
    expect(d.idleExpiresAt).toBe(d.absoluteExpiresAt);
    expect(touchDue({ idleMs: s.idleMs, touchMs: 1 }, 1000, d)).toBe(false);
  });
  it('a clock that went backwards never moves the idle deadline back', () => {
    const d = { idleExpiresAt: 10_000_000, absoluteExpiresAt: 20_000_000 };
    expect(touchDue(settings, 10_000_000 - 1_800_000 - 500_000, d)).toBe(false);
  });
  it('the last touch to the absolute cap is due once, then not again', () => {
    const d = { idleExpiresAt: 3_400_000 + 0, absoluteExpiresAt: 3_600_000 };
    expect(
      touchDue(settings, 3_400_000, { idleExpiresAt: 3_300_000, absoluteExpiresAt: 3_600_000 }),
    ).toBe(true);
    expect(touchDue(settings, 3_500_000, { ...d, idleExpiresAt: 3_600_000 })).toBe(false);
  });
  it('revokedBy: same millisecond is revoked, a later stamp is not, no epoch revokes nothing', () => {
    expect(revokedBy(1000, 1000)).toBe(true);
    expect(revokedBy(1001, 1000)).toBe(false);
    expect(revokedBy(null, 1000)).toBe(true);
    expect(revokedBy(null, null)).toBe(false);
    expect(revokedBy(0, 0)).toBe(true);
  });
});

import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyJSON, OpenedCache } from './opened-cache.js';

describe('OpenedCache', () => {
  it('keeps at most two generations, moving an older entry that is used to the young one', () => {
    const c = new OpenedCache<number>(2, 100);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3); // a, b become the old generation
    expect(c.get('a')).toBe(1); // a moves to the young generation (c, a)
    c.set('d', 4); // young (c, a) becomes old; b is dropped
    expect(c.get('b')).toBeUndefined();
    expect([c.get('a'), c.get('c'), c.get('d')]).toEqual([1, 3, 4]);
    expect(c.size).toBeLessThanOrEqual(4);
  });

  it('answers only for the exact text, though texts that end alike share a slot', () => {
    const c = new OpenedCache<number>(4, 100);
    const tail = 'T'.repeat(22);
    c.set(`a${tail}`, 1);
    expect(c.get(`a${tail}`)).toBe(1);
    expect(c.get(`b${tail}`)).toBeUndefined();
    expect(c.get(tail)).toBeUndefined();
    c.set(`b${tail}`, 2);
    expect(c.get(`b${tail}`)).toBe(2);
    expect(c.get(`a${tail}`)).toBeUndefined();
    c.set('short', 3);
    expect(c.get('short')).toBe(3);
    expect(c.get('shor')).toBeUndefined();
  });

  it('never holds more than 2 × size entries, and no text over the length bound', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 200 }), (keys) => {
        const c = new OpenedCache<string>(8, 10);
        for (const k of keys) {
          c.set(k, k);
          c.get(keys[0]!);
          expect(c.size).toBeLessThanOrEqual(16);
        }
        for (const k of keys) if (k.length > 10) expect(c.get(k)).toBeUndefined();
      }),
    );
  });
});

describe('OpenedCache memory', () => {
  it('keeps its own copy of each text, not the request header it was sliced from', () => {
    // In a child process with --expose-gc: 300 seals sliced from 50 KB headers, cached; what
    // stays alive after a full GC is their own ~300 B each, not the headers (15 MB).
    const script = `
      import { OpenedCache } from ${JSON.stringify(new URL('./opened-cache.ts', import.meta.url).pathname)};
      const c = new OpenedCache(256, 1024);
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 300; i++) {
        const header = 'n=' + 'A'.repeat(280) + String(100000 + i) + '; big=' + 'x'.repeat(50000) + Math.random();
        const value = header.slice(2, header.indexOf(';'));
        c.set(value, i);
        c.get(header.slice(2, header.indexOf(';')));
      }
      globalThis.gc(); globalThis.gc();
      console.log(process.memoryUsage().heapUsed - before);
    `;
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    expect(Number(out.trim())).toBeLessThan(3_000_000);
  });
});

describe('copyJSON', () => {
  it('copies a JSON value deeply: equal, and sharing no object with the original', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = copyJSON(v);
        expect(c).toEqual(v);
        expect(JSON.stringify(c)).toBe(JSON.stringify(v));
        const objects = (x: unknown, out: unknown[] = []): unknown[] => {
          if (x !== null && typeof x === 'object') {
            out.push(x);
            for (const y of Object.values(x)) objects(y, out);
          }
          return out;
        };
        const mine = new Set(objects(v));
        for (const o of objects(c)) expect(mine.has(o)).toBe(false);
      }),
    );
  });

  it('copies an own "__proto__" key as a property, never as the prototype', () => {
    const parsed = JSON.parse('{"__proto__":{"admin":true},"a":[{"__proto__":{"x":1}}]}');
    const c = copyJSON(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
    expect((c as { admin?: unknown }).admin).toBeUndefined();
    expect(Object.keys(c)).toEqual(['__proto__', 'a']);
    expect(JSON.stringify(c)).toBe(JSON.stringify(parsed));
  });
});

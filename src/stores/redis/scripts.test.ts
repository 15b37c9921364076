import { describe, expect, it } from 'vitest';
import { argv, FIRST_PARAM, type Script } from './script-args.js';
import * as scripts from './scripts.js';

const all = Object.values(scripts);

/**
 * The `local <name> = ARGV[<n>]` lines a script opens its own Lua with, in order (the shared
 * library before it reads only ARGV[1], the prefix, and ARGV[2], the slot tag, as P and LOC).
 */
function aliases(lua: string): [string, number][] {
  return [...lua.matchAll(/^local (\w+) = ARGV\[(\d+)\]$/gm)]
    .map((m): [string, number] => [m[1]!, Number(m[2])])
    .filter(([name]) => name !== 'P' && name !== 'LOC');
}

describe('redis scripts', () => {
  it('are eleven, with unique names and SHA1s', () => {
    expect(all).toHaveLength(11);
    expect(new Set(all.map((s) => s.name)).size).toBe(all.length);
    expect(new Set(all.map((s) => s.sha)).size).toBe(all.length);
  });

  for (const s of all) {
    it(`${s.name}: reads each named argument from the position argv puts it in`, () => {
      // The Lua side: one local per name, at ARGV[3], ARGV[4], … in the declared order.
      expect(aliases(s.lua)).toEqual(s.params.map((p, i) => [p, FIRST_PARAM + i]));
      expect(new Set(s.params).size).toBe(s.params.length);
      const rest = /^local REST = (\d+)$/m.exec(s.lua);
      expect(rest === null ? null : Number(rest[1])).toBe(
        s.rest ? FIRST_PARAM + s.params.length : null,
      );
      // The TypeScript side: argv puts each value where the script reads its name.
      const named = Object.fromEntries(s.params.map((p) => [p, `value-of-${p}`]));
      const sent = ['prefix', 'tag', ...argv(s as Script, named, s.rest ? ['r1', 'r2'] : [])];
      for (const [name, at] of aliases(s.lua)) expect(sent[at - 1]).toBe(`value-of-${name}`);
      if (s.rest) expect(sent.slice(FIRST_PARAM - 1 + s.params.length)).toEqual(['r1', 'r2']);
      // The body reads no argument of its own by number (only the prefix, the slot tag, and
      // what follows REST).
      const body = s.lua.slice(s.lua.lastIndexOf('ARGV[2]\n'));
      const own = [...body.matchAll(/ARGV\[(\d+)\]/g)].map((m) => Number(m[1]));
      expect(own.filter((n) => n >= FIRST_PARAM)).toEqual(aliases(s.lua).map(([, n]) => n));
    });
  }

  it('refuses a missing, an unknown or an extra argument', () => {
    const { DELETE_BY_USER, SWEEP_ONE, UPDATE } = scripts;
    expect(() => argv(SWEEP_ONE, { id: 'x' } as never)).toThrow(/not id, now/);
    expect(() => argv(SWEEP_ONE, { id: 'x', now: 1, later: 2 } as never)).toThrow(/not id, now/);
    expect(() => argv(DELETE_BY_USER, { userId: 'u' } as never)).toThrow();
    expect(() => argv(SWEEP_ONE, { id: 'x', now: 1 }, ['extra'])).toThrow(/no further/);
    expect(argv(UPDATE, { id: 'x', expectedVersion: 2, now: 3 }, [15, 'data'])).toEqual([
      'x',
      2,
      3,
      15,
      'data',
    ]);
  });
});

/**
 * The adapters depend on the engine contract alone (docs/design.md, "Layers"):
 * no runtime import of an engine module, no read of an engine's or a session's private (`_x`)
 * member. The engines' session classes may be named as types only (for the types apps see).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const adapters = join(root, 'src', 'adapters');

/** Every source file under src/adapters, without its tests. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The core modules that hold an engine (not the contract, errors, options or primitives). */
const ENGINE = /\/core\/(engine|sealed|manager-base|server\/[a-z-]+|sealed\/[a-z-]+)\.js$/;

/**
 * Node's and body-parser's own fields on the request and response objects, not an engine's:
 * `_header` / `_headerSent` (held heads, see node-response.ts) and body-parser's `_body` flag.
 */
const FOREIGN = new Set(['_header', '_headerSent', '_body']);

describe('adapter boundaries', () => {
  const files = sources(adapters).map((path) => ({
    name: relative(root, path),
    text: readFileSync(path, 'utf8'),
  }));

  it('finds the adapter sources', () => {
    expect(files.length).toBeGreaterThan(8);
  });

  it('imports an engine module only as types', () => {
    const runtime: string[] = [];
    for (const { name, text } of files) {
      for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)) {
        if (ENGINE.test(m[3]!) && !m[2]) runtime.push(`${name}: ${m[0].split('\n')[0]}`);
      }
    }
    expect(runtime).toEqual([]);
  });

  it("reads no engine's or session's private (_x) member", () => {
    const found: string[] = [];
    for (const { name, text } of files) {
      // Comments may name them; code may not.
      const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const m of code.matchAll(/\._([a-zA-Z]\w*)/g)) {
        if (!FOREIGN.has(`_${m[1]}`)) found.push(`${name}: ._${m[1]}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('catches what it looks for', () => {
    const probe = "import { Session } from '../../core/engine.js';\nconst p = s._patch;";
    expect(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/ms.exec(probe)?.[2]).toBe(
      undefined,
    );
    expect(ENGINE.test('../../core/engine.js')).toBe(true);
    expect(/\._([a-zA-Z]\w*)/.exec(probe)?.[1]).toBe('patch');
  });
});

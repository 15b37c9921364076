/**
 * The published declarations (`dist/**\/*.d.ts` and their `.d.cts` twins, as `npm run build`
 * writes them with `stripInternal`): no `@internal` member and no `_`-prefixed one is left for a
 * consumer to lean on, and what is left type-checks on its own with `skipLibCheck` off (a
 * stripped declaration that a public one still names would fail here). Needs `npm run build`
 * first (`npm test` does it).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Every file under a folder, recursively. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

function declarations(): string[] {
  if (!existsSync(join(dist, 'index.d.ts')))
    throw new Error('dist/ is not built: run `npm run build`');
  return walk(dist).filter((f) => /\.d\.c?ts$/.test(f));
}

/**
 * A declaration whose name starts with `_`: a class or interface member (`_save(`, `readonly
 * _m:`, `_dirty?:`) or a top-level one (`export declare function _x`).
 */
const UNDERSCORE =
  /^\s*(?:(?:export\s+)?(?:declare\s+)?(?:function|const|let|class|interface|type|enum)\s+_|(?:(?:public|protected|private|static|readonly|abstract|declare|get|set)\s+)*_[\w$]*[?!]?\s*[:(<])/m;

describe('the published declarations', () => {
  it('hold no @internal comment and no _-prefixed declaration', () => {
    const files = declarations();
    expect(files.length).toBeGreaterThan(50);
    const found: string[] = [];
    for (const file of files) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (line.includes('@internal') || UNDERSCORE.test(line))
          found.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('the pattern finds what stripInternal would have had to strip (the test can fail)', () => {
    for (const line of [
      '    _m: SessionManager<Data>;',
      '    readonly _state: SessionState;',
      '    _save(s: Session<Data>): Promise<void>;',
      '    protected _dirty?: boolean;',
      'export declare function _internalHelper(): void;',
    ])
      expect(UNDERSCORE.test(line), line).toBe(true);
    for (const line of [
      '    load(req: RequestInfo): Promise<S>;',
      '    fieldName: string; // _csrf',
    ])
      expect(UNDERSCORE.test(line), line).toBe(false);
  });

  it('type-check on their own with skipLibCheck off, in ESM and CommonJS form', async () => {
    const files = declarations();
    const scratch = join(root, 'test', '.tmp', `declarations-${process.pid}`);
    mkdirSync(scratch, { recursive: true });
    try {
      writeFileSync(
        join(scratch, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            exactOptionalPropertyTypes: true,
            noEmit: true,
            skipLibCheck: false,
            module: 'nodenext',
            moduleResolution: 'nodenext',
            target: 'es2023',
            lib: ['ES2023', 'DOM'],
            types: ['node'],
          },
          files: files.map((f) => relative(scratch, f)),
        }),
      );
      const out = await new Promise<{ code: number; output: string }>((resolve) => {
        execFile(
          process.execPath,
          [tsc, '-p', join(scratch, 'tsconfig.json'), '--pretty', 'false'],
          { cwd: root, encoding: 'utf8', maxBuffer: 16 << 20 },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number(err.code ?? 1) : 0, output: `${stdout}${stderr}` }),
        );
      });
      expect(out.output).toBe('');
      expect(out.code).toBe(0);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 180_000);
});

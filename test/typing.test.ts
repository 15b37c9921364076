/**
 * Typed session data as an app gets it: each project under test-d/fixtures/ declares its
 * `Register` and is type-checked on its own with the repository's `tsc -p` (a module
 * augmentation reaches a whole program, so each needs its own), against the built package
 * (`tessera-session` resolves to dist/ through package.json `exports`). Needs `npm run build`
 * first (`npm test` does it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

interface Checked {
  code: number;
  output: string;
}

/** `tsc -p test-d/fixtures/<name>` plus extra flags: its exit code and diagnostics. */
function check(name: string, ...flags: string[]): Promise<Checked> {
  const project = join(root, 'test-d', 'fixtures', name, 'tsconfig.json');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [tsc, '-p', project, '--pretty', 'false', ...flags],
      { cwd: root, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** The TS error codes in a tsc output, in order. */
function codes(output: string): string[] {
  return [...output.matchAll(/error (TS\d+):/g)].map((m) => m[1]!);
}

describe('typed session data (Register)', () => {
  const results: Record<string, Checked> = {};

  beforeAll(async () => {
    // The checks below would fail for the wrong reason on an unbuilt tree.
    if (!existsSync(join(root, 'dist', 'index.d.ts')))
      throw new Error('dist/ is not built: run `npm run build`');
    // Four programs at once: about as long as the slowest.
    const [augmented, optOut, both, sealed] = await Promise.all([
      check('augmented'),
      check('express-session-opt-out'),
      check('express-session-default', '--skipLibCheck', 'false'),
      check('sealed-mode'),
    ]);
    Object.assign(results, { augmented, optOut, both, sealed });
  }, 120_000);

  it('types the session of every adapter (Express 5, Fastify, Hono, node, fetch) from one declaration', () => {
    // test-d/fixtures/augmented/main.ts: `req.session.get('views')` is `number | undefined`,
    // `set('views', 'x')` is an error, with no type argument and no cast. (The next project
    // checks tessera's declarations under a registered `data` with skipLibCheck off.)
    expect(results.augmented!.output).toBe('');
    expect(results.augmented!.code).toBe(0);
  });

  it("types every adapter's request session as a SealedSession when the app registers mode: 'sealed'", () => {
    // test-d/fixtures/sealed-mode/main.ts: req.session, request.session, c.get('session') and
    // every getSession are SealedSession<{ views: number }>; `.info` (server-only) is an error.
    expect(results.sealed!.output).toBe('');
    expect(results.sealed!.code).toBe(0);
  });

  it('compiles beside @types/express-session and @fastify/session with requestSession: false, without skipLibCheck', () => {
    expect(results.optOut!.output).toBe('');
    expect(results.optOut!.code).toBe(0);
  });

  it("without the opt-out, leaves req.session to @types/express-session and tessera's to getSession(req); the clash is one TS2430 inside the type packages", () => {
    // test-d/fixtures/express-session-default/main.ts, checked with skipLibCheck off: its own
    // assertions hold (no error in main.ts), and the only error is in a .d.ts file, which
    // skipLibCheck (on in its tsconfig) skips. The documented reason for `requestSession: false`.
    const { code, output } = results.both!;
    expect(code).not.toBe(0);
    expect(codes(output)).toEqual(['TS2430']);
    // In a declaration file: @types/express-serve-static-core's or tessera's, by import order.
    expect(output).toMatch(/^\S*\.d\.ts\(\d+,\d+\): error TS2430/);
    expect(output).toContain("Types of property 'session' are incompatible");
    expect(output).not.toContain('main.ts');
  });
});

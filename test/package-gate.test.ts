/**
 * The packaging gate, on the tarball a user installs (`npm pack`): `publint --strict`, `attw`
 * (every entry point in every TypeScript resolution mode), and CommonJS TypeScript projects
 * (`module: commonjs` with `moduleResolution: node10`, and `node16` from a CommonJS file) that
 * install it offline from the tarball, type-check with the repository's `tsc`, and run on this
 * Node with `require()`. Needs `npm run build` first (`npm test` does it).
 *
 * Accepted findings: none. A finding accepted later is listed in ACCEPTED_ATTW with its reason,
 * and in docs/frameworks.md ("CommonJS and every `moduleResolution`").
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const resolve = createRequire(import.meta.url).resolve;
const tsc = resolve('typescript/bin/tsc');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

/** attw problem kinds accepted on purpose (none so far), each with the reason in a comment. */
const ACCEPTED_ATTW: string[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};
/** The package's subpaths that are modules (not `./package.json`). */
const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json');

let scratch = '';
let tarball = '';
/** The files in the tarball, package-relative. */
let packedFiles: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(root, 'dist', 'index.cjs')))
    throw new Error('dist/ is not built: run `npm run build`');
  scratch = mkdtempSync(join(tmpdir(), 'tessera-gate-'));
  const packed = await run(
    'npm',
    ['pack', '--pack-destination', scratch, '--ignore-scripts', '--json'],
    root,
  );
  if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(scratch, info!.filename);
  packedFiles = info!.files.map((f) => f.path);
}, 60_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships no source maps, since it ships no sources: no .map file, no sourceMappingURL', () => {
    expect(packedFiles.filter((f) => f.startsWith('dist/')).length).toBeGreaterThan(50);
    expect(packedFiles.filter((f) => /\.map$/.test(f))).toEqual([]);
    expect(packedFiles.filter((f) => /\.ts$/.test(f) && !/\.d\.c?ts$/.test(f))).toEqual([]);
    const mapped = packedFiles
      .filter((f) => /\.(?:c?js|d\.c?ts)$/.test(f))
      .filter((f) => readFileSync(join(root, f), 'utf8').includes('sourceMappingURL'));
    expect(mapped).toEqual([]);
  });

  it('passes publint --strict', async () => {
    const r = await run(bin('publint'), ['run', tarball, '--strict'], root);
    expect(r.stdout + r.stderr).toContain('All good!');
    expect(r.code).toBe(0);
  }, 60_000);

  it('passes attw in every resolution mode (node10, node16 from CJS and ESM, bundler)', async () => {
    const r = await run(bin('attw'), [tarball, '--format', 'json'], root);
    const { analysis } = JSON.parse(r.stdout) as {
      analysis: {
        problems: { kind: string; entrypoint?: string; resolutionKind?: string }[];
        entrypoints: Record<
          string,
          {
            resolutions: Record<
              string,
              { resolution?: { fileName: string; isTypeScript: boolean } }
            >;
          }
        >;
      };
    };
    const problems = analysis.problems.filter((p) => !ACCEPTED_ATTW.includes(p.kind));
    expect(problems).toEqual([]);
    // Every subpath resolves to types in every mode: CommonJS ones to .d.cts, ESM ones to .d.ts.
    expect(Object.keys(analysis.entrypoints).sort()).toEqual(
      [...subpaths, './package.json'].sort(),
    );
    for (const subpath of subpaths) {
      const modes = analysis.entrypoints[subpath]!.resolutions;
      expect(modes['node10']?.resolution?.fileName, subpath).toMatch(/\.d\.cts$/);
      expect(modes['node16-cjs']?.resolution?.fileName, subpath).toMatch(/\.d\.cts$/);
      expect(modes['node16-esm']?.resolution?.fileName, subpath).toMatch(/\.d\.ts$/);
      expect(modes['bundler']?.resolution?.fileName, subpath).toMatch(/\.d\.ts$/);
    }
    expect(r.code).toBe(0);
  }, 60_000);
});

/** What a CommonJS app writes: the root, a store and an adapter, a Register, then runs it. */
const APP = `import { createSessions, generateKey, type Session, TesseraError } from 'tessera-session';
import * as express from 'tessera-session/express';
import { memoryStore } from 'tessera-session/memory';

declare module 'tessera-session' {
  interface Register {
    data: { views: number };
  }
}

export async function visitTwice(): Promise<number | undefined> {
  const sessions = createSessions({ store: memoryStore(), keys: [generateKey('k1')] });
  const first: Session = await sessions.load({ cookie: undefined, method: 'GET' });
  first.set('views', (first.get('views') ?? 0) + 1);
  const { setCookie } = await sessions.commit(first);
  const again = await sessions.load({ cookie: setCookie!.split(';')[0], method: 'GET' });
  return again.get('views');
}

// @ts-expect-error the registered data type: views is a number (never called)
export const wrong = (s: Session) => s.set('views', 'x');

export const adapter: string = typeof express.session;
export const isError: boolean =
  new TesseraError('ERR_CSRF', 'x', { details: { reason: 'bad_token' } }) instanceof Error;
`;

/** node16 keeps `import()` in a CommonJS file: the ESM side of the same package. */
const SAME_MODULE = `import { TesseraError } from 'tessera-session';

export async function sameClass(): Promise<boolean> {
  const esm = await import('tessera-session');
  return (esm.TesseraError as unknown) === TesseraError;
}
`;

/** The entry: requires every subpath of the package, runs the app, prints JSON. */
const MAIN = (extra: string) => `import { adapter, isError, visitTwice } from './app';
${extra ? "import { sameClass } from './same';\n" : ''}
const exported: Record<string, unknown> = require('tessera-session/package.json').exports;
const loaded = Object.keys(exported)
  .filter((k) => k !== './package.json')
  .map((k) => [k, typeof require(\`tessera-session\${k.slice(1)}\`)]);

async function main(): Promise<void> {
  const views = await visitTwice();
  ${extra ? 'const same = await sameClass();' : 'const same = null;'}
  console.log(JSON.stringify({ views, adapter, isError, same, loaded }));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

describe('a CommonJS TypeScript project', () => {
  let project = '';

  beforeAll(async () => {
    project = join(scratch, 'cjs-app');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'cjs-app', private: true, type: 'commonjs' }),
    );
    // From the tarball, offline: it has no dependencies to fetch.
    const installed = await run(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball],
      project,
    );
    if (installed.code !== 0) throw new Error(`npm install failed: ${installed.stderr}`);
    // Node's and Express's types, and the Fastify adapter's peer, from this repository's dev
    // dependencies (an app installs the peers of the adapters it uses).
    for (const dep of ['@types', 'fastify-plugin'])
      symlinkSync(join(root, 'node_modules', dep), join(project, 'node_modules', dep));
    writeFileSync(join(project, 'app.ts'), APP);
    writeFileSync(join(project, 'same.ts'), SAME_MODULE);
    writeFileSync(join(project, 'main10.ts'), MAIN(''));
    writeFileSync(join(project, 'main16.ts'), MAIN('same'));
    const base = { target: 'ES2022', strict: true, types: ['node'] };
    writeFileSync(
      join(project, 'tsconfig.node10.json'),
      JSON.stringify({
        compilerOptions: {
          ...base,
          module: 'commonjs',
          moduleResolution: 'node10',
          // TypeScript 6 deprecates node10; projects on it are what this checks.
          ignoreDeprecations: '6.0',
          // The same .d.cts files as node16, which checks them with skipLibCheck off.
          skipLibCheck: true,
          outDir: 'out10',
        },
        files: ['main10.ts'],
      }),
    );
    writeFileSync(
      join(project, 'tsconfig.node16.json'),
      JSON.stringify({
        compilerOptions: {
          ...base,
          module: 'node16',
          moduleResolution: 'node16',
          skipLibCheck: false,
          outDir: 'out16',
        },
        files: ['main16.ts'],
      }),
    );
  }, 60_000);

  for (const mode of ['node10', 'node16'] as const) {
    it(`type-checks with moduleResolution ${mode} and runs with require() on this Node`, async () => {
      const checked = await run(
        process.execPath,
        [tsc, '-p', `tsconfig.${mode}.json`, '--pretty', 'false'],
        project,
      );
      // Before the CommonJS types: node10 answered TS2307 (no types for the root import),
      // node16 TS1479 (a CommonJS file cannot import the ES module's types).
      expect(checked.stdout + checked.stderr).toBe('');
      expect(checked.code).toBe(0);

      const out = mode === 'node10' ? 'out10' : 'out16';
      const ran = await run(process.execPath, [join(out, `main${mode.slice(4)}.js`)], project);
      // No warning either: require() of the ES modules is silent from node_modules.
      expect(ran.stderr).toBe('');
      expect(ran.code).toBe(0);
      const result = JSON.parse(ran.stdout) as {
        views: number;
        adapter: string;
        isError: boolean;
        same: boolean | null;
        loaded: [string, string][];
      };
      expect(result.views).toBe(1);
      expect(result.adapter).toBe('function');
      expect(result.isError).toBe(true);
      expect(result.loaded).toEqual(subpaths.map((k) => [k, 'object']));
      // One copy of the code for require() and import(): a TesseraError is the same class.
      if (mode === 'node16') expect(result.same).toBe(true);
    }, 120_000);
  }
});

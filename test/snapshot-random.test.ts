/**
 * The CSPRNG pool of src/core/crypto.ts in a real startup snapshot (`node --build-snapshot`):
 * two processes started from one blob must not hand out the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'tessera-snapshot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A snapshot entry must be one CommonJS script that `require`s only built-in modules, so the
 * crypto module (which imports only `node:crypto` and `node:v8`) is transpiled as it is and
 * inlined. It draws from the pool while the snapshot is built, as an app that creates sessions
 * (or generates a key) during start-up would.
 */
function entryScript(): string {
  const source = readFileSync(join(root, 'src/core/crypto.ts'), 'utf8');
  const cjs = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  return `
const cryptoModule = { exports: {} };
(function (exports, module, require) {
${cjs}
})(cryptoModule.exports, cryptoModule, require);
const c = cryptoModule.exports;
c.randomToken(32);
const key = Buffer.alloc(32, 7);
require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {
  const sealed = Buffer.from(c.aeadSeal(key, 'x', 'aad'), 'base64url');
  process.stdout.write(JSON.stringify({ token: c.randomToken(32), iv: sealed.subarray(0, 12).toString('hex') }));
});
`;
}

describe('random pool in a startup snapshot', () => {
  it('gives two processes started from one snapshot blob different tokens and IVs', () => {
    const entry = join(dir, 'entry.js');
    const blob = join(dir, 'snapshot.blob');
    writeFileSync(entry, entryScript());
    execFileSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entry], {
      cwd: dir,
      stdio: 'pipe',
    });
    const run = () =>
      JSON.parse(
        execFileSync(process.execPath, ['--snapshot-blob', blob], { cwd: dir, encoding: 'utf8' }),
      ) as { token: string; iv: string };
    const a = run();
    const b = run();
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.iv).toMatch(/^[0-9a-f]{24}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.iv).not.toBe(b.iv);
  });
});

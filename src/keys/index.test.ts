import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isTesseraError } from '../core/errors.js';
import { KeyRing } from '../core/keys.js';
import { generateKey, KEY_FILE, loadKeys, parseKeys } from './index.js';

const secret = () => randomBytes(32).toString('base64');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isTesseraError(e) ? e.code : `not a TesseraError: ${String(e)}`;
  }
  return undefined;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tessera-keys-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('parseKeys', () => {
  it('reads the JSON form, primary first, and a single object', () => {
    const a = generateKey('a');
    const b = generateKey('b');
    expect(parseKeys(JSON.stringify([a, b]))).toEqual([a, b]);
    expect(parseKeys(`  ${JSON.stringify(a)}\n`)).toEqual([a]);
  });

  it('reads the compact form, with ISO dates (colons and all) or without a date', () => {
    const s1 = secret();
    const s2 = randomBytes(32).toString('base64url');
    const keys = parseKeys(` k2:${s1}:2026-11-27T10:20:30.000Z , k1:${s2}`, { now: 123 });
    expect(keys).toEqual([
      { id: 'k2', secret: s1, createdAt: '2026-11-27T10:20:30.000Z' },
      { id: 'k1', secret: s2, createdAt: 123 },
    ]);
    expect(new KeyRing(keys).ids).toEqual(['k2', 'k1']);
  });

  it('refuses missing, short, reused and malformed keys with ERR_KEY, never quoting a secret', () => {
    const s = secret();
    const bad = [
      '',
      '   ',
      '[]',
      '[{"id":"k1"',
      `[{"id":"k1","secret":"${s}"}]`,
      `[{"secret":"${s}","createdAt":0}]`,
      '[{"id":"k1","secret":"c2hvcnQ=","createdAt":0}]',
      `[{"id":"k1","secret":"${s}","createdAt":0},{"id":"k2","secret":"${s}","createdAt":0}]`,
      `[{"id":"k1","secret":"${s}","createdAt":0},{"id":"k1","secret":"${secret()}","createdAt":0}]`,
      `[{"id":"k1","secret":"${s}","createdAt":"not a date"}]`,
      '[1]',
      'k1',
      'k1:',
      `:${s}`,
      `k1:${s}:`,
      `k1:${s},`,
      'k1:c2hvcnQ=',
      `k1:${'A'.repeat(43)}=`,
      `k1:${s},k2:${s}`,
      `k1 x:${s}`,
      `k1:${s.slice(0, -2)}!!`,
    ];
    for (const text of bad) {
      expect(
        codeOf(() => parseKeys(text)),
        text,
      ).toBe('ERR_KEY');
      expect(messageOf(() => parseKeys(text))).not.toContain(s.slice(0, 12));
    }
    expect(messageOf(() => parseKeys(''))).toMatch(/JSON array .* compact form/);
  });
});

describe('loadKeys', () => {
  it('uses env when it is set, and writes no file', () => {
    const dir = tempDir();
    const k = generateKey('prod');
    expect(loadKeys({ env: JSON.stringify([k]), dir, production: true })).toEqual([k]);
    expect(readdirSync(dir)).toEqual([]);
    expect(codeOf(() => loadKeys({ env: 'k1:short', dir }))).toBe('ERR_KEY');
  });

  it('refuses to run without keys in production, pointing at TESSERA_KEYS', () => {
    const dir = tempDir();
    for (const env of [undefined, '', '  ']) {
      expect(codeOf(() => loadKeys({ env, dir, production: true }))).toBe('ERR_KEY');
    }
    expect(messageOf(() => loadKeys({ dir, production: true }))).toContain('set TESSERA_KEYS');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('creates one development key file (mode 0600) once, says so loudly, and reads it after', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const logs: string[] = [];
    const first = loadKeys({ dir, production: false, log: (m) => logs.push(m) });
    const second = loadKeys({ dir, production: false, log: (m) => logs.push(m) });
    expect(second).toEqual(first);
    expect(first).toHaveLength(1);
    const path = join(dir, KEY_FILE);
    expect(readdirSync(dir)).toEqual([KEY_FILE]);
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(first);
    expect(logs[0]).toMatch(/generated a DEVELOPMENT session key in .*keys\.json/);
    expect(logs[1]).toMatch(/using the DEVELOPMENT session key/);
    for (const m of logs) expect(m).not.toContain(String(first[0]!.secret));
  });

  it('refuses a key file other users can read (POSIX modes)', () => {
    if (process.platform === 'win32') return; // no POSIX modes to check
    const dir = tempDir();
    loadKeys({ dir, production: false, log: () => {} });
    chmodSync(join(dir, KEY_FILE), 0o644);
    expect(messageOf(() => loadKeys({ dir, production: false, log: () => {} }))).toMatch(
      /readable by other users .*chmod 600/,
    );
  });

  it('refuses a corrupt key file with ERR_KEY instead of replacing it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, KEY_FILE), '[{"id":"k1","secret":"c2hvcnQ=","createdAt":0}]', {
      mode: 0o600,
    });
    expect(codeOf(() => loadKeys({ dir, production: false, log: () => {} }))).toBe('ERR_KEY');
    expect(readFileSync(join(dir, KEY_FILE), 'utf8')).toContain('c2hvcnQ=');
  });

  it('gives processes that start at once on an empty folder the same key', async () => {
    const dir = tempDir();
    const entry = fileURLToPath(new URL('./index.ts', import.meta.url));
    const script = `
      import { loadKeys } from ${JSON.stringify(entry)};
      process.stdout.write('ready\\n');
      process.stdin.once('data', () => {
        const logs = [];
        const keys = loadKeys({ dir: ${JSON.stringify(dir)}, production: false, log: (m) => logs.push(m) });
        process.stdout.write(JSON.stringify({ id: keys[0].id, created: logs[0].includes('generated') }) + '\\n');
        process.exit(0);
      });`;
    const children = Array.from({ length: 4 }, () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += String(d);
      });
      child.stderr.on('data', (d) => {
        err += String(d);
      });
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => out.includes('ready\n') && resolve());
        child.once('exit', (code) =>
          reject(new Error(`child exited ${code} before ready: ${err}`)),
        );
      });
      const done = new Promise<{ id: string; created: boolean }>((resolve, reject) => {
        child.once('exit', (code) => {
          if (code !== 0) reject(new Error(`child exited ${code}: ${err}`));
          else resolve(JSON.parse(out.slice(out.indexOf('ready\n') + 6)));
        });
      });
      return { child, ready, done };
    });
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.child.stdin.write('go\n');
    const results = await Promise.all(children.map((c) => c.done));
    const ids = new Set(results.map((r) => r.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([KEY_FILE]);
    expect(loadKeys({ dir, production: false, log: () => {} })[0]!.id).toBe([...ids][0]);
  }, 60_000);
});

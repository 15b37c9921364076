import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
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

  it('makes a development key only for NODE_ENV exactly development or test, or production: false', () => {
    const saved = process.env.NODE_ENV;
    try {
      for (const value of [undefined, '', 'prod', 'Production', 'production ', 'staging', 'dev']) {
        if (value === undefined) delete process.env.NODE_ENV;
        else process.env.NODE_ENV = value;
        const dir = tempDir();
        const logs: string[] = [];
        const message = messageOf(() => loadKeys({ dir, log: (m) => logs.push(m) }));
        expect(message, String(value)).toContain('set TESSERA_KEYS');
        expect(message, String(value)).toContain(
          value === undefined ? 'NODE_ENV is unset' : `NODE_ENV is ${JSON.stringify(value)}`,
        );
        expect(codeOf(() => loadKeys({ dir, log: () => {} }))).toBe('ERR_KEY');
        expect(readdirSync(dir), String(value)).toEqual([]);
        expect(logs).toEqual([]);
        // The explicit option opts in, whatever NODE_ENV says, and the notice says why.
        const explicit: string[] = [];
        expect(loadKeys({ dir, production: false, log: (m) => explicit.push(m) })).toHaveLength(1);
        expect(explicit[0]).toMatch(/generated a DEVELOPMENT session key .*production: false/);
      }
      for (const value of ['development', 'test']) {
        process.env.NODE_ENV = value;
        const logs: string[] = [];
        expect(loadKeys({ dir: tempDir(), log: (m) => logs.push(m) })).toHaveLength(1);
        expect(logs[0]).toContain(`because NODE_ENV is "${value}"`);
        // production: true wins over NODE_ENV.
        expect(codeOf(() => loadKeys({ dir: tempDir(), production: true }))).toBe('ERR_KEY');
      }
    } finally {
      if (saved === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = saved;
    }
  });

  // POSIX owners and modes; giving a file to another uid needs root (these suites run as root).
  const posixRoot = process.platform !== 'win32' && process.getuid?.() === 0;
  const OTHER_UID = 54_321;

  it.skipIf(!posixRoot)('refuses a key file owned by another user', () => {
    const dir = tempDir();
    const first = loadKeys({ dir, production: false, log: () => {} });
    const path = join(dir, KEY_FILE);
    chownSync(path, OTHER_UID, OTHER_UID);
    expect(codeOf(() => loadKeys({ dir, production: false, log: () => {} }))).toBe('ERR_KEY');
    expect(messageOf(() => loadKeys({ dir, production: false, log: () => {} }))).toMatch(
      new RegExp(`belongs to another user \\(uid ${OTHER_UID}`),
    );
    // Left as it was, not replaced.
    expect(statSync(path).uid).toBe(OTHER_UID);
    chownSync(path, 0, 0);
    expect(loadKeys({ dir, production: false, log: () => {} })).toEqual(first);
  });

  it.skipIf(!posixRoot)(
    'refuses a folder others can write (no sticky bit) or another user owns, before writing a key',
    () => {
      const dir = tempDir();
      chmodSync(dir, 0o777);
      expect(messageOf(() => loadKeys({ dir, production: false, log: () => {} }))).toMatch(
        /writable by other users \(mode 777\).*chmod go-w/,
      );
      expect(readdirSync(dir)).toEqual([]);
      chmodSync(dir, 0o770);
      expect(codeOf(() => loadKeys({ dir, production: false, log: () => {} }))).toBe('ERR_KEY');
      expect(readdirSync(dir)).toEqual([]);
      // A key file made while the folder was private is refused once the folder opens up.
      chmodSync(dir, 0o700);
      loadKeys({ dir, production: false, log: () => {} });
      chmodSync(dir, 0o757);
      expect(codeOf(() => loadKeys({ dir, production: false, log: () => {} }))).toBe('ERR_KEY');
      chmodSync(dir, 0o700);
      chownSync(dir, OTHER_UID, OTHER_UID);
      expect(messageOf(() => loadKeys({ dir, production: false, log: () => {} }))).toMatch(
        /key folder .* belongs to another user/,
      );
      chownSync(dir, 0, 0);
    },
  );

  it.skipIf(!posixRoot)(
    'accepts its own key file in a sticky world-writable folder, as /tmp is',
    () => {
      const dir = tempDir();
      chmodSync(dir, 0o1777);
      const logs: string[] = [];
      const first = loadKeys({ dir, production: false, log: (m) => logs.push(m) });
      expect(loadKeys({ dir, production: false, log: (m) => logs.push(m) })).toEqual(first);
      expect(logs[0]).toMatch(/generated a DEVELOPMENT session key/);
      // Someone else's file there is still refused: the sticky bit protects only one's own files.
      chownSync(join(dir, KEY_FILE), OTHER_UID, OTHER_UID);
      expect(codeOf(() => loadKeys({ dir, production: false, log: () => {} }))).toBe('ERR_KEY');
    },
  );

  it.skipIf(process.platform === 'win32')('refuses a key file that is a symbolic link', () => {
    const elsewhere = tempDir();
    loadKeys({ dir: elsewhere, production: false, log: () => {} });
    const dir = tempDir();
    symlinkSync(join(elsewhere, KEY_FILE), join(dir, KEY_FILE));
    expect(messageOf(() => loadKeys({ dir, production: false, log: () => {} }))).toMatch(
      /symbolic link/,
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

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isStoreUrl, openStore, redactStoreUrl } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openStore', () => {
  it('recognises the URL forms without connecting', () => {
    for (const u of [
      'memory',
      'sqlite:a.db',
      'redis://h:1',
      'rediss://h',
      'redis+cluster://a:1,b:2',
      'postgres://u@h/db',
      'postgresql://h/db',
    ]) {
      expect(isStoreUrl(u)).toBe(true);
    }
    for (const u of ['', 'sqlite:', 'mysql://h', 'redis:/h', 'memory2'])
      expect(isStoreUrl(u)).toBe(false);
  });

  it('redacts passwords', () => {
    expect(redactStoreUrl('postgres://app:s3cret@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redactStoreUrl('redis://h:6379')).toBe('redis://h:6379');
  });

  it('redacts a password holding a raw @, one in the query, and one without a user name', () => {
    const cases: [string, string, string[]][] = [
      ['postgres://app:p@ss@w0rd@db:5432/x', 'postgres://app:***@db:5432/x', ['p@ss', 'w0rd']],
      ['redis://:top@secret@h:6379/0', 'redis://:***@h:6379/0', ['top', 'secret']],
      ['redis://:AbC/dE?f+g#h=@h:6379', 'redis://:***@h:6379', ['AbC', 'dE', 'f+g']],
      ['redis+cluster://u:a@b@h1:1,h2:2', 'redis+cluster://u:***@h1:1,h2:2', ['a@b', '@b@']],
      [
        'postgres://u@db/x?sslmode=require&password=hunter2&application_name=a',
        'postgres://u@db/x?sslmode=require&password=***&application_name=a',
        ['hunter2'],
      ],
      [
        'postgres://db/x?PassWord=hunter2&sslpassword=k3y#frag',
        'postgres://db/x?PassWord=***&sslpassword=***#frag',
        ['hunter2', 'k3y'],
      ],
      ['redis://h:6379/?pass%77ord=hunter2', 'redis://h:6379/?pass%77ord=***', ['hunter2']],
      [
        'rediss://u:s3cret@h:6380?password=two',
        'rediss://u:***@h:6380?password=***',
        ['s3cret', 'two'],
      ],
    ];
    for (const [url, want, secrets] of cases) {
      const got = redactStoreUrl(url);
      expect(got, url).toBe(want);
      for (const s of secrets) expect(got, url).not.toContain(s);
    }
    // Nothing to hide: unchanged.
    for (const u of ['memory', 'sqlite:.tessera/demo.db', 'postgres://u@db/x?sslmode=require'])
      expect(redactStoreUrl(u)).toBe(u);
  });

  it('opens memory and SQLite (creating a private folder relative to cwd)', async () => {
    const m = await openStore('memory');
    expect(m.name).toBe('memory');
    await m.close();
    const s = await openStore('sqlite:nested/s.db', { cwd: dir });
    expect(s.name).toBe('sqlite');
    expect(statSync(join(dir, 'nested')).mode & 0o777).toBe(0o700);
    await s.close();
  });

  it('refuses an unknown URL with ERR_CONFIG and never echoes a password', async () => {
    await expect(openStore('mysql://u:pw@h/db')).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.not.stringContaining('pw'),
    });
  });
});

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

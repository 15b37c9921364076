/**
 * What a user gets from the registry: the packed file list (`npm pack --dry-run --json`), the
 * license, the package.json links, README links that work on the registry page, source maps that
 * point only at shipped files, and a lock file that installs on this Node without an engine
 * warning. Needs `npm run build` first (`npm test` does it).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const REPO = 'tessera-session/tessera';

interface PackedFile {
  path: string;
  size: number;
}

function npm(args: string[], cwd: string): { status: number | null; output: string } {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env } });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

function packedFiles(): PackedFile[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed: ${r.stderr}`);
  const [pack] = JSON.parse(r.stdout) as { files: PackedFile[] }[];
  return pack!.files;
}

/** Every link target in a Markdown text, outside fenced code blocks and code spans. */
function markdownLinks(markdown: string): string[] {
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  const links: string[] = [];
  for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
    links.push(m[1]!);
  for (const m of text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm))
    links.push(m[1]!);
  for (const m of text.matchAll(/<(https?:\/\/[^>\s]+)>/g)) links.push(m[1]!);
  for (const m of text.matchAll(/\b(?:href|src)\s*=\s*"([^"]+)"/g)) links.push(m[1]!);
  return links;
}

/** The repository path an absolute link to this project's repository names, or null. */
function repoPath(url: string): string | null {
  const u = new URL(url);
  const path = decodeURIComponent(u.pathname);
  if (u.host === 'github.com') {
    const m = new RegExp(`^/${REPO}/(?:blob|tree|raw)/main/(.+)$`).exec(path);
    return m ? m[1]! : null;
  }
  if (u.host === 'raw.githubusercontent.com') {
    const m = new RegExp(`^/${REPO}/main/(.+)$`).exec(path);
    return m ? m[1]! : null;
  }
  return null;
}

describe('the packed package', () => {
  let files: PackedFile[];
  let names: Set<string>;

  beforeAll(() => {
    files = packedFiles();
    names = new Set(files.map((f) => f.path));
    // The checks below would pass vacuously on an unbuilt tree.
    if (!names.has('dist/index.js')) throw new Error('dist/ is not built: run `npm run build`');
  });

  it('ships an MIT LICENSE that matches package.json', () => {
    expect(names).toContain('LICENSE');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      license: string;
    };
    expect(pkg.license).toBe('MIT');
    const text = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(text).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the tessera authors\n/);
    expect(text).toContain('THE SOFTWARE IS PROVIDED "AS IS"');
  });

  it('names its repository, homepage and issue tracker in package.json', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(pkg.repository).toEqual({ type: 'git', url: `git+https://github.com/${REPO}.git` });
    expect(pkg.homepage).toBe(`https://github.com/${REPO}#readme`);
    expect(pkg.bugs).toEqual({ url: `https://github.com/${REPO}/issues` });
  });

  it('links the README only to absolute URLs (repository files that exist) or shipped files', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const links = markdownLinks(readme);
    expect(links.length).toBeGreaterThan(5);
    const broken: string[] = [];
    // A reference link without its definition renders as plain text.
    const defined = new Set([...readme.matchAll(/^\s*\[([^\]]+)\]:/gm)].map((m) => m[1]!));
    for (const m of readme.matchAll(/\]\[([^\]]+)\]/g))
      if (!defined.has(m[1]!)) broken.push(`[${m[1]}] (no definition)`);
    for (const link of links) {
      if (link.startsWith('#')) continue; // an anchor in the README itself
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) {
        if (!/^https?:/.test(link)) continue; // mailto: and the like
        const path = repoPath(link);
        if (path !== null && !existsSync(join(root, path.split('#')[0]!)))
          broken.push(`${link} (no ${path} in the repository)`);
        continue;
      }
      // Relative: on the registry page it works only if the file ships in the package.
      const target = posix.normalize(link.split('#')[0]!.split('?')[0]!);
      if (!names.has(target)) broken.push(`${link} (not in the packed files)`);
    }
    expect(broken).toEqual([]);
  });

  it('ships no source map and no sourceMappingURL that points at an unshipped file', () => {
    const bad: string[] = [];
    for (const f of files) {
      const dir = posix.dirname(f.path);
      if (f.path.endsWith('.map')) {
        const map = JSON.parse(readFileSync(join(root, f.path), 'utf8')) as {
          sources: string[];
          sourceRoot?: string;
          sourcesContent?: (string | null)[];
        };
        map.sources.forEach((source, i) => {
          if (typeof map.sourcesContent?.[i] === 'string') return; // inlined: nothing to fetch
          const resolved = posix.normalize(posix.join(dir, map.sourceRoot ?? '', source));
          if (!names.has(resolved)) bad.push(`${f.path} → ${resolved}`);
        });
      }
      if (/\.[cm]?js$|\.d\.[cm]?ts$/.test(f.path)) {
        const code = readFileSync(join(root, f.path), 'utf8');
        for (const m of code.matchAll(/^\/\/# sourceMappingURL=(\S+)\s*$/gm)) {
          if (m[1]!.startsWith('data:')) continue;
          const resolved = posix.normalize(posix.join(dir, m[1]!));
          if (!names.has(resolved)) bad.push(`${f.path} → ${resolved}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('the lock file', () => {
  it(`installs with npm ci on this Node (${process.version}) without an EBADENGINE warning`, () => {
    // A copy of the manifest and lock in a scratch folder: the dry run reads only those, offline,
    // and cannot touch this tree's node_modules.
    const dir = mkdtempSync(join(tmpdir(), 'tessera-ci-'));
    try {
      for (const f of ['package.json', 'package-lock.json'])
        copyFileSync(join(root, f), join(dir, f));
      const r = npm(
        ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'],
        dir,
      );
      expect(r.status, r.output).toBe(0);
      const warnings = r.output.split('\n').filter((l) => l.includes('EBADENGINE'));
      expect(warnings).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

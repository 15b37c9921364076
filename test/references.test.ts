/**
 * Comments and docs point at files that exist, inside this repository: every relative path a
 * comment in src/, demo/, examples/, bench/, test/ or test-d/ names (`docs/operations.md`,
 * `src/core/engine.ts`, `./support/namespace.ts`), and every such path or link target in the
 * Markdown files (the README, docs/, …), resolves — from the repository root or from the
 * file's own folder — to a file or folder in the repository. A path that leaves the
 * repository (into a `shared/` folder beside it, say) is refused even where it exists on this machine:
 * a reader of the published package or the repository does not have it. `dist/` paths are
 * built output and are checked after `npm run build` like any other.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** The folders whose comments are checked, and the Markdown files at the top. */
const CODE_DIRS = ['src', 'demo', 'examples', 'bench', 'test', 'test-d', 'scripts'];
const SKIP_DIRS = new Set(['node_modules', 'dist', '.tmp', 'results', 'screenshots', '.git']);

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (SKIP_DIRS.has(e.name) ? [] : walk(join(dir, e.name))) : [join(dir, e.name)],
  );
}

/**
 * A relative path to a repository file: segments of `[\w.@-]`, at least one `/`, ending in a
 * file extension this repository uses; `./` and `../` allowed in front.
 */
const PATH =
  /(?<![\w@/.:-])((?:\.{1,2}\/)*(?:[\w@-][\w.@-]*\/)+[\w.-]*\w\.(?:md|ts|mts|cts|mjs|cjs|js|json|css|html|sql|lua|yml|yaml))(?![\w/])/g;
/** A top-level document named without a folder (`SECURITY.md`, `CHANGELOG.md`): from the root. */
const BARE = /(?<![\w/.-])([A-Z][A-Za-z_-]*\.md)\b/g;
/** A design decision cited by number (`DESIGN decision 13`, `DESIGN decisions 3 and 4`). */
const DECISION = /\bDESIGN\s+decisions?\s+(\d+)(?:\s*(?:,|and)\s*(\d+))*/g;
/** The numbers of the decisions docs/design.md lists. */
const DECISIONS = new Set(
  existsSync(join(root, 'docs', 'design.md'))
    ? [...readFileSync(join(root, 'docs', 'design.md'), 'utf8').matchAll(/^(\d+)\. /gm)].map((m) =>
        Number(m[1]),
      )
    : [],
);

/** A Markdown link target: `](target)`, without its `#fragment`. */
const LINK = /\]\(\s*<?([^)\s>#]+)[^)]*\)/g;
/** A Markdown reference definition: `[name]: target`. */
const REF = /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm;

/** Comment text of a source file: `//` lines and `/* … *\/` blocks (JSDoc included). */
function commentsOf(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = text.split('\n');
  let inBlock = false;
  lines.forEach((raw, i) => {
    let line = raw;
    let comment = '';
    if (inBlock) {
      const end = line.indexOf('*/');
      if (end === -1) comment = line;
      else {
        comment = line.slice(0, end);
        inBlock = false;
        line = line.slice(end + 2);
      }
      if (inBlock) {
        out.push({ line: i + 1, text: comment });
        return;
      }
    }
    const start = line.search(/\/\*|(?<![:'"`\w])\/\//);
    if (start !== -1) {
      if (line.startsWith('/*', start)) {
        const end = line.indexOf('*/', start + 2);
        if (end === -1) {
          inBlock = true;
          comment += line.slice(start + 2);
        } else comment += line.slice(start + 2, end);
      } else comment += line.slice(start + 2);
    }
    if (comment) out.push({ line: i + 1, text: comment });
  });
  return out;
}

/** Whether `target` (as written in `file`) names something in the repository. */
function resolves(file: string, target: string): 'ok' | 'missing' | 'outside' {
  const candidates = [resolve(dirname(file), target), resolve(root, target)];
  // `src/core/engine.ts` in a test names the source; `./engine.js` in a source names its `.ts`.
  const withTs = candidates.flatMap((c) =>
    /\.js$/.test(c) ? [c, c.replace(/\.js$/, '.ts')] : [c],
  );
  const inside = withTs.filter((c) => c === root || c.startsWith(root + sep));
  if (inside.length === 0) return 'outside';
  if (inside.some((c) => existsSync(c))) return 'ok';
  // A path that leaves the repository from the file's own folder is refused even if a root-
  // relative reading would miss too.
  if (target.startsWith('../') && !resolve(dirname(file), target).startsWith(root + sep))
    return 'outside';
  return 'missing';
}

interface Finding {
  where: string;
  target: string;
  problem: 'missing' | 'outside';
}

/** Every reference a piece of comment or Markdown text makes: paths, bare documents, decisions. */
function targetsOf(text: string): string[] {
  const out = [...text.matchAll(PATH)].map((m) => m[1]!);
  for (const m of text.matchAll(BARE)) out.push(m[1]!);
  for (const m of text.matchAll(DECISION)) {
    for (const n of m[0].match(/\d+/g)!) out.push(`docs/design.md#decision-${n}`);
  }
  return out;
}

function check(file: string, line: number, text: string, targets: string[], out: Finding[]) {
  for (const raw of targets) {
    let target = raw.replace(/[.,;:]+$/, '');
    // This repository's own files by URL (the README's links, for the npm page) are checked too.
    const own =
      /^https:\/\/(?:github\.com\/tessera-session\/tessera\/(?:blob|tree)|raw\.githubusercontent\.com\/tessera-session\/tessera)\/main\/([^#?]+)/.exec(
        target,
      );
    if (own) target = own[1]!;
    const decision = /^docs\/design\.md#decision-(\d+)$/.exec(target);
    if (decision) {
      if (!DECISIONS.has(Number(decision[1])))
        out.push({ where: `${relative(root, file)}:${line}`, target, problem: 'missing' });
      continue;
    }
    // A bare top-level document (`SECURITY.md`) is read from the root.
    if (/^[A-Z][A-Za-z_-]*\.md$/.test(target)) {
      if (!existsSync(join(root, target)) && !existsSync(join(dirname(file), target)))
        out.push({ where: `${relative(root, file)}:${line}`, target, problem: 'missing' });
      continue;
    }
    if (/^[a-z][\w+.-]*:/i.test(target) || target.startsWith('#') || target.startsWith('/'))
      continue;
    // A package's own path (`hono/utils/http-status`, `@types/express/index.d.ts`) is not ours.
    if (/^(?:@|node_modules\/)/.test(target)) continue;
    const problem = resolves(file, target);
    if (problem !== 'ok') out.push({ where: `${relative(root, file)}:${line}`, target, problem });
    void text;
  }
}

/** Every dangling or outside reference in the repository's comments and Markdown. */
function findings(): Finding[] {
  const out: Finding[] = [];
  const markdown = [
    ...readdirSync(root)
      .filter((f) => f.endsWith('.md'))
      .map((f) => join(root, f)),
    ...walk(join(root, 'docs')).filter((f) => f.endsWith('.md')),
    ...CODE_DIRS.flatMap((d) => walk(join(root, d))).filter((f) => f.endsWith('.md')),
  ];
  for (const file of markdown) {
    const text = readFileSync(file, 'utf8');
    text.split('\n').forEach((line, i) => {
      const targets = [...[...line.matchAll(LINK)].map((m) => m[1]!), ...targetsOf(line)];
      check(file, i + 1, line, targets, out);
    });
    for (const m of text.matchAll(REF)) {
      const lineNo = text.slice(0, m.index).split('\n').length;
      check(file, lineNo, m[0], [m[1]!], out);
    }
  }
  const code = CODE_DIRS.flatMap((d) => walk(join(root, d))).filter((f) =>
    /\.(?:ts|mts|cts|mjs|js)$/.test(f),
  );
  for (const file of code) {
    for (const { line, text } of commentsOf(readFileSync(file, 'utf8'))) {
      check(file, line, text, targetsOf(text), out);
    }
  }
  return out;
}

describe('references in comments and docs', () => {
  it('point at files that exist in the repository, never outside it', () => {
    expect(findings()).toEqual([]);
  });

  it('finds a dangling path, an outside one and a dead link (the check can fail)', () => {
    const out: Finding[] = [];
    const file = join(root, 'src', 'core', 'errors.ts');
    check(file, 1, '', ['docs/no-such-file.md'], out);
    check(file, 2, '', ['../shared/DESIGN.md'], out);
    check(file, 3, '', ['../../../shared/DESIGN.md'], out);
    check(file, 4, '', ['docs/operations.md', './errors.ts', '../adapters/shared/status.js'], out);
    check(file, 5, '', ['https://example.com/x.md', '#anchor'], out);
    check(file, 7, '', ['https://github.com/tessera-session/tessera/blob/main/docs/gone.md'], out);
    check(
      file,
      6,
      '',
      targetsOf('as STYLE.md asks (DESIGN decisions 4 and 99); see SECURITY.md'),
      out,
    );
    expect(out).toEqual([
      { where: 'src/core/errors.ts:1', target: 'docs/no-such-file.md', problem: 'missing' },
      { where: 'src/core/errors.ts:2', target: '../shared/DESIGN.md', problem: 'missing' },
      { where: 'src/core/errors.ts:3', target: '../../../shared/DESIGN.md', problem: 'outside' },
      { where: 'src/core/errors.ts:7', target: 'docs/gone.md', problem: 'missing' },
      { where: 'src/core/errors.ts:6', target: 'STYLE.md', problem: 'missing' },
      { where: 'src/core/errors.ts:6', target: 'docs/design.md#decision-99', problem: 'missing' },
    ]);
    expect(
      [...' see `docs/errors.md`, and ../shared/STYLE.md.'.matchAll(PATH)].map((m) => m[1]),
    ).toEqual(['docs/errors.md', '../shared/STYLE.md']);
    expect(
      commentsOf("const a = 'http://x/y.ts'; // see src/index.ts\n/**\n * docs/errors.md\n */"),
    ).toEqual([
      { line: 1, text: ' see src/index.ts' },
      { line: 2, text: '*' },
      { line: 3, text: ' * docs/errors.md' },
      { line: 4, text: ' ' },
    ]);
  });
});

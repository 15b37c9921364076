/**
 * Every TypeScript block in the docs compiles under `--strict`, against the built package.
 *
 * What is checked: each fenced block tagged `ts` or `typescript` in README.md, SECURITY.md and
 * docs/**\/*.md becomes its own module in a temporary folder inside the repository (so
 * `tessera-session/...` imports resolve to this package through its `exports` map, i.e. to
 * `dist/`: run `npm run build` first). All of them are type-checked in one `tsc --noEmit` run
 * (`--strict` and more, see COMPILER_OPTIONS; NodeNext, ES2022, Node types; the framework and
 * driver types come from node_modules).
 * Other blocks (sh, json, text, …) are not touched.
 *
 * Conventions in the Markdown, written as HTML comments so the rendered page stays clean. They
 * go on the lines right before the block's fence (blank lines and other comments may sit between):
 *
 * - A fragment declares what it assumes; the comment's text (it may span lines) is put above the
 *   block's code:
 *   `<!-- ts-assume: declare const app: import('express').Express; -->`
 * - A block that must stay uncompiled (pseudo-code) is opted out with a reason, which is required:
 *   `<!-- ts-skip: pseudo-code of the store contract -->`. The test prints how many were skipped.
 *
 * A `ts-assume` / `ts-skip` that is not right before a TypeScript block fails the test, so a
 * directive cannot silently stop applying when the text around it moves.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** One TypeScript block found in a Markdown file. */
interface DocBlock {
  /** Repository-relative path of the Markdown file. */
  file: string;
  /** 1-based line of the block's first code line. */
  line: number;
  code: string;
  /** Declarations from `ts-assume` comments, in order. */
  assume: string[];
  /** The `ts-skip` reason, when the block is opted out. */
  skip?: string;
}

const TS_TAGS = new Set(['ts', 'typescript']);

/**
 * The TypeScript blocks of one Markdown text, with their directives.
 * @throws Error on a directive that is not right before a TypeScript block, a `ts-skip` without a
 *   reason, or an unclosed fence
 */
function extractBlocks(file: string, text: string): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  let pending: { kind: 'assume' | 'skip'; text: string; line: number }[] = [];
  const stray = (at: number, why: string) =>
    new Error(`${file}:${at}: ts-${pending[0]?.kind} ${why}`);

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === '') continue;

    if (trimmed.startsWith('<!--')) {
      // An HTML comment, possibly over several lines.
      let body = trimmed.slice(4);
      const start = i;
      while (!body.includes('-->')) {
        i++;
        if (i >= lines.length) throw new Error(`${file}:${start + 1}: unclosed HTML comment`);
        body += `\n${lines[i]!.trim()}`;
      }
      const content = body.slice(0, body.indexOf('-->')).trim();
      const directive = /^ts-(assume|skip)\b:?([\s\S]*)$/.exec(content);
      if (directive) {
        const kind = directive[1] as 'assume' | 'skip';
        const rest = directive[2]!.trim();
        if (kind === 'skip' && !rest)
          throw new Error(`${file}:${start + 1}: ts-skip needs a reason`);
        pending.push({ kind, text: rest, line: start + 1 });
      }
      continue;
    }

    const fence = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
    if (!fence) {
      if (pending.length) throw stray(pending[0]!.line, 'is not right before a ```ts block');
      continue;
    }
    const [, indent, marks] = fence as unknown as [string, string, string, string];
    const tag = fence[3]!.toLowerCase();
    const close = new RegExp(`^\\s*${marks[0] === '`' ? '`' : '~'}{${marks.length},}\\s*$`);
    const code: string[] = [];
    const first = i + 2;
    for (i++; ; i++) {
      if (i >= lines.length) throw new Error(`${file}:${first - 1}: unclosed code fence`);
      if (close.test(lines[i]!)) break;
      // Blocks inside list items are indented: drop the fence's indentation.
      const l = lines[i]!;
      code.push(l.startsWith(indent!) ? l.slice(indent!.length) : l.trimStart());
    }
    if (TS_TAGS.has(tag)) {
      const skip = pending.find((p) => p.kind === 'skip');
      blocks.push({
        file,
        line: first,
        code: code.join('\n'),
        assume: pending.filter((p) => p.kind === 'assume').map((p) => p.text),
        ...(skip ? { skip: skip.text } : {}),
      });
    } else if (pending.length) {
      throw stray(
        pending[0]!.line,
        `is before a \`\`\`${tag || '(untagged)'} block, not a TypeScript one`,
      );
    }
    pending = [];
  }
  if (pending.length) throw stray(pending[0]!.line, 'is not followed by any block');
  return blocks;
}

/** README.md, SECURITY.md and every Markdown file under docs/. */
function docFiles(): string[] {
  const files = ['README.md', 'SECURITY.md'].filter((f) => existsSync(join(root, f)));
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  return files.sort();
}

/**
 * The compiler options of a strict user project: `--strict` plus this repository's own extra
 * checks, each of which only rejects more code — a block that passes here passes under plain
 * `--strict` too.
 */
const COMPILER_OPTIONS = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
  target: 'ES2022',
  lib: ['ES2023'],
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  types: ['node'],
  skipLibCheck: true,
  noEmit: true,
};

describe('extractBlocks', () => {
  it('attaches ts-assume comments (one or several lines) and ts-skip reasons to the next block', () => {
    const md = [
      '# T',
      '<!-- ts-assume: declare const a: number; -->',
      '<!-- quickstart:start -->',
      '',
      '```ts',
      'a + 1;',
      '```',
      '```sh',
      'echo no',
      '```',
      '- item',
      '  <!-- ts-assume',
      '  declare const b: string;',
      '  declare const c: string;',
      '  -->',
      '  ```typescript',
      '  b + c;',
      '  ```',
      '<!-- ts-skip: pseudo-code -->',
      '~~~ts',
      'not ts at all',
      '~~~',
    ].join('\n');
    expect(extractBlocks('x.md', md)).toEqual([
      { file: 'x.md', line: 6, code: 'a + 1;', assume: ['declare const a: number;'] },
      {
        file: 'x.md',
        line: 17,
        code: 'b + c;',
        assume: ['declare const b: string;\ndeclare const c: string;'],
      },
      { file: 'x.md', line: 21, code: 'not ts at all', assume: [], skip: 'pseudo-code' },
    ]);
  });

  it('refuses a directive that is not right before a TypeScript block, and a bare ts-skip', () => {
    const code = ['```ts', 'x', '```'];
    expect(() =>
      extractBlocks('x.md', ['<!-- ts-assume: declare const a: 1 -->', 'text', ...code].join('\n')),
    ).toThrow(/x\.md:1: ts-assume is not right before/);
    expect(() =>
      extractBlocks('x.md', ['<!-- ts-skip: why -->', '```sh', 'ls', '```'].join('\n')),
    ).toThrow(/x\.md:1: ts-skip is before a ```sh block/);
    expect(() => extractBlocks('x.md', ['<!-- ts-skip -->', ...code].join('\n'))).toThrow(
      /ts-skip needs a reason/,
    );
    expect(() => extractBlocks('x.md', '<!-- ts-assume: declare const a: 1 -->')).toThrow(
      /not followed by any block/,
    );
  });
});

describe('docs code blocks', () => {
  const dir = join(root, 'test', '.tmp', `docs-compile-${process.pid}-${Date.now()}`);

  beforeAll(() => {
    if (!existsSync(join(root, 'dist', 'index.d.ts')))
      throw new Error('The docs import the built package: run `npm run build` first.');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('every TypeScript block in README.md, SECURITY.md and docs/ compiles under --strict', () => {
    const blocks = docFiles().flatMap((f) => extractBlocks(f, readFileSync(join(root, f), 'utf8')));
    const skipped = blocks.filter((b) => b.skip !== undefined);
    const checked = blocks.filter((b) => b.skip === undefined);
    console.log(
      `docs-compile: ${checked.length} TypeScript blocks type-checked, ${skipped.length} skipped` +
        skipped.map((b) => `\n  skipped ${b.file}:${b.line}: ${b.skip}`).join(''),
    );
    expect(checked.length).toBeGreaterThan(0);

    mkdirSync(dir, { recursive: true });
    // Map a line of a generated module back to the Markdown line it came from.
    const origin = new Map<string, (line: number) => string>();
    const files = checked.map((b, n) => {
      const name = `${String(n).padStart(3, '0')}-${b.file.replace(/[^a-z0-9]+/gi, '-')}-${b.line}.ts`;
      const header = b.assume.join('\n');
      const headerLines = header ? header.split('\n').length : 0;
      // `export {}` makes a block without imports a module too: top-level await works and its
      // names do not clash with other blocks'.
      writeFileSync(join(dir, name), `${header ? `${header}\n` : ''}${b.code}\nexport {};\n`);
      origin.set(name, (line) =>
        line <= headerLines
          ? `${b.file} (ts-assume of the block at ${b.line})`
          : `${b.file}:${b.line + line - headerLines - 1}`,
      );
      return name;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: COMPILER_OPTIONS, files }, null, 2),
    );

    const tsc = spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--pretty', 'false'],
      { encoding: 'utf8', cwd: root },
    );
    const output = `${tsc.stdout}${tsc.stderr}`;
    // "<file>(<line>,<col>): error TSnnnn: …" → "docs/<name>.md:<line>:<col> error TSnnnn: …"
    const errors = output
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        const m = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(l);
        const where = m && origin.get(relative(dir, join(root, m[1]!)));
        return where ? `${where(Number(m![2]))}:${m![3]} ${m![4]}` : l;
      });
    expect(errors).toEqual([]);
    expect(tsc.status).toBe(0);
  }, 180_000);
});

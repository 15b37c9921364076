/**
 * The shape of src/: no import cycle anywhere (DESIGN "Layers": data flows down, nothing flows
 * up). Every relative import of every source file counts, `import type` and `export … from`
 * included, since a type-only cycle still ties two modules into one unit a reader cannot hold
 * apart. Imports are read with TypeScript's own scanner (`preProcessFile`), so an import in a
 * comment or a string is not one.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', 'src');

/** Cycles that exist and are someone's to break: none. A cycle may only be added here with an issue. */
const KNOWN_CYCLES: readonly string[] = [];

/** A closed path rotated to start at its alphabetically first file, printed with arrows. */
function normalized(cycle: readonly string[]): string {
  const open = cycle.slice(0, -1);
  const first = open.indexOf([...open].sort()[0]!);
  const rotated = [...open.slice(first), ...open.slice(0, first)];
  return [...rotated, rotated[0]].join(' → ');
}

/** Every non-test `.ts` file under `dir`. */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !/\.test(-d)?\.ts$/.test(name)) out.push(path);
  }
  return out.sort();
}

/** The file a relative import names (`./x.js` is `./x.ts`; a folder is its `index.ts`), or null. */
function resolveImport(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(candidate) && statSync(candidate).isFile())
      return candidate;
  }
  return null;
}

/** The relative-import graph of src/: file → the files it imports. */
function importGraph(): { graph: Map<string, string[]>; unresolved: string[] } {
  const graph = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const edges: string[] = [];
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolveImport(file, fileName);
      if (target === null) unresolved.push(`${relative(SRC, file)} → ${fileName}`);
      else edges.push(target);
    }
    graph.set(file, edges);
  }
  return { graph, unresolved };
}

/**
 * The import cycles of a graph: one cycle (a closed path, first node repeated at the end) per
 * strongly connected component that has one (Tarjan's algorithm).
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  // A concrete cycle inside each component: walk from its first node, staying inside, until a
  // node repeats.
  return components.map((component) => {
    const inside = new Set(component);
    const path = [component[0]!];
    const seen = new Map([[component[0]!, 0]]);
    for (;;) {
      const next = (graph.get(path.at(-1)!) ?? []).find((w) => inside.has(w))!;
      const at = seen.get(next);
      if (at !== undefined) return [...path.slice(at), next];
      seen.set(next, path.length);
      path.push(next);
    }
  });
}

describe('architecture', () => {
  it('finds a cycle, type-only or not, and prints it as a closed path', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
    ]);
    expect(findCycles(g)).toEqual([
      ['c', 'a', 'b', 'c'],
      ['e', 'e'],
    ]);
    expect(
      findCycles(
        new Map([
          ['a', ['b']],
          ['b', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('reads import type, export from and multi-line imports, and not imports in comments', () => {
    const text = [
      "import type { A } from './a.js';",
      "export type { B } from './b.js';",
      "export * from './c.js';",
      "/** @example import { x } from './comment.js' */",
      'import {',
      '  d,',
      '  type E,',
      "} from './d.js';",
    ].join('\n');
    expect(ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName)).toEqual([
      './a.js',
      './b.js',
      './c.js',
      './d.js',
    ]);
  });

  it('has no import cycle anywhere in src/', () => {
    const { graph, unresolved } = importGraph();
    // The graph is the real one: the engine's manager imports its parts.
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get(join(SRC, 'core', 'server', 'manager.ts'))).toContain(
      join(SRC, 'core', 'server', 'write.ts'),
    );
    expect(unresolved, 'relative imports that name no file').toEqual([]);
    const cycles = findCycles(graph).map((c) => normalized(c.map((f) => relative(SRC, f))));
    const unknown = cycles.filter((c) => !KNOWN_CYCLES.includes(c));
    expect(unknown, `import cycles in src/:\n${unknown.join('\n')}`).toEqual([]);
    const gone = KNOWN_CYCLES.filter((c) => !cycles.includes(c));
    expect(gone, 'known cycles that are gone: remove them from KNOWN_CYCLES').toEqual([]);
  });
});

/**
 * The CommonJS face of the package, written after `tsc` builds the ES modules into dist/:
 *
 * - every `dist/**\/*.d.ts` gets a `.d.cts` twin (its relative `./x.js` specifiers made
 *   `./x.cjs`), so a `require`-style TypeScript project (`module: commonjs` with
 *   `moduleResolution: node10`, or `node16` / `nodenext` from a CommonJS file) reads types
 *   that say CommonJS, as its `require()` gets;
 * - every `require` entry of package.json `exports` gets its `.cjs` file, one line:
 *   `module.exports = require('./index.js')`. Node >= 20.19 (package.json `engines`) loads an
 *   ES module with `require()`, so CommonJS code gets the very same module instance as ESM
 *   code: one copy of every class (`instanceof TesseraError` holds across both), no
 *   dual-package hazard, no second build of the code.
 *
 * Fails (exit 1) when an entry's files are missing or a `.d.cts` names a file that is not there.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const problems = [];

/** Every file under a folder, recursively. */
function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

// `from './x.js'`, `import('./x.js')`, `import './x.js'`: relative specifiers only.
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?\/[^'"]*?)\.js\2/g;

let declarations = 0;
for (const file of walk(dist).filter((f) => f.endsWith('.d.ts'))) {
  const text = readFileSync(file, 'utf8').replace(SPECIFIER, (_, head, q, path) => {
    if (!existsSync(join(dirname(file), `${path}.d.ts`)))
      problems.push(`${relative(root, file)}: ${path}.js has no declaration`);
    return `${head}${q}${path}.cjs${q}`;
  });
  writeFileSync(file.replace(/\.d\.ts$/, '.d.cts'), text);
  declarations++;
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let entries = 0;
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target === 'string') continue; // ./package.json
  const esm = target.import?.default;
  const cjs = target.require?.default;
  const types = target.require?.types;
  if (!esm || !cjs || !types) {
    problems.push(`exports["${subpath}"] needs import.default, require.default and require.types`);
    continue;
  }
  if (!existsSync(join(root, esm))) problems.push(`exports["${subpath}"]: ${esm} is not built`);
  if (!existsSync(join(root, types))) problems.push(`exports["${subpath}"]: no ${types}`);
  const from = `./${posix.relative(posix.dirname(cjs), esm)}`;
  writeFileSync(join(root, cjs), `'use strict';\nmodule.exports = require('${from}');\n`);
  entries++;
}

if (problems.length > 0) {
  console.error(`build-cjs: ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`build-cjs: ${declarations} .d.cts files, ${entries} .cjs entries`);

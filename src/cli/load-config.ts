/**
 * How `tessera doctor` reads the configuration it reviews: a JSON file, or a module (`.js`,
 * `.mjs`, or TypeScript through the project's own `tsx`) exporting the engine or its options.
 * Whatever cannot be loaded or is not a valid configuration is a {@link ConfigError} (exit 2),
 * never a "store unavailable".
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isTesseraError } from '../core/errors.js';
import type { ResolvedOptions } from '../core/options.js';
import { checkOptionNamesOf, PRESETS } from '../core/options.js';
import type { ConfigProfile } from './doctor.js';

/** A configuration that cannot be loaded or is invalid: the CLI exits 2 with its message. */
export class ConfigError extends Error {}

const TS = new Set(['.ts', '.mts', '.cts']);

/**
 * `tsImport` of the `tsx` the config's project has installed (looked up from the config's
 * folder, then the working directory), or null.
 */
async function projectTsx(
  abs: string,
): Promise<((url: string, parent: string) => Promise<unknown>) | null> {
  for (const from of [abs, resolve('package.json')]) {
    let api: string;
    try {
      // The ESM entry (its CommonJS twin cannot load the ESM loader it registers).
      const pkg = createRequire(from).resolve('tsx/package.json');
      const exports = (
        JSON.parse(readFileSync(pkg, 'utf8')) as {
          exports?: Record<string, { import?: { default?: string } | string }>;
        }
      ).exports?.['./esm/api']?.import;
      const entry = typeof exports === 'string' ? exports : exports?.default;
      if (!entry) continue;
      api = join(dirname(pkg), entry);
    } catch {
      continue;
    }
    const mod = (await import(pathToFileURL(api).href)) as {
      tsImport?: (url: string, parent: string) => Promise<unknown>;
      default?: { tsImport?: (url: string, parent: string) => Promise<unknown> };
    };
    const tsImport = mod.tsImport ?? mod.default?.tsImport;
    if (typeof tsImport === 'function') return tsImport;
  }
  return null;
}

/** Import a config module; TypeScript through the project's tsx when Node cannot. */
async function importModule(path: string, abs: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(abs).href;
  try {
    if (TS.has(extname(abs))) {
      const tsImport = await projectTsx(abs);
      if (tsImport) return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    }
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && TS.has(extname(abs))) {
      throw new ConfigError(
        `cannot load ${path}: this Node (${process.version}) does not run TypeScript. Install tsx in your project (npm install --save-dev tsx: doctor uses it when it finds it), or compile the config and pass the .js file, or pass a .json config.`,
      );
    }
    throw new ConfigError(
      `cannot load ${path}: ${isTesseraError(e) ? `${e.code}: ` : ''}${(e as Error).message ?? String(e)}`,
    );
  }
}

/** Whether `v` is an engine (`createSessions()` or `createSealedSessions()`), of any copy of tessera. */
function engineOptions(v: unknown): ResolvedOptions | null {
  const o = (v as { resolved?: Partial<ResolvedOptions> } | null)?.resolved;
  return o && typeof o === 'object' && typeof o.ring?.createdAt === 'function'
    ? (o as ResolvedOptions)
    : null;
}

function seconds(name: string, v: unknown, fallback: number): number {
  const n = v ?? fallback;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw new ConfigError(`${name} must be a number of seconds ≥ 0, got ${JSON.stringify(n)}`);
  return n;
}

function keyTime(id: unknown, t: unknown): number {
  const ms =
    t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : (t as number);
  if (typeof ms !== 'number' || !Number.isFinite(ms))
    throw new ConfigError(
      `key ${JSON.stringify(id)} needs a valid createdAt (an ISO date or epoch ms), got ${JSON.stringify(t)}`,
    );
  return ms;
}

/** The facts of a configuration given as options (JSON or a module's export). */
function fromOptions(raw: unknown, path: string): ConfigProfile {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(
      `${path} does not hold a session configuration: export the engine (createSessions(…)) or its options object, as "sessions", "options" or the default export, or give a JSON object`,
    );
  try {
    checkOptionNamesOf(raw, ['revocation']);
  } catch (e) {
    throw new ConfigError(`${path}: ${(e as Error).message}`);
  }
  const c = raw as Record<string, unknown> & {
    cookie?: Record<string, unknown>;
    csrf?: Record<string, unknown>;
    keys?: unknown;
    preset?: unknown;
  };
  const presetName = c.preset ?? 'nist-aal2';
  const preset = PRESETS[presetName as keyof typeof PRESETS];
  if (!preset)
    throw new ConfigError(
      `unknown preset ${JSON.stringify(presetName)}: use one of ${Object.keys(PRESETS).join(', ')}`,
    );
  if (c.keys !== undefined && !Array.isArray(c.keys))
    throw new ConfigError('keys must be a list of { id, createdAt } (secrets are not needed)');
  const keys = ((c.keys as { id?: unknown; createdAt?: unknown }[] | undefined) ?? []).map((k) => ({
    id: String(k?.id),
    createdAt: keyTime(k?.id, k?.createdAt),
  }));
  return {
    idleTimeout: seconds('idleTimeout', c.idleTimeout, preset.idleTimeout),
    absoluteTimeout: seconds('absoluteTimeout', c.absoluteTimeout, preset.absoluteTimeout),
    rotationGrace: seconds('rotationGrace', c.rotationGrace, 10),
    cookie: {
      name: String(c.cookie?.name ?? '__Host-tessera'),
      secure: c.cookie?.secure !== false,
      httpOnly: c.cookie?.httpOnly !== false,
      sameSite: String(c.cookie?.sameSite ?? 'Lax'),
      domain: c.cookie?.domain as string | undefined,
      path: String(c.cookie?.path ?? '/'),
      persistent: c.cookie?.persistent === true,
    },
    csrf: { enabled: c.csrf?.enabled !== false, reportOnly: c.csrf?.reportOnly === true },
    encryptData: c.encryptData !== false,
    keys,
  };
}

/**
 * Read a configuration for review.
 * @param path - a `.json` file, or a module exporting the engine or its options as `sessions`,
 *   `options` or the default export (TypeScript needs `tsx` installed in the project on Node 20)
 * @returns the facts `review()` looks at
 * @throws ConfigError when it cannot be loaded or is not a valid configuration
 */
export async function loadProfile(path: string): Promise<ConfigProfile> {
  const abs = resolve(path);
  let raw: unknown;
  if (extname(abs) === '.json') {
    try {
      raw = JSON.parse(readFileSync(abs, 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read ${path}: ${(e as Error).message}`);
    }
  } else {
    if (!existsSync(abs)) throw new ConfigError(`cannot load ${path}: no such file`);
    const mod = await importModule(path, abs);
    raw = mod.sessions ?? mod.default ?? mod.options;
    if (raw === undefined)
      throw new ConfigError(`${path} exports neither "sessions", "options" nor a default`);
  }
  const o = engineOptions(raw);
  if (o) {
    return {
      idleTimeout: o.idleMs / 1000,
      absoluteTimeout: o.absoluteMs / 1000,
      // Sealed mode resolves no server-side options (no grace, no `encrypt`): its data is sealed
      // in the cookie, which the review reports as such rather than as "stored unencrypted".
      rotationGrace: (o.graceMs ?? 10_000) / 1000,
      cookie: { ...o.cookie },
      csrf: { enabled: o.csrf.enabled, reportOnly: o.csrf.reportOnly },
      encryptData: o.encrypt ?? false,
      sealed: o.encrypt === undefined,
      keys: o.ring.createdAt(),
    };
  }
  return fromOptions(raw, path);
}

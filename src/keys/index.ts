/**
 * `tessera-session/keys`: where the key ring comes from. In production from configuration
 * (`TESSERA_KEYS`); in development from one key file made once beside the app's data, shared by
 * every process that uses that folder — never one key per process (restarts and several
 * instances must keep opening each other's sessions), never in the session store (DESIGN
 * decision 6: a dump of the store opens nothing).
 *
 * Not part of the runtime-agnostic core: it reads and writes files.
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { randomToken } from '../core/crypto.js';
import { TesseraError } from '../core/errors.js';
import { generateKey, type KeyInput, KeyRing } from '../core/keys.js';

export type { KeyInput } from '../core/keys.js';
export { generateKey } from '../core/keys.js';

/** The development key file's name inside `dir`. */
export const KEY_FILE = 'keys.json';

const FORMS =
  'Use a JSON array [{"id":"k1","secret":"<base64 of 32 random bytes>","createdAt":"2026-11-27"}] or the compact form id:secret[:createdAt],… — primary key first; generateKey() or `npx tessera keygen` makes one.';

/**
 * Parse and validate a key ring written as text, primary key first. Two forms:
 * - JSON: `[{"id":"k1","secret":"<base64>","createdAt":"2026-11-27"}]` (a single object too) —
 *   what {@link generateKey} gives and the development key file holds;
 * - compact: `id:secret[:createdAt],id:secret…` with a base64 (or base64url) 32-byte secret and
 *   an optional ISO date (without one the key counts as made at `now`).
 *
 * Error messages name keys by id and position, and never repeat the text (it holds secrets).
 * @param text - e.g. the value of `TESSERA_KEYS`
 * @param options.now - creation time for compact keys without a date (epoch ms) @default Date.now()
 * @returns the keys, validated as a {@link KeyRing} would
 * @throws TesseraError `ERR_KEY` for empty text, a malformed entry, or a short, reused,
 *   duplicate-id, non-random or undated key
 * @example
 * ```ts
 * const keys = parseKeys(process.env.TESSERA_KEYS ?? '') // 'k2:<44 base64 chars>:2026-11-27,k1:…'
 * ```
 */
export function parseKeys(text: string, options: { now?: number } = {}): KeyInput[] {
  const t = typeof text === 'string' ? text.trim() : '';
  if (t === '') throw new TesseraError('ERR_KEY', `No keys given. ${FORMS}`);
  const keys = t.startsWith('[') || t.startsWith('{') ? fromJSON(t) : fromCompact(t, options);
  new KeyRing(keys); // throws ERR_KEY for a short, reused, duplicate or undated key
  return keys;
}

function fromJSON(t: string): KeyInput[] {
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    // No `cause`: a JSON parse error quotes the text around the fault, which holds secrets.
    throw new TesseraError('ERR_KEY', `The key list is not valid JSON. ${FORMS}`);
  }
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw new TesseraError('ERR_KEY', `The key list is empty. ${FORMS}`);
  return list.map((k, i) => {
    if (!k || typeof k !== 'object' || Array.isArray(k))
      throw new TesseraError('ERR_KEY', `Key #${i + 1} is not an object. ${FORMS}`);
    const { id, secret, createdAt } = k as Record<string, unknown>;
    if (typeof id !== 'string' || id === '')
      throw new TesseraError('ERR_KEY', `Key #${i + 1} has no "id". ${FORMS}`);
    if (typeof secret !== 'string' || secret === '')
      throw new TesseraError('ERR_KEY', `Key "${id}" has no "secret". ${FORMS}`);
    if (typeof createdAt !== 'string' && typeof createdAt !== 'number')
      throw new TesseraError(
        'ERR_KEY',
        `Key "${id}" needs "createdAt" (an ISO date or epoch ms). ${FORMS}`,
      );
    return { id, secret, createdAt };
  });
}

function fromCompact(t: string, options: { now?: number }): KeyInput[] {
  return t.split(',').map((raw, i) => {
    const part = raw.trim();
    // A base64 secret holds no ':' and the id may hold none, so the date (which has colons in
    // its time part) is everything after the second ':'.
    const a = part.indexOf(':');
    const b = a === -1 ? -1 : part.indexOf(':', a + 1);
    const id = a === -1 ? part : part.slice(0, a);
    const secret = a === -1 ? '' : b === -1 ? part.slice(a + 1) : part.slice(a + 1, b);
    const date = b === -1 ? undefined : part.slice(b + 1);
    if (id === '')
      throw new TesseraError('ERR_KEY', `Key #${i + 1} has no id (form id:secret[:createdAt]).`);
    if (secret === '')
      throw new TesseraError('ERR_KEY', `Key "${id}" has no secret (form id:secret[:createdAt]).`);
    if (date === '')
      throw new TesseraError('ERR_KEY', `Key "${id}" has an empty createdAt after its secret.`);
    return { id, secret, createdAt: date ?? options.now ?? Date.now() };
  });
}

/** Options of {@link loadKeys}. */
export interface LoadKeysOptions {
  /** The configured key ring as text, e.g. `process.env.TESSERA_KEYS`; empty counts as unset. */
  env?: string | undefined;
  /** The app's data folder; the development key file is `<dir>/keys.json`. */
  dir: string;
  /**
   * Production mode: a missing `env` is an error instead of a development key. Fails closed:
   * left unset, it is `false` only when `NODE_ENV` is exactly `development` or `test` — unset,
   * empty, `prod`, `Production` or `"production "` all count as production. Pass `false` to
   * opt into the development key file explicitly (a development tool, a demo).
   * @default true, unless process.env.NODE_ENV is exactly 'development' or 'test'
   */
  production?: boolean;
  /** Where the loud development-key notice goes. @default console.warn */
  log?: (message: string) => void;
}

/** The `NODE_ENV` values that allow a development key without an explicit option. */
const DEVELOPMENT_ENVS = new Set(['development', 'test']);

/**
 * The key ring for an app: from `env` when set; else, only when a development key is allowed
 * (`production: false`, or `NODE_ENV` exactly `development` / `test`), from one development key
 * file `<dir>/keys.json` (mode 0600), created on first use, with a loud notice saying why.
 * Creation is atomic: the key is written and fsynced to a private temporary file, then
 * hard-linked to the final name — `link` fails with EEXIST when another process got there first,
 * and this one then reads the winner's file — so processes starting at once all end up with the
 * same key. On POSIX systems the file must be a regular file (not a symbolic link) owned by this
 * process's user and closed to other users, in a folder owned by this user (or root) that
 * other users cannot write — unless it has the sticky bit, as `/tmp` does, which stops them
 * from replacing a file they do not own.
 * @param options - see {@link LoadKeysOptions}
 * @returns the keys, primary first, ready for `createSessions({ keys })`
 * @throws TesseraError `ERR_KEY` when `env` is invalid, when it is missing and no development key
 *   is allowed, or when the key file is unreadable, invalid, open to other users, owned by
 *   another user or in a folder other users can write
 * @example
 * ```ts
 * const sessions = createSessions({
 *   store,
 *   keys: loadKeys({ env: process.env.TESSERA_KEYS, dir: '.data' }),
 * })
 * ```
 */
export function loadKeys(options: LoadKeysOptions): KeyInput[] {
  const env = options.env?.trim();
  if (env) return parseKeys(env);
  const nodeEnv = process.env.NODE_ENV;
  const allowedByEnv = nodeEnv !== undefined && DEVELOPMENT_ENVS.has(nodeEnv);
  const production = options.production ?? !allowedByEnv;
  if (production) {
    const why =
      options.production === true
        ? 'production: true'
        : `NODE_ENV is ${nodeEnv === undefined ? 'unset' : JSON.stringify(nodeEnv.slice(0, 40))}: a development key is made only when NODE_ENV is exactly "development" or "test", or with loadKeys({ production: false })`;
    throw new TesseraError(
      'ERR_KEY',
      `No session keys in production (${why}): set TESSERA_KEYS (${FORMS} Keep two keys during a rotation; see docs/keys.md.)`,
    );
  }
  if (typeof options.dir !== 'string' || options.dir === '')
    throw new TesseraError(
      'ERR_CONFIG',
      'loadKeys() needs dir: the folder for the development key file.',
    );
  const log = options.log ?? ((m: string) => console.warn(m));
  const because =
    options.production === false
      ? 'production: false was passed'
      : `NODE_ENV is ${JSON.stringify(nodeEnv)}`;
  const dir = resolve(options.dir);
  const path = resolve(dir, KEY_FILE);
  let created: boolean;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new TesseraError(
      'ERR_KEY',
      `Could not create the folder ${dir} for the development key file (${(e as NodeJS.ErrnoException).code ?? 'error'}): make it writable, or set TESSERA_KEYS.`,
      { cause: e },
    );
  }
  // Before anything is written: a key made in a folder others can write could be swapped later.
  checkFolder(dir);
  try {
    created = ensureKeyFile(dir, path);
  } catch (e) {
    throw new TesseraError(
      'ERR_KEY',
      `Could not create the development key file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}): make the folder writable, or set TESSERA_KEYS.`,
      { cause: e },
    );
  }
  const keys = readKeyFile(path);
  log(
    created
      ? `tessera: !!! generated a DEVELOPMENT session key in ${path} (mode 0600) because ${because}. Every process that uses this folder shares it; it is never written to the session store. Set TESSERA_KEYS in production (docs/keys.md).`
      : `tessera: !!! using the DEVELOPMENT session key in ${path} because ${because}. Set TESSERA_KEYS in production (docs/keys.md).`,
  );
  return keys;
}

/** This process's user id, or null where there are no POSIX owners (Windows). */
function processUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

/**
 * Refuse a key folder that another user could write into: owned by someone other than this
 * user or root, or writable by group or others without the sticky bit.
 */
function checkFolder(dir: string): void {
  const uid = processUid();
  if (uid === null) return;
  const st = statSync(dir);
  if (st.uid !== uid && st.uid !== 0) {
    throw new TesseraError(
      'ERR_KEY',
      `The key folder ${dir} belongs to another user (uid ${st.uid}, this process runs as uid ${uid}), who could replace the key: use a folder of your own, or set TESSERA_KEYS.`,
    );
  }
  const sticky = (st.mode & 0o1000) !== 0;
  if (st.mode & 0o022 && !sticky) {
    throw new TesseraError(
      'ERR_KEY',
      `The key folder ${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)}), who could replace the key: run chmod go-w ${dir}, or set TESSERA_KEYS.`,
    );
  }
}

/** @returns whether this call created the file */
function ensureKeyFile(dir: string, path: string): boolean {
  if (exists(path)) return false;
  const tmp = join(dir, `.${KEY_FILE}.${process.pid}.${randomToken(6)}.tmp`);
  // 'wx' creates it or fails: the temporary file is this process's alone. Mode 0600 from birth.
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      writeSync(fd, `${JSON.stringify([generateKey()], null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function readKeyFile(path: string): KeyInput[] {
  const uid = processUid();
  let text: string;
  let fd: number;
  try {
    // O_NOFOLLOW: a symbolic link would take the key from a folder nobody checked.
    fd = openSync(path, uid === null ? 'r' : constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') {
      throw new TesseraError(
        'ERR_KEY',
        `The key file ${path} is a symbolic link: put the file itself there, or set TESSERA_KEYS.`,
      );
    }
    throw new TesseraError('ERR_KEY', `Could not read the key file ${path}.`, { cause: e });
  }
  try {
    // Checked on the open file, so the file read is the file judged.
    if (uid !== null) {
      const st = fstatSync(fd);
      if (!st.isFile()) {
        throw new TesseraError('ERR_KEY', `The key file ${path} is not a regular file.`);
      }
      if (st.uid !== uid) {
        throw new TesseraError(
          'ERR_KEY',
          `The key file ${path} belongs to another user (uid ${st.uid}, this process runs as uid ${uid}), who could have chosen the key: delete it to make a new one, or set TESSERA_KEYS.`,
        );
      }
      const mode = st.mode & 0o777;
      if (mode & 0o077) {
        throw new TesseraError(
          'ERR_KEY',
          `The key file ${path} is ${mode & 0o044 ? 'readable' : 'writable'} by other users (mode ${mode.toString(8)}): run chmod 600 ${path}.`,
        );
      }
    }
    text = readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    throw new TesseraError('ERR_KEY', `Could not read the key file ${path}.`, { cause: e });
  } finally {
    closeSync(fd);
  }
  try {
    return parseKeys(text);
  } catch (e) {
    throw new TesseraError(
      'ERR_KEY',
      `The key file ${path} does not hold a valid key ring (${(e as Error).message}) Fix it, or delete it to make a new one (every session then ends).`,
    );
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

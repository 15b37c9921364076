/**
 * The demo's key ring: from `TESSERA_KEYS`, or from a key file made once in `.tessera/`.
 * Keys live in the environment or on the local disk, never in the session store (DESIGN
 * decision 6), so a dump of the store opens nothing.
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { generateKey, type KeyInput, KeyRing } from 'tessera-session';

/** The key file's name inside the state folder. */
export const KEY_FILE = 'keys.json';

/**
 * Parse a key ring written as text. Two forms are accepted, primary key first:
 * - JSON: `[{"id":"k1","secret":"<base64>","createdAt":"2026-11-27"}]` (a single object too) —
 *   what `npx tessera keygen` prints and what the key file holds;
 * - compact: `id:secret[:createdAt],id:secret…` with a base64 (or base64url) 32-byte secret and an
 *   optional ISO date; without a date the key counts as made now.
 * @param text - the value of `TESSERA_KEYS` or the key file
 * @returns the keys, not yet validated (give them to `KeyRing` for that)
 * @throws SyntaxError when the text is neither form
 * @example parseKeys(process.env.TESSERA_KEYS ?? '') // e.g. 'k1:<44 base64 characters>:2026-11-27'
 */
export function parseKeys(text: string, now: number = Date.now()): KeyInput[] {
  const t = text.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    const v = JSON.parse(t) as unknown;
    const list = Array.isArray(v) ? v : [v];
    return list.map((k, i) => {
      if (!k || typeof k !== 'object')
        throw new SyntaxError(`Key #${i + 1} is not an object with id, secret and createdAt.`);
      const { id, secret, createdAt } = k as Record<string, unknown>;
      if (typeof id !== 'string' || typeof secret !== 'string')
        throw new SyntaxError(`Key #${i + 1} needs string "id" and "secret".`);
      if (typeof createdAt !== 'string' && typeof createdAt !== 'number')
        throw new SyntaxError(`Key "${id}" needs "createdAt" (ISO date or epoch ms).`);
      return { id, secret, createdAt };
    });
  }
  return t.split(',').map((part, i) => {
    const [id, secret, createdAt, extra] = part.trim().split(':');
    if (!id || !secret || extra !== undefined)
      throw new SyntaxError(`Key #${i + 1} is not in the form id:secret[:createdAt].`);
    return { id, secret, createdAt: createdAt ?? now };
  });
}

/** What {@link loadKeyFile} found. */
export interface KeyFileResult {
  keys: KeyInput[];
  /** The file's absolute path. */
  path: string;
  /** Whether this call created the file. */
  created: boolean;
}

/**
 * Read the key file in `dir`, creating it first if it does not exist. Creation is atomic: the
 * keys are written and fsynced to a private temporary file (mode 0600), which is then hard-linked
 * to the final name — `link` fails if the name exists, so when several instances start at once
 * exactly one file wins and every instance reads that one.
 * @param dir - the state folder (created with mode 0700 if missing)
 * @returns the keys and whether the file was created now
 * @throws Error when the file is readable by others, or holds no valid key ring
 * @example const { keys, created } = loadKeyFile('.tessera')
 */
export function loadKeyFile(dir: string): KeyFileResult {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, KEY_FILE);
  let created = false;
  if (!exists(path)) {
    const tmp = join(dir, `.${KEY_FILE}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify([generateKey()], null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      chmodSync(tmp, 0o600);
      linkSync(tmp, path);
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(
      `The key file ${path} is readable by other users (mode ${mode.toString(8)}): run chmod 600 ${path}.`,
    );
  }
  let keys: KeyInput[];
  try {
    keys = parseKeys(readFileSync(path, 'utf8'));
    new KeyRing(keys);
  } catch (e) {
    throw new Error(
      `The key file ${path} does not hold a valid key ring (${(e as Error).message}): fix it, or delete it to make a new one (every session then ends).`,
    );
  }
  return { keys, path, created };
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

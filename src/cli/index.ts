#!/usr/bin/env node
/**
 * The admin CLI, `tessera` (run it with `npx --no tessera …`).
 *
 *   sessions list [--user U]      sessions revoke HANDLE      sessions revoke-user U
 *   stats      sweep      keygen [--id ID]      doctor CONFIG [--level L1|L2|L3]
 *
 * Options: --store URL (default $TESSERA_STORE or sqlite:.tessera/demo.db), --json. On Redis,
 * the commands that name a user need the app's key ring in $TESSERA_KEYS (a user's sessions are
 * under a slot tag keyed by it).
 * Exit codes: 0 done; 1 nothing found (revoke) or failing findings (doctor); 2 usage or
 * configuration error; 3 store unavailable.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SessionManager } from '../core/engine.js';
import { isTesseraError, type TesseraError } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import { generateKey, KeyRing } from '../core/keys.js';
import { PRESETS } from '../core/options.js';
import { slotTagFor } from '../core/token.js';
import type { SessionRecord, SessionStore } from '../core/types.js';
import { parseKeys } from '../keys/index.js';
import { openStore, redactStoreUrl } from '../stores/index.js';
import { type ConfigProfile, type Level, review } from './doctor.js';

const USAGE = `usage: tessera <command> [options]

commands:
  sessions list [--user U]     live sessions (all, or one user's)
  sessions revoke HANDLE       end one session by its public handle
  sessions revoke-user U       end every session of a user
  stats                        counts of live sessions
  sweep                        remove expired sessions and tombstones now
  keygen [--id ID]             print a new key for the key ring (JSON)
  doctor CONFIG [--level L2]   review a session configuration (a module exporting
                               the engine or its options, or a JSON file) against
                               OWASP ASVS 4.0.3/5.0 and NIST SP 800-63B

options:
  --store URL   sqlite:PATH | memory | redis://… | redis+cluster://… | postgres://…
                (default: $TESSERA_STORE or sqlite:.tessera/demo.db)
  --json        machine-readable output
  -h, --help    this text

environment:
  TESSERA_KEYS  the app's key ring: on Redis, sessions list --user and
                sessions revoke-user find a user's sessions under a slot
                tag keyed by it
exit codes: 0 ok, 1 not found / failing findings, 2 usage or configuration error, 3 store unavailable`;

class UsageError extends Error {}

type Out = { json: boolean; log: (s: string) => void };

function table(rows: Record<string, unknown>[], cols: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((r) => cols.map((c) => String(r[c] ?? '')));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());

function view(r: SessionRecord) {
  return {
    handle: r.handle,
    user: r.userId,
    created: iso(r.createdAt),
    lastSeen: iso(r.lastSeenAt),
    idleExpires: iso(r.idleExpiresAt),
    absoluteExpires: iso(r.absoluteExpiresAt),
    ip: r.lastIp,
    userAgent: r.lastUserAgent,
  };
}

/**
 * Open the store, run `fn`, close it. A store with slot tags (Redis) is given the tagger of the
 * key ring in `TESSERA_KEYS`, which a command that names a user (`forUser`) cannot do without.
 */
async function withStore<T>(
  url: string,
  fn: (s: SessionStore) => Promise<T>,
  forUser = false,
): Promise<T> {
  const store = await openStore(url);
  try {
    if (store.slotTags === true) {
      const text = process.env.TESSERA_KEYS ?? '';
      if (text.trim() !== '') {
        const ring = new KeyRing(parseKeys(text));
        store.useSlotTags?.((userId) => slotTagFor(ring, userId));
      } else if (forUser) {
        throw new UsageError(
          `a ${store.name} store keeps a user's sessions under a slot tag keyed by the app's key ring: set TESSERA_KEYS to the app's keys`,
        );
      }
    }
    return await fn(store);
  } finally {
    await store.close().catch(() => {});
  }
}

async function loadProfile(path: string): Promise<ConfigProfile> {
  const abs = resolve(path);
  let raw: unknown;
  if (abs.endsWith('.json')) {
    try {
      raw = JSON.parse(readFileSync(abs, 'utf8'));
    } catch (e) {
      throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
    }
  } else {
    const mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
    raw = mod.sessions ?? mod.default ?? mod.options;
    if (raw === undefined)
      throw new UsageError(`${path} exports neither "sessions", "options" nor a default`);
  }
  if (raw instanceof SessionManager) {
    const o = raw.o;
    return {
      idleTimeout: o.idleMs / 1000,
      absoluteTimeout: o.absoluteMs / 1000,
      rotationGrace: o.graceMs / 1000,
      cookie: { ...o.cookie },
      csrf: { enabled: o.csrf.enabled, reportOnly: o.csrf.reportOnly },
      encryptData: o.encrypt,
      keys: o.ring.createdAt(),
    };
  }
  const c = (raw ?? {}) as Record<string, unknown> & {
    cookie?: Record<string, unknown>;
    csrf?: Record<string, unknown>;
    keys?: { id: string; createdAt: string | number }[];
    preset?: keyof typeof PRESETS;
  };
  const preset = PRESETS[c.preset ?? 'nist-aal2'] ?? PRESETS['nist-aal2'];
  return {
    idleTimeout: Number(c.idleTimeout ?? preset.idleTimeout),
    absoluteTimeout: Number(c.absoluteTimeout ?? preset.absoluteTimeout),
    rotationGrace: Number(c.rotationGrace ?? 10),
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
    keys: (c.keys ?? []).map((k) => ({
      id: k.id,
      createdAt: typeof k.createdAt === 'number' ? k.createdAt : Date.parse(k.createdAt),
    })),
  };
}

/** Run the CLI. @returns the exit code */
export async function main(
  argv: string[],
  out: Out = { json: false, log: (s) => process.stdout.write(`${s}\n`) },
): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        store: { type: 'string' },
        user: { type: 'string' },
        id: { type: 'string' },
        level: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`tessera: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const {
    values: v,
    positionals: [cmd, sub, arg],
  } = parsed;
  const json = v.json === true;
  const print = (data: unknown, human: () => string) =>
    out.log(json ? JSON.stringify(data, null, 2) : human());
  const storeUrl =
    (v.store as string | undefined) ?? process.env.TESSERA_STORE ?? 'sqlite:.tessera/demo.db';
  const now = Date.now();
  try {
    if (v.help || !cmd) {
      out.log(USAGE);
      return v.help ? 0 : 2;
    }
    switch (cmd) {
      case 'keygen': {
        const k = generateKey(v.id as string | undefined);
        print(
          k,
          () => `${JSON.stringify(k)}\n# add it to TESSERA_KEYS (first = primary); never commit it`,
        );
        return 0;
      }
      case 'sessions': {
        if (sub === 'list') {
          const user = v.user as string | undefined;
          const records = await withStore(
            storeUrl,
            async (s) => {
              const all: SessionRecord[] = [];
              let cursor: string | undefined;
              do {
                const page = await s.list({
                  limit: 500,
                  now,
                  ...(user ? { userId: user } : {}),
                  ...(cursor ? { cursor } : {}),
                });
                all.push(...page.records);
                cursor = page.nextCursor ?? undefined;
              } while (cursor && all.length < 100_000);
              return all;
            },
            user !== undefined,
          );
          const rows = records.map(view);
          print(rows, () =>
            table(rows, [
              'handle',
              'user',
              'created',
              'lastSeen',
              'idleExpires',
              'ip',
              'userAgent',
            ]),
          );
          return 0;
        }
        if (sub === 'revoke') {
          if (!arg) throw new UsageError('sessions revoke needs a HANDLE');
          checkId('handle', arg, 'sessions revoke');
          const n = await withStore(storeUrl, (s) => s.deleteByHandle(arg));
          print({ revoked: n > 0, handle: arg }, () =>
            n > 0 ? `revoked ${arg}` : `no session with handle ${arg}`,
          );
          return n > 0 ? 0 : 1;
        }
        if (sub === 'revoke-user') {
          if (!arg) throw new UsageError('sessions revoke-user needs a user id');
          checkId('userId', arg, 'sessions revoke-user');
          // As revokeAll: the epoch also refuses a sign-in already under way. The CLI does not
          // know the app's absolute timeout, so the epoch is kept for 400 days (the longest a
          // browser keeps a cookie, RFC 6265bis), enough for any sealed cookie it must end.
          const n = await withStore(
            storeUrl,
            (s) => s.deleteByUser(arg, { epoch: { at: now, expiresAt: now + 400 * 86_400_000 } }),
            true,
          );
          print({ user: arg, revoked: n }, () => `revoked ${n} session(s) of ${arg}`);
          return n > 0 ? 0 : 1;
        }
        throw new UsageError(`unknown sessions command "${sub ?? ''}"`);
      }
      case 'stats': {
        const stats = await withStore(storeUrl, async (s) => {
          const total = await s.count(now);
          const users = new Map<string, number>();
          let anonymous = 0;
          let cursor: string | undefined;
          do {
            const page = await s.list({ limit: 1000, now, ...(cursor ? { cursor } : {}) });
            for (const r of page.records) {
              if (r.userId === null) anonymous++;
              else users.set(r.userId, (users.get(r.userId) ?? 0) + 1);
            }
            cursor = page.nextCursor ?? undefined;
          } while (cursor);
          return {
            store: s.name,
            live: total,
            authenticated: total - anonymous,
            anonymous,
            users: users.size,
            maxPerUser: Math.max(0, ...users.values()),
          };
        });
        print(stats, () => table([stats], Object.keys(stats)));
        return 0;
      }
      case 'sweep': {
        const removed = await withStore(storeUrl, async (s) => {
          let total = 0;
          for (;;) {
            const n = await s.sweep(now, 1000);
            total += n;
            if (n < 1000) return total;
          }
        });
        print({ removed }, () => `removed ${removed} expired record(s)`);
        return 0;
      }
      case 'doctor': {
        const target = sub;
        if (!target) throw new UsageError('doctor needs a CONFIG (a module path or a JSON file)');
        const level = ((v.level as string | undefined) ?? 'L2').toUpperCase();
        if (level !== 'L1' && level !== 'L2' && level !== 'L3')
          throw new UsageError('--level must be L1, L2 or L3');
        const findings = review(await loadProfile(target), level as Level, now);
        const fails = findings.filter((f) => f.severity === 'fail').length;
        print(
          { level, findings, fails },
          () =>
            `${table(
              findings.map((f) => ({
                result: f.severity.toUpperCase(),
                finding: f.message,
                rule: f.rule,
              })),
              ['result', 'finding', 'rule'],
            )}\n\n${fails === 0 ? 'OK' : `${fails} failing finding(s)`} at OWASP ASVS ${level}`,
        );
        return fails === 0 ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tessera: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (isTesseraError(e, 'ERR_STORE_UNAVAILABLE')) {
      process.stderr.write(
        `tessera: the store is unavailable (${redactStoreUrl(storeUrl)}): ${String((e as TesseraError).cause ?? e.message)}\n`,
      );
      return 3;
    }
    if (isTesseraError(e)) {
      process.stderr.write(`tessera: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`tessera: ${(e as Error).message ?? String(e)}\n`);
    return 3;
  }
}

const invoked = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invoked || process.argv[1]?.endsWith('/tessera') || process.argv[1]?.endsWith('/bin/tessera')) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

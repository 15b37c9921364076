#!/usr/bin/env node
/**
 * The admin CLI, `tessera` (run it with `npx --no tessera …`).
 *
 *   sessions list [--user U]      sessions revoke HANDLE      sessions revoke-user U
 *   stats      sweep      keygen [--id ID]      doctor CONFIG [--level L1|L2|L3]
 *
 * Options: --store URL (or $TESSERA_STORE; no default), --prefix / --schema / --table-prefix
 * (the store's namespace), --json. On Redis, the commands that name a user need the app's key
 * ring in $TESSERA_KEYS (a user's sessions are under a slot tag keyed by it).
 * Exit codes: 0 done; 1 nothing found (revoke) or failing findings (doctor); 2 usage or
 * configuration error; 3 store unavailable; 4 unexpected error.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { toInfo } from '../core/engine.js';
import { isTesseraError, type TesseraError } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import { generateKey, KeyRing } from '../core/keys.js';
import { slotTagFor } from '../core/token.js';
import type { SessionRecord, SessionStore } from '../core/types.js';
import { parseKeys } from '../keys/index.js';
import { type OpenStoreOptions, openStore, redactStoreUrl } from '../stores/index.js';
import { type Level, review } from './doctor.js';
import { ConfigError, loadProfile } from './load-config.js';

const USAGE = `usage: tessera <command> [options]

commands:
  sessions list [--user U]     live sessions (all, or one user's)
  sessions revoke HANDLE       end one session by its public handle
  sessions revoke-user U       end every session of a user
  stats                        counts of live sessions
  sweep                        remove expired sessions and tombstones now
  keygen [--id ID]             print a new key ring of one key, [{"id",…}], on stdout
                               (TESSERA_KEYS="$(npx tessera keygen)"); --json: the key object
  doctor CONFIG [--level L2]   review a session configuration (a module exporting
                               the engine or its options, or a JSON file) against
                               OWASP ASVS 4.0.3/5.0 and NIST SP 800-63B; a .ts module
                               needs tsx installed in your project on Node 20

options:
  --store URL           sqlite:PATH | memory | redis://… | redis+cluster://… | postgres://…
                        (or $TESSERA_STORE; the session commands need one of them)
  --prefix P            Redis key prefix of the app's store (default tessera:)
  --schema S            PostgreSQL schema of the app's store (default tessera)
  --table-prefix T      SQLite table prefix of the app's store (default tessera_)
  --json                machine-readable output (field names as in the API: userId, createdAt…)
  -h, --help            this text

environment:
  TESSERA_KEYS  the app's key ring: on Redis, sessions list --user and
                sessions revoke-user find a user's sessions under a slot
                tag keyed by it
exit codes: 0 ok, 1 not found / failing findings, 2 usage or configuration error,
            3 store unavailable, 4 unexpected error`;

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

/**
 * Open the store, run `fn`, close it. A store with slot tags (Redis) is given the tagger of the
 * key ring in `TESSERA_KEYS`, which a command that names a user (`forUser`) cannot do without.
 */
async function withStore<T>(
  url: string,
  options: OpenStoreOptions,
  fn: (s: SessionStore) => Promise<T>,
  forUser = false,
): Promise<T> {
  const store = await openStore(url, options);
  try {
    if (store.slotTags === true) {
      const text = process.env.TESSERA_KEYS ?? '';
      if (text.trim() !== '') {
        const ring = new KeyRing(parseKeys(text));
        store.useSlotTags?.((userId) => slotTagFor(ring, userId));
      } else if (forUser) {
        throw new ConfigError(
          `a ${store.name} store keeps a user's sessions under a slot tag keyed by the app's key ring: set TESSERA_KEYS to the app's keys`,
        );
      }
    }
    return await fn(store);
  } finally {
    await store.close().catch(() => {});
  }
}

/**
 * Run the CLI.
 * @param argv - the arguments after `tessera`
 * @param out - where results go (stdout); notes and errors go to stderr
 * @returns the exit code
 */
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
        prefix: { type: 'string' },
        schema: { type: 'string' },
        'table-prefix': { type: 'string' },
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
  // No default store: a default would open (and create) a file in whatever folder the CLI runs
  // in, and list nothing of the app's real sessions.
  const storeUrl = (v.store as string | undefined) || process.env.TESSERA_STORE || '';
  const storeOptions: OpenStoreOptions = {
    ...(v.prefix === undefined ? {} : { prefix: v.prefix as string }),
    ...(v.schema === undefined ? {} : { schema: v.schema as string }),
    ...(v['table-prefix'] === undefined ? {} : { tablePrefix: v['table-prefix'] as string }),
  };
  const store = <T>(fn: (s: SessionStore) => Promise<T>, forUser = false): Promise<T> => {
    if (!storeUrl)
      throw new ConfigError(
        `${[cmd, sub].filter(Boolean).join(' ')} needs a store: pass --store URL (sqlite:PATH, redis://…, postgres://…) or set TESSERA_STORE`,
      );
    return withStore(storeUrl, storeOptions, fn, forUser);
  };
  const now = Date.now();
  try {
    if (v.help || !cmd) {
      out.log(USAGE);
      return v.help ? 0 : 2;
    }
    switch (cmd) {
      case 'keygen': {
        const k = generateKey(v.id as string | undefined);
        // stdout holds the value alone, a key ring of one key as TESSERA_KEYS and loadKeys()
        // take it, so that TESSERA_KEYS="$(npx tessera keygen)" works; the note goes to stderr.
        print(k, () => JSON.stringify([k]));
        if (!json)
          process.stderr.write(
            'tessera: a new key ring of one key (JSON). To rotate, put the new key first in your existing TESSERA_KEYS list (docs/keys.md). Never commit it.\n',
          );
        return 0;
      }
      case 'sessions': {
        if (sub === 'list') {
          const user = v.user as string | undefined;
          const records = await store(async (s) => {
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
          }, user !== undefined);
          const rows = records.map(toInfo);
          print(rows, () =>
            table(
              rows.map((r) => ({
                ...r,
                createdAt: iso(r.createdAt),
                lastSeenAt: iso(r.lastSeenAt),
                idleExpiresAt: iso(r.idleExpiresAt),
              })),
              ['handle', 'userId', 'createdAt', 'lastSeenAt', 'idleExpiresAt', 'ip', 'userAgent'],
            ),
          );
          return 0;
        }
        if (sub === 'revoke') {
          if (!arg) throw new UsageError('sessions revoke needs a HANDLE');
          checkId('handle', arg, 'sessions revoke');
          const n = await store((s) => s.deleteByHandle(arg));
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
          const n = await store(
            (s) => s.deleteByUser(arg, { epoch: { at: now, expiresAt: now + 400 * 86_400_000 } }),
            true,
          );
          print({ userId: arg, revoked: n }, () => `revoked ${n} session(s) of ${arg}`);
          return n > 0 ? 0 : 1;
        }
        throw new UsageError(`unknown sessions command "${sub ?? ''}"`);
      }
      case 'stats': {
        const stats = await store(async (s) => {
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
        const removed = await store(async (s) => {
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
        const profile = await loadProfile(target);
        // The clock is read after loading: keys made while the config loaded are not "-1 days old".
        const findings = review(profile, level as Level, Date.now());
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
    if (e instanceof ConfigError) {
      process.stderr.write(`tessera: ${e.message}\n`);
      return 2;
    }
    if (isTesseraError(e, 'ERR_STORE_UNAVAILABLE')) {
      const cause = (e as TesseraError).cause;
      const why = cause instanceof Error ? cause.message : cause === undefined ? '' : String(cause);
      const url = redactStoreUrl(storeUrl);
      process.stderr.write(
        `tessera: the store is unavailable${e.message.includes(url) ? '' : ` (${url})`}: ${e.message}${why && !e.message.includes(why) ? `: ${why}` : ''}\n`,
      );
      return 3;
    }
    if (isTesseraError(e)) {
      process.stderr.write(`tessera: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`tessera: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 4;
  }
}

const invoked = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invoked || process.argv[1]?.endsWith('/tessera') || process.argv[1]?.endsWith('/bin/tessera')) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // A config module `doctor` imported may hold the event loop open (a server, a pool): end
    // once the output is flushed.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}

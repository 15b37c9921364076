/**
 * Every examples/<name>/ folder is a small project of its own (package.json, server.ts,
 * README.md). The test copies each into test/.tmp/ — inside this package, so its framework and
 * driver resolve from the repository's node_modules, with no network install — and links
 * `node_modules/tessera-session` to the repository root, the layout `npm install` makes for
 * `"tessera-session": "file:../.."`. It then checks each package.json against what its server
 * imports, type-checks the copies as an installed project would, and starts each as `npm start`
 * does (tsx server.ts, in its folder) for a browser-like visit: sign-in through the form with its
 * `_csrf` field, a CSRF-protected form (and forged posts refused), a second sign-in, the session
 * list, revoking the other session, "sign out other sessions", and sign-out.
 *
 * The quick start (examples/quickstart-express.ts, printed in the README) runs as before.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { generateKey } from 'tessera-session';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTs } from '../test/support/process.js';
import {
  DATABASE_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  requireService,
} from '../test/support/services.js';

const root = join(import.meta.dirname, '..');
const SESSION_COOKIE = /^__Host-tessera=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/;

/** The examples and their stores (the combinations the adoption issue names). */
const EXAMPLES = [
  { name: 'express', store: 'redis' },
  { name: 'fastify', store: 'postgres' },
  { name: 'hono', store: 'sqlite' },
  { name: 'fetch', store: 'memory' },
  { name: 'node', store: 'sqlite' },
] as const;
type Example = (typeof EXAMPLES)[number];

const redisOk = requireService(`Redis at ${REDIS_URL}`, await redisAvailable());
const postgresOk = requireService(`PostgreSQL at ${DATABASE_URL}`, await postgresAvailable());
const runs = (e: Example) =>
  e.store === 'redis' ? redisOk : e.store === 'postgres' ? postgresOk : true;

const suffix = randomBytes(6).toString('hex');
const REDIS_PREFIX = `example-${suffix}:`;
const DATABASE_SCHEMA = `example_${suffix}`;

let copies = '';
const stops: (() => Promise<void>)[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'adapters', 'fetch', 'index.js')))
    throw new Error('The examples import the built package: run `npm run build` first.');
  mkdirSync(join(root, 'test', '.tmp'), { recursive: true });
  copies = mkdtempSync(join(root, 'test', '.tmp', 'examples-'));
  for (const { name } of EXAMPLES) {
    const dir = join(copies, name);
    // What a checkout holds: no node_modules, key file or database a local run left behind.
    cpSync(join(root, 'examples', name), dir, {
      recursive: true,
      filter: (p) => !/(^|[\\/])(node_modules|\.tessera|sessions\.db[^\\/]*)$/.test(p),
    });
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'tessera-session'), 'dir');
  }
});

afterAll(async () => {
  await Promise.all(stops.map((s) => s()));
  for (const c of cleanups) await c();
  if (copies) rmSync(copies, { recursive: true, force: true });
});

// ---- what each example's package.json must list -------------------------------------------

const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { default?: string; import?: { default: string } }>;
  peerDependencies: Record<string, string>;
};

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`), or null for built-ins. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith('node:') || specifier.startsWith('.')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Specifiers a TypeScript file imports at run time (`import type` left out). */
function runtimeImports(code: string): string[] {
  const found = [...code.matchAll(/^\s*import\s+(?!type\s)[^'"]*?from\s*['"]([^'"]+)['"]/gm)];
  found.push(...code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm));
  return found.map((m) => m[1]!);
}

/**
 * The optional peer dependencies a built `tessera-session` entry loads at run time (`import`,
 * `import()`, `createRequire(...)(…)`), following its relative imports.
 */
function peersLoadedBy(entry: string): Set<string> {
  const peers = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\)\s*\(\s*)['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(join(dirname(file), spec));
      else if (spec in rootPkg.peerDependencies) peers.add(spec);
    }
  };
  visit(entry);
  return peers;
}

/** The packages a server needs installed: what it imports, plus the peers those subpaths load. */
function packagesNeeded(serverFile: string): string[] {
  const needed = new Set<string>();
  for (const spec of runtimeImports(readFileSync(serverFile, 'utf8'))) {
    const pkg = packageOf(spec);
    if (pkg === null) continue;
    needed.add(pkg);
    if (pkg !== 'tessera-session') continue;
    const target = rootPkg.exports[`.${spec.slice(pkg.length)}`];
    expect(target, `${spec} is not exported by tessera-session`).toBeDefined();
    // The ESM file an \`import\` loads (exports have import/require branches since the CJS entries).
    const file = typeof target === 'string' ? target : (target!.import?.default ?? target!.default);
    expect(file, `${spec} has no import entry`).toBeDefined();
    for (const peer of peersLoadedBy(join(root, file!))) needed.add(peer);
  }
  return [...needed].sort();
}

/** Whether `version` satisfies a caret range `^M.m.p` (the only form the examples use). */
function satisfiesCaret(range: string, version: string): boolean {
  const want = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range);
  const have = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!want || !have) return false;
  const [w, h] = [want.slice(1).map(Number), have.slice(1).map(Number)];
  if (h[0] !== w[0]) return false;
  return h[1]! > w[1]! || (h[1] === w[1] && h[2]! >= w[2]!);
}

describe('example projects', () => {
  it('are exactly the listed ones, each a folder with package.json, server.ts and README.md', () => {
    const dirs = readdirSync(join(root, 'examples'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(dirs).toEqual(EXAMPLES.map((e) => e.name).sort());
    for (const { name } of EXAMPLES)
      for (const file of ['package.json', 'server.ts', 'README.md'])
        expect(existsSync(join(root, 'examples', name, file)), `${name}/${file}`).toBe(true);
  });

  for (const { name } of EXAMPLES) {
    it(`${name}: package.json lists exactly the packages its server needs`, () => {
      const dir = join(root, 'examples', name);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        private?: boolean;
        type?: string;
        scripts?: Record<string, string>;
        dependencies: Record<string, string>;
        devDependencies: Record<string, string>;
      };
      expect(pkg.private).toBe(true);
      expect(pkg.type).toBe('module');
      expect(pkg.scripts?.start).toBe('tsx server.ts');
      expect(Object.keys(pkg.devDependencies)).toEqual(['tsx']);
      expect(pkg.dependencies['tessera-session']).toBe('file:../..');
      expect(Object.keys(pkg.dependencies).sort()).toEqual(packagesNeeded(join(dir, 'server.ts')));
      // The versions this repository tests with satisfy what the example asks for.
      for (const [dep, range] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
        if (dep === 'tessera-session') continue;
        const installed = JSON.parse(
          readFileSync(join(root, 'node_modules', dep, 'package.json'), 'utf8'),
        ) as { version: string };
        expect(satisfiesCaret(range, installed.version), `${dep} ${range}`).toBe(true);
      }
    });
  }

  it('type-check as installed projects (strict, through node_modules/tessera-session)', () => {
    const config = join(copies, 'tsconfig.json');
    writeFileSync(
      config,
      JSON.stringify({
        extends: relative(copies, join(root, 'tsconfig.json')).split(sep).join('/'),
        include: EXAMPLES.map((e) => `${e.name}/server.ts`),
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', config], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);
});

// ---- running them -------------------------------------------------------------------------

/** A browser with one cookie: sends what a browser sends with a same-origin form post. */
class Browser {
  cookie = '';
  constructor(
    readonly base: string,
    readonly userAgent: string,
  ) {}

  async request(
    method: string,
    path: string,
    form?: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        'user-agent': this.userAgent,
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(form
          ? {
              'content-type': 'application/x-www-form-urlencoded',
              origin: this.base,
              'sec-fetch-site': 'same-origin',
            }
          : {}),
        ...headers,
      },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    for (const set of res.headers.getSetCookie()) {
      expect(set).toMatch(/^__Host-tessera=/);
      this.cookie = /Max-Age=0/.test(set) ? '' : set.split(';')[0]!;
    }
    return res;
  }

  /** GET a page that must answer 200 with HTML. */
  async page(path: string): Promise<string> {
    const res = await this.request('GET', path);
    expect(res.status, `GET ${path}`).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    return res.text();
  }

  /** Post a form of `html` (the page it is on) with that page's `_csrf` field. */
  async submit(html: string, action: string, fields: Record<string, string> = {}) {
    expect(html).toContain(`action="${action}"`);
    return this.request('POST', action, { ...fields, _csrf: csrfOf(html) });
  }

  /** Sign in as `user` through the form; the session token rotates. */
  async signIn(user: string): Promise<void> {
    const form = await this.page('/');
    const before = this.cookie;
    expectRedirect(await this.submit(form, '/login', { user }), '/account');
    expect(this.cookie).not.toBe(before);
    expect(await this.page('/account')).toContain(`Signed in as ${user}`);
  }
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
const sessionItems = (html: string) => html.match(/<li>/g)?.length ?? 0;
const revokeActions = (html: string) =>
  [...html.matchAll(/action="(\/sessions\/[^"]+\/revoke)"/g)].map((m) => m[1]!);

function expectRedirect(res: Response, location: string): void {
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe(location);
}

/** Signed out: the account page sends the browser to the sign-in form. */
async function expectSignedOut(b: Browser): Promise<void> {
  expectRedirect(await b.request('GET', '/account'), '/');
}

/** The environment an example runs with: keys per docs/keys.md, and its store's settings. */
function envFor(e: Example): Record<string, string> {
  // NODE_ENV empty counts as production for loadKeys: the examples opt into a development key
  // explicitly. The SQLite ones run without TESSERA_KEYS, on that development key file.
  const env: Record<string, string> = {
    NODE_ENV: '',
    TESSERA_KEYS: e.store === 'sqlite' ? '' : JSON.stringify([generateKey()]),
  };
  if (e.store === 'redis') Object.assign(env, { REDIS_URL, REDIS_PREFIX });
  if (e.store === 'postgres') Object.assign(env, { DATABASE_URL, DATABASE_SCHEMA });
  return env;
}

async function start(e: Example, env: Record<string, string>): Promise<Stoppable> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startTs(
    join(copies, e.name, 'server.ts'),
    { ...env, PORT: String(port) },
    `${base}/`,
    { cwd: join(copies, e.name) },
  );
  stops.push(server.stop);
  return { base, stop: server.stop };
}
interface Stoppable {
  base: string;
  stop: () => Promise<void>;
}

async function redisCleanup(): Promise<number> {
  const { Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL);
  try {
    const keys: string[] = [];
    for await (const batch of client.scanStream({ match: `${REDIS_PREFIX}*`, count: 500 }))
      keys.push(...(batch as string[]));
    if (keys.length > 0) await client.del(...keys);
    return keys.length;
  } finally {
    client.disconnect();
  }
}

async function postgresCleanup(): Promise<boolean> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
      DATABASE_SCHEMA,
    ]);
    await client.query(`DROP SCHEMA IF EXISTS ${DATABASE_SCHEMA} CASCADE`);
    return found.rowCount === 1;
  } finally {
    await client.end();
  }
}

describe('examples', () => {
  for (const example of EXAMPLES) {
    const { name, store } = example;
    it.skipIf(!runs(example))(
      `${name} (${store}): sign-in, a CSRF-protected form, list, revoke, sign out others, sign out`,
      async () => {
        if (store === 'redis')
          cleanups.push(async () => {
            await redisCleanup();
          });
        if (store === 'postgres')
          cleanups.push(async () => {
            await postgresCleanup();
          });
        const env = envFor(example);
        let server = await start(example, env);
        const alice = new Browser(server.base, 'client-one');

        // The sign-in form: a first visit gets a session cookie and a _csrf field.
        const first = await alice.request('GET', '/');
        expect(first.status).toBe(200);
        expect(first.headers.get('cache-control')).toBe('no-store');
        expect(first.headers.getSetCookie()[0]).toMatch(SESSION_COOKIE);
        const signInForm = await first.text();
        expect(signInForm).toContain('action="/login"');
        await expectSignedOut(alice);

        // A cross-site post (another site's form cannot read the token) is refused.
        const crossSite = await alice.request(
          'POST',
          '/login',
          { user: 'mallory' },
          {
            origin: 'https://evil.example',
            'sec-fetch-site': 'cross-site',
          },
        );
        expect(crossSite.status).toBe(403);
        expect(await crossSite.json()).toEqual({ error: 'csrf' });

        await alice.signIn('alice');

        // The CSRF-protected form: saved with the page's token; a forged post changes nothing.
        let account = await alice.page('/account');
        expectRedirect(await alice.submit(account, '/note', { note: '<b>hi</b>' }), '/account');
        account = await alice.page('/account');
        expect(account).toContain('value="&#60;b&#62;hi&#60;/b&#62;"'); // escaped, kept
        const wrongToken = await alice.request('POST', '/note', {
          note: 'forged',
          _csrf: `${csrfOf(account)}x`,
        });
        expect(wrongToken.status).toBe(403);
        const forged = await alice.request(
          'POST',
          '/note',
          { note: 'forged' },
          {
            origin: 'https://evil.example',
            'sec-fetch-site': 'cross-site',
          },
        );
        expect(forged.status).toBe(403);
        expect(await alice.page('/account')).not.toContain('forged');

        // A second browser signs in as alice: both sessions are listed, the other one revocable.
        const laptop = new Browser(server.base, 'client-two');
        await laptop.signIn('alice');
        account = await alice.page('/account');
        expect(sessionItems(account)).toBe(2);
        expect(account).toContain('client-one');
        expect(account).toContain('client-two');
        expect(account).toContain('(this session)');
        const [revokeLaptop, ...more] = revokeActions(account);
        expect(more).toEqual([]);
        expectRedirect(await alice.submit(account, revokeLaptop!), '/account');
        await expectSignedOut(laptop);
        expect(sessionItems(await alice.page('/account'))).toBe(1);

        // Another user's handle, or a malformed one, revokes nothing (and is no server error).
        const bob = new Browser(server.base, 'bob-one');
        const bobPhone = new Browser(server.base, 'bob-two');
        await bob.signIn('bob');
        await bobPhone.signIn('bob');
        const bobsOther = revokeActions(await bob.page('/account'));
        expect(bobsOther).toHaveLength(1);
        account = await alice.page('/account');
        const notHers = await alice.request('POST', bobsOther[0]!, { _csrf: csrfOf(account) });
        expectRedirect(notHers, '/account');
        expect(await bobPhone.page('/account')).toContain('Signed in as bob');
        const malformed = await alice.request('POST', '/sessions/%00/revoke', {
          _csrf: csrfOf(account),
        });
        expect(malformed.status).toBe(303);

        // "Sign out other sessions" ends the laptop's new session and keeps this one.
        await laptop.signIn('alice');
        account = await alice.page('/account');
        expect(sessionItems(account)).toBe(2);
        expectRedirect(await alice.submit(account, '/sessions/revoke-others'), '/account');
        await expectSignedOut(laptop);
        account = await alice.page('/account');
        expect(sessionItems(account)).toBe(1);
        expect(await bob.page('/account')).toContain('Signed in as bob');

        // Sign-out: the cookie is cleared, and the old cookie opens nothing.
        const oldCookie = alice.cookie;
        const out = await alice.submit(account, '/logout');
        expectRedirect(out, '/');
        expect(out.headers.getSetCookie()[0]).toMatch(/^__Host-tessera=; Path=\/; Max-Age=0;/);
        expect(alice.cookie).toBe('');
        alice.cookie = oldCookie;
        await expectSignedOut(alice);

        const keyFile = join(copies, name, '.tessera', 'keys.json');
        if (store === 'sqlite') {
          // The development key file (docs/keys.md): made once, private, and read again after a
          // restart, so bob's sessions on the SQLite file survive it.
          expect(statSync(keyFile).mode & 0o777).toBe(0o600);
          expect(existsSync(join(copies, name, 'sessions.db'))).toBe(true);
          await server.stop();
          server = await start(example, env);
          for (const b of [bob, bobPhone]) {
            const again = new Browser(server.base, b.userAgent);
            again.cookie = b.cookie;
            expect(await again.page('/account')).toContain('Signed in as bob');
          }
        } else {
          expect(existsSync(keyFile)).toBe(false); // TESSERA_KEYS was used
        }
        await server.stop();
        // The store was the one configured by the environment, and is cleaned up.
        if (store === 'redis') expect(await redisCleanup()).toBeGreaterThan(0);
        if (store === 'postgres') expect(await postgresCleanup()).toBe(true);
      },
      60_000,
    );
  }
});

describe('Express quick start', () => {
  const file = join(root, 'examples', 'quickstart-express.ts');
  const cookieOf = (res: Response) => {
    const all = res.headers.getSetCookie();
    expect(all).toHaveLength(1);
    return all[0]!;
  };

  it('is at most 20 lines of code', () => {
    const code = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.trim().startsWith('//'));
    expect(code.length).toBeLessThanOrEqual(20);
  });

  it('counts views, and login needs the CSRF token and rotates the cookie', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = await startTs(file, { PORT: String(port) }, `${base}/`);
    stops.push(server.stop);
    const first = await fetch(`${base}/`);
    expect(first.status).toBe(200);
    const set = cookieOf(first);
    expect(set).toMatch(SESSION_COOKIE);
    const cookie = set.split(';')[0]!;
    const body = (await first.json()) as { views: number; csrf: string };
    expect(body.views).toBe(1);
    const second = (await (await fetch(`${base}/`, { headers: { cookie } })).json()) as {
      views: number;
    };
    expect(second.views).toBe(2);

    const missing = await fetch(`${base}/login`, { method: 'POST', headers: { cookie } });
    expect(missing.status).toBe(403);
    const login = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': body.csrf, 'sec-fetch-site': 'same-origin' },
    });
    expect(login.status).toBe(204);
    const rotated = cookieOf(login).split(';')[0]!;
    expect(rotated).not.toBe(cookie);
    const after = (await (await fetch(`${base}/`, { headers: { cookie: rotated } })).json()) as {
      views: number;
    };
    expect(after.views).toBe(3);
  });
});

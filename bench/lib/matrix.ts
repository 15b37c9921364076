/**
 * The benchmark matrix: every configuration is one server file in `bench/servers/`. A tessera
 * configuration is just another entry; {@link pendingReason} marks one whose server file (or the
 * library API it needs) does not exist yet, so the run lists it instead of failing.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The framework a configuration runs on; its bare server is the baseline. */
export type Framework = 'node' | 'express' | 'express4' | 'fastify' | 'hono' | 'fetch';

/** An external service a configuration needs. */
export type Service = 'redis' | 'postgres';

/** One configuration of the matrix. */
export interface BenchConfig {
  /** Server file name in `bench/servers/` (without `.ts`), also the row label. */
  name: string;
  framework: Framework;
  /**
   * `bare` (ceiling), `floor` (the bare app plus one no-op middleware doing what any session
   * layer must: see {@link FLOOR}), `peer` (what users would pick instead) or `tessera`.
   */
  kind: 'bare' | 'floor' | 'peer' | 'tessera';
  /** The session store, for the table (`memory`, `redis`, `cookie`, …). */
  store: string;
  /** Packages whose installed versions are recorded with the results. */
  packages: string[];
  services: Service[];
  /** The settings used, in one line, for the report. */
  settings: string;
  /** Included only with `--all`. */
  allOnly?: boolean;
  /** Included only with `--floor`. */
  floorOnly?: boolean;
}

/** The bare server of each framework. */
export const BARE: Record<Framework, string> = {
  node: 'bare-node',
  express: 'bare-express',
  express4: 'bare-express4',
  fastify: 'bare-fastify',
  hono: 'bare-hono',
  fetch: 'bare-fetch',
};

/**
 * The floor server of each framework: its bare server plus one no-op session-shaped middleware
 * (run per request, attach `session = null` to the request, add `Cache-Control: no-store` to the
 * response through the framework's normal path when the route answers). What it costs over bare
 * is what any session middleware costs on that framework, a floor no session library goes below;
 * tessera's extra minus the floor's is tessera's own share (`bench/lib/floor.ts`).
 */
export const FLOOR: Record<Framework, string> = {
  node: 'floor-node',
  express: 'floor-express',
  express4: 'floor-express4',
  fastify: 'floor-fastify',
  hono: 'floor-hono',
  fetch: 'floor-fetch',
};

/** The npm packages each framework's servers load. */
const FRAMEWORK_PACKAGES: Record<Framework, string[]> = {
  node: [],
  express: ['express'],
  express4: ['express4'],
  fastify: ['fastify'],
  hono: ['hono', '@hono/node-server'],
  fetch: ['@hono/node-server'],
};

const tessera = (
  framework: Framework,
  store: string,
  services: Service[],
  allOnly = false,
): BenchConfig => ({
  name: `tessera-${framework}-${store}`,
  framework,
  kind: 'tessera',
  store,
  packages: [
    'tessera-session',
    ...FRAMEWORK_PACKAGES[framework],
    ...(store === 'redis' ? ['ioredis'] : []),
    ...(store === 'postgres' ? ['pg'] : []),
    ...(store === 'sqlite' ? ['better-sqlite3'] : []),
  ],
  services,
  settings: `tessera secure defaults (${store} store)`,
  allOnly,
});

const FLOOR_SETTINGS: Record<Framework, string> = {
  node: 'bare-node wrapped by a handler wrapper that sets `req.session = null` and hooks `res.writeHead` (an own property, one shared function) to set `Cache-Control: no-store`',
  express:
    'bare-express plus `app.use((req, res, next) => …)` setting `req.session = null` and hooking `res.writeHead` (as node:http) for `Cache-Control: no-store`',
  express4:
    'bare-express4 plus `app.use((req, res, next) => …)` setting `req.session = null` and hooking `res.writeHead` (as node:http) for `Cache-Control: no-store`',
  fastify:
    "bare-fastify plus `decorateRequest('session', null)`, an `onRequest` hook setting `request.session = null` and an `onSend` hook calling `reply.header('cache-control', 'no-store')` (callback style)",
  hono: "bare-hono plus `app.use(async (c, next) => …)`: `c.set('session', null)`, `await next()`, then `c.res.headers.set('cache-control', 'no-store')`",
  fetch:
    'bare-fetch wrapped by `handle(request, handler)`: a symbol property set on the Request, the handler called with `null`, `cache-control: no-store` set on the returned Response, answered synchronously',
};

const floor = (framework: Framework): BenchConfig => ({
  name: FLOOR[framework],
  framework,
  kind: 'floor',
  store: '-',
  packages: FRAMEWORK_PACKAGES[framework],
  services: [],
  settings: FLOOR_SETTINGS[framework],
  // Six more rows cost ≈6–7 min in the default run (3 rounds): `--floor` only.
  floorOnly: true,
});

const sealed = (framework: Framework, allOnly = false): BenchConfig => ({
  ...tessera(framework, 'sealed', [], allOnly),
  settings:
    'tessera sealed-cookie mode (createSealedSessions), secure defaults, no revocation store',
});

/** Every configuration, in display order. */
export const CONFIGS: BenchConfig[] = [
  {
    name: 'bare-node',
    framework: 'node',
    kind: 'bare',
    store: '-',
    packages: [],
    services: [],
    settings: 'node:http, one handler answering 0',
  },
  {
    name: 'bare-express',
    framework: 'express',
    kind: 'bare',
    store: '-',
    packages: ['express'],
    services: [],
    settings: 'Express 5, the three routes answering 0',
  },
  {
    name: 'bare-express4',
    framework: 'express4',
    kind: 'bare',
    store: '-',
    packages: ['express4'],
    services: [],
    settings: 'Express 4 (express@4 installed as `express4`), the three routes answering 0',
  },
  {
    name: 'bare-fastify',
    framework: 'fastify',
    kind: 'bare',
    store: '-',
    packages: ['fastify'],
    services: [],
    settings: 'Fastify 5, the three routes answering 0, logger off',
  },
  {
    name: 'bare-hono',
    framework: 'hono',
    kind: 'bare',
    store: '-',
    packages: ['hono', '@hono/node-server'],
    services: [],
    settings: "Hono 4 on @hono/node-server's request listener, the three routes answering 0",
  },
  {
    name: 'bare-fetch',
    framework: 'fetch',
    kind: 'bare',
    store: '-',
    packages: ['@hono/node-server'],
    services: [],
    settings:
      "a (Request) => Response handler on @hono/node-server's request listener, reading the path and answering 0",
  },
  {
    name: 'express-session-memory',
    framework: 'express',
    kind: 'peer',
    store: 'memory',
    packages: ['express', 'express-session'],
    services: [],
    settings:
      'express-session MemoryStore; resave: false, saveUninitialized: false, random 43-char secret; cookie defaults (HttpOnly, not Secure, no maxAge)',
  },
  {
    name: 'express-session-redis',
    framework: 'express',
    kind: 'peer',
    store: 'redis',
    packages: ['express', 'express-session', 'connect-redis', 'redis'],
    services: ['redis'],
    // Not in issue 14's table: --all only, to keep the default run near 20 minutes.
    allOnly: true,
    settings:
      'express-session + connect-redis 9 on node-redis (the client connect-redis documents; it rejects ioredis), unique prefix, default TTL 86400 s; resave: false, saveUninitialized: false; cookie defaults',
  },
  {
    name: 'fastify-session',
    framework: 'fastify',
    kind: 'peer',
    store: 'memory',
    packages: ['fastify', '@fastify/session', '@fastify/cookie'],
    services: [],
    settings:
      '@fastify/session default MemoryStore (saveUninitialized and rolling default true); random 43-char secret; cookie.secure: false (required on plain http per its README)',
  },
  {
    name: 'fastify-secure-session',
    framework: 'fastify',
    kind: 'peer',
    store: 'cookie',
    packages: ['fastify', '@fastify/secure-session', 'sodium-native'],
    services: [],
    settings:
      '@fastify/secure-session, 32-byte random key (what its genkey.js writes), cookie { path: "/", httpOnly: true }, default expiry 1 day',
  },
  {
    name: 'iron-session-node',
    framework: 'node',
    kind: 'peer',
    store: 'cookie',
    packages: ['iron-session'],
    services: [],
    settings:
      'getIronSession(req, res, { password (43 chars), cookieName }) with default cookie options (Secure, HttpOnly, Lax; the harness replays cookies itself)',
  },
  floor('node'),
  floor('express'),
  floor('express4'),
  floor('fastify'),
  floor('hono'),
  floor('fetch'),
  tessera('node', 'memory', []),
  tessera('express', 'memory', []),
  tessera('express4', 'memory', []),
  tessera('fastify', 'memory', []),
  tessera('hono', 'memory', []),
  tessera('fetch', 'memory', []),
  tessera('node', 'redis', ['redis']),
  // Redis under the other adapters costs the store's share as on node:http plus the adapter's
  // (measured by the memory rows): --all only, to keep the default run near 20 minutes.
  tessera('express', 'redis', ['redis'], true),
  tessera('fastify', 'redis', ['redis'], true),
  sealed('node'),
  // Sealed mode on Fastify: the same framework as @fastify/secure-session, the peer it is judged
  // against. The Express, Hono and fetch adapters host a sealed engine at run time too (their
  // `session()` still declares `SessionManager`, which issue 12 changes): --all only, for time.
  sealed('fastify'),
  sealed('express', true),
  sealed('hono', true),
  sealed('fetch', true),
  tessera('node', 'sqlite', [], true),
  tessera('express', 'sqlite', [], true),
  tessera('fastify', 'sqlite', [], true),
  tessera('node', 'postgres', ['postgres'], true),
  tessera('express', 'postgres', ['postgres'], true),
  tessera('fastify', 'postgres', ['postgres'], true),
];

/**
 * Whether a configuration keeps sessions (the harness creates and checks them before any load):
 * false for the bare and floor servers, which answer `0` without any.
 *
 * @param config - The configuration.
 * @returns True for a peer or tessera configuration.
 * @example
 * ```ts
 * const cookies = hasSessions(config) ? await obtainSessions(base, 10) : null;
 * ```
 */
export function hasSessions(config: Pick<BenchConfig, 'kind'>): boolean {
  return config.kind === 'peer' || config.kind === 'tessera';
}

/**
 * Why a configuration cannot run yet, or null when its server file exists.
 *
 * @param config - The configuration.
 * @returns A human-readable reason, or null.
 * @example
 * ```ts
 * const reason = pendingReason(config); // 'server file bench/servers/<name>.ts not written yet'
 * ```
 */
export function pendingReason(config: BenchConfig): string | null {
  const file = fileURLToPath(new URL(`../servers/${config.name}.ts`, import.meta.url));
  if (existsSync(file)) return null;
  if (config.kind !== 'tessera') return `missing: bench/servers/${config.name}.ts`;
  return config.store === 'sealed'
    ? `pending: sealed-cookie mode (src/core/sealed.ts) is not yet hosted by the ${config.framework} adapter; write bench/servers/${config.name}.ts when it is`
    : `pending: bench/servers/${config.name}.ts not written yet`;
}

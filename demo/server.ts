/**
 * `npm start`: the tessera demo web app. Reads its settings from the environment (see
 * docs/demo.md), opens the store, and serves http://127.0.0.1:3000 by default.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createSessions } from 'tessera-session';
import { KEY_FILE, type KeyInput, loadKeys } from 'tessera-session/keys';
import { session } from 'tessera-session/node';
import { openStore, redactStoreUrl } from 'tessera-session/stores';
import { createApp } from './app.js';
import { AuditTrail } from './audit.js';
import { ConfigError, type DemoConfig, hostForUrl, parseConfig } from './config.js';
import { isLoopbackHost, securityHeaders, splitUrl } from './http.js';
import { AttemptLimiter } from './limits.js';
import { createMetrics } from './metrics.js';
import { Users } from './users.js';

/** A running demo. */
export interface RunningDemo {
  server: Server;
  config: DemoConfig;
  /** The base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Stop accepting requests and close the store. */
  close(): Promise<void>;
}

/**
 * Start the demo.
 * @param env - the environment to read settings from
 * @param cwd - the folder `.tessera/` and relative SQLite paths live in
 * @returns the running server
 * @throws ConfigError for bad settings; Error when the key file or the store cannot be opened,
 *   or the port is taken
 * @example const demo = await startDemo({ PORT: '3001', TESSERA_STORE: 'memory' })
 */
export async function startDemo(
  env: NodeJS.ProcessEnv,
  cwd: string = process.cwd(),
): Promise<RunningDemo> {
  const config = parseConfig(env);
  const log = pino({
    base: { app: 'tessera-demo', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });

  let keys: KeyInput[];
  if (config.keys) {
    keys = config.keys;
    log.info({ keyIds: keys.map((k) => k.id) }, 'key ring read from TESSERA_KEYS');
  } else {
    // The demo opts into the development key explicitly (config.developmentKey), never through
    // NODE_ENV: the library creates the key file once (atomically, mode 0600) and reads it
    // after; its notice goes out as one loud pino warning, with the key ids (never the keys).
    const dir = resolve(cwd, config.stateDir);
    let notice = '';
    keys = loadKeys({ dir, production: !config.developmentKey, log: (m) => (notice = m) });
    log.warn(
      {
        keyFile: resolve(dir, KEY_FILE),
        keyIds: keys.map((k) => k.id),
        developmentKey: config.developmentKey,
      },
      `${notice} (The demo asks for it: developmentKey in demo/config.ts; set TESSERA_KEYS to use your own keys.)`,
    );
  }

  const raw = await openStore(config.store, {
    cwd,
    ...(config.storePrefix !== null ? { prefix: config.storePrefix } : {}),
    ...(config.storeSchema !== null ? { schema: config.storeSchema } : {}),
  }).catch((e: unknown) => {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    throw new Error(
      `Cannot open the store ${redactStoreUrl(config.store)}: ${(e as Error).message}${cause ? ` (${cause})` : ''}`,
    );
  });
  const metrics = createMetrics(() => raw.count(Date.now()));
  const store = metrics.timeStore(raw);
  const engine = createSessions({
    store,
    keys,
    idleTimeout: config.idleTimeout,
    absoluteTimeout: config.absoluteTimeout,
    rotationGrace: config.rotationGrace,
    csrf: { origins: config.origins },
  });
  const audit = new AuditTrail(store, log);
  audit.attach(engine);
  metrics.attach(engine);
  const users = new Users(store, {
    onRestore: (user) =>
      log.warn(
        { audit: 'users', user },
        'the store had lost this demo user: restored the last password hash this instance saw',
      ),
  });
  try {
    await users.seed();
  } catch (e) {
    await raw.close().catch(() => {});
    throw new Error(`Cannot seed the demo users in the store: ${(e as Error).message}`);
  }
  const limiter = new AttemptLimiter(store, config.loginLimit);
  const app = createApp({ config, engine, users, limiter, audit, metrics, log });
  // The app runs the CSRF check itself, after the sign-in check (contract order 401 → 403).
  const withSession = session(engine, { skipCSRF: () => true })(app);

  const css = readFileSync(new URL('./public/style.css', import.meta.url));
  const favicon = readFileSync(new URL('./public/favicon.svg', import.meta.url));

  const server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    securityHeaders(res);
    const { path } = splitUrl(req.url);
    const m = req.method;
    if ((m === 'GET' || m === 'HEAD') && (path === '/style.css' || path === '/favicon.svg')) {
      const body = path === '/style.css' ? css : favicon;
      res.setHeader(
        'content-type',
        path === '/style.css' ? 'text/css; charset=utf-8' : 'image/svg+xml',
      );
      res.setHeader('content-length', body.length);
      res.end(body);
      return;
    }
    if ((m === 'GET' || m === 'HEAD') && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.setHeader('content-type', metrics.registry.contentType);
          res.end(text);
        },
        () => {
          res.statusCode = 500;
          res.end();
        },
      );
      return;
    }
    if ((m === 'GET' || m === 'HEAD') && path === '/healthz') {
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end('{"ok":true}');
      return;
    }
    // The demo speaks plain http, where a session is safe only on loopback (the adapter would
    // refuse anything else with a 500): a request without a Host, or for another host, is the
    // client's mistake, answered with a 4xx before any session is loaded.
    const host = req.headers.host;
    if (!host || !isLoopbackHost(host)) {
      const status = host ? 421 : 400;
      res.statusCode = status;
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(JSON.stringify({ error: host ? 'insecure_transport' : 'bad_request' }));
      return;
    }
    withSession(req, res);
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      fail(
        new Error(
          e.code === 'EADDRINUSE'
            ? `Port ${config.port} on ${config.host} is already in use: set PORT to a free port.`
            : `Cannot listen on ${config.host}:${config.port}: ${e.message}`,
        ),
      );
    });
    server.listen(config.port, config.host, () => ok());
  }).catch(async (e: unknown) => {
    await raw.close().catch(() => {});
    throw e;
  });

  const url = `http://${hostForUrl(config.host)}:${config.port}`;
  log.info(
    {
      url,
      store: redactStoreUrl(config.store),
      origins: config.origins,
      idleTimeout: config.idleTimeout,
      absoluteTimeout: config.absoluteTimeout,
      freshAge: config.freshAge,
      rotationGrace: config.rotationGrace,
      loginLimit: config.loginLimit,
    },
    `tessera demo listening on ${url}`,
  );

  if (!isLoopbackHost(hostForUrl(config.host))) {
    log.warn(
      { host: config.host },
      'HOST is not a loopback address: over plain http, only requests addressed to localhost or 127.0.0.1 get a session (others are answered 421); put a TLS-terminating proxy in front for anything else.',
    );
  }

  let closing: Promise<void> | null = null;
  return {
    server,
    config,
    url,
    close() {
      closing ??= (async () => {
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        await raw.close();
      })();
      return closing;
    },
  };
}

async function main(): Promise<void> {
  let demo: RunningDemo;
  try {
    demo = await startDemo(process.env);
  } catch (e) {
    const message = e instanceof ConfigError ? e.message : (e as Error).message;
    process.stderr.write(`tessera demo: cannot start.\n${message}\n`);
    process.exit(1);
  }
  const stop = (signal: string) => {
    process.stderr.write(`tessera demo: ${signal}, shutting down\n`);
    demo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}

/**
 * express-session with connect-redis 9 on the node-redis client that connect-redis documents
 * (connect-redis 9 calls `set(key, value, { expiration })`, node-redis syntax: ioredis rejects
 * it). Settings as connect-redis's README: `resave: false`, `saveUninitialized: false`, a unique
 * prefix; cookie defaults (HttpOnly, not Secure). Keys under the prefix are deleted on close.
 */
import { createServer } from 'node:http';
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import { BENCH_SECRET } from '../lib/app.js';
import {
  countRedisCommands,
  listenLoopback,
  redisUrl,
  runBenchServer,
  uniquePrefix,
} from '../lib/control.js';
import { addExpressRoutes } from '../lib/express-routes.js';

const client = createClient({ url: redisUrl });
await client.connect();
const prefix = uniquePrefix('connect-redis');
const commands = countRedisCommands(client);
const store = new RedisStore({ client, prefix });
const app = express();
app.use(session({ secret: BENCH_SECRET, resave: false, saveUninitialized: false, store }));
addExpressRoutes(app);

await runBenchServer({
  listen: () => listenLoopback(createServer(app)),
  counters: commands,
  close: async () => {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.unlink(keys);
    }
    await client.quit();
  },
});

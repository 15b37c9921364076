/** The benchmark routes for Express apps with an express-session style `req.session`. */
import type { Express } from 'express';
import { type BenchData, INITIAL_DATA, NO_SESSION } from './app.js';

/**
 * Registers `/new`, `/read` and `/hit` on an Express app whose session middleware exposes the
 * session data as properties of `req.session` (express-session).
 *
 * @param app - The Express app, session middleware already installed.
 * @returns Nothing.
 * @example
 * ```ts
 * app.use(session({ secret, resave: false, saveUninitialized: false }));
 * addExpressRoutes(app);
 * ```
 */
export function addExpressRoutes(app: Express): void {
  app.get('/new', (req, res) => {
    Object.assign(req.session as BenchData, structuredClone(INITIAL_DATA));
    res.type('text/plain').send('0');
  });
  app.get('/read', (req, res) => {
    const count = (req.session as BenchData).count;
    res.type('text/plain').send(count === undefined ? NO_SESSION : String(count));
  });
  app.get('/hit', (req, res) => {
    const session = req.session as BenchData;
    session.count = (session.count ?? 0) + 1;
    res.type('text/plain').send(String(session.count));
  });
}

/**
 * The options every adapter takes, and the types of its `onError` hook: types only, so the
 * request helpers (http.ts) and the error answer (answer.ts) both import them without importing
 * each other.
 */
import type { TesseraError } from '../../core/errors.js';

/** Options every adapter takes. */
export interface AdapterOptions {
  /**
   * Trust `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto` from this many proxy hops
   * (`true` = 1). Off by default, so nobody can spoof the client IP or scheme.
   * @default false
   */
  trustProxy?: boolean | number;
  /**
   * Which forwarding header the trusted proxies set: `X-Forwarded-For` (+ `X-Forwarded-Proto`),
   * or RFC 7239 `Forwarded`. Only this one is read, so a client cannot send the other.
   * @default 'x-forwarded-for'
   */
  proxyHeader?: ProxyHeader;
  /**
   * Requests for which the CSRF check is skipped (per-route opt-out), e.g. a webhook that
   * authenticates by signature. Return true to skip. `path` is the path as the framework's
   * router matches it, so that no other spelling of a route reaches it with a different answer
   * (see docs/frameworks.md, "What the route predicates see"): Express — lower-cased and
   * without one trailing slash, unless the app set `case sensitive routing` / `strict routing`;
   * Fastify — the matched route's URL as registered (`/hooks/:id`); Hono — `c.req.path`
   * (decoded, the app's `strict` rule); node:http and fetch, whose router is the app's own —
   * asked about the path as sent and, when it differs, as a URL parser reads it (dot segments
   * resolved, percent-decoded): the route is skipped only when both answers say so.
   */
  skipCSRF?: (request: { method: string; path: string }) => boolean;
  /** Largest urlencoded body the adapter parses itself (to find `_csrf`). @default 65536 */
  bodyLimit?: number;
  /**
   * Milliseconds the adapter waits for the whole of an urlencoded body it reads itself (to find
   * `_csrf`; on Fastify, every form its own parser reads). A client that sends the headers and
   * then stalls gets 408 `{"error":"request_timeout"}` and the connection is closed, instead of
   * holding the request until Node's `requestTimeout` (300 s). Bodies your own parser reads
   * (`express.urlencoded()` before the middleware, `@fastify/formbody`) are bounded by it.
   * @default 10000
   */
  bodyTimeout?: number;
  /**
   * JSON-only routes: an unsafe request to them with a simple content type (`text/plain`, an
   * urlencoded or multipart form, or none) and no CSRF header is refused with 415, so a
   * cross-site HTML form can never reach them, whatever else it carries. `path` as for
   * `skipCSRF`; on node:http and fetch the rule applies when either reading matches.
   */
  jsonOnly?: (request: { method: string; path: string }) => boolean;
  /**
   * Answer an error the adapter answers itself — a CSRF rejection (403), the store down (503),
   * plain http refused (421), a body too large or too slow (413 / 408), a JSON-only route (415) —
   * with your own response, e.g. an HTML page for a form post instead of raw JSON. Return
   * `undefined` to keep the JSON answer (do so for `application/json` requests). Called
   * synchronously; if it throws or returns something invalid the JSON answer goes out and the
   * error is logged. The response keeps `Cache-Control: no-store`. Errors your own handler throws
   * (e.g. from a deferred `verifyCSRF`) go to your framework's error handling as before.
   * @default none — `{"error": name}` JSON with the error's status
   * @example
   * ```ts
   * session(sessions, {
   *   onError: (error, ctx) =>
   *     error.code === 'ERR_CSRF' && ctx.wantsHTML
   *       ? { status: 403, body: '<!doctype html><p>This form expired: go back and try again.</p>' }
   *       : undefined,
   * })
   * ```
   */
  onError?: (error: TesseraError, context: ErrorContext) => ErrorAnswer | null | undefined;
}

/** A forwarding header a proxy sets. */
export type ProxyHeader = 'x-forwarded-for' | 'forwarded';

/** Header lookup by lower-case name. */
export type HeaderGetter = (name: string) => string | undefined;

/** What an `AdapterOptions.onError` hook is told about the failed request. */
export interface ErrorContext {
  /** The method, upper-case. */
  method: string;
  /** The path as sent, without the query. */
  path: string;
  /** A request header by lower-case name. */
  header: (name: string) => string | undefined;
  /** The client asked for HTML (`Accept` names `text/html`): a browser's page load or form post. */
  wantsHTML: boolean;
  /** The status tessera answers with unless the hook answers. */
  status: number;
  /** The JSON body tessera answers with unless the hook answers (`{"error":"csrf"}`). */
  body: string;
  /**
   * The session's CSRF token, to render a form again — present when a session was loaded (a
   * CSRF, body or route error), absent when none could be (store down, plain http refused).
   */
  csrfToken?: (() => string) | undefined;
}

/** What an `AdapterOptions.onError` hook answers instead of the JSON error. */
export interface ErrorAnswer {
  /** 200–599. @default the error's status */
  status?: number;
  /** Response headers. @default `content-type: text/html; charset=utf-8` */
  headers?: Record<string, string>;
  /** The body. */
  body: string;
}

/** Options of {@link hstsHeader}. */
export interface HSTSOptions {
  /** Seconds. @default 31536000 (one year) */
  maxAge?: number;
  /** @default true */
  includeSubDomains?: boolean;
  /** Only after reading https://hstspreload.org's requirements. @default false */
  preload?: boolean;
}

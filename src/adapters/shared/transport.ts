/**
 * The transport check with its why, and the logged CSRF refusal: what an adapter tells the
 * client (a one-line `hint` in a 421) and the operator (a log line once per host) when plain http
 * is refused outside loopback, or when a CSRF refusal shows that TLS ends at an untrusted proxy.
 */
import type { CSRFRejection, CSRFRequest } from '../../core/csrf.js';
import { TesseraError } from '../../core/errors.js';
import { logText, type TesseraLog } from '../../core/logger.js';
import {
  type AdapterOptions,
  type HeaderGetter,
  hops,
  type ProxyHeader,
  transportError,
} from './http.js';

/** Why a request was refused as plain http, for the log line and the body's hint. */
interface Diagnosis {
  why: string;
  hint: string;
}

const HAS_PROTO = /(?:^|[;,\s])proto=/i;

/**
 * Why a request outside loopback arrived as plain http, from its forwarding headers and the
 * adapter's proxy settings: the headers a proxy would set are present but not trusted, or
 * trusted but the wrong one, or absent.
 * @param trust - whether the adapter's `trustProxy` is on
 * @param framework - the framework whose own proxy setting decides the scheme when tessera's
 *   `trustProxy` is off (Fastify's `trustProxy` server option), if any
 */
function diagnose(
  get: HeaderGetter,
  trust: boolean,
  header: ProxyHeader,
  framework: string | undefined,
): Diagnosis {
  const xfp = get('x-forwarded-proto') !== undefined;
  const fwd = HAS_PROTO.test(get('forwarded') ?? '');
  if (!trust && (xfp || fwd)) {
    const name = xfp ? 'X-Forwarded-Proto' : 'Forwarded';
    const set = framework
      ? `the adapter's trustProxy option, or ${framework}'s own trustProxy`
      : "the adapter's trustProxy option";
    return {
      why: `${name} is present but trustProxy is off`,
      hint: `${name} is present but trustProxy is off: if a proxy you run sets it, set ${set}${xfp ? '' : " with proxyHeader: 'forwarded'"} (docs/deploying.md).`,
    };
  }
  if (trust && header === 'forwarded' && xfp && !fwd)
    return {
      why: "X-Forwarded-Proto is present but proxyHeader is 'forwarded'",
      hint: "X-Forwarded-Proto is present but the adapter reads Forwarded (proxyHeader: 'forwarded'): set proxyHeader: 'x-forwarded-for' if your proxy sets X-Forwarded-*.",
    };
  if (trust && header === 'x-forwarded-for' && fwd && !xfp)
    return {
      why: "Forwarded is present but proxyHeader is 'x-forwarded-for'",
      hint: "Forwarded is present but the adapter reads X-Forwarded-Proto: set proxyHeader: 'forwarded' if your proxy sets Forwarded.",
    };
  if (trust && !(header === 'forwarded' ? fwd : xfp)) {
    const name = header === 'forwarded' ? 'Forwarded proto=' : 'X-Forwarded-Proto';
    return {
      why: `trustProxy is on but the request carries no ${name}`,
      hint: `trustProxy is on but the request carries no ${name}: make the proxy set it (nginx: proxy_set_header X-Forwarded-Proto $scheme).`,
    };
  }
  if (trust)
    return {
      why: 'the trusted proxy says the client used plain http',
      hint: 'The trusted proxy says the client used plain http: serve this site over https only (redirect http to https at the proxy).',
    };
  return {
    why: 'plain http, the host is not loopback, and no trusted proxy header says https',
    hint: "Sessions are refused over plain http outside loopback: serve https; behind a TLS-terminating proxy set the adapter's trustProxy option; for development set allowInsecure: true (docs/deploying.md).",
  };
}

/** What {@link checkTransport} needs of an engine. */
export interface TransportEngine {
  readonly allowInsecure: boolean;
  readonly log: TesseraLog;
}

/**
 * {@link transportError} for a request, with the why: a 421 carries a one-line `hint` in its
 * body (the forwarding header that is present but not trusted, or what to set), and the first
 * refusal for each host is logged once per process with the host, why and the fix.
 * @param get - the request's headers
 * @param scheme - the scheme after `trustProxy`
 * @param options - the adapter's `trustProxy` / `proxyHeader`
 * @param framework - the framework whose own proxy setting decides the scheme when tessera's
 *   `trustProxy` is off (`'Fastify'`), if any
 * @returns an error to answer with, or null
 */
export function checkTransport(
  engine: TransportEngine,
  get: HeaderGetter,
  scheme: string,
  options: AdapterOptions,
  framework?: string,
): TesseraError | null {
  const host = get('host');
  const err = transportError(scheme, host, engine.allowInsecure);
  if (err === null || err.code !== 'ERR_INSECURE_TRANSPORT') return err;
  const header = options.proxyHeader ?? 'x-forwarded-for';
  const d = diagnose(get, hops(options.trustProxy) > 0, header, framework);
  const shown = logText(host!.toLowerCase());
  engine.log.once(
    'warn',
    shown,
    { event: 'insecure_transport', host: shown, why: d.why, proxyHeader: header },
    `refused a session over plain http for host "${shown}" with 421 insecure_transport: ${d.why}. Fix: behind a TLS-terminating proxy, set the adapter's trustProxy option (it reads X-Forwarded-Proto, or Forwarded with proxyHeader: 'forwarded'); for development over plain http, set allowInsecure: true on createSessions(). See docs/deploying.md. (Logged once per host.)`,
  );
  return new TesseraError('ERR_INSECURE_TRANSPORT', err.message, { details: { hint: d.hint } });
}

/**
 * The error for a failed CSRF check, logged: each reason at `info`, rate-limited; and once per
 * host, a warning when the request came from the https page of this very host but arrived as
 * http — TLS ends at a proxy the adapter does not trust.
 * @param engine - the engine (its logger)
 * @param reason - why the check failed
 * @param facts - the request's CSRF facts
 */
export function csrfError(
  engine: { readonly log: TesseraLog },
  reason: CSRFRejection,
  facts: CSRFRequest,
): TesseraError {
  const log = engine.log;
  if (log.enabled) {
    log.limited(
      'info',
      `csrf:${reason}`,
      { event: 'csrf_rejected', reason },
      `refused an unsafe request with 403 csrf (${reason}).`,
      reason,
    );
    const self = facts.selfOrigin?.toLowerCase();
    if (
      (reason === 'origin_mismatch' || reason === 'referer_mismatch') &&
      self?.startsWith('http://')
    ) {
      let from: string | undefined;
      try {
        from = new URL(
          reason === 'origin_mismatch' ? (facts.origin ?? '') : (facts.referer ?? ''),
        ).origin.toLowerCase();
      } catch {
        from = undefined;
      }
      if (from === `https://${self.slice('http://'.length)}`) {
        const shown = logText(self.slice('http://'.length));
        log.once(
          'warn',
          shown,
          { event: 'csrf_scheme_mismatch', host: shown },
          `refused a form from https://${shown} (403 csrf, ${reason}) because this request arrived as plain http: TLS ends at a proxy the adapter does not trust. Set the adapter's trustProxy option (docs/deploying.md). (Logged once per host.)`,
        );
      }
    }
  }
  return new TesseraError('ERR_CSRF', `CSRF check failed (${reason}).`, { details: { reason } });
}

import { describe, expect, it } from 'vitest';
import { TesseraError } from '../../core/errors.js';
import { type LogFields, type Logger, TesseraLog } from '../../core/logger.js';
import { errorReply } from './answer.js';
import type { AdapterOptions } from './http.js';
import { checkTransport, csrfError } from './transport.js';

function capture(): {
  log: TesseraLog;
  lines: { level: string; fields: LogFields; message: string }[];
} {
  const lines: { level: string; fields: LogFields; message: string }[] = [];
  const at = (level: string) => (fields: LogFields, message: string) => {
    lines.push({ level, fields, message });
  };
  const logger: Logger = { info: at('info'), warn: at('warn'), error: at('error') };
  return { log: new TesseraLog(logger), lines };
}

const headers = (h: Record<string, string>) => (name: string) => h[name];

describe('checkTransport', () => {
  const hintOf = (h: Record<string, string>, options: AdapterOptions = {}, framework?: string) => {
    const { log } = capture();
    const err = checkTransport(
      { allowInsecure: false, log },
      headers({ host: 'app.example', ...h }),
      'http',
      options,
      framework,
    );
    expect(err).toMatchObject({ code: 'ERR_INSECURE_TRANSPORT', status: 421 });
    return (err as TesseraError<'ERR_INSECURE_TRANSPORT'>).details.hint;
  };

  it('names what it saw in the hint, for each way a proxy can be missed', () => {
    expect(hintOf({})).toMatch(/^Sessions are refused over plain http outside loopback/);
    expect(hintOf({ 'x-forwarded-proto': 'https' })).toMatch(
      /^X-Forwarded-Proto is present but trustProxy is off: .* set the adapter's trustProxy option \(/,
    );
    expect(hintOf({ forwarded: 'for=192.0.2.1;proto=https' })).toMatch(
      /^Forwarded is present but trustProxy is off: .*with proxyHeader: 'forwarded'/,
    );
    expect(hintOf({ 'x-forwarded-proto': 'https' }, {}, 'Fastify')).toContain(
      "the adapter's trustProxy option, or Fastify's own trustProxy",
    );
    expect(
      hintOf({ 'x-forwarded-proto': 'https' }, { trustProxy: 1, proxyHeader: 'forwarded' }),
    ).toMatch(/^X-Forwarded-Proto is present but the adapter reads Forwarded/);
    expect(hintOf({ forwarded: 'proto=https' }, { trustProxy: true })).toMatch(
      /^Forwarded is present but the adapter reads X-Forwarded-Proto/,
    );
    expect(hintOf({}, { trustProxy: 2 })).toMatch(
      /^trustProxy is on but the request carries no X-Forwarded-Proto/,
    );
    expect(hintOf({}, { trustProxy: 1, proxyHeader: 'forwarded' })).toMatch(
      /^trustProxy is on but the request carries no Forwarded proto=/,
    );
    expect(hintOf({ 'x-forwarded-proto': 'http' }, { trustProxy: 1 })).toMatch(
      /^The trusted proxy says the client used plain http/,
    );
  });

  it('passes https, loopback and the development flag, and answers 400 without a Host', () => {
    const { log, lines } = capture();
    const engine = { allowInsecure: false, log };
    expect(checkTransport(engine, headers({ host: 'app.example' }), 'https', {})).toBeNull();
    expect(checkTransport(engine, headers({ host: 'localhost:3000' }), 'http', {})).toBeNull();
    expect(
      checkTransport({ allowInsecure: true, log }, headers({ host: 'web:3000' }), 'http', {}),
    ).toBeNull();
    expect(checkTransport(engine, headers({}), 'http', {})).toMatchObject({ status: 400 });
    expect(lines).toEqual([]);
  });

  it('logs each host once, without control characters, and stops after 32 hosts', () => {
    const { log, lines } = capture();
    const engine = { allowInsecure: false, log };
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 40; i++)
        checkTransport(engine, headers({ host: `h${i}.example` }), 'http', {});
    expect(lines).toHaveLength(33);
    expect(lines[0]!.fields).toMatchObject({ event: 'insecure_transport', host: 'h0.example' });
    expect(lines.at(-1)!.message).toMatch(/no longer logged/);
    const other = capture();
    checkTransport({ allowInsecure: false, log: other.log }, headers({ host: 'a\nb' }), 'http', {});
    expect(other.lines[0]!.fields.host).toBe('a?b');
  });
});

describe('csrfError', () => {
  it('warns once per host when the https page of this host posts to it over http', () => {
    const { log, lines } = capture();
    const facts = {
      method: 'POST',
      origin: 'https://app.example',
      selfOrigin: 'http://app.example',
    };
    for (let i = 0; i < 3; i++)
      expect(csrfError({ log }, 'origin_mismatch', facts)).toMatchObject({ code: 'ERR_CSRF' });
    csrfError({ log }, 'origin_mismatch', { ...facts, origin: 'https://evil.example' });
    expect(lines.filter((l) => l.fields.event === 'csrf_scheme_mismatch')).toHaveLength(1);
    expect(lines.filter((l) => l.fields.event === 'csrf_rejected')).toHaveLength(1);
  });
});

describe('errorReply', () => {
  const request = { method: 'POST', path: '/form', header: headers({ accept: 'text/html' }) };
  const csrf = new TesseraError('ERR_CSRF', 'CSRF check failed (missing_token).', {
    details: { reason: 'missing_token' },
  });

  it('answers JSON without a hook, with the hint of a 421', () => {
    expect(errorReply(csrf, {}, undefined, request)).toEqual({
      status: 403,
      headers: [
        ['content-type', 'application/json; charset=utf-8'],
        ['cache-control', 'no-store'],
      ],
      body: '{"error":"csrf"}',
    });
    const refused = new TesseraError('ERR_INSECURE_TRANSPORT', 'plain http', {
      details: { hint: 'set trustProxy' },
    });
    expect(errorReply(refused, {}, undefined, request)).toMatchObject({
      status: 421,
      body: '{"error":"insecure_transport","hint":"set trustProxy"}',
    });
  });

  it("keeps no-store and drops the hook's framing headers", () => {
    const reply = errorReply(
      csrf,
      {
        onError: () => ({
          status: 303,
          headers: {
            Location: '/form?expired=1',
            'Cache-Control': 'max-age=3600',
            'Content-Length': '1',
          },
          body: '',
        }),
      },
      undefined,
      request,
    );
    expect(reply).toEqual({
      status: 303,
      headers: [
        ['content-type', 'text/html; charset=utf-8'],
        ['location', '/form?expired=1'],
        ['cache-control', 'no-store'],
      ],
      body: '',
    });
  });

  it('falls back to JSON and logs when the hook answers something invalid', () => {
    for (const answer of [
      { status: 99, body: 'x' },
      { status: 700, body: 'x' },
      { body: 42 },
      { headers: { 'x-bad': 'a\r\nSet-Cookie: x=1' }, body: 'x' },
      { headers: { 'bad name': 'v' }, body: 'x' },
    ]) {
      const { log, lines } = capture();
      const reply = errorReply(csrf, { onError: () => answer as never }, log, request);
      expect(reply.body).toBe('{"error":"csrf"}');
      expect(lines.map((l) => l.fields.event)).toEqual(['on_error_failed']);
    }
  });
});

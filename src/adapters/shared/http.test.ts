import { describe, expect, it } from 'vitest';
import {
  clientFacts,
  errorBody,
  hstsHeader,
  isLoopbackHost,
  parsedPath,
  parseUrlencoded,
  planCSRF,
  transportError,
} from './http.js';

const headers = (h: Record<string, string>) => (name: string) => h[name];

describe('clientFacts', () => {
  it('ignores forwarding headers unless trustProxy is set, so nobody can spoof the IP or scheme', () => {
    const get = headers({ 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https' });
    expect(clientFacts(get, '10.0.0.1', 'http', false)).toEqual({ ip: '10.0.0.1', scheme: 'http' });
    expect(clientFacts(get, '10.0.0.1', 'http', undefined)).toEqual({
      ip: '10.0.0.1',
      scheme: 'http',
    });
  });

  it('takes the address N hops from the right, since entries further left are client-supplied', () => {
    const get = headers({
      'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.2',
      'x-forwarded-proto': 'https',
    });
    expect(clientFacts(get, '10.0.0.1', 'http', true)).toEqual({ ip: '10.0.0.2', scheme: 'https' });
    expect(clientFacts(get, '10.0.0.1', 'http', 2)).toEqual({ ip: '203.0.113.7', scheme: 'https' });
  });

  it('reads RFC 7239 Forwarded when configured, including quoted IPv6', () => {
    const get = headers({
      forwarded: 'for=6.6.6.6;proto=http, for="[2001:db8::1]:443";proto=https',
    });
    expect(clientFacts(get, '10.0.0.1', 'http', 1, 'forwarded')).toEqual({
      ip: '2001:db8::1',
      scheme: 'https',
    });
  });

  it('reads only the configured header, so a client cannot send the other one', () => {
    const get = headers({ forwarded: 'for=6.6.6.6;proto=https', 'x-forwarded-for': '1.2.3.4' });
    expect(clientFacts(get, '10.0.0.1', 'http', 1)).toEqual({ ip: '1.2.3.4', scheme: 'http' });
    const xff = headers({ 'x-forwarded-for': '6.6.6.6', forwarded: 'for=1.2.3.4' });
    expect(clientFacts(xff, '10.0.0.1', 'http', 1, 'forwarded')).toEqual({
      ip: '1.2.3.4',
      scheme: 'http',
    });
  });

  it('takes the scheme from the same hop as the address', () => {
    const get = headers({
      'x-forwarded-for': '6.6.6.6, 203.0.113.7',
      'x-forwarded-proto': 'https, http',
    });
    expect(clientFacts(get, '10.0.0.1', 'http', 1)).toEqual({ ip: '203.0.113.7', scheme: 'http' });
    const one = headers({
      'x-forwarded-for': '6.6.6.6, 203.0.113.7',
      'x-forwarded-proto': 'https',
    });
    expect(clientFacts(one, '10.0.0.1', 'http', 1)).toEqual({ ip: '203.0.113.7', scheme: 'https' });
  });
});

describe('transport', () => {
  it('knows loopback hosts', () => {
    for (const h of ['localhost:3000', '127.0.0.1', '127.9.9.9:80', '[::1]:3000', 'app.localhost'])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['example.com', '128.0.0.1', '127.0.0.1.evil.com', '[::2]', undefined])
      expect(isLoopbackHost(h)).toBe(false);
  });

  it('refuses plain http outside loopback unless allowInsecure', () => {
    expect(transportError('http', 'example.com', false)).toMatchObject({
      code: 'ERR_INSECURE_TRANSPORT',
      status: 421,
    });
    expect(transportError('https', undefined, false)).toMatchObject({
      code: 'ERR_BAD_REQUEST',
      status: 400,
    });
    expect(transportError('http', 'example.com', true)).toBeNull();
    expect(transportError('https', 'example.com', false)).toBeNull();
    expect(transportError('http', '127.0.0.1:3000', false)).toBeNull();
  });

  it('builds HSTS values', () => {
    expect(hstsHeader()).toBe('max-age=31536000; includeSubDomains');
    expect(hstsHeader({ maxAge: 60, includeSubDomains: false, preload: true })).toBe(
      'max-age=60; preload',
    );
  });
});

describe('parseUrlencoded', () => {
  it('keeps __proto__ a plain key and the first of repeated fields', () => {
    const f = parseUrlencoded('__proto__=x&a=1&a=2&b=%20c+d');
    expect(Object.getPrototypeOf(f)).toBeNull();
    // biome-ignore lint/suspicious/noProto: the test is that __proto__ stays a plain key.
    expect(f.__proto__).toBe('x');
    expect(f.a).toBe('1');
    expect(f.b).toBe(' c d');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('answers malformed percent-encoding with ERR_BAD_REQUEST', () => {
    expect(() => parseUrlencoded('a=%E0%A4%A')).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_REQUEST' }),
    );
  });
});

describe('planCSRF', () => {
  const engine = { csrf: { enabled: true, headerName: 'x-csrf-token' } };
  const plan = (method: string, h: Record<string, string>, o = {}) =>
    planCSRF(engine, method, '/api/x', headers(h), o);

  it('skips safe methods and opted-out routes, reads forms only without the header', () => {
    expect(plan('GET', {})).toBe('skip');
    expect(plan('POST', {}, { skipCSRF: () => true })).toBe('skip');
    expect(plan('POST', { 'content-type': 'application/x-www-form-urlencoded' })).toBe('read-form');
    expect(
      plan('POST', { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': 't' }),
    ).toBe('check');
    expect(plan('DELETE', {})).toBe('check');
  });

  it('refuses simple content types on JSON-only routes without the header (415)', () => {
    const o = { jsonOnly: () => true };
    for (const ct of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      '',
    ]) {
      const r = plan('POST', ct ? { 'content-type': ct } : {}, o);
      expect(r).toMatchObject({ code: 'ERR_BAD_REQUEST', status: 415 });
      expect(errorBody(r).body).toBe('{"error":"unsupported_media_type"}');
    }
    expect(plan('POST', { 'content-type': 'application/json' }, o)).toBe('check');
    expect(plan('POST', { 'content-type': 'text/plain', 'x-csrf-token': 't' }, o)).toBe('check');
  });

  it('skips only when every reading of the path is opted out; jsonOnly when any reading is', () => {
    const form = headers({ 'content-type': 'application/x-www-form-urlencoded' });
    const o = {
      skipCSRF: ({ path }: { path: string }) => path === '/webhook',
      jsonOnly: ({ path }: { path: string }) => path === '/api',
    };
    expect(planCSRF(engine, 'POST', '/webhook', form, o)).toBe('skip');
    expect(planCSRF(engine, 'POST', ['/%77ebhook', '/webhook'], form, o)).toBe('read-form');
    expect(planCSRF(engine, 'POST', ['/webhook', '/x'], form, o)).toBe('read-form');
    expect(planCSRF(engine, 'POST', ['/%61pi', '/api'], form, o)).toMatchObject({ status: 415 });
    expect(planCSRF(engine, 'POST', ['/api', '/x'], form, o)).toMatchObject({ status: 415 });
  });
});

describe('parsedPath', () => {
  it('reads a path as a URL-parsing, decoding router does, and leaves a plain path as it is', () => {
    const plain = '/account/email';
    expect(parsedPath(plain)).toBe(plain);
    expect(parsedPath('/x/../regenerate')).toBe('/regenerate');
    expect(parsedPath('/x/%2e%2e/regenerate')).toBe('/regenerate');
    expect(parsedPath('/%72egenerate')).toBe('/regenerate');
    // Reserved characters stay encoded, as decodeURI leaves them.
    expect(parsedPath('/a%2Fb')).toBe('/a%2Fb');
    expect(parsedPath('/x\\..\\regenerate')).toBe('/regenerate');
    expect(parsedPath('http://example.com/regenerate')).toBe('/regenerate');
    // Malformed percent-encoding: the parsed path as the URL parser left it.
    expect(parsedPath('/%E0%A4%A')).toBe('/%E0%A4%A');
  });
});

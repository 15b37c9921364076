/**
 * Reading a request body for the CSRF token: capped in bytes and in time, for every adapter that
 * reads a Node stream (node:http, Express, Fastify).
 */
import type { Readable } from 'node:stream';
import type { TesseraError } from '../../core/errors.js';
import { bodyReadError, bodyTimeoutError, bodyTooLargeError } from './http.js';

/**
 * Read a body stream, at most `limit` bytes and within `timeout` ms.
 * @throws TesseraError `ERR_BAD_REQUEST` (413 over `limit`, 408 past `timeout`, 400 on a read error)
 */
export function readCapped(stream: Readable, limit: number, timeout: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: TesseraError | null) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        done(bodyTooLargeError());
        stream.resume();
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => done(null);
    const onError = (e: unknown) => done(bodyReadError(e));
    // A client that sends the headers and stalls must not hold the request for Node's 300 s.
    const timer = setTimeout(() => done(bodyTimeoutError(timeout)), timeout);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

/**
 * What the server-side engine remembers of a request (the verified-token cache, load.ts) must
 * not keep the request's whole Cookie header alive: a cookie value is a slice of it, and V8 keeps
 * a slice's parent. Measured in a child process with --expose-gc.
 */
import { describe, expect, it } from 'vitest';
import { gcMeasured } from '../../test/support/process.js';

describe('server-side engine memory', () => {
  it('keeps no request header alive through its verified-token cache', () => {
    const engine = new URL('./engine.ts', import.meta.url).pathname;
    const memory = new URL('../stores/memory/index.ts', import.meta.url).pathname;
    const keys = new URL('./keys.ts', import.meta.url).pathname;
    // 300 sessions, each loaded once with its cookie in a 50 KB header (15 MB of headers).
    const script = `
      import { createSessions } from ${JSON.stringify(engine)};
      import { memoryStore } from ${JSON.stringify(memory)};
      import { generateKey } from ${JSON.stringify(keys)};
      const e = createSessions({ keys: [generateKey()], store: memoryStore() });
      const cookies = [];
      for (let i = 0; i < 300; i++) {
        const s = await e.load({ method: 'GET' });
        s.set('i', i);
        cookies.push((await e.commit(s)).setCookie.split(';')[0]);
      }
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      for (const c of cookies) {
        const s = await e.load({ method: 'GET', cookie: c + '; big=' + 'x'.repeat(50000) + Math.random() });
        if (s.state !== 'active') throw new Error('did not load');
      }
      globalThis.gc(); globalThis.gc();
      console.log(process.memoryUsage().heapUsed - before);
      await e.close();
    `;
    expect(gcMeasured(script)).toBeLessThan(3_000_000);
  });
});

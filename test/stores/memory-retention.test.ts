/**
 * What the memory store keeps of a request must not keep the request's headers alive. The
 * client's IP comes from a proxy header split into entries (`clientFacts`: `split(',')` and
 * `trim()`), and V8 makes an entry of 13 characters or more (`203.100.200.150`, any IPv6) a
 * slice that keeps the whole header alive: an interned IP or User-Agent held as it came would
 * keep up to Node's 16 KB header limit per distinct string, per live session. Measured in a
 * child process with --expose-gc.
 */
import { describe, expect, it } from 'vitest';
import { gcMeasured } from '../support/process.js';

describe('memoryStore retention', () => {
  it('keeps no request header alive through the IP and User-Agent it interns', () => {
    const engine = new URL('../../src/core/engine.ts', import.meta.url).pathname;
    const memory = new URL('../../src/stores/memory/index.ts', import.meta.url).pathname;
    const keys = new URL('../../src/core/keys.ts', import.meta.url).pathname;
    // 300 new sessions, each from a client whose entries sit in a 50 KB header (15 MB in all).
    const script = `
      import { createSessions } from ${JSON.stringify(engine)};
      import { memoryStore } from ${JSON.stringify(memory)};
      import { generateKey } from ${JSON.stringify(keys)};
      const e = createSessions({ keys: [generateKey()], store: memoryStore() });
      const entry = (i, value) =>
        ('x'.repeat(50000) + Math.random() + ', ' + value + i).split(',').map((v) => v.trim())[1];
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 300; i++) {
        const s = await e.load({ method: 'GET', ip: entry(i, '203.100.200.'), userAgent: entry(i, 'Mozilla/5.0 (X11) #') });
        s.set('i', i);
        await e.commit(s);
      }
      globalThis.gc(); globalThis.gc();
      console.log(process.memoryUsage().heapUsed - before);
      await e.close();
    `;
    expect(gcMeasured(script)).toBeLessThan(3_000_000);
  });
});

/**
 * A regression guard for the memory store's footprint, not a benchmark: a child process (so
 * that nothing else of the test run shares its heap) fills 50,000 small signed-in sessions and
 * reports the heap plus the array buffers (the store's slab) they added after a full GC.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CHILD = join(import.meta.dirname, 'fixtures', 'memory-heap-fill.ts');
/**
 * Bytes per session allowed. Measured (Node 20, x64): about 470 B, of which the session's own
 * strings (id, handle, user id, data) are about 280 B; the unpacked store took about 800 B.
 */
const LIMIT = 560;

describe('memoryStore footprint', () => {
  it(`keeps 50,000 small signed-in sessions under ${LIMIT} B each (heap + slab, after GC)`, async () => {
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD], {
      env: { ...process.env, N: '50000' },
      timeout: 60_000,
    });
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as {
      sessions: number;
      bytesPerSession: number;
      buffersPerSession: number;
    };
    expect(out.sessions).toBe(50_000);
    // The slab is there (so array buffers are counted), and the total is within the limit.
    expect(out.buffersPerSession).toBeGreaterThan(0);
    expect(out.bytesPerSession, JSON.stringify(out)).toBeLessThan(LIMIT);
  }, 90_000);
});

/**
 * The "Write your own store" example of docs/stores.md (examples/custom-store.ts): a store that
 * implements SessionStore only passes the conformance suite's session groups, and the engine
 * takes it. The docs print the file exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// As a third-party store's tests would: through the package's own entries (dist/: run
// `npm run build` first), so the suite knows the TesseraError class the example imports.
import { createSessions } from 'tessera-session';
import { generateKey } from 'tessera-session/keys';
import { conformanceCases, registerConformance, SESSION_GROUPS } from 'tessera-session/testing';
import { describe, expect, it } from 'vitest';
import { mapStore } from '../../examples/custom-store.js';

registerConformance(
  { name: 'custom-store example', create: () => mapStore() },
  { describe, it },
  { groups: SESSION_GROUPS },
);

const root = join(import.meta.dirname, '..', '..');

describe('custom-store example', () => {
  it('runs every case but the kv ones, and fails those: it is no KeyValueStore', async () => {
    const all = conformanceCases({ name: 'map', create: () => mapStore() });
    const sessions = conformanceCases(
      { name: 'map', create: () => mapStore() },
      {
        groups: SESSION_GROUPS,
      },
    );
    const kv = all.filter((c) => c.group === 'kv');
    expect(sessions.length).toBe(all.length - kv.length);
    expect(kv.length).toBeGreaterThan(0);
    for (const c of kv) await expect(c.run()).rejects.toThrow(/does not implement KeyValueStore/);
  });

  it('is taken by createSessions, which needs no key-value space', async () => {
    const sessions = createSessions({ store: mapStore(), keys: [generateKey()] });
    await sessions.close();
  });

  it('is printed in docs/stores.md exactly as committed', () => {
    const doc = readFileSync(join(root, 'docs', 'stores.md'), 'utf8');
    const block =
      /<!-- custom-store:start -->\s*```ts\n([\s\S]*?)```\s*<!-- custom-store:end -->/.exec(
        doc,
      )?.[1];
    expect(block).toBe(readFileSync(join(root, 'examples', 'custom-store.ts'), 'utf8'));
  });
});

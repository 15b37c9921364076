import { describe, expectTypeOf, it } from 'vitest';
import type { RecordChanges, SessionStore, StoreEntry, TouchChanges } from '../src/core/types.js';
import { type MemoryStoreSync, memoryStore } from '../src/stores/memory/index.js';

describe('memoryStore types', () => {
  it('is a SessionStore with the synchronous getNow, touchNow and updateNow', () => {
    const store = memoryStore();
    expectTypeOf(store).toExtend<SessionStore>();
    expectTypeOf(store).toExtend<MemoryStoreSync>();
    expectTypeOf(store.getNow).parameters.toEqualTypeOf<[string]>();
    expectTypeOf(store.getNow).returns.toEqualTypeOf<StoreEntry | null>();
    expectTypeOf(store.touchNow).parameters.toEqualTypeOf<[string, TouchChanges]>();
    expectTypeOf(store.touchNow).returns.toEqualTypeOf<boolean>();
    expectTypeOf(store.updateNow).parameters.toEqualTypeOf<[string, number, RecordChanges]>();
    expectTypeOf(store.updateNow).returns.toEqualTypeOf<boolean>();
  });
});

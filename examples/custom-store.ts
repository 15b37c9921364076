import {
  type DeleteByUserOptions,
  type ListOptions,
  type ListResult,
  type RecordChanges,
  type SessionRecord,
  type SessionStore,
  type SignInOptions,
  type SignInResult,
  type StoreEntry,
  TesseraError,
  type TombstoneRecord,
  type TouchChanges,
} from 'tessera-session';

/** Live until both deadlines have passed (the rule of `listByUser`, `list`, `count`, `sweep`). */
const liveAt = (r: SessionRecord, now: number) =>
  r.idleExpiresAt > now && r.absoluteExpiresAt > now;

/**
 * A session store in one Map: the smallest store that passes the conformance suite's session
 * groups. Each method runs without an `await` before its last write, so in one process every call
 * is atomic — a store on a database gets the same from one transaction or one script per call.
 */
export function mapStore(): SessionStore {
  const entries = new Map<string, StoreEntry>(); // live records and tombstones, by id
  const epochs = new Map<string, { at: number; expiresAt: number }>(); // by user id
  const live = () => [...entries.values()].filter((e) => e.kind === 'live');
  const byHandle = (handle: string) => live().find((r) => r.handle === handle) ?? null;
  const conflict = (what: string) =>
    new TesseraError('ERR_CONFLICT', `mapStore: a session with this ${what} exists`);
  const dropFamily = (handle: string): number => {
    let n = 0;
    for (const [id, e] of entries) if (e.handle === handle && entries.delete(id)) n++;
    return n;
  };
  /** The epoch and limit checks of a sign-in: throws, or returns the handles to evict. */
  const signInChecks = (next: SessionRecord, o: SignInOptions): string[] => {
    if (next.userId === null) return [];
    const epoch = epochs.get(next.userId)?.at;
    if (epoch !== undefined && (next.authenticatedAt === null || next.authenticatedAt <= epoch))
      throw new TesseraError('ERR_SESSION_REVOKED', 'mapStore: signed out everywhere since');
    if (o.limit <= 0) return [];
    const others = live()
      .filter((r) => r.userId === next.userId && r.handle !== next.handle && liveAt(r, o.now))
      .sort((a, b) => a.createdAt - b.createdAt);
    if (others.length < o.limit) return [];
    if (o.policy === 'reject')
      throw new TesseraError('ERR_SESSION_LIMIT', `mapStore: the user has ${o.limit} sessions`, {
        details: { limit: o.limit, policy: 'reject' },
      });
    return others.slice(0, others.length - o.limit + 1).map((r) => r.handle);
  };

  return {
    name: 'map',
    async get(id) {
      return entries.get(id) ?? null;
    },
    async getByHandle(handle) {
      return byHandle(handle);
    },
    async create(record, signIn?: SignInOptions): Promise<SignInResult> {
      if (entries.has(record.id)) throw conflict('id');
      if (byHandle(record.handle)) throw conflict('handle');
      const evicted = signIn ? signInChecks(record, signIn) : [];
      for (const h of evicted) dropFamily(h);
      entries.set(record.id, { ...record });
      return { evicted };
    },
    async update(id, expectedVersion, changes: RecordChanges) {
      const r = entries.get(id);
      if (r?.kind !== 'live' || r.version !== expectedVersion) return false;
      const version = changes.data === undefined ? r.version : r.version + 1;
      entries.set(id, { ...r, ...changes, version });
      return true;
    },
    async touch(id, changes: TouchChanges) {
      const r = entries.get(id);
      if (r?.kind !== 'live') return false;
      entries.set(id, { ...r, ...changes });
      return true;
    },
    async rotate(oldId, expectedVersion, next, tombstone: TombstoneRecord | null, signIn) {
      const r = entries.get(oldId);
      if (r?.kind !== 'live' || r.version !== expectedVersion) return false;
      if (next.id !== oldId && entries.has(next.id)) throw conflict('id');
      if (next.handle !== r.handle && byHandle(next.handle)) throw conflict('handle');
      const evicted = signIn ? signInChecks(next, signIn) : [];
      for (const h of evicted) dropFamily(h);
      entries.delete(oldId);
      if (tombstone) entries.set(oldId, { ...tombstone, id: oldId });
      entries.set(next.id, { ...next });
      return { evicted };
    },
    async delete(id) {
      return entries.delete(id);
    },
    async deleteByHandle(handle) {
      return dropFamily(handle);
    },
    async listByUser(userId, now) {
      return live()
        .filter((r) => r.userId === userId && liveAt(r, now))
        .sort((a, b) => a.createdAt - b.createdAt);
    },
    async deleteByUser(userId, options: DeleteByUserOptions = {}) {
      const { exceptHandle, epoch } = options;
      if (epoch) {
        const e = epochs.get(userId);
        epochs.set(userId, {
          at: Math.max(e?.at ?? epoch.at, epoch.at),
          expiresAt: Math.max(e?.expiresAt ?? epoch.expiresAt, epoch.expiresAt),
        });
      }
      const families = new Set(
        live()
          .filter((r) => r.userId === userId)
          .map((r) => r.handle),
      );
      let n = 0;
      for (const [id, e] of entries) {
        if (e.handle === exceptHandle) continue;
        if (!families.has(e.handle) && e.userId !== userId) continue;
        entries.delete(id);
        if (e.kind === 'live') n++;
      }
      return n;
    },
    async getRevocationEpoch(userId, now) {
      const e = epochs.get(userId);
      return e && e.expiresAt > now ? e.at : null;
    },
    async list({ cursor, limit, userId, now }: ListOptions): Promise<ListResult> {
      const all = live()
        .filter((r) => liveAt(r, now) && (userId === undefined || r.userId === userId))
        .filter((r) => cursor === undefined || r.id > cursor)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      const records = all.slice(0, limit);
      const more = all.length > limit;
      return { records, nextCursor: more ? (records.at(-1)?.id ?? null) : null };
    },
    async count(now, userId) {
      return live().filter((r) => liveAt(r, now) && (userId === undefined || r.userId === userId))
        .length;
    },
    async sweep(now, limit = Number.POSITIVE_INFINITY) {
      let n = 0;
      for (const [id, e] of entries) {
        if (n >= limit) break;
        const expired = e.kind === 'live' ? !liveAt(e, now) : e.expiresAt <= now;
        if (expired && entries.delete(id)) n++;
      }
      return n;
    },
    async close() {},
  };
}

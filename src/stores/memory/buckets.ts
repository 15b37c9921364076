/**
 * The memory store's indexes: a key's members as a bare string while there is one, a Set from
 * the second on.
 */

/**
 * The members of one index key: a bare string while there is one (the common case: one session
 * per user, one tombstone per family), a Set from the second on. Saves a Set (~130 B) per entry.
 */
export type Bucket = string | Set<string>;

export function addTo(index: Map<string, Bucket>, key: string, value: string): void {
  const bucket = index.get(key);
  if (bucket === undefined) index.set(key, value);
  else if (typeof bucket === 'string') {
    if (bucket !== value) index.set(key, new Set([bucket, value]));
  } else bucket.add(value);
}

export function removeFrom(index: Map<string, Bucket>, key: string, value: string): void {
  const bucket = index.get(key);
  if (bucket === undefined) return;
  if (typeof bucket === 'string') {
    if (bucket === value) index.delete(key);
    return;
  }
  bucket.delete(value);
  if (bucket.size === 1) index.set(key, bucket.values().next().value as string);
  else if (bucket.size === 0) index.delete(key);
}

export function sizeOf(bucket: Bucket): number {
  return typeof bucket === 'string' ? 1 : bucket.size;
}

/** The first member of a bucket, in insertion order (a Set bucket is never empty). */
export function firstOf(bucket: Bucket): string {
  return typeof bucket === 'string' ? bucket : (bucket.values().next().value as string);
}

/** A copy of one key's members, safe to iterate while the index changes. */
export function membersOf(index: Map<string, Bucket>, key: string): string[] {
  const bucket = index.get(key);
  if (bucket === undefined) return [];
  return typeof bucket === 'string' ? [bucket] : [...bucket];
}

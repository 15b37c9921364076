/**
 * The Redis store's scans of every record (`list` without a user, `count`, `sweep`): `SCAN` node
 * by node on a Cluster, in batches, with a cursor that never skips a record.
 */
import type { Cluster, Redis } from 'ioredis';
import type { ListResult, SessionRecord } from '../../core/types.js';
import type { RedisCalls } from './calls.js';
import { SCAN_COUNT } from './options.js';
import { decodeCursor, encodeCursor, type ScanPos } from './scan-cursor.js';
import { liveOf } from './session-args.js';

/**
 * A page of every live, unexpired record by `SCAN` (node by node on a Cluster). The cursor
 * names the node, the `SCAN` cursor of the batch and the last key returned from it; a batch
 * re-read after a resize of the server's table may repeat a record but never skips one.
 */
export async function scanPage(
  c: RedisCalls,
  limit: number,
  now: number,
  cursor?: string,
): Promise<ListResult> {
  const page = { pos: decodeCursor(cursor), more: false };
  const records: SessionRecord[] = [];
  await scanRecords(c, page.pos, async (batch, at) => {
    for (const [key, raw] of batch) {
      const r = raw === null ? null : liveOf(c.keys.idOfRecordKey(key), raw, now);
      if (r === null) continue;
      if (records.length >= limit) {
        // One more exists: the page is full and the next one starts after its last record.
        page.more = true;
        return false;
      }
      records.push(r);
      page.pos = { ...at, last: key };
    }
    return true;
  });
  return { records, nextCursor: page.more ? encodeCursor(page.pos) : null };
}

/**
 * Visit record keys with their values from `from`, batch by batch, until `visit` returns
 * false or every node is done.
 */
export async function scanRecords(
  calls: RedisCalls,
  from: ScanPos,
  visit: (batch: [string, string | null][], at: ScanPos) => Promise<boolean>,
): Promise<void> {
  const nodes = nodesOf(calls);
  const pattern = calls.keys.recordPattern();
  for (let n = from.node; n < nodes.length; n++) {
    let c = n === from.node ? from.cursor : '0';
    let skipThrough = n === from.node ? from.last : null;
    do {
      const [nextCursor, keys] = await nodes[n]!.scan(c, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      let todo = keys;
      if (skipThrough !== null) {
        const i = keys.indexOf(skipThrough);
        if (i >= 0) todo = keys.slice(i + 1);
        skipThrough = null;
      }
      const values = await getMany(calls, todo);
      const batch = todo.map((k, i): [string, string | null] => [k, values[i] ?? null]);
      if (!(await visit(batch, { node: n, cursor: c, last: null }))) return;
      c = nextCursor;
    } while (c !== '0');
  }
}

/** Values of many record keys: one `MGET` standalone, one `GET` each on a Cluster. */
async function getMany(c: RedisCalls, keys: string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  if (!c.cluster) return c.client.mget(keys);
  return Promise.all(keys.map((k) => c.client.get(k)));
}

/** The nodes to `SCAN`, in a stable order. */
function nodesOf(c: RedisCalls): Redis[] {
  if (!c.cluster) return [c.client as Redis];
  return (c.client as Cluster)
    .nodes('master')
    .map((n) => ({ n, id: `${n.options.host}:${n.options.port}` }))
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((x) => x.n);
}

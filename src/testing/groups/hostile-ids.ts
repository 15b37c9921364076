/**
 * Conformance group `hostile-ids`: ids, handles, user ids and data a hostile app or user may choose: kept exactly or refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isTesseraError } from '../../core/errors.js';
import type { SessionRecord } from '../../core/types.js';
import type { CaseContext } from '../context.js';
import { epoch, evict, ids, pick, pickRecord, ROTATED, reject, uniq } from '../context.js';

/**
 * Add the `hostile-ids` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function hostileIdsCases(c: CaseContext): void {
  const { add, rec, signedIn, successor, tag, tomb } = c;

  // ---- what real ids, user ids and data look like -------------------------------------

  add(
    'ids and handles with every id character round-trip exactly and case-sensitively',
    async (s, t) => {
      const rand = randomBytes(32).toString('base64url');
      // 43 characters with `-` and `_` certain to appear, and letters whose case can flip.
      const hash = `-_aZ${rand.slice(4)}`;
      const idList = [
        `ab12Cd.${hash}`,
        `AB12cD.${hash}`,
        hash,
        `AB12CD.${hash.toUpperCase()}`,
        `ab12cd.${hash.toLowerCase()}`,
      ];
      // A store with slot tags keeps a record's id and handle in one slot: there, every id
      // carries a tag, and each handle the tag of its id.
      if (s.slotTags) idList[2] = `${tag}.${hash}`;
      const family = (i: number, h: string): string =>
        s.slotTags ? `${idList[i]!.slice(0, idList[i]!.indexOf('.'))}.${h}` : h;
      const hBase = `-_${randomBytes(15).toString('base64url')}xY`;
      const handles = [
        hBase,
        hBase.toUpperCase(),
        hBase.toLowerCase(),
        `${hBase}.`,
        `_${hBase}`,
      ].map((h, i) => family(i, h));
      assert.equal(new Set(idList).size, idList.length);
      assert.equal(new Set(handles).size, handles.length);
      const records = idList.map((id, i) =>
        rec(t, { id, handle: handles[i]!, data: `{"i":${i}}` }),
      );
      for (const r of records) await s.create(r);
      for (const r of records) {
        assert.deepEqual(pick(await s.get(r.id)), r);
        assert.deepEqual(pick(await s.getByHandle(r.handle)), r);
      }
      // Ids and handles that differ from stored ones only by case are other ids (a
      // case-folding collation or a lower-cased key would find the stored ones).
      const probes = [
        `ab12cd.${hash}`,
        `AB12CD.${hash.toLowerCase()}`,
        `ab12cd.${hash.toUpperCase()}`,
      ];
      for (const probe of probes) {
        assert.ok(!idList.includes(probe));
        assert.equal(await s.get(probe), null, 'ids are not case-sensitive');
      }
      assert.equal(
        await s.getByHandle(family(0, `${hBase.slice(0, -2)}xy`)),
        null,
        'handles are not case-sensitive',
      );
      const last = idList[0]!.slice(-1);
      assert.equal(await s.get(`${idList[0]!.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`), null);
      assert.equal(await s.delete(idList[0]!), true);
      for (const r of records.slice(1)) assert.deepEqual(pick(await s.get(r.id)), r);
      const next = successor(records[1]!, {
        id: s.slotTags ? family(1, `Zz99${hash.slice(4)}`) : `Zz99Yy.${hash}`,
      });
      assert.deepEqual(await s.rotate(records[1]!.id, 1, next, tomb(records[1]!, t)), ROTATED);
      assert.deepEqual(pick(await s.getByHandle(handles[1]!)), next);
      assert.equal(await s.deleteByHandle(handles[2]!), 1);
      assert.deepEqual(pick(await s.get(idList[3]!)), records[3]);
    },
  );

  add('user ids with unicode, quotes and pattern characters match exactly', async (s, t) => {
    const base = `u-${uniq()}`;
    const userIds = [
      `${base}'; DROP TABLE sessions; --`,
      `${base}" OR "1"="1`,
      `${base}\\back\\slash`,
      `${base}*`,
      `${base}?`,
      `${base}[a-z]`,
      `${base}%`,
      `${base}_`,
      `${base}x`,
      `${base}:sessions`,
      `${base}{tag}`,
      `${base} Zoë 🦊 日本語 \u202e`,
      `${base}\n\t`,
    ];
    const records = userIds.map((userId) => rec(t, { userId }));
    for (const r of records) await s.create(r);
    for (const r of records) {
      assert.deepEqual((await s.listByUser(r.userId!, t)).map(pickRecord), [r]);
      assert.equal(await s.count(t, r.userId!), 1);
    }
    assert.deepEqual(await s.listByUser(base, t), []);
    assert.equal(await s.deleteByUser(base), 0);
    assert.equal(await s.deleteByUser(`${base}*`), 1);
    assert.equal(await s.deleteByUser(`${base}%`), 1);
    assert.equal(await s.deleteByUser(`${base}?`), 1);
    for (const r of records) {
      const gone = [`${base}*`, `${base}%`, `${base}?`].includes(r.userId!);
      assert.equal(await s.count(t, r.userId!), gone ? 0 : 1, `wrong count for ${r.userId}`);
    }
    const page = await s.list({ limit: 10, userId: `${base}_`, now: t });
    assert.deepEqual(ids(page.records), [records[7]!.id]);
  });

  add(
    'data with unicode up to 64 KiB round-trips through create, update and rotate',
    async (s, t) => {
      const chunk = 'aé€😀"\\\n\t<>&\'\u2028日本語 ';
      const big = (marker: string): string => {
        let text = marker;
        while (Buffer.byteLength(text + chunk) <= 64 * 1024) text += chunk;
        return text;
      };
      const first = big('{1}');
      const second = big('{2}');
      const third = big('{3}');
      assert.ok(Buffer.byteLength(first) > 63 * 1024);
      const user = `user-${uniq()}`;
      const r = rec(t, { userId: user, data: first });
      await s.create(r);
      assert.deepEqual(pick(await s.get(r.id)), r);
      assert.equal(await s.update(r.id, 1, { data: second }), true);
      assert.equal(((await s.get(r.id)) as SessionRecord | null)?.data, second);
      const next = successor(r, { data: third, version: 2 });
      assert.deepEqual(await s.rotate(r.id, 2, next, tomb(r, t)), ROTATED);
      assert.deepEqual(pick(await s.get(next.id)), next);
      assert.deepEqual(
        (await s.listByUser(user, t)).map((x) => x.data),
        [third],
      );
    },
  );

  // ---- user ids an app may be given ---------------------------------------------------

  add('epochs and limits are per exact user id, whatever characters it holds', async (s, t) => {
    const base = `u-${uniq()}`;
    const userIds = [
      base,
      `${base}*`,
      `${base}?`,
      `${base}[a-z]`,
      `${base}%`,
      `${base}_`,
      `${base}\\`,
      `${base}'"; --`,
      `${base}{tag}`,
      `{${base}}`,
      `${base}:e`,
      `${base} Zoë 🦊 日本語 \u202e`,
      `${base}\n\t`,
      `${base}${'x'.repeat(1000)}`,
      `${base.slice(0, -1)}`,
    ];
    assert.equal(new Set(userIds).size, userIds.length);
    for (const userId of userIds) await s.create(signedIn(t, userId), reject(t, 1));
    // The epoch and the limit of `base` must touch no other user, however alike.
    assert.equal(await s.deleteByUser(base, { epoch: epoch(t) }), 1);
    await assert.rejects(s.create(signedIn(t, base, { authenticatedAt: t }), reject(t)), {
      code: 'ERR_SESSION_REVOKED',
    });
    for (const userId of userIds.slice(1)) {
      assert.equal(await s.getRevocationEpoch(userId, t), null, `epoch leaked to ${userId}`);
      assert.equal(await s.count(t, userId), 1, `wrong count for ${JSON.stringify(userId)}`);
      await assert.rejects(s.create(signedIn(t, userId), reject(t, 1)), {
        code: 'ERR_SESSION_LIMIT',
      });
      const { evicted } = await s.create(signedIn(t, userId), evict(t, 1));
      assert.equal(evicted.length, 1, `evicted ${evicted.length} for ${JSON.stringify(userId)}`);
    }
    const again = signedIn(t, base, { authenticatedAt: t + 1 });
    assert.deepEqual(await s.create(again, reject(t, 1)), { evicted: [] });
    for (const userId of userIds) assert.equal(await s.count(t, userId), 1);
  });

  add(
    'a user id that is not well-formed UTF-16 or holds NUL is kept exactly or refused with a 4xx, never half-written',
    async (s, t) => {
      const base = `u-${uniq()}`;
      for (const userId of [`${base}\ud800`, `${base}\udc00x`, `${base}\0x`]) {
        const r = signedIn(t, base, { userId });
        const created = await Promise.allSettled([s.create(r, reject(t, 5))]);
        if (created[0]!.status === 'rejected') {
          const e: unknown = created[0]!.reason;
          assert.ok(
            isTesseraError(e, 'ERR_INVALID_ID'),
            `refused with ${String(e)} instead of ERR_INVALID_ID (a 400)`,
          );
          assert.equal(await s.get(r.id), null, 'a refused record was written');
          assert.equal(await s.getByHandle(r.handle), null, 'a refused record left its family');
          continue;
        }
        const listed = await s.listByUser(userId, t);
        assert.deepEqual(
          listed.map((x) => [x.id, x.userId]),
          [[r.id, userId]],
          'the user id did not round-trip',
        );
        // Not under the id a lossy encoding would turn it into.
        const alias = Buffer.from(userId, 'utf8').toString('utf8');
        if (alias !== userId) assert.deepEqual(await s.listByUser(alias, t), []);
        assert.equal(await s.deleteByUser(userId, { epoch: epoch(t) }), 1);
        assert.equal(await s.getRevocationEpoch(userId, t), t);
      }
    },
  );
}

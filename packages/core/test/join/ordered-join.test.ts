import { describe, expect, it } from 'vitest';
import { createJoinPlan } from '../../src/join/join-plan.js';
import { orderedJoin } from '../../src/join/ordered-join.js';
import { resultMap, type ResultLookup } from '../../src/join/result-lookup.js';
import type { JoinedRow } from '../../src/join/skipped-rows.js';
import type { RejectedRecord } from '../../src/records/rejected-record.js';
import { okLine, records } from './fixtures.js';

const rejected = (record: number, raw: string): RejectedRecord => ({ file: 'in.csv', line: record + 1, record, code: 'RECORD_INVALID', reason: 'bad row', raw });

describe('orderedJoin', () => {
  it('puts each rejected record at its place as a skipped row, and counts it', async () => {
    const plan = createJoinPlan({ labels: ['yes', 'no'] });
    // Records 2 and 5 were rejected while preparing (5 after the last good one).
    const input = records(4).map((r, i) => ({ ...r, index: [1, 3, 4, 6][i]! }));
    const rows: JoinedRow[] = [];
    const gen = orderedJoin({
      plan,
      records: input,
      rejects: [rejected(2, '{"id":"r2"}'), rejected(5, 'a,"b')],
      chunks: [{ requests: 4, results: input.map((r) => okLine(`row-${r.index}`, 'yes')) }],
    });
    let next = await gen.next();
    for (; !next.done; next = await gen.next()) rows.push(next.value);
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'skipped', 'succeeded', 'succeeded', 'skipped', 'succeeded']);
    expect(rows[1]).toMatchObject({ customId: null, row: { id: 'r2', error: 'RECORD_INVALID: bad row (record 2, line 3)' } });
    expect(rows[4]).toMatchObject({ rawLine: 'a,"b' });
    expect(next.value).toMatchObject({ records: 4, succeeded: 4, skipped: 2 });
  });

  it('hands the lookup the ids from the next joined record after adjacent records left out, with the same rows', async () => {
    const plan = createJoinPlan({ labels: ['yes', 'no'] });
    // Records 2 and 3 are read but rejected while building requests: their ids are expected, then passed over.
    const input = records(6);
    const kept = input.filter((r) => r.index !== 2 && r.index !== 3);
    const inner = await resultMap(kept.map((r) => okLine(`row-${r.index}`, 'yes')));
    const prefetched: string[][] = [];
    const lookup: ResultLookup = {
      take: (id) => inner.take(id),
      leftovers: () => inner.leftovers(),
      prefetch: (ids) => void prefetched.push([...ids]),
      get size() {
        return inner.size;
      },
      close: () => inner.close(),
    };
    const rows: JoinedRow[] = [];
    const gen = orderedJoin({ plan, records: [input], rejects: [rejected(2, '{"id":"r2"}'), rejected(3, '{"id":"r3"}')], chunks: [{ requests: 4, lookup: async () => lookup }] });
    let next = await gen.next();
    for (; !next.done; next = await gen.next()) rows.push(next.value);
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'skipped', 'skipped', 'succeeded', 'succeeded', 'succeeded']);
    expect(next.value).toMatchObject({ records: 4, succeeded: 4, skipped: 2 });
    expect(prefetched.at(-1)).toEqual(['row-4', 'row-5', 'row-6']);
  });
});

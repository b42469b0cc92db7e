import { describe, expect, it } from 'vitest';
import { IdHashTable } from '../../src/join/id-hash-table.js';
import { LinePositions } from '../../src/join/line-positions.js';
import { FIND, LookupAhead } from '../../src/join/lookup-ahead.js';
import { emptyVerdict, readVerdict } from '../../src/join/result-verdict.js';
import { VerdictStore } from '../../src/join/verdict-store.js';
import { okLine } from './fixtures.js';

const TAKEN = 2;

/** An index of verdicts: entry `e` holds the line of `lineIds[e]`, filed in the table under `keys[e]` (a collision when they differ). */
function indexOf(keys: string[], lineIds: string[] = keys) {
  const table = new IdHashTable();
  const at = new LinePositions();
  const store = new VerdictStore();
  const verdict = emptyVerdict();
  keys.forEach((key, i) => {
    const buf = Buffer.from(JSON.stringify(okLine(lineIds[i]!, `answer ${i}`)));
    expect(readVerdict(buf, 0, buf.length, verdict)).toBe(true);
    const e = at.add();
    at.verdicts[e] = store.keep(buf, verdict);
    table.add(key, e);
  });
  return { table, at, store, ahead: new LookupAhead(table, at, store, TAKEN) };
}

describe('LookupAhead', () => {
  it('settles the ids looked up ahead, in order and across blocks, as a find confirms them; any other id is FIND', () => {
    const ids = Array.from({ length: 300 }, (_, i) => `r${i}`);
    const { table, store, at, ahead } = indexOf(ids);
    ahead.fill([...ids, 'nobody']);
    for (let i = 0; i < 300; i++) {
      expect(ahead.entry(ids[i]!)).toBe(table.find(ids[i]!, (e) => store.isFor(at.verdicts[e]!, ids[i]!)));
    }
    expect(ahead.entry('r0')).toBe(FIND); // not the next id
    expect(ahead.entry('nobody')).toBe(-1); // no entry has its hash
    expect(ahead.entry('r1')).toBe(FIND); // past the ids looked up
  });

  it('steps over one id left out (a skipped record) but not two, across a block boundary', () => {
    const ids = Array.from({ length: 300 }, (_, i) => `r${i}`);
    const { ahead } = indexOf(ids);
    ahead.fill(ids);
    for (let i = 0; i < 127; i++) expect(ahead.entry(ids[i]!)).toBe(i);
    expect(ahead.entry('r128')).toBe(128); // r127 left out: the next block is looked up from r128
    expect(ahead.entry('r131')).toBe(FIND); // two left out
    expect(ahead.entry('r129')).toBe(129);
  });

  it('leaves to a find a taken entry, a line without a verdict, a verdict for another id under the same hash, and ids after clear', () => {
    const { at, ahead } = indexOf(['a', 'b', 'c', 'd'], ['a', 'b', 'other', 'd']);
    at.flags[0] = TAKEN;
    at.verdicts[1] = -1;
    ahead.fill(['a', 'b', 'c', 'd', 'd']);
    expect([ahead.entry('a'), ahead.entry('b'), ahead.entry('c')]).toEqual([FIND, FIND, FIND]);
    ahead.clear();
    expect(ahead.entry('d')).toBe(FIND);
  });

  it('looks nothing up while no verdict is kept (results read from their lines)', () => {
    const table = new IdHashTable();
    const at = new LinePositions();
    table.add('a', at.add());
    at.verdicts[0] = -1;
    const ahead = new LookupAhead(table, at, new VerdictStore(), TAKEN);
    ahead.fill(['a', 'b']);
    expect([ahead.entry('a'), ahead.entry('b')]).toEqual([FIND, FIND]);
  });
});

import { KbatchError } from '../errors.js';
import type { SourceRecord } from '../records/source-record.js';

/**
 * The custom_id of a record: the value of `idColumn` (a non-empty string, or a JSON number as written),
 * or `row-<record number>` without one. Both are stable across reruns of the same input.
 * @throws KbatchError CUSTOM_ID_MISSING when the id field is absent, empty or not a string/number
 * @example customIdFor({ index: 3, line: 4, data: {} }) // 'row-3'
 */
export function customIdFor(record: SourceRecord, idColumn?: string, file?: string): string {
  if (idColumn === undefined) return `row-${record.index}`;
  const value = record.data[idColumn];
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  const what = value === undefined || !Object.hasOwn(record.data, idColumn) ? 'has no' : 'has an empty or non-text';
  const where = file !== undefined && file !== '-' ? `${file}, ` : '';
  throw new KbatchError('CUSTOM_ID_MISSING', `${where}row ${record.index} (line ${record.line}) ${what} id column "${idColumn}"`, {
    file,
    record: record.index,
    line: record.line,
    field: idColumn,
  });
}

/**
 * Remembers the ids seen so far to refuse duplicates. Ids are kept as 64-bit hashes with their row
 * number (12 bytes a slot, at most 75% full: ~24 MB per million ids, against ~70 MB for a Map of strings),
 * so a 3M-row input stays within the memory budget. Two different ids sharing a 64-bit hash would be
 * reported as a duplicate; at 3M ids the chance of that is about 1 in 4 million.
 */
export interface IdRegistry {
  /** @throws KbatchError CUSTOM_ID_DUPLICATE naming both row numbers */
  add(id: string, record: number): void;
  /** Ids remembered so far. */
  readonly size: number;
}

/** A registry for duplicate custom_id detection (only needed for ids taken from a column). */
export function createIdRegistry(): IdRegistry {
  let capacity = 1 << 12;
  let h1s = new Uint32Array(capacity);
  let h2s = new Uint32Array(capacity);
  let rows = new Uint32Array(capacity); // 0 = empty slot (record numbers start at 1)
  let size = 0;

  const insert = (a: number, b: number, row: number): number => {
    const mask = capacity - 1;
    let slot = a & mask;
    while (rows[slot] !== 0) {
      if (h1s[slot] === a && h2s[slot] === b) return rows[slot]!;
      slot = (slot + 1) & mask;
    }
    h1s[slot] = a;
    h2s[slot] = b;
    rows[slot] = row;
    return 0;
  };

  const grow = () => {
    const [oldH1, oldH2, oldRows] = [h1s, h2s, rows];
    capacity *= 2;
    h1s = new Uint32Array(capacity);
    h2s = new Uint32Array(capacity);
    rows = new Uint32Array(capacity);
    for (let i = 0; i < oldRows.length; i++) if (oldRows[i] !== 0) insert(oldH1[i]!, oldH2[i]!, oldRows[i]!);
  };

  return {
    get size() {
      return size;
    },
    add(id, record) {
      // Two independent 32-bit hashes (FNV-1a and a multiplicative mix) over the UTF-16 code units.
      let a = 0x811c9dc5;
      let b = 0x9747b28c ^ id.length;
      for (let i = 0; i < id.length; i++) {
        const c = id.charCodeAt(i);
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul(b ^ c, 0x5bd1e995);
        b ^= b >>> 15;
      }
      a >>>= 0;
      b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35) >>> 0;
      const first = insert(a, b, record);
      if (first !== 0) {
        throw new KbatchError('CUSTOM_ID_DUPLICATE', `custom_id ${JSON.stringify(id)} is used by rows ${first} and ${record}`, {
          customId: id,
          record,
        });
      }
      if (++size * 4 > capacity * 3) grow();
    },
  };
}

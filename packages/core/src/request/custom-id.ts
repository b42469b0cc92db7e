import { KbatchError } from '../errors.js';
import type { SourceRecord } from '../records/types.js';

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

/** Remembers the ids seen so far to refuse duplicates. Memory grows with the number of distinct ids. */
export interface IdRegistry {
  /** @throws KbatchError CUSTOM_ID_DUPLICATE naming both row numbers */
  add(id: string, record: number): void;
}

/** A registry for duplicate custom_id detection (only needed for ids taken from a column). */
export function createIdRegistry(): IdRegistry {
  const seen = new Map<string, number>();
  return {
    add(id, record) {
      const first = seen.get(id);
      if (first !== undefined) {
        throw new KbatchError('CUSTOM_ID_DUPLICATE', `custom_id ${JSON.stringify(id)} is used by rows ${first} and ${record}`, {
          customId: id,
          record,
        });
      }
      seen.set(id, record);
    },
  };
}

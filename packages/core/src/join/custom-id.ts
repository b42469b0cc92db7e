import { KbatchError } from '../errors.js';
import type { SourceRecord } from '../records/types.js';

/**
 * The custom_id of a record as the request builder assigns it: the `idColumn` value, else the record number.
 * TODO(integration): delegate to the request area's `customIdFor` once it lands, so both sides share one rule.
 */
export function customIdOf(record: SourceRecord, idColumn?: string): string {
  if (idColumn === undefined) return String(record.index);
  const value = record.data[idColumn];
  if (value === undefined || value === null || value === '') {
    throw new KbatchError('CUSTOM_ID_MISSING', `record ${record.index} has no value in id column "${idColumn}"`, {
      record: record.index,
      line: record.line,
      field: idColumn,
    });
  }
  return String(value);
}

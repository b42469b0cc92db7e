/** Input formats kbatch reads. `tsv` is CSV with a tab delimiter. */
export type InputFormat = 'csv' | 'tsv' | 'jsonl' | 'json';

/** One input record as it flows through the pipeline: a plain object, strictly equal to the literal `{ index, line, data }`. */
export interface SourceRecord {
  /** 1-based record number (data rows only; a CSV header row is not a record). */
  index: number;
  /** 1-based physical line in the input where the record starts. */
  line: number;
  /** Field values: strings exactly as written for CSV/TSV, any JSON value for JSON inputs. */
  data: Record<string, unknown>;
}

/**
 * A new {@link SourceRecord}, the one way readers make them. By a constructor, not an object literal: V8 may judge a
 * literal's objects long-lived from the first ones (which wait in a join window) and then put every later one straight in
 * the old generation, where a dead record keeps its young fields alive through each scavenge (measured in
 * `pnpm bench:join` at 1,000,000 records, summing --trace-gc-nvp's `promoted`: 178 MB by a literal, 15 MB by this
 * constructor, as by the class it replaces). The record is still a plain object: its prototype is `Object.prototype`,
 * its own enumerable fields are `index`, `line` and `data` in that order, so it is strictly equal to that literal.
 * @example batch.push(sourceRecord(++count, line, data));
 */
export function sourceRecord(index: number, line: number, data: Record<string, unknown>): SourceRecord {
  return new InputRecord(index, line, data);
}

/** A constructor whose objects are plain: users compare records with `deepStrictEqual`/`toStrictEqual`, which see a class. */
const InputRecord = function InputRecord(this: SourceRecord, index: number, line: number, data: Record<string, unknown>): void {
  this.index = index;
  this.line = line;
  this.data = data;
} as unknown as new (index: number, line: number, data: Record<string, unknown>) => SourceRecord;
InputRecord.prototype = Object.prototype;

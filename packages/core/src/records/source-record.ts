/** Input formats kbatch reads. `tsv` is CSV with a tab delimiter. */
export type InputFormat = 'csv' | 'tsv' | 'jsonl' | 'json';

/** One input record as it flows through the pipeline. */
export interface SourceRecord {
  /** 1-based record number (data rows only; a CSV header row is not a record). */
  index: number;
  /** 1-based physical line in the input where the record starts. */
  line: number;
  /** Field values: strings exactly as written for CSV/TSV, any JSON value for JSON inputs. */
  data: Record<string, unknown>;
}

/**
 * A new {@link SourceRecord}, the one way readers make them. By a class, not an object literal: V8 may judge a literal's
 * objects long-lived from the first ones (which wait in a join window) and then put every later one straight in the old
 * generation, where a dead record keeps its young fields alive through each scavenge (measured in `pnpm bench:join`:
 * all 1,000,000 records promoted, ~1.5 s of CPU; by a class, 4 MB of the run's objects are promoted).
 * @example batch.push(sourceRecord(++count, line, data));
 */
export function sourceRecord(index: number, line: number, data: Record<string, unknown>): SourceRecord {
  return new InputRecord(index, line, data);
}

/** Plain fields (own, enumerable): a record reads, spreads and stringifies as the object literal it replaces. */
class InputRecord implements SourceRecord {
  constructor(
    public index: number,
    public line: number,
    public data: Record<string, unknown>,
  ) {}
}

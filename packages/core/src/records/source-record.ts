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

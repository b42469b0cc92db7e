import type { Transform } from 'node:stream';
import { csvRowFormat } from './csv-row-stringifier.js';
import { jsonArrayFormat } from './json-array-stringifier.js';
import { jsonLinesFormat } from './json-lines-stringifier.js';
import { formatStream, type RowFormat } from './row-format.js';
import type { OutputFormat } from './output-format.js';

/** Options of {@link outputStream}. */
export interface OutputStreamOptions {
  /** `jsonl` (default), `csv`, `tsv` or `json` (one array); see `resolveOutputFormat`. */
  format?: OutputFormat;
  /** CSV/TSV only: declared columns merged into the header. */
  columns?: string[];
  /** CSV/TSV only: columns written whole as JSON instead of flattened. */
  keepWhole?: string[];
  /** CSV/TSV only: told about columns that appear after the header. */
  onWarning?: (message: string) => void;
}

/**
 * Objects in, text in the chosen format out. Each write is a row or an array of rows (a batch: one stream hop).
 * @example await pipeline(joined, outputStream({ format: 'csv' }), io.stdout);
 */
export function outputStream(options: OutputStreamOptions = {}): Transform {
  return formatStream(rowFormat(options));
}

/** The text of rows in the chosen format, batch by batch, without a stream: the one switch between the output formats. */
export function rowFormat(options: OutputStreamOptions = {}): RowFormat {
  switch (options.format ?? 'jsonl') {
    case 'csv':
    case 'tsv':
      return csvRowFormat({
        columns: options.columns,
        keepWhole: options.keepWhole,
        delimiter: options.format === 'tsv' ? '\t' : ',',
        onWarning: options.onWarning,
      });
    case 'json':
      return jsonArrayFormat();
    default:
      return jsonLinesFormat();
  }
}

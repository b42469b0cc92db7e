import type { Transform } from 'node:stream';
import { csvRowStringifier } from './csv-row-stringifier.js';
import { jsonArrayStringifier } from './json-array-stringifier.js';
import { jsonLinesStringifier } from './json-lines-stringifier.js';
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
 * Objects in, text in the chosen format out: the one switch between the output stringifiers.
 * @example await pipeline(joined, outputStream({ format: 'csv' }), io.stdout);
 */
export function outputStream(options: OutputStreamOptions = {}): Transform {
  switch (options.format ?? 'jsonl') {
    case 'csv':
    case 'tsv':
      return csvRowStringifier({
        columns: options.columns,
        keepWhole: options.keepWhole,
        delimiter: options.format === 'tsv' ? '\t' : ',',
        onWarning: options.onWarning,
      });
    case 'json':
      return jsonArrayStringifier();
    default:
      return jsonLinesStringifier();
  }
}

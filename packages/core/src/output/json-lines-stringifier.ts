import type { Transform } from 'node:stream';
import { formatStream, type RowFormat } from './row-format.js';

/** JSON Lines: one `JSON.stringify` per line. */
export function jsonLinesFormat(): RowFormat {
  return { row: (row) => `${JSON.stringify(row)}\n`, end: () => '' };
}

/**
 * Objects in, JSON Lines text out (one `JSON.stringify` per line).
 * @example await pipeline(rows, jsonLinesStringifier(), createWriteStream('out.jsonl'));
 */
export function jsonLinesStringifier(): Transform {
  return formatStream(jsonLinesFormat());
}

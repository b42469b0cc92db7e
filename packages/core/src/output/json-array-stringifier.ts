import type { Transform } from 'node:stream';
import { formatStream, type RowFormat } from './row-format.js';

/** One JSON array, element by element (`[]` when empty). */
export function jsonArrayFormat(): RowFormat {
  let first = true;
  return {
    row(row) {
      const text = `${first ? '[\n' : ',\n'}${JSON.stringify(row)}`;
      first = false;
      return text;
    },
    end: () => (first ? '[]\n' : '\n]\n'),
  };
}

/**
 * Objects in, one JSON array out — streamed element by element, never buffered (`[]` when empty).
 * @example await pipeline(rows, jsonArrayStringifier(), process.stdout);
 */
export function jsonArrayStringifier(): Transform {
  return formatStream(jsonArrayFormat());
}

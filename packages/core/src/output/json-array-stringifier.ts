import { Transform } from 'node:stream';

/**
 * Objects in, one JSON array out — streamed element by element, never buffered (`[]` when empty).
 * @example await pipeline(rows, jsonArrayStringifier(), process.stdout);
 */
export function jsonArrayStringifier(): Transform {
  let first = true;
  return new Transform({
    writableObjectMode: true,
    transform(row: unknown, _enc, callback) {
      const text = JSON.stringify(row);
      callback(null, first ? `[\n${text}` : `,\n${text}`);
      first = false;
    },
    flush(callback) {
      callback(null, first ? '[]\n' : '\n]\n');
    },
  });
}

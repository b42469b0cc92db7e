import { Transform } from 'node:stream';

/**
 * Objects in, JSON Lines text out (one `JSON.stringify` per line).
 * @example await pipeline(rows, jsonLinesStringifier(), createWriteStream('out.jsonl'));
 */
export function jsonLinesStringifier(): Transform {
  return new Transform({
    writableObjectMode: true,
    transform(row: unknown, _enc, callback) {
      callback(null, `${JSON.stringify(row)}\n`);
    },
  });
}

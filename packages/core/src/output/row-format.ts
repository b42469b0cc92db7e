import { Transform } from 'node:stream';

/** The text of rows in one output format, row by row: the pure core under each output stream. */
export interface RowFormat {
  /** The text of the next row (with whatever must come before the first one, e.g. a CSV header). */
  row(row: Record<string, unknown>): string;
  /** The text that closes the output. */
  end(): string;
}

/**
 * An object-mode Transform over a {@link RowFormat}: each write is a row, or an array of rows (one string out per
 * write, so a batch costs one stream hop).
 */
export function formatStream(format: RowFormat): Transform {
  return new Transform({
    writableObjectMode: true,
    transform(chunk: Record<string, unknown> | Record<string, unknown>[], _enc, callback) {
      try {
        if (!Array.isArray(chunk)) return callback(null, format.row(chunk));
        let text = '';
        for (let i = 0; i < chunk.length; i++) text += format.row(chunk[i]!);
        callback(null, text);
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback) {
      try {
        callback(null, format.end());
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}

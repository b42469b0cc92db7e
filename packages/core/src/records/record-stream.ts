import { Readable } from 'node:stream';
import type { ReadRecordsOptions } from './read-options.js';
import type { RejectedRecord } from './rejected-record.js';
import { recordBatches } from './record-batches.js';
import type { SourceRecord } from './source-record.js';

/**
 * An object-mode Readable of `SourceRecord`s from a CSV/TSV/JSONL/JSON file, `-` or a byte stream.
 * Skipped records (with `onInvalidRecord: 'skip'`) are emitted as `skip` events (a `RejectedRecord`).
 * Call it again to read the same file again.
 * @example
 * for await (const record of recordStream({ input: 'reviews.csv' })) console.log(record.data.text);
 */
export function recordStream(options: ReadRecordsOptions): Readable {
  let batches: AsyncGenerator<SourceRecord[]> | undefined;
  let pending = false;
  const stream: Readable = new Readable({
    objectMode: true,
    highWaterMark: 256,
    read() {
      batches ??= recordBatches({
        ...options,
        onReject: (rejected: RejectedRecord) => {
          options.onReject?.(rejected);
          stream.emit('skip', rejected);
        },
      });
      if (pending) return;
      pending = true;
      batches.next().then(
        (next) => {
          pending = false;
          if (next.done) this.push(null);
          else for (const record of next.value) this.push(record);
        },
        (err: unknown) => this.destroy(err as Error),
      );
    },
    destroy(err, callback) {
      void batches?.return(undefined);
      callback(err);
    },
  });
  return stream;
}

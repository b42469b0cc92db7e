import { pipeline, Transform } from 'node:stream';
import streamJson from 'stream-json';
import StreamArray from 'stream-json/streamers/StreamArray.js';
import { KbatchError } from '../errors.js';
import type { ResolvedReadRecordsOptions } from './read-options.js';
import { rejectionError, type RejectedRecord } from './rejected-record.js';
import { sourceRecord, type SourceRecord } from './source-record.js';
import { invalidUtf8Reason, latin1ToUtf8, Utf8Check } from '../internal/utf8.js';

const BATCH = 1000;

/**
 * Records of a top-level JSON array, through stream-json (only the current element is built).
 * stream-json reports no positions, so `line` is the element's 1-based number.
 * A syntax error always stops the run: a JSON array cannot be resynchronised.
 */
export async function* jsonArrayBatches(
  source: NodeJS.ReadableStream,
  file: string,
  opts: ResolvedReadRecordsOptions,
): AsyncGenerator<SourceRecord[]> {
  const elements = StreamArray.streamArray();
  // Latin-1 is re-encoded as UTF-8; UTF-8 is checked on its way (once invalid, elements holding U+FFFD are rejected).
  const utf8 = new Utf8Check();
  const bytes = new Transform({
    transform(chunk: Buffer | string, _enc, callback) {
      if (opts.encoding === 'latin1') return callback(null, latin1ToUtf8(chunk));
      if (typeof chunk !== 'string') utf8.push(chunk);
      callback(null, chunk);
    },
  });
  pipeline(source, bytes, streamJson.parser(), elements, () => {});
  let batch: SourceRecord[] = [];
  let count = 0;
  try {
    for await (const { value } of elements as AsyncIterable<{ key: number; value: unknown }>) {
      const index = ++count;
      const notObject = value === null || typeof value !== 'object' || Array.isArray(value);
      const text = notObject || utf8.invalid ? JSON.stringify(value) : '';
      const badColumn = utf8.invalid ? text.indexOf('\uFFFD') : -1;
      if (notObject || badColumn !== -1) {
        const rejected: RejectedRecord = {
          file,
          line: index,
          record: index,
          code: notObject ? 'RECORD_INVALID' : 'INPUT_ENCODING',
          reason: notObject ? `array element ${index} is not an object` : invalidUtf8Reason(`in array element ${index}`),
          raw: text,
        };
        if (opts.onInvalidRecord === 'error') throw rejectionError(rejected);
        opts.onReject?.(rejected);
        continue;
      }
      batch.push(sourceRecord(index, index, value as Record<string, unknown>));
      if (batch.length >= BATCH) {
        yield batch;
        batch = [];
      }
    }
  } catch (err) {
    if (err instanceof KbatchError) throw err;
    throw new KbatchError('RECORD_INVALID', `${file}: invalid JSON array after element ${count}: ${(err as Error).message}`, {
      file,
      record: count + 1,
      cause: err,
    });
  }
  if (batch.length > 0) yield batch;
}

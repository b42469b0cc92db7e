import { Transform } from 'node:stream';
import { z } from 'zod';
import { parseOptions } from '../options.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/source-record.js';
import { createRequestEncoder } from './request-encoder.js';
import type { RequestOptions } from './request-options.js';
import { createRequestBuilder } from './to-batch-request.js';

const StreamOnlySchema = z.object({
  onInvalidRecord: z.enum(['error', 'skip'], { error: 'must be "error" or "skip"' }).default('error'),
  output: z.enum(['line', 'object'], { error: 'must be "line" or "object"' }).default('line'),
  file: z.string().optional(),
});

/** Options of `requestStream`: the request options plus stream behaviour. */
export type RequestStreamOptions = RequestOptions & z.input<typeof StreamOnlySchema>;

/**
 * Transform `SourceRecord` → request line. With `output: 'line'` (default) each chunk is the serialized JSON
 * line ending in `\n` (ready for a file or `chunkWriter`); with `output: 'object'` a `BatchRequestLine`.
 * Skipped records (`onInvalidRecord: 'skip'`) are emitted as `skip` events.
 * @example await pipeline(recordStream({ input: 'a.csv' }), requestStream({ model, prompt }), process.stdout)
 */
export function requestStream(options: RequestStreamOptions): Transform {
  const { onInvalidRecord, output, file, ...request } = options;
  const own = parseOptions(StreamOnlySchema, { onInvalidRecord, output, file }, 'requestStream');
  const builder = createRequestBuilder(request);
  const stream: Transform = new Transform({
    objectMode: true,
    transform(record: SourceRecord, _encoding, callback) {
      try {
        const line = encoder.encodeLine(record);
        if (line === undefined) return callback();
        callback(null, own.output === 'line' ? line + '\n' : JSON.parse(line));
      } catch (err) {
        callback(err as Error);
      }
    },
  });
  const encoder = createRequestEncoder(builder, {
    onInvalidRecord: own.onInvalidRecord,
    file: own.file,
    onReject: (rejected: RejectedRecord) => stream.emit('skip', rejected),
  });
  return stream;
}

import { recordBatches, type RejectedRecord } from '../records/index.js';
import type { InputFormat, SourceRecord } from '../records/index.js';

/** Where prepareTrainingData reads records from when given a path (`-` = `stdin`). */
export interface RecordInput {
  input: string;
  format?: InputFormat | undefined;
  stdin?: NodeJS.ReadableStream | undefined;
  /** `skip` passes malformed rows to `onReject` instead of failing. */
  onInvalid: 'error' | 'skip';
  onReject: (rejected: RejectedRecord) => void;
}

/**
 * Records of a file or stdin, one at a time: the records area reads in batches, flattening here keeps
 * prepareTrainingData's loop one record at a time.
 */
export async function* openRecords({ input, format, stdin, onInvalid, onReject }: RecordInput): AsyncGenerator<SourceRecord> {
  const batches = recordBatches({
    input,
    onInvalidRecord: onInvalid,
    onReject,
    ...(format === undefined ? {} : { format }),
    ...(stdin === undefined ? {} : { stdin }),
  });
  for await (const batch of batches) yield* batch;
}

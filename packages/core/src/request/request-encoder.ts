import { isKbatchError } from '../errors.js';
import type { OnInvalidRecord, RejectHandler, RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/types.js';
import { createIdRegistry, type IdRegistry } from './custom-id.js';
import type { RequestBuilder } from './to-batch-request.js';

/** Turns records into request lines one at a time, applying duplicate-id checks and the reject policy. */
export interface RequestEncoder {
  /** The serialized line (no newline), or undefined when the record was skipped. */
  encodeLine(record: SourceRecord): string | undefined;
  /** Records skipped so far. */
  readonly rejected: number;
}

/**
 * Stateful wrapper shared by `requestStream` and `prepareRequests`: custom_id uniqueness (ids from a column
 * only: generated ids are unique by construction) and `onInvalidRecord` for per-record errors.
 */
export function createRequestEncoder(
  builder: RequestBuilder,
  options: { onInvalidRecord?: OnInvalidRecord; onReject?: RejectHandler; file?: string } = {},
): RequestEncoder {
  const registry: IdRegistry | undefined = builder.options.idColumn === undefined ? undefined : createIdRegistry();
  const { onInvalidRecord = 'error', onReject, file } = options;
  let rejected = 0;
  return {
    get rejected() {
      return rejected;
    },
    encodeLine(record) {
      try {
        const line = builder.toLine(record, file);
        if (registry !== undefined) registry.add(builder.idOf(record, file), record.index);
        return line;
      } catch (err) {
        if (onInvalidRecord === 'error' || !isKbatchError(err)) throw withFile(err, file);
        rejected++;
        const skipped: RejectedRecord = {
          file: file ?? '-',
          line: record.line,
          record: record.index,
          code: err.code,
          reason: err.message,
          raw: JSON.stringify(record.data),
        };
        onReject?.(skipped);
        return undefined;
      }
    },
  };
}

function withFile(err: unknown, file: string | undefined): unknown {
  if (isKbatchError(err) && file !== undefined && err.file === undefined) (err as { file?: string }).file = file;
  return err;
}

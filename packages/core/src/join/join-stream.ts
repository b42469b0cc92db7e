import { Transform } from 'node:stream';
import type { SourceRecord } from '../records/types.js';
import { ChunkJoiner, type JoinChunk, type JoinHooks } from './chunk-joiner.js';
import { createJoinPlan, type JoinPlan, type JoinRecordOptions } from './join-plan.js';
import type { JoinReport } from './join-report.js';

/** Options of {@link joinStream}. */
export type JoinStreamOptions = (JoinRecordOptions | { plan: JoinPlan }) &
  JoinHooks & {
    /** The job's chunks in input order (see `JoinChunk`); one `{ requests: Infinity, files }` for a single results set. */
    chunks: AsyncIterable<JoinChunk> | Iterable<JoinChunk>;
    /** Called once at the end with the counts. */
    onReport?: (report: JoinReport) => void;
  };

/**
 * SourceRecords in (input order), joined records out — chunk by chunk, so memory is bounded by one chunk.
 * @example
 * await pipeline(recordStream({ input: 'data.csv' }),
 *   joinStream({ chunks: [{ requests: Infinity, files: ['out.jsonl'] }], labels: ['yes', 'no'] }),
 *   outputStream({ format: 'csv' }), createWriteStream('joined.csv'));
 */
export function joinStream(options: JoinStreamOptions): Transform {
  const { chunks, onIssue, onOutcome, onReport, ...rest } = options;
  const plan = 'plan' in rest ? rest.plan : createJoinPlan(rest as JoinRecordOptions);
  const joiner = new ChunkJoiner(plan, chunks, { onIssue, onOutcome });
  return new Transform({
    objectMode: true,
    transform(record: SourceRecord, _enc, callback) {
      joiner.join(record).then((outcome) => callback(null, outcome.row), callback);
    },
    flush(callback) {
      joiner.finish().then((report) => {
        onReport?.(report);
        callback();
      }, callback);
    },
    destroy(err, callback) {
      joiner.close().then(() => callback(err), () => callback(err));
    },
  });
}

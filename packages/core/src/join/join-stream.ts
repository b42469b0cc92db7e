import { Transform } from 'node:stream';
import type { SourceRecord } from '../records/source-record.js';
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
    /**
     * Records joined together (default 1): result lines on disk are then read in file order, a window at a time,
     * instead of one random read a record; rows come out a window at a time.
     */
    window?: number;
  };

/**
 * SourceRecords in (input order), joined records out — chunk by chunk, so memory is bounded by one chunk.
 * @example
 * await pipeline(recordStream({ input: 'data.csv' }),
 *   joinStream({ chunks: [{ requests: Infinity, files: ['out.jsonl'] }], labels: ['yes', 'no'] }),
 *   outputStream({ format: 'csv' }), createWriteStream('joined.csv'));
 */
export function joinStream(options: JoinStreamOptions): Transform {
  const { chunks, onIssue, onOutcome, onReport, window = 1, ...rest } = options;
  const plan = 'plan' in rest ? rest.plan : createJoinPlan(rest as JoinRecordOptions);
  const joiner = new ChunkJoiner(plan, chunks, { onIssue, onOutcome });
  let waiting: SourceRecord[] = [];
  // Joins the records waiting, pushing each row as it is made (so the rows before a failing record still go out).
  const joinWaiting = async (push: (row: Record<string, unknown>) => void): Promise<void> => {
    const records = waiting;
    waiting = [];
    const ids = joiner.expect(records);
    for (let i = 0; i < records.length; i++) push((joiner.joinNow(records[i]!, ids[i]) ?? (await joiner.join(records[i]!, ids[i]))).row);
  };
  return new Transform({
    objectMode: true,
    transform(record: SourceRecord, _enc, callback) {
      if (window <= 1) {
        joiner.join(record).then((outcome) => callback(null, outcome.row), callback);
        return;
      }
      waiting.push(record);
      if (waiting.length < window) return callback();
      joinWaiting((row) => this.push(row)).then(() => callback(), callback);
    },
    flush(callback) {
      joinWaiting((row) => this.push(row))
        .then(() => joiner.finish())
        .then((report) => {
          onReport?.(report);
          callback();
        }, callback);
    },
    destroy(err, callback) {
      joiner.close().then(() => callback(err), () => callback(err));
    },
  });
}

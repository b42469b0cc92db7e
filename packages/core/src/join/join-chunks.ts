import type { SourceRecord } from '../records/source-record.js';
import { ChunkJoiner, type JoinChunk, type JoinHooks } from './chunk-joiner.js';
import { createJoinPlan, type JoinPlan, type JoinRecordOptions } from './join-plan.js';
import type { JoinReport } from './join-report.js';

/** Options of {@link joinChunks}. */
export type JoinChunksOptions = (JoinRecordOptions | { plan: JoinPlan }) &
  JoinHooks & {
    /** Input records in input order (e.g. `recordStream({ input })`). */
    records: AsyncIterable<SourceRecord> | Iterable<SourceRecord>;
    /** The job's chunks in input order: `requests` consecutive records each, with their results. */
    chunks: AsyncIterable<JoinChunk> | Iterable<JoinChunk>;
  };

/**
 * Async-iterator form of the join: yields joined records in input order and returns the report.
 * Memory is bounded by one chunk's results.
 * @example
 * for await (const row of joinChunks({ records, chunks: [{ requests: 50_000, results: lines }] })) use(row);
 */
export async function* joinChunks(options: JoinChunksOptions): AsyncGenerator<Record<string, unknown>, JoinReport, undefined> {
  const { records, chunks, onIssue, onOutcome, ...rest } = options;
  const plan = 'plan' in rest ? rest.plan : createJoinPlan(rest as JoinRecordOptions);
  const joiner = new ChunkJoiner(plan, chunks, { onIssue, onOutcome });
  try {
    for await (const record of records) yield (await joiner.join(record)).row;
    return await joiner.finish();
  } finally {
    await joiner.close();
  }
}

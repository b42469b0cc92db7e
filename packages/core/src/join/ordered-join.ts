import type { RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/source-record.js';
import { ChunkJoiner, type JoinChunk } from './chunk-joiner.js';
import type { JoinIssueHandler } from './join-issue.js';
import type { JoinPlan } from './join-plan.js';
import type { JoinReport } from './join-report.js';
import { skippedRow, type JoinedRow } from './skipped-rows.js';

/** The join's counts plus the records skipped before any request was built. */
export interface JobJoinReport extends JoinReport {
  skipped: number;
}

/** Options of {@link orderedJoin}. */
export interface OrderedJoinOptions {
  plan: JoinPlan;
  /** The input records, in input order (malformed ones left out: they are among `rejects`). */
  records: AsyncIterable<SourceRecord> | Iterable<SourceRecord>;
  /** Records rejected before any request was built, in record order: each becomes a skipped row at its place. */
  rejects?: AsyncIterable<RejectedRecord> | Iterable<RejectedRecord>;
  /** The job's chunks in input order, with their results (see `JoinChunk`). */
  chunks: AsyncIterable<JoinChunk> | Iterable<JoinChunk>;
  onIssue?: JoinIssueHandler;
}

/**
 * A job's rows in input order: each record joined with its chunk's result, each rejected record as a skipped row
 * at its place. Memory is bounded by one chunk's results.
 * @example
 * for await (const { row } of orderedJoin({ plan, records: recordStream({ input }), chunks })) write(row);
 */
export async function* orderedJoin(options: OrderedJoinOptions): AsyncGenerator<JoinedRow, JobJoinReport, undefined> {
  const { plan, records, chunks, onIssue } = options;
  const joiner = new ChunkJoiner(plan, chunks, onIssue ? { onIssue } : {});
  const rejects = iteratorOf(options.rejects ?? []);
  let skipped = 0;
  try {
    let next = await rejects.next();
    for await (const record of records) {
      let dropped = false;
      while (!next.done && next.value.record <= record.index) {
        dropped ||= next.value.record === record.index;
        skipped++;
        yield skippedRow(plan, next.value);
        next = await rejects.next();
      }
      if (dropped) continue;
      const outcome = await joiner.join(record);
      yield { row: outcome.row, status: outcome.status, customId: outcome.customId };
    }
    for (; !next.done; next = await rejects.next()) {
      skipped++;
      yield skippedRow(plan, next.value);
    }
    return { ...(await joiner.finish()), skipped };
  } finally {
    await joiner.close();
    await rejects.return?.(undefined);
  }
}

/** An async iterator over an iterable of either kind. */
export function iteratorOf<T>(items: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> | Iterator<T> {
  return Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
}

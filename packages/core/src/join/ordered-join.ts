import type { RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/source-record.js';
import { ChunkJoiner, type JoinChunk } from './chunk-joiner.js';
import type { JoinIssueHandler } from './join-issue.js';
import type { JoinPlan } from './join-plan.js';
import { emptyJoinReport, type JoinReport } from './join-report.js';
import { skippedRow, type JoinedRow } from './skipped-rows.js';
import { joinPlanned, type JoinOutcome } from './join-record.js';
import type { BatchResult } from './result-line.js';

/** The join's counts plus the records skipped before any request was built. */
export interface JobJoinReport extends JoinReport {
  skipped: number;
  /** Of `records`: those joined with an answer from the request cache (their tokens are not in the report's). */
  cached: number;
  /** The tokens of the cached answers (as stored): what the cache saved. */
  cachedTokens: { prompt: number; completion: number };
  /** Of `cached`: answers stored without their token counts (then what the cache saved is unknown, not `cachedTokens`' cost). */
  cachedWithoutUsage: number;
}

/**
 * Count a record joined with a cached answer.
 * @returns 1 when the answer's token counts are unknown (stored without usage), else 0
 */
export function countCached(report: JoinReport, outcome: JoinOutcome): number {
  report.records += 1;
  report[outcome.status] += 1;
  const prompt = outcome.result?.promptTokens ?? null;
  const completion = outcome.result?.completionTokens ?? null;
  report.promptTokens += prompt ?? 0;
  report.completionTokens += completion ?? 0;
  return prompt === null || completion === null ? 1 : 0;
}

/** Options of {@link orderedJoin}. */
export interface OrderedJoinOptions {
  plan: JoinPlan;
  /** The input records, in input order (malformed ones left out: they are among `rejects`), one by one or in arrays. */
  records: AsyncIterable<SourceRecord | readonly SourceRecord[]> | Iterable<SourceRecord | readonly SourceRecord[]>;
  /** Records rejected before any request was built, in record order: each becomes a skipped row at its place. */
  rejects?: AsyncIterable<RejectedRecord> | Iterable<RejectedRecord>;
  /** The job's chunks in input order, with their results (see `JoinChunk`). */
  chunks: AsyncIterable<JoinChunk> | Iterable<JoinChunk>;
  /** Results the request cache gave, in input order: each record whose custom_id is next here is joined with it (it is in no chunk). */
  cached?: AsyncIterable<BatchResult> | Iterable<BatchResult>;
  /** Told of each record joined from the chunks' results, in input order (the request cache stores the succeeded ones). */
  onJoined?: (outcome: JoinOutcome) => void;
  onIssue?: JoinIssueHandler;
}

/**
 * A job's rows in input order: each record joined with its chunk's result, each rejected record as a skipped row
 * at its place. Memory is bounded by one chunk's results. Rows come one at a time (see {@link orderedJoinBatches}).
 * @example
 * for await (const { row } of orderedJoin({ plan, records: recordStream({ input }), chunks })) write(row);
 */
export async function* orderedJoin(options: OrderedJoinOptions): AsyncGenerator<JoinedRow, JobJoinReport, undefined> {
  const batches = orderedJoinBatches(options);
  try {
    for (let next = await batches.next(); ; next = await batches.next()) {
      if (next.done) return next.value;
      yield* next.value;
    }
  } finally {
    await batches.return(undefined as never);
  }
}

/**
 * {@link orderedJoin} a batch of rows at a time: one batch per batch of input records (give `records` as arrays,
 * e.g. `recordBatches`, so a batch costs one await, not one per record). The rows so far are yielded before a wait for
 * a chunk to open (live rows are not held back) and before a failing record's error.
 */
export async function* orderedJoinBatches(options: OrderedJoinOptions): AsyncGenerator<JoinedRow[], JobJoinReport, undefined> {
  const { plan, records, chunks, onIssue, onJoined } = options;
  const joiner = new ChunkJoiner(plan, chunks, onIssue ? { onIssue } : {});
  const rejects = iteratorOf(options.rejects ?? []);
  const fromCache = iteratorOf(options.cached ?? []);
  const cachedReport = emptyJoinReport();
  let withoutUsage = 0;
  let skipped = 0;
  try {
    let next = await rejects.next();
    let hit = await fromCache.next();
    for await (const item of records) {
      const batch = Array.isArray(item) ? (item as readonly SourceRecord[]) : [item as SourceRecord];
      const rows: JoinedRow[] = [];
      // The batch's results are looked up ahead (see `ChunkJoiner.expect`); a skipped record only shifts that read-ahead.
      const ids = joiner.expect(batch);
      try {
        for (let i = 0; i < batch.length; i++) {
          const record = batch[i]!;
          let dropped = false;
          while (!next.done && next.value.record <= record.index) {
            dropped ||= next.value.record === record.index;
            skipped++;
            rows.push(skippedRow(plan, next.value));
            next = await rejects.next();
          }
          if (dropped) {
            joiner.pass(ids[i]);
            continue;
          }
          if (!hit.done && hit.value.customId === ids[i]) {
            // Answered from the cache: joined like a fresh result, in no chunk.
            const cached = joinPlanned(record, hit.value, plan, hit.value.customId);
            withoutUsage += countCached(cachedReport, cached);
            joiner.pass(ids[i]);
            rows.push({ row: cached.row, status: cached.status, customId: cached.customId });
            hit = await fromCache.next();
            continue;
          }
          let outcome = joiner.joinNow(record, ids[i]);
          if (outcome === null) {
            // A chunk opens first (a live one may wait for results): the rows so far go out now.
            if (rows.length > 0) yield rows.splice(0);
            outcome = await joiner.join(record, ids[i]);
          }
          onJoined?.(outcome);
          rows.push({ row: outcome.row, status: outcome.status, customId: outcome.customId });
        }
      } catch (err) {
        if (rows.length > 0) yield rows;
        throw err;
      }
      if (rows.length > 0) yield rows;
    }
    const rest: JoinedRow[] = [];
    for (; !next.done; next = await rejects.next()) {
      skipped++;
      rest.push(skippedRow(plan, next.value));
    }
    if (rest.length > 0) yield rest;
    const report = await joiner.finish();
    for (const key of ['records', 'succeeded', 'failed', 'invalid', 'missing'] as const) report[key] += cachedReport[key];
    return { ...report, skipped, cached: cachedReport.records, cachedTokens: { prompt: cachedReport.promptTokens, completion: cachedReport.completionTokens }, cachedWithoutUsage: withoutUsage };
  } finally {
    await joiner.close();
    await rejects.return?.(undefined);
    await fromCache.return?.(undefined);
  }
}

/** An async iterator over an iterable of either kind. */
export function iteratorOf<T>(items: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> | Iterator<T> {
  return Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
}

// The unordered form of the job join: rows go out as their results are final, whatever the chunk.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { readFileLines } from '../job/lines.js';
import { createWakeup, type Wakeup } from '../internal/wakeup.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/source-record.js';
import { ChunkJoiner, type JoinChunk } from './chunk-joiner.js';
import type { JoinIssueHandler } from './join-issue.js';
import type { JoinPlan } from './join-plan.js';
import { emptyJoinReport, type JoinReport } from './join-report.js';
import { countCached, iteratorOf, type JobJoinReport } from './ordered-join.js';
import { joinPlanned, type JoinOutcome } from './join-record.js';
import type { BatchResult } from './result-line.js';
import { skippedRow, type JoinedRow } from './skipped-rows.js';

/** What the unordered join hears of round 0, in order: a final result, or that a chunk has all its round-0 results. */
export type RoundEvent = { type: 'result'; chunk: number; result: BatchResult } | { type: 'done'; chunk: number };

/** Round-0 events, first in first out (see `createResultQueue`). */
export interface RoundEvents {
  shift(): RoundEvent | undefined;
  readonly wakeup: Wakeup;
}

/** Options of {@link unorderedJoin}. */
export interface UnorderedJoinOptions {
  plan: JoinPlan;
  /** The input records, one by one or in arrays. */
  records: AsyncIterable<SourceRecord | readonly SourceRecord[]> | Iterable<SourceRecord | readonly SourceRecord[]>;
  rejects?: AsyncIterable<RejectedRecord> | Iterable<RejectedRecord>;
  /** Requests of each chunk, in input order. */
  chunkSizes: readonly number[];
  /** Chunk indexes as their results become final (each once). */
  opened: AsyncIterable<number>;
  /** Chunk `index` with its final results, those of `skip` (rows already written) left out. */
  chunkAt(index: number, skip: ReadonlySet<string>): JoinChunk;
  /** A directory for each chunk's records until the chunk is final (emptied and removed at the end). */
  heldDir: string;
  /** Results the request cache gave, in input order: their records' rows go out at once (they are in no chunk). */
  cached?: AsyncIterable<BatchResult> | Iterable<BatchResult>;
  /** Round-0 results as they arrive (round 0 still running): their rows go out at once. */
  events?: RoundEvents;
  /** Called with each result joined from `events` (its line is not read again: the caller counts its usage here). */
  onLiveResult?: (result: BatchResult) => void;
  /**
   * Called with each record's outcome joined from a chunk, live or final (not cached, skipped or past the chunks), and
   * its request's place among all the chunks' requests in input order (e.g. to store the answer under that request's key).
   */
  onJoined?: (outcome: JoinOutcome, request: number) => void;
  onIssue?: JoinIssueHandler;
}

/**
 * At most this many chunks' held records are indexed in memory at once for live rows (a chunk's index is dropped
 * once its round-0 results are all in; round 0 answers chunks in order, so one or two are in progress).
 */
const LIVE_HELD_CHUNKS = 2;

/** A chunk's records written so far as live rows: a bit per record. */
type Written = Map<number, { bits: Uint8Array; count: number }>;

/**
 * Rows as their results are final: rejected records first, then each row as its result arrives when `events` is
 * given, the rest of a chunk (in input order within it) once `opened` says the chunk is final. The input is read
 * once, each chunk's records set aside in `heldDir` until then, so memory stays bounded by a chunk (two for live rows).
 */
export async function* unorderedJoin(options: UnorderedJoinOptions): AsyncGenerator<JoinedRow, JobJoinReport, undefined> {
  const { plan, heldDir, events } = options;
  const total = emptyJoinReport();
  await rm(heldDir, { recursive: true, force: true });
  await mkdir(heldDir, { recursive: true });
  try {
    // Skipped records are final from the start; a set of their numbers (only these) tells the records to drop.
    const dropped = new Set<number>();
    for await (const r of options.rejects ?? []) {
      dropped.add(r.record);
      yield skippedRow(plan, r);
    }
    const { cached, cachedTokens, cachedWithoutUsage, ...heldReport } = yield* holdRecords(options, dropped);
    addReport(total, heldReport);
    const written: Written = new Map();
    const held = new Map<number, Map<string, { record: SourceRecord; position: number }>>();
    const final = new Set<number>();
    const finals = finalChunks(options.opened, events?.wakeup ?? createWakeup());
    for (;;) {
      const event = events?.shift();
      if (event?.type === 'done') {
        // Its round-0 results are all in: the rest of it comes from its results once it is final.
        held.delete(event.chunk);
      } else if (event) {
        if (final.has(event.chunk)) continue;
        const row = await liveRow(options, event, { held, written, total });
        if (row) yield row;
      } else {
        const index = await finals.next();
        if (index === null) break;
        if (index === undefined) continue;
        final.add(index);
        held.delete(index);
        addReport(total, yield* finalRows(options, index, written));
      }
    }
    return { ...total, skipped: dropped.size, cached, cachedTokens, cachedWithoutUsage };
  } finally {
    await rm(heldDir, { recursive: true, force: true });
  }
}

/** The place of chunk `index`'s first request among all the chunks' requests. */
function chunkStart(sizes: readonly number[], index: number): number {
  let start = 0;
  for (let i = 0; i < index; i++) start += sizes[i]!;
  return start;
}

/** Add `r`'s counts to `total`. */
function addReport(total: JoinReport, r: JoinReport): void {
  for (const key of Object.keys(total) as Array<keyof JoinReport>) total[key] += r[key];
}

const heldFile = (dir: string, index: number): string => join(dir, `chunk-${index}.jsonl`);

/**
 * One pass over the input: each chunk's records to its held file; records past the last chunk have no result, and
 * those the cache answered have theirs (rows now).
 */
async function* holdRecords(options: UnorderedJoinOptions, dropped: ReadonlySet<number>): AsyncGenerator<JoinedRow, JoinReport & Pick<JobJoinReport, 'cached' | 'cachedTokens' | 'cachedWithoutUsage'>, undefined> {
  const { plan, chunkSizes, heldDir, onIssue } = options;
  const fromCache = iteratorOf(options.cached ?? []);
  const cachedReport = emptyJoinReport();
  let withoutUsage = 0;
  let hit = await fromCache.next();
  let chunk = 0;
  let left = chunkSizes[0] ?? 0;
  let out: WriteStream | null = chunkSizes.length > 0 ? createWriteStream(heldFile(heldDir, 0)) : null;
  const extra = new ChunkJoiner(plan, [], onIssue ? { onIssue } : {});
  for await (const item of options.records) for (const record of Array.isArray(item) ? (item as readonly SourceRecord[]) : [item as SourceRecord]) {
    if (dropped.has(record.index)) continue;
    if (!hit.done && hit.value.customId === idOf(plan, record)) {
      const cached = joinPlanned(record, hit.value, plan, hit.value.customId);
      withoutUsage += countCached(cachedReport, cached);
      yield { row: cached.row, status: cached.status, customId: cached.customId };
      hit = await fromCache.next();
      continue;
    }
    while (left === 0 && chunk < chunkSizes.length) {
      out!.end();
      await finished(out!);
      chunk++;
      left = chunkSizes[chunk] ?? 0;
      out = chunk < chunkSizes.length ? createWriteStream(heldFile(heldDir, chunk)) : null;
    }
    if (chunk >= chunkSizes.length) {
      const outcome = await extra.join(record);
      yield { row: outcome.row, status: outcome.status, customId: outcome.customId };
      continue;
    }
    left--;
    if (!out!.write(`${JSON.stringify(record)}\n`)) await once(out!, 'drain');
  }
  if (out) {
    out.end();
    await finished(out);
  }
  for (let i = chunk + 1; i < chunkSizes.length; i++) await writeFile(heldFile(heldDir, i), '');
  await fromCache.return?.(undefined);
  const report = await extra.finish();
  const cachedTokens = { prompt: cachedReport.promptTokens, completion: cachedReport.completionTokens };
  // The cached answers' tokens were not paid for here: only their rows count.
  addReport(report, { ...cachedReport, promptTokens: 0, completionTokens: 0 });
  return { ...report, cached: cachedReport.records, cachedTokens, cachedWithoutUsage: withoutUsage };
}

/** A record's custom_id, or undefined when it has none (its row says so when it is joined). */
function idOf(plan: JoinPlan, record: SourceRecord): string | undefined {
  try {
    return plan.customIdFor(record);
  } catch {
    return undefined;
  }
}

/**
 * The chunks made final, one at a time: `next()` gives the next one, undefined after waiting (look at the events
 * again), or null once all are final; a failure of `opened` is thrown. One wake-up serves both sources.
 */
function finalChunks(opened: AsyncIterable<number>, wake: Wakeup): { next(): Promise<number | null | undefined> } {
  const ready: number[] = [];
  let end: { error: unknown } | null = null;
  void (async () => {
    try {
      for await (const index of opened) {
        ready.push(index);
        wake.notify();
      }
      end = { error: undefined };
    } catch (error) {
      end = { error };
    }
    wake.notify();
  })();
  return {
    async next() {
      const index = ready.shift();
      if (index !== undefined) return index;
      const done = end as { error: unknown } | null;
      if (done) {
        if (done.error !== undefined) throw done.error;
        return null;
      }
      await wake.wait();
      return undefined;
    },
  };
}

/** The row of a live result, when its record is held (its chunk among the {@link LIVE_HELD_CHUNKS}) and not yet written. */
async function liveRow(
  options: UnorderedJoinOptions,
  { chunk, result }: Extract<RoundEvent, { type: 'result' }>,
  at: { held: Map<number, Map<string, { record: SourceRecord; position: number }>>; written: Written; total: JoinReport },
): Promise<JoinedRow | null> {
  const { plan, onIssue } = options;
  let records = at.held.get(chunk);
  if (!records) {
    if (at.held.size >= LIVE_HELD_CHUNKS) return null; // joined from the chunk's results once it is final
    records = await heldRecords(heldFile(options.heldDir, chunk), plan);
    at.held.set(chunk, records);
  }
  const entry = records.get(result.customId);
  if (!entry) return null;
  records.delete(result.customId);
  let marks = at.written.get(chunk);
  if (!marks) at.written.set(chunk, (marks = { bits: new Uint8Array(Math.ceil(options.chunkSizes[chunk]! / 8)), count: 0 }));
  marks.bits[entry.position >> 3]! |= 1 << (entry.position & 7);
  marks.count++;
  options.onLiveResult?.(result);
  const joiner = new ChunkJoiner(plan, [{ requests: 1, results: [result] }], onIssue ? { onIssue } : {});
  const outcome = await joiner.join(entry.record);
  options.onJoined?.(outcome, chunkStart(options.chunkSizes, chunk) + entry.position);
  addReport(at.total, await joiner.finish());
  return { row: outcome.row, status: outcome.status, customId: outcome.customId };
}

/** The rows of final chunk `index` not written live, in input order within it. */
async function* finalRows(options: UnorderedJoinOptions, index: number, written: Written): AsyncGenerator<JoinedRow, JoinReport, undefined> {
  const { plan, onIssue } = options;
  const file = heldFile(options.heldDir, index);
  const marks = written.get(index);
  written.delete(index);
  const isWritten = (position: number): boolean => marks !== undefined && (marks.bits[position >> 3]! & (1 << (position & 7))) !== 0;
  // The custom_ids of its rows already written, for this chunk only (bounded by one chunk).
  const skip = new Set<string>();
  if (marks) {
    let position = 0;
    for await (const { text } of readFileLines(file)) {
      if (isWritten(position++)) skip.add(plan.customIdFor(JSON.parse(text) as SourceRecord));
    }
  }
  const joiner = new ChunkJoiner(plan, [options.chunkAt(index, skip)], onIssue ? { onIssue } : {});
  try {
    let position = 0;
    const start = chunkStart(options.chunkSizes, index);
    for await (const { text } of readFileLines(file)) {
      if (isWritten(position++)) continue;
      const outcome = await joiner.join(JSON.parse(text) as SourceRecord);
      options.onJoined?.(outcome, start + position - 1);
      yield { row: outcome.row, status: outcome.status, customId: outcome.customId };
    }
    return await joiner.finish();
  } finally {
    await joiner.close();
    await rm(file, { force: true });
  }
}

/** A chunk's held records by custom_id, with their position in the chunk. */
async function heldRecords(file: string, plan: JoinPlan): Promise<Map<string, { record: SourceRecord; position: number }>> {
  const records = new Map<string, { record: SourceRecord; position: number }>();
  let position = 0;
  for await (const { text } of readFileLines(file)) {
    const record = JSON.parse(text) as SourceRecord;
    records.set(plan.customIdFor(record), { record, position: position++ });
  }
  return records;
}

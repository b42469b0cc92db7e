import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { jobPath } from '../job/create-job.js';
import { customIdOf, readFileLines } from '../job/lines.js';
import type { JobManifest } from '../job/manifest.js';
import { ChunkJoiner, type JoinChunk } from '../join/chunk-joiner.js';
import type { JoinIssueHandler } from '../join/join-issue.js';
import type { JoinPlan } from '../join/join-plan.js';
import type { BatchResult } from '../join/result-line.js';
import type { JoinStatus } from '../join/join-record.js';
import { emptyJoinReport, type JoinReport } from '../join/join-report.js';
import { recordStream } from '../records/record-stream.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/types.js';
import { attemptGroups, latestResults, lineTokens } from './attempt-results.js';
import { createWakeup } from '../internal/wakeup.js';
import type { LiveResults, ResultQueue } from './live-results.js';
import type { RunState } from './run-state.js';

/** Records rejected while preparing are kept here (JSON lines, input order). */
export const PREPARE_REJECTS_FILE = join('run', 'prepare-rejects.jsonl');

/** One output record of a run and how it came out (`skipped`: rejected before any request was built). */
export interface RunRow {
  row: Record<string, unknown>;
  status: JoinStatus | 'skipped';
  customId: string | null;
  /** A skipped malformed record's source text (written to the rejects as `raw_line`, not to the output). */
  rawLine?: string;
}

/** The join's counts plus the tokens of every attempt. */
export interface RunJoinReport extends JoinReport {
  skipped: number;
  allPromptTokens: number;
  allCompletionTokens: number;
}

/**
 * How the ordered join follows a realtime round 0 while it runs: each record's row is written as soon as its
 * result is final (a success no retry round will redo), in input order; the rest of a chunk once it is final.
 */
export interface LiveJoin {
  results: LiveResults;
  /** Resolves when chunk `index`'s results are final (retry rounds included). */
  wait(index: number): Promise<void>;
  /** The request file of chunk `index` (its custom_ids in record order). */
  requestFile(index: number): string;
  /** The round-0 answers log of chunk `index`. */
  answersLog(index: number): string;
}

/**
 * The run's joined records in input order, chunk by chunk: each chunk's latest results are written to one
 * file (`run/join/`), indexed on disk by the join, and removed when the next chunk starts, so memory
 * and extra disk are bounded by one chunk.
 * @param ready - awaited before a chunk's results are read (realtime: until they are final), so rows stream as chunks finish
 * @param live - realtime round 0 still running: rows stream record by record as their results are final (`ready` is not used)
 */
export async function* joinRun(
  jobDir: string,
  state: RunState,
  manifest: JobManifest | null,
  plan: JoinPlan,
  onIssue?: JoinIssueHandler,
  ready?: (chunkIndex: number) => Promise<void>,
  live?: LiveJoin,
): AsyncGenerator<RunRow, RunJoinReport, undefined> {
  const tokens = { prompt: 0, completion: 0 };
  const dir = jobPath(jobDir, join('run', 'join'));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  async function* chunks(): AsyncGenerator<JoinChunk> {
    let previous: string | undefined;
    for (const [index, chunk] of state.chunks.entries()) {
      if (previous) await rm(previous, { force: true });
      // Live: the chunk's leading records whose results are final, joined as they arrive; the rest from its file.
      const joined = new Set<string>();
      if (live) yield* liveChunks(live, index, joined);
      else await ready?.(index);
      const file = await writeChunkResults(jobDir, state, manifest, chunk.part, dir, tokens, joined);
      previous = file;
      // Also when every row went out live: results matching no record are still reported.
      yield { requests: chunk.requests - joined.size, files: [file] };
    }
  }
  const joiner = new ChunkJoiner(plan, chunks(), onIssue ? { onIssue } : {});
  const rejects = readFileLines(jobPath(jobDir, PREPARE_REJECTS_FILE))[Symbol.asyncIterator]();
  let nextReject: RejectedRecord | null = null;
  const pullReject = async (): Promise<void> => {
    try {
      const next = await rejects.next();
      nextReject = next.done ? null : (JSON.parse(next.value.text) as RejectedRecord);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      nextReject = null;
    }
  };
  const skippedRowOf = (r: RejectedRecord): RunRow => skippedRow(plan, r);
  let skipped = 0;
  try {
    if (state.skipped > 0) await pullReject();
    const records = inputRecords(state);
    for await (const record of records) {
      let dropped = false;
      while (nextReject !== null && (nextReject as RejectedRecord).record <= record.index) {
        const r: RejectedRecord = nextReject;
        dropped ||= r.record === record.index;
        skipped++;
        yield skippedRowOf(r);
        await pullReject();
      }
      if (dropped) continue;
      const outcome = await joiner.join(record);
      yield { row: outcome.row, status: outcome.status, customId: outcome.customId };
    }
    while (nextReject !== null) {
      skipped++;
      yield skippedRowOf(nextReject);
      await pullReject();
    }
    const report = await joiner.finish();
    return { ...report, skipped, allPromptTokens: tokens.prompt, allCompletionTokens: tokens.completion };
  } finally {
    await joiner.close();
    await rejects.return?.(undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** A rejected record's fields: its parsed data when `raw` is a JSON object, else null (a malformed row). */
function rawFields(raw: string): Record<string, unknown> | null {
  try {
    const data: unknown = JSON.parse(raw);
    return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Sub-chunks of realtime chunk `index` while round 0 answers it: runs of consecutive records (from the first)
 * whose results are final, each yielded as soon as the next record's result is not there yet; their custom_ids
 * go to `joined`. Returns once the chunk is final, or at the first record whose result a retry round may change.
 */
async function* liveChunks(live: LiveJoin, index: number, joined: Set<string>): AsyncGenerator<JoinChunk> {
  // Settled (final, or the run failed: that surfaces through `live.wait` below) wakes the loop once.
  let settled = false;
  const wake = live.results.wakeup;
  void live
    .wait(index)
    .catch(() => undefined)
    .then(() => {
      settled = true;
      wake.notify();
    });
  await live.results.follow(index, live.answersLog(index));
  let run: BatchResult[] = [];
  records: for await (const { text } of readFileLines(live.requestFile(index))) {
    const id = customIdOf(text);
    if (id === null) break;
    for (;;) {
      const result = live.results.take(id);
      if (result) {
        run.push(result);
        joined.add(id);
        break;
      }
      if (run.length > 0) {
        yield { requests: run.length, results: run };
        run = [];
        continue; // results may have arrived while the rows were written
      }
      if (settled) break records;
      await wake.wait();
    }
  }
  if (run.length > 0) yield { requests: run.length, results: run };
  await live.wait(index);
}

/**
 * Write one chunk's latest results (last attempt wins) to `<dir>/chunk-<part>.jsonl`, adding every attempt's tokens;
 * results of `skip` (records already joined) are counted but not written.
 */
async function writeChunkResults(
  jobDir: string,
  state: RunState,
  manifest: JobManifest | null,
  part: string,
  dir: string,
  tokens: { prompt: number; completion: number },
  skip?: ReadonlySet<string>,
): Promise<string> {
  const file = join(dir, `chunk-${part}.jsonl`);
  const out = createWriteStream(file);
  for await (const { text, line } of latestResults(jobDir, attemptGroups(state, manifest!, part), (line) => {
    const t = lineTokens(line);
    tokens.prompt += t.prompt;
    tokens.completion += t.completion;
  })) {
    if (skip?.has(String(line.custom_id))) continue;
    if (!out.write(`${text}\n`)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
  return file;
}

/**
 * At most this many chunks' held records are indexed in memory at once for unordered live rows (a chunk's index is
 * dropped once its round-0 results are all in; round 0 answers chunks in order, so one or two are in progress).
 */
const LIVE_HELD_CHUNKS = 2;

/**
 * The unordered form of {@link joinRun} (realtime `unordered`): records prepare skipped come first, then rows as
 * their results are final — each one as it arrives when `queue` is given (round 0 still running), the rest of a
 * chunk (in input order within it) once `opened` says the chunk is final. The input is read once, each chunk's
 * records set aside in `run/held/` until then, so memory stays bounded by a chunk (two for live rows).
 */
export async function* joinRunUnordered(
  jobDir: string,
  state: RunState,
  manifest: JobManifest | null,
  plan: JoinPlan,
  opened: AsyncIterable<number>,
  onIssue?: JoinIssueHandler,
  queue?: ResultQueue,
): AsyncGenerator<RunRow, RunJoinReport, undefined> {
  const tokens = { prompt: 0, completion: 0 };
  const dir = jobPath(jobDir, join('run', 'join'));
  const held = jobPath(jobDir, join('run', 'held'));
  for (const d of [dir, held]) {
    await rm(d, { recursive: true, force: true });
    await mkdir(d, { recursive: true });
  }
  const total: JoinReport = emptyJoinReport();
  const add = (r: JoinReport): void => {
    for (const key of Object.keys(total) as Array<keyof JoinReport>) total[key] += r[key];
  };
  const heldFile = (i: number): string => join(held, `chunk-${i}.jsonl`);
  let skipped = 0;
  const rejects = readFileLines(jobPath(jobDir, PREPARE_REJECTS_FILE))[Symbol.asyncIterator]();
  try {
    // Skipped records are final from the start; a set of their numbers (only these) tells the records to drop.
    const dropped = new Set<number>();
    if (state.skipped > 0) {
      for (;;) {
        const next = await rejects.next().catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return { done: true as const, value: undefined };
          throw err;
        });
        if (next.done) break;
        const r = JSON.parse(next.value.text) as RejectedRecord;
        dropped.add(r.record);
        skipped++;
        yield skippedRow(plan, r);
      }
    }
    // One pass over the input: each chunk's records to its held file; records past the last chunk have no result.
    const records = inputRecords(state);
    let chunk = 0;
    let left = state.chunks[0]?.requests ?? 0;
    let out = state.chunks.length > 0 ? createWriteStream(heldFile(0)) : null;
    const extra = new ChunkJoiner(plan, [], onIssue ? { onIssue } : {});
    for await (const record of records) {
      if (dropped.has(record.index)) continue;
      while (left === 0 && chunk < state.chunks.length) {
        out!.end();
        await finished(out!);
        chunk++;
        left = state.chunks[chunk]?.requests ?? 0;
        out = chunk < state.chunks.length ? createWriteStream(heldFile(chunk)) : null;
      }
      if (chunk >= state.chunks.length) {
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
    for (let i = chunk + 1; i < state.chunks.length; i++) await writeFile(heldFile(i), '');
    add(await extra.finish());
    const hooks = onIssue ? { onIssue } : {};
    // Live rows: which records of each chunk are written (a bit per record), and the held records (by custom_id,
    // with their position) of chunks still in round 0.
    const written = new Map<number, { bits: Uint8Array; count: number }>();
    const held = new Map<number, Map<string, { record: SourceRecord; position: number }>>();
    const final = new Set<number>();
    // One wake-up for both sources (racing a long-pending promise at every step would keep every step alive).
    const wake = queue?.wakeup ?? createWakeup();
    const finalChunks: number[] = [];
    let allFinal: { error: unknown } | null = null;
    void (async () => {
      try {
        for await (const index of opened) {
          finalChunks.push(index);
          wake.notify();
        }
        allFinal = { error: undefined };
      } catch (error) {
        allFinal = { error };
      }
      wake.notify();
    })();
    for (;;) {
      const event = queue?.shift();
      if (event?.type === 'done') {
        // Its round-0 results are all in: the rest of it comes from its results file once it is final.
        held.delete(event.chunk);
        continue;
      }
      if (event) {
        const { chunk, result } = event;
        if (final.has(chunk)) continue;
        let records = held.get(chunk);
        if (!records) {
          if (held.size >= LIVE_HELD_CHUNKS) continue; // joined from the chunk's results file once it is final
          records = await heldRecords(heldFile(chunk), plan);
          held.set(chunk, records);
        }
        const entry = records.get(result.customId);
        if (!entry) continue;
        records.delete(result.customId);
        let marks = written.get(chunk);
        if (!marks) written.set(chunk, (marks = { bits: new Uint8Array(Math.ceil(state.chunks[chunk]!.requests / 8)), count: 0 }));
        marks.bits[entry.position >> 3]! |= 1 << (entry.position & 7);
        marks.count++;
        const joiner = new ChunkJoiner(plan, [{ requests: 1, results: [result] }], hooks);
        const outcome = await joiner.join(entry.record);
        add(await joiner.finish());
        yield { row: outcome.row, status: outcome.status, customId: outcome.customId };
        continue;
      }
      const index = finalChunks.shift();
      if (index === undefined) {
        const end = allFinal as { error: unknown } | null;
        if (end) {
          if (end.error !== undefined) throw end.error;
          break;
        }
        await wake.wait();
        continue;
      }
      final.add(index);
      held.delete(index);
      const marks = written.get(index);
      written.delete(index);
      const isWritten = (position: number): boolean => marks !== undefined && (marks.bits[position >> 3]! & (1 << (position & 7))) !== 0;
      // The custom_ids of its rows already written, for this chunk only (bounded by one chunk).
      const skip = new Set<string>();
      if (marks) {
        let position = 0;
        for await (const { text } of readFileLines(heldFile(index))) {
          if (isWritten(position++)) skip.add(plan.customIdFor(JSON.parse(text) as SourceRecord));
        }
      }
      const c = state.chunks[index]!;
      const file = await writeChunkResults(jobDir, state, manifest, c.part, dir, tokens, skip);
      const joiner = new ChunkJoiner(plan, [{ requests: c.requests - skip.size, files: [file] }], hooks);
      try {
        let position = 0;
        for await (const { text } of readFileLines(heldFile(index))) {
          if (isWritten(position++)) continue;
          const record = JSON.parse(text) as SourceRecord;
          const outcome = await joiner.join(record);
          yield { row: outcome.row, status: outcome.status, customId: outcome.customId };
        }
        add(await joiner.finish());
      } finally {
        await joiner.close();
        await rm(file, { force: true });
        await rm(heldFile(index), { force: true });
      }
    }
    return { ...total, skipped, allPromptTokens: tokens.prompt, allCompletionTokens: tokens.completion };
  } finally {
    await rejects.return?.(undefined);
    await rm(dir, { recursive: true, force: true });
    await rm(held, { recursive: true, force: true });
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

/** Every record read ends as one output row: a skipped one keeps its fields (when it had any) and names why. */
function skippedRow(plan: JoinPlan, r: RejectedRecord): RunRow {
  // A ragged CSV row keeps the fields it had (by header position); its source text goes to the rejects.
  const parsed = r.data ?? rawFields(r.raw);
  const row: Record<string, unknown> = { ...parsed };
  for (const field of plan.fields) row[field] = null;
  row[plan.name('error')] = `${r.code}: ${r.reason} (record ${r.record}, line ${r.line})`;
  return { row, status: 'skipped', customId: null, ...(r.data !== undefined || parsed === null ? { rawLine: r.raw } : {}) };
}

/** The run's input records again, read as prepare read them (malformed ones skipped: they are already rows). */
function inputRecords(state: RunState): AsyncIterable<SourceRecord> {
  return recordStream({
    input: state.settings.input,
    format: state.settings.format,
    onInvalidRecord: 'skip',
    ...(state.settings.delimiter ? { delimiter: state.settings.delimiter } : {}),
    ...(state.settings.encoding ? { encoding: state.settings.encoding } : {}),
  }) as AsyncIterable<SourceRecord>;
}

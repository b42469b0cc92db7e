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
import type { LiveResults, ResultQueue } from './live-results.js';
import type { RunState } from './run-state.js';

/** Records rejected while preparing are kept here (JSON lines, input order). */
export const PREPARE_REJECTS_FILE = join('run', 'prepare-rejects.jsonl');

/** One output record of a run and how it came out (`skipped`: rejected before any request was built). */
export interface RunRow {
  row: Record<string, unknown>;
  status: JoinStatus | 'skipped';
  customId: string | null;
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
      const left = chunk.requests - joined.size;
      if (!live || left > 0) yield { requests: left, files: [file] };
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

/** A rejected record's fields: its parsed data when `raw` is a JSON object, else none (a malformed row). */
function rawFields(raw: string): Record<string, unknown> {
  try {
    const data: unknown = JSON.parse(raw);
    return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Sub-chunks of realtime chunk `index` while round 0 answers it: runs of consecutive records (from the first)
 * whose results are final, each yielded as soon as the next record's result is not there yet; their custom_ids
 * go to `joined`. Returns once the chunk is final, or at the first record whose result a retry round may change.
 */
async function* liveChunks(live: LiveJoin, index: number, joined: Set<string>): AsyncGenerator<JoinChunk> {
  let final = false;
  const finalNow = live.wait(index).then(() => {
    final = true;
  });
  finalNow.catch(() => undefined); // a failed run surfaces through `live.wait` below
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
      if (final) break records;
      await Promise.race([live.results.changed(), finalNow]);
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

/** At most this many chunks' held records are indexed in memory at once for unordered live rows. */
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
    // Live rows: custom_ids already written, and the held records (by custom_id) of chunks being answered.
    const written = new Map<number, Set<string>>();
    const held = new Map<number, Map<string, SourceRecord>>();
    const final = new Set<number>();
    const chunksOpened = opened[Symbol.asyncIterator]();
    let nextOpened = chunksOpened.next();
    let nextResult = queue?.next();
    for (;;) {
      const event = await Promise.race([
        nextOpened.then((opened) => ({ opened, queued: undefined })),
        ...(nextResult ? [nextResult.then((queued) => ({ opened: undefined, queued }))] : []),
      ]);
      if (event.queued) {
        nextResult = queue!.next();
        const { chunk, result } = event.queued;
        if (final.has(chunk)) continue;
        let records = held.get(chunk);
        if (!records) {
          if (held.size >= LIVE_HELD_CHUNKS) continue; // joined from the chunk's results file once it is final
          records = await heldRecords(heldFile(chunk), plan);
          held.set(chunk, records);
        }
        const record = records.get(result.customId);
        if (!record) continue;
        records.delete(result.customId);
        const ids = written.get(chunk) ?? new Set<string>();
        written.set(chunk, ids.add(result.customId));
        const joiner = new ChunkJoiner(plan, [{ requests: 1, results: [result] }], hooks);
        const outcome = await joiner.join(record);
        add(await joiner.finish());
        yield { row: outcome.row, status: outcome.status, customId: outcome.customId };
        continue;
      }
      const next = event.opened!;
      if (next.done) break;
      nextOpened = chunksOpened.next();
      const index = next.value;
      final.add(index);
      held.delete(index);
      const skip = written.get(index) ?? new Set<string>();
      written.delete(index);
      const c = state.chunks[index]!;
      const file = await writeChunkResults(jobDir, state, manifest, c.part, dir, tokens, skip);
      const joiner = new ChunkJoiner(plan, [{ requests: c.requests - skip.size, files: [file] }], hooks);
      try {
        for await (const { text } of readFileLines(heldFile(index))) {
          const record = JSON.parse(text) as SourceRecord;
          if (skip.has(plan.customIdFor(record))) continue;
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

/** A chunk's held records by custom_id. */
async function heldRecords(file: string, plan: JoinPlan): Promise<Map<string, SourceRecord>> {
  const records = new Map<string, SourceRecord>();
  for await (const { text } of readFileLines(file)) {
    const record = JSON.parse(text) as SourceRecord;
    records.set(plan.customIdFor(record), record);
  }
  return records;
}

/** Every record read ends as one output row: a skipped one keeps its fields (when it had any) and names why. */
function skippedRow(plan: JoinPlan, r: RejectedRecord): RunRow {
  const row: Record<string, unknown> = { ...rawFields(r.raw) };
  for (const field of plan.fields) row[field] = null;
  row[plan.name('error')] = `${r.code}: ${r.reason} (record ${r.record}, line ${r.line})`;
  return { row, status: 'skipped', customId: null };
}

/** The run's input records again, read as prepare read them (malformed ones skipped: they are already rows). */
function inputRecords(state: RunState): AsyncIterable<SourceRecord> {
  return recordStream({
    input: state.settings.input,
    format: state.settings.format,
    onInvalidRecord: 'skip',
    ...(state.settings.delimiter ? { delimiter: state.settings.delimiter } : {}),
  }) as AsyncIterable<SourceRecord>;
}

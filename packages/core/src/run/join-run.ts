import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { jobPath } from '../job/create-job.js';
import { readFileLines } from '../job/lines.js';
import type { JobManifest } from '../job/manifest.js';
import { ChunkJoiner, type JoinChunk } from '../join/chunk-joiner.js';
import type { JoinIssueHandler } from '../join/join-issue.js';
import type { JoinPlan } from '../join/join-plan.js';
import type { JoinStatus } from '../join/join-record.js';
import { emptyJoinReport, type JoinReport } from '../join/join-report.js';
import { recordStream } from '../records/record-stream.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/types.js';
import { attemptGroups, latestResults, lineTokens } from './attempt-results.js';
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
 * The run's joined records in input order, chunk by chunk: each chunk's latest results are written to one
 * file (`run/join/`), indexed on disk by the join, and removed when the next chunk starts, so memory
 * and extra disk are bounded by one chunk.
 * @param ready - awaited before a chunk's results are read (realtime: until they are final), so rows stream as chunks finish
 */
export async function* joinRun(
  jobDir: string,
  state: RunState,
  manifest: JobManifest | null,
  plan: JoinPlan,
  onIssue?: JoinIssueHandler,
  ready?: (chunkIndex: number) => Promise<void>,
): AsyncGenerator<RunRow, RunJoinReport, undefined> {
  const tokens = { prompt: 0, completion: 0 };
  const dir = jobPath(jobDir, join('run', 'join'));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  async function* chunks(): AsyncGenerator<JoinChunk> {
    let previous: string | undefined;
    for (const [index, chunk] of state.chunks.entries()) {
      if (previous) await rm(previous, { force: true });
      await ready?.(index);
      const file = await writeChunkResults(jobDir, state, manifest, chunk.part, dir, tokens);
      previous = file;
      yield { requests: chunk.requests, files: [file] };
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

/** Write one chunk's latest results (last attempt wins) to `<dir>/chunk-<part>.jsonl`, adding every attempt's tokens. */
async function writeChunkResults(
  jobDir: string,
  state: RunState,
  manifest: JobManifest | null,
  part: string,
  dir: string,
  tokens: { prompt: number; completion: number },
): Promise<string> {
  const file = join(dir, `chunk-${part}.jsonl`);
  const out = createWriteStream(file);
  for await (const { text } of latestResults(jobDir, attemptGroups(state, manifest!, part), (line) => {
    const t = lineTokens(line);
    tokens.prompt += t.prompt;
    tokens.completion += t.completion;
  })) {
    if (!out.write(`${text}\n`)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
  return file;
}

/**
 * The unordered form of {@link joinRun} (realtime `unordered`): records prepare skipped come first, then each
 * chunk's rows (in input order within the chunk) as soon as `opened` says its answers are final. The input is
 * read once, each chunk's records set aside in `run/held/` until then, so memory stays bounded by one chunk.
 */
export async function* joinRunUnordered(
  jobDir: string,
  state: RunState,
  manifest: JobManifest | null,
  plan: JoinPlan,
  opened: AsyncIterable<number>,
  onIssue?: JoinIssueHandler,
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
    for await (const index of opened) {
      const c = state.chunks[index]!;
      const file = await writeChunkResults(jobDir, state, manifest, c.part, dir, tokens);
      const joiner = new ChunkJoiner(plan, [{ requests: c.requests, files: [file] }], onIssue ? { onIssue } : {});
      try {
        for await (const { text } of readFileLines(heldFile(index))) {
          const outcome = await joiner.join(JSON.parse(text) as SourceRecord);
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

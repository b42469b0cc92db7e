import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { KbatchError } from '../errors.js';
import { readFileLines } from '../job/lines.js';
import type { BatchRequestLine } from '../request/request-line.js';
import { runResolved, singleAnswerStore, type AnswerStore, type ResolvedRealtimeOptions } from './run-realtime.js';
import type { RealtimeEvent, RealtimeResultLine } from './realtime-types.js';
import type { JobStore } from '../state/job-store.js';

/** One set of requests and the results file it ends up in. */
export interface RealtimeSource {
  lines: AsyncIterable<BatchRequestLine> | Iterable<BatchRequestLine>;
  resultFile: string;
  /** The request file the lines came from, if any (reported back). */
  requestFile: string | null;
  /** This source's answers log: loaded when its first line is read, released once its results file is complete. */
  answersLog: string;
  /** The job store that keeps `answersLog` (default: the directory the log is in). */
  store?: JobStore;
}

/** What happened to one request file (or request set) of a realtime run. */
export interface RealtimeChunkResult {
  requestFile: string | null;
  /** JSONL of result lines ("request output object" shape), one per request: give it to the join as `files`. */
  resultFile: string;
  /** The answers log of this request file (successes and final failures of this round). */
  answersLog: string;
  requests: number;
  succeeded: number;
  failed: number;
}

/** The outcome of `runRealtimeJob` / `finishRealtime`. */
export interface RealtimeJobSummary {
  requests: number;
  succeeded: number;
  /** Requests whose final result is an error line (retries exhausted or not retryable). */
  failed: number;
  /** Requests retried at least once in this call. */
  retried: number;
  /** Requests answered by an earlier, interrupted call (read from the answers log, not sent). */
  replayed: number;
  /** Tokens of the successful answers (replayed ones included). */
  promptTokens: number;
  completionTokens: number;
  /** The answers log of the first request file (each file has its own: see `chunks[i].answersLog`). */
  answersLog: string;
  chunks: RealtimeChunkResult[];
}

/** Request lines of a JSONL file, parsed one at a time (LINE_INVALID names the file and line). */
export async function* readRequestFile(file: string): AsyncGenerator<BatchRequestLine> {
  for await (const { line, text } of readFileLines(file)) {
    try {
      yield JSON.parse(text) as BatchRequestLine;
    } catch (cause) {
      throw new KbatchError('LINE_INVALID', `request file ${file} line ${line} is not JSON`, { file, line, cause });
    }
  }
}

interface ChunkState {
  result: RealtimeChunkResult;
  read: number;
  inputDone: boolean;
  written: number;
  writer: WriteStream | null;
  tmp: string;
  finished: boolean;
  /** Engine position of this source's first request. */
  firstSeq: number;
  /** Its answers log while it is being answered. */
  store: AnswerStore | null;
  /** A write error of its results file (thrown at the next write or at its end). */
  error: unknown;
}

/** Options of {@link runToFiles}: the engine's, plus what to tell the caller per finished file and per result. */
export type RunToFilesOptions = ResolvedRealtimeOptions & {
  onFileDone?: ((chunk: RealtimeChunkResult, index: number) => void | Promise<void>) | undefined;
  onResult?: ((line: RealtimeResultLine, index: number) => void) | undefined;
};

/** The files of one runToFiles call: those from `next` up to the one being read are open. */
interface FilesRun {
  sources: RealtimeSource[];
  states: ChunkState[];
  /** The first file not finished yet. */
  next: number;
  /** Requests handed to the engine so far. */
  seqs: number;
  /** custom_id → source index, for the requests started and not yet written (duplicate ids in flight share a count). */
  inFlight: Map<string, { chunk: number; count: number }>;
}

/**
 * Run every source through one realtime engine (one rate limiter, one adaptive limit) and write each
 * source's results to its file: `<file>.tmp` while it fills, renamed into place once its last result
 * is in, so an existing results file is always complete. Results are written as they complete
 * (unordered): the join indexes them by custom_id. Each source has its own answers log, indexed when
 * its first line is read and released when its results file is complete. Memory: the custom_ids in
 * flight (bounded by the engine's window), plus an open file and an answers index (≤ one chunk's
 * ids) per source still being answered — usually one, two around a file boundary.
 */
export async function runToFiles(sources: RealtimeSource[], o: RunToFilesOptions): Promise<RealtimeJobSummary> {
  const summary = emptySummary(sources);
  const run: FilesRun = { sources, states: sources.map(chunkState), next: 0, seqs: 0, inFlight: new Map() };
  const { states } = run;
  summary.chunks = states.map((s) => s.result);
  for (const s of states) {
    await mkdir(dirname(s.result.resultFile), { recursive: true });
    await mkdir(dirname(s.result.answersLog), { recursive: true });
  }
  const onEvent = (event: RealtimeEvent) => {
    if (event.type === 'retry' && event.attempt === 1) summary.retried++;
    if (event.type === 'answered' && event.replayed) summary.replayed++;
    o.onEvent?.(event);
  };
  try {
    for await (const line of runResolved(requestInput(run), { ...o, answersLog: undefined, onEvent }, routedStore(run))) {
      const entry = run.inFlight.get(line.custom_id);
      if (!entry) throw new KbatchError('RESPONSE_INVALID', `realtime result for unknown custom_id ${line.custom_id}`, { customId: line.custom_id });
      if (--entry.count === 0) run.inFlight.delete(line.custom_id);
      const state = states[entry.chunk]!;
      state.writer ??= openResults(state);
      if (!state.writer.write(`${JSON.stringify(line)}\n`)) await once(state.writer, 'drain');
      if (state.error !== undefined) throw state.error;
      state.written++;
      count(summary, state.result, line);
      o.onResult?.(line, entry.chunk);
      // Files complete in file order: a file is finished once it and every file before it has all its results.
      while (run.next < states.length && states[run.next]!.inputDone && states[run.next]!.written === states[run.next]!.read) {
        await finishFile(states[run.next]!, run.next++, o);
      }
    }
    while (run.next < states.length) await finishFile(states[run.next]!, run.next++, o);
  } finally {
    for (const s of states) {
      s.writer?.destroy();
      await s.store?.close();
    }
  }
  for (const s of states) s.result.requests = s.read;
  summary.requests = states.reduce((n, s) => n + s.read, 0);
  return summary;
}

function emptySummary(sources: RealtimeSource[]): RealtimeJobSummary {
  const answersLog = sources[0]?.answersLog ?? '';
  return { requests: 0, succeeded: 0, failed: 0, retried: 0, replayed: 0, promptTokens: 0, completionTokens: 0, answersLog, chunks: [] };
}

function chunkState(s: RealtimeSource): ChunkState {
  return {
    result: { requestFile: s.requestFile, resultFile: s.resultFile, answersLog: s.answersLog, requests: 0, succeeded: 0, failed: 0 },
    read: 0,
    inputDone: false,
    written: 0,
    writer: null,
    tmp: `${s.resultFile}.tmp`,
    finished: false,
    firstSeq: 0,
    store: null,
    error: undefined,
  };
}

/** One answer store for the engine that hands each request to its own file's answers log, found from its position. */
function routedStore(run: FilesRun): AnswerStore {
  const storeOf = (seq: number): AnswerStore => {
    for (let k = run.next; k < run.states.length; k++) {
      const s = run.states[k]!;
      if (seq >= s.firstSeq && seq < s.firstSeq + s.read) return s.store!;
    }
    throw new KbatchError('RESPONSE_INVALID', `realtime request ${seq + 1} belongs to no open request file`);
  };
  return {
    replay: (customId, seq) => storeOf(seq).replay(customId, seq),
    record: (line, seq, failed) => storeOf(seq).record(line, seq, failed),
    close: async () => undefined, // each file's log is closed when the file is finished
  };
}

/** Every source's request lines in order, noting each one's file (by custom_id) and opening its answers log on its first line. */
async function* requestInput(run: FilesRun): AsyncGenerator<BatchRequestLine> {
  for (let k = 0; k < run.sources.length; k++) {
    const state = run.states[k]!;
    state.firstSeq = run.seqs;
    for await (const line of run.sources[k]!.lines) {
      state.store ??= await singleAnswerStore(run.sources[k]!.answersLog, run.sources[k]!.store);
      const id = (line as Partial<BatchRequestLine> | null)?.custom_id;
      if (typeof id === 'string') {
        const entry = run.inFlight.get(id);
        if (entry) entry.count++;
        else run.inFlight.set(id, { chunk: k, count: 1 });
      }
      state.read++;
      run.seqs++;
      yield line;
    }
    state.inputDone = true;
  }
}

/** Close a file whose every result is written: release its answers log, rename `<file>.tmp` into place, tell the caller. */
async function finishFile(state: ChunkState, index: number, o: RunToFilesOptions): Promise<void> {
  if (state.finished) return;
  state.finished = true;
  state.result.requests = state.read;
  // Every result of this file is written, so every answer of it is logged: its index can go.
  await state.store?.close();
  state.store = null;
  if (state.writer) {
    const writer = state.writer;
    state.writer = null;
    writer.end();
    await once(writer, 'close');
    if (state.error !== undefined) throw state.error;
  } else {
    await writeFile(state.tmp, '');
  }
  await rename(state.tmp, state.result.resultFile);
  // Awaited: the caller may join this chunk now; results of later files wait (bounded by the engine's window).
  await o.onFileDone?.(state.result, index);
}

/** A source's results file for writing; its errors are kept (a stream destroyed mid-write on abort must not crash the process). */
function openResults(state: ChunkState): WriteStream {
  const writer = createWriteStream(state.tmp, { flags: 'w' });
  writer.on('error', (err) => {
    state.error ??= err;
  });
  return writer;
}

function count(summary: RealtimeJobSummary, chunk: RealtimeChunkResult, line: RealtimeResultLine): void {
  if (line.response?.status_code === 200 && !line.error) {
    summary.succeeded++;
    chunk.succeeded++;
    const usage = (line.response.body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null)?.usage;
    if (typeof usage?.prompt_tokens === 'number') summary.promptTokens += usage.prompt_tokens;
    if (typeof usage?.completion_tokens === 'number') summary.completionTokens += usage.completion_tokens;
  } else {
    summary.failed++;
    chunk.failed++;
  }
}

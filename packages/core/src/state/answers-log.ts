import { createReadStream } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { KbatchError } from '../errors.js';
import type { RealtimeResultLine } from '../realtime/realtime-types.js';

/** Where an answered request's line sits in the answers log (so it can be replayed without holding it). */
export interface AnswerLocation {
  offset: number;
  length: number;
}

/**
 * custom_id → location of its answer line. Memory grows with the number of ids (never with answer size),
 * so `runRealtimeJob` keeps one log per request file and holds only the files being answered: a chunk
 * holds ≤ 50,000 requests by default (a Map of that size is a few MB), hence no off-heap index.
 */
export type AnsweredIds = Map<string, AnswerLocation>;

/**
 * Index an answers log (JSONL, one line per request with a final result: a success line, or a
 * failure marker `{ custom_id, failed: true, line }`). Read-only: a missing file is empty, blank
 * lines are skipped, and a torn tail (a partial last line, or an unreadable last line — the process
 * died mid-write) is ignored; an unreadable line followed by another entry means the file was
 * edited: JOB_INVALID. The writer repairs the tail with {@link repairAnswersLog} instead.
 * @param file - path of the answers log
 * @example const answered = await loadAnsweredIds('job/realtime/answers-00001.jsonl'); answered.has('row-7')
 */
export async function loadAnsweredIds(file: string): Promise<AnsweredIds> {
  return (await scanAnswersLog(file)).answered;
}

/**
 * Index an answers log like {@link loadAnsweredIds} and cut a torn tail off, so appends continue on a
 * clean line. Only the process that writes the log (and holds the job lock) may call it.
 * @example const answered = await repairAnswersLog(file); const log = await openAnswersLog(file);
 */
export async function repairAnswersLog(file: string): Promise<AnsweredIds> {
  const { answered, cut } = await scanAnswersLog(file);
  if (cut !== undefined) await truncate(file, cut);
  return answered;
}

async function scanAnswersLog(file: string): Promise<{ answered: AnsweredIds; cut: number | undefined }> {
  const answered: AnsweredIds = new Map();
  try {
    await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { answered, cut: undefined };
    throw err;
  }
  let offset = 0; // start of the current (incomplete) line
  let lineNo = 0;
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let bad: { line: number; offset: number } | undefined;
  const take = (line: Buffer, start: number) => {
    lineNo++;
    const text = line.toString('utf8').trim();
    if (text === '') return;
    if (bad) throw invalid(file, bad.line);
    const id = parseId(text);
    if (id === undefined) bad = { line: lineNo, offset: start };
    else answered.set(id, { offset: start, length: line.length });
  };
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl);
      const line = pending.length === 0 ? piece : Buffer.concat([...pending, piece]);
      take(line, offset);
      offset += pendingLength + piece.length + 1;
      pending = [];
      pendingLength = 0;
      from = nl + 1;
    }
    if (from < chunk.length) {
      pending.push(chunk.subarray(from));
      pendingLength += chunk.length - from;
    }
  }
  // Whatever follows the last newline is a torn write; a bad last entry (blank lines after it aside) is a torn write too.
  if (bad && pendingLength > 0 && Buffer.concat(pending).toString('utf8').trim() !== '') throw invalid(file, bad.line);
  return { answered, cut: bad ? bad.offset : pendingLength > 0 ? offset : undefined };
}

function parseId(text: string): string | undefined {
  try {
    const value = JSON.parse(text) as Partial<RealtimeResultLine>;
    return typeof value?.custom_id === 'string' ? value.custom_id : undefined;
  } catch {
    return undefined;
  }
}

function invalid(file: string, line: number): KbatchError {
  return new KbatchError('JOB_INVALID', `answers log ${file} has an unreadable line ${line} (not the last one); fix or remove it`, {
    file,
    line,
  });
}

/** A final failure as logged: replayed as final in the same round instead of being sent again. */
export interface FailureMarker {
  custom_id: string;
  failed: true;
  line: RealtimeResultLine;
}

/** Appends answers as they arrive and reads earlier ones back for replay. */
export interface AnswersLog {
  /** Append one result line (written through to the OS before resolving, so a crash keeps it). */
  append(line: RealtimeResultLine): Promise<void>;
  /** Append a final failure as a {@link FailureMarker}, so a rerun of the same round does not send it again. */
  appendFailure(line: RealtimeResultLine): Promise<void>;
  /** Read back a line indexed by `loadAnsweredIds` (a failure marker reads back as its failure line). */
  read(location: AnswerLocation): Promise<RealtimeResultLine>;
  close(): Promise<void>;
}

/**
 * Open an answers log for appending (created if missing). Appends are serialized, one `write`
 * per line on an O_APPEND handle, so each line lands whole and in completion order.
 * Call {@link repairAnswersLog} first when reopening a log a crashed run may have torn.
 * @example
 * const answered = await repairAnswersLog(file);
 * const log = await openAnswersLog(file);
 * await log.append(successLine('row-1', completion));
 * await log.close();
 */
export async function openAnswersLog(file: string): Promise<AnswersLog> {
  const handle: FileHandle = await open(file, 'a+');
  let tail: Promise<void> = Promise.resolve();
  const write = (entry: RealtimeResultLine | FailureMarker) => {
    const data = Buffer.from(`${JSON.stringify(entry)}\n`);
    const written = tail.then(async () => {
      await handle.write(data);
    });
    tail = written.catch(() => undefined);
    return written;
  };
  return {
    append: (line) => write(line),
    appendFailure: (line) => write({ custom_id: line.custom_id, failed: true, line }),
    async read({ offset, length }) {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      const entry = JSON.parse(buffer.subarray(0, bytesRead).toString('utf8')) as RealtimeResultLine | FailureMarker;
      return 'failed' in entry && entry.failed === true ? entry.line : (entry as RealtimeResultLine);
    },
    async close() {
      await tail;
      await handle.close();
    },
  };
}

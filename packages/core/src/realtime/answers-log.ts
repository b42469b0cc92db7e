import { createReadStream } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { KbatchError } from '../errors.js';
import type { RealtimeResultLine } from './types.js';

/** Where an answered request's line sits in the answers log (so it can be replayed without holding it). */
export interface AnswerLocation {
  offset: number;
  length: number;
}

/** custom_id → location of its answer line. Memory grows with the number of ids, never with answer size. */
export type AnsweredIds = Map<string, AnswerLocation>;

/**
 * Index an answers log (JSONL of result lines, one per answered request). A missing file is empty.
 * A torn last line (the process died mid-write) is ignored and truncated away so appends continue
 * on a clean line; an unparsable line before the end means the file was edited: JOB_INVALID.
 * @param file - path of the answers log
 * @example const answered = await loadAnsweredIds('job/answers.jsonl'); answered.has('row-7')
 */
export async function loadAnsweredIds(file: string): Promise<AnsweredIds> {
  const answered: AnsweredIds = new Map();
  try {
    await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return answered;
    throw err;
  }
  let offset = 0; // start of the current (incomplete) line
  let lineNo = 0;
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let bad: { line: number; offset: number } | undefined;
  const take = (line: Buffer, start: number) => {
    lineNo++;
    if (bad) throw invalid(file, bad.line);
    const text = line.toString('utf8').trim();
    if (text === '') return;
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
  // Whatever follows the last newline is a torn write; a bad last complete line is a torn write too.
  const cut = bad ? bad.offset : pendingLength > 0 ? offset : undefined;
  if (cut !== undefined) await truncate(file, cut);
  return answered;
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

/** Appends answers as they arrive and reads earlier ones back for replay. */
export interface AnswersLog {
  /** Append one result line (written through to the OS before resolving, so a crash keeps it). */
  append(line: RealtimeResultLine): Promise<void>;
  /** Read back a line indexed by `loadAnsweredIds`. */
  read(location: AnswerLocation): Promise<RealtimeResultLine>;
  close(): Promise<void>;
}

/**
 * Open an answers log for appending (created if missing). Appends are serialized, one `write`
 * per line on an O_APPEND handle, so each line lands whole and in completion order.
 */
export async function openAnswersLog(file: string): Promise<AnswersLog> {
  const handle: FileHandle = await open(file, 'a+');
  let tail: Promise<void> = Promise.resolve();
  return {
    append(line) {
      const data = Buffer.from(`${JSON.stringify(line)}\n`);
      const write = tail.then(async () => {
        await handle.write(data);
      });
      tail = write.catch(() => undefined);
      return write;
    },
    async read({ offset, length }) {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return JSON.parse(buffer.subarray(0, bytesRead).toString('utf8')) as RealtimeResultLine;
    },
    async close() {
      await tail;
      await handle.close();
    },
  };
}

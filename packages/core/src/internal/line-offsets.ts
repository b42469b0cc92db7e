// JSONL files by byte position: one streaming pass that finds each line, and positional reads of a line later.
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';

/** Where a line found by {@link scanLines} is: `buf[start, end)`, its byte offset in the file and its 1-based number. */
export interface LineSpan {
  start: number;
  end: number;
  offset: number;
  line: number;
}

/** Sees each non-blank line; `buf` and `span` are valid during the call only (both are reused). */
export type LineVisitor = (buf: Buffer, span: Readonly<LineSpan>) => void;

/**
 * Call `onLine` for each non-blank line of a file (CR and leading blanks trimmed), streaming in 1 MB reads with
 * `indexOf(10)` and no per-line allocation: callers keep only positions and re-read a line with {@link lineReader}.
 */
export async function scanLines(path: string, onLine: LineVisitor): Promise<void> {
  let rest: Buffer | null = null;
  let restOffset = 0;
  let position = 0;
  const span: LineSpan = { start: 0, end: 0, offset: 0, line: 0 };
  const emit = (buf: Buffer, start: number, end: number, offset: number): void => {
    span.line++;
    if (end > start && buf[end - 1] === 0x0d) end--;
    const from = start;
    while (start < end && (buf[start] === 0x20 || buf[start] === 0x09)) start++;
    if (start >= end) return;
    span.start = start;
    span.end = end;
    span.offset = offset + start - from;
    onLine(buf, span);
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      if (rest !== null) {
        const line = Buffer.concat([rest, chunk.subarray(start, nl)]);
        rest = null;
        emit(line, 0, line.length, restOffset);
      } else emit(chunk, start, nl, position + start);
      start = nl + 1;
    }
    if (start < chunk.length) {
      if (rest === null) {
        rest = Buffer.from(chunk.subarray(start));
        restOffset = position + start;
      } else rest = Buffer.concat([rest, chunk.subarray(start)]);
    }
    position += chunk.length;
  }
  if (rest !== null) emit(rest, 0, rest.length, restOffset);
}

/** Bytes read ahead when lines are asked for in file order (results written in request order, as most are). */
const READ_AHEAD = 256 * 1024;

/** Positional reads of lines of some files, opened on first use; `close` releases them. */
export interface LineReader {
  /** The `length` bytes at `offset` of file number `file` (valid until the next read). */
  read(file: number, offset: number, length: number): Buffer;
  close(): void;
}

/**
 * A {@link LineReader} over `files`. Synchronous reads: a page-cache hit costs microseconds, less than an async round
 * trip. When a line starts where the previous one ended, the next 256 KB are read at once, so results that come in
 * file order cost one read per block instead of one per line; lines asked for out of order are read one by one.
 */
export function lineReader(files: readonly string[]): LineReader {
  const fds: number[] = [];
  let scratch = Buffer.allocUnsafe(64 * 1024);
  const block = { buf: Buffer.allocUnsafe(0), file: -1, start: 0, length: 0 };
  let last = { file: -1, end: -1 };
  const fd = (file: number): number => (fds[file] ??= openSync(files[file]!, 'r'));
  return {
    read(file, offset, length) {
      const sequential = last.file === file && offset >= last.end && offset - last.end <= 2;
      last = { file, end: offset + length };
      if (block.file === file && offset >= block.start && offset + length <= block.start + block.length) {
        return block.buf.subarray(offset - block.start, offset - block.start + length);
      }
      if (sequential && length < READ_AHEAD) {
        if (block.buf.length === 0) block.buf = Buffer.allocUnsafe(READ_AHEAD);
        block.length = readSync(fd(file), block.buf, 0, READ_AHEAD, offset);
        block.file = file;
        block.start = offset;
        if (block.length >= length) return block.buf.subarray(0, length);
      }
      if (length > scratch.length) scratch = Buffer.allocUnsafe(length);
      readSync(fd(file), scratch, 0, length, offset);
      return scratch.subarray(0, length);
    },
    close() {
      for (const f of fds) if (f !== undefined) closeSync(f);
      fds.length = 0;
    },
  };
}

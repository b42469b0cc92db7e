// JSONL files by byte position: one streaming pass that finds each line, and positional reads of a line later.
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { KbatchError } from '../errors.js';

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
  // Two blocks read into in turn (the next read runs while one is scanned): a fresh megabyte a read costs page faults,
  // and memory the allocator keeps.
  const handle = await open(path, 'r');
  const blocks = [Buffer.allocUnsafe(READ_BLOCK), Buffer.allocUnsafe(READ_BLOCK)];
  let turn = 0;
  let pending = handle.read(blocks[0]!, 0, READ_BLOCK, null);
  try {
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const chunk = blocks[turn]!.subarray(0, bytesRead);
      turn ^= 1;
      pending = handle.read(blocks[turn]!, 0, READ_BLOCK, null);
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
  } finally {
    await pending.catch(() => undefined);
    await handle.close();
  }
  if (rest !== null) emit(rest, 0, rest.length, restOffset);
}

/** Bytes of a file read at a time by {@link scanLines}. */
const READ_BLOCK = 1 << 20;

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
      const got = readSync(fd(file), scratch, 0, length, offset);
      // A file cut shorter since it was indexed must not hand back the previous line's bytes.
      if (got < length) throw new KbatchError('RESPONSE_INVALID', `${files[file]} changed while it was read (${got} of ${length} bytes at offset ${offset})`, { file: files[file]! });
      return scratch.subarray(0, length);
    },
    close() {
      for (const f of fds) if (f !== undefined) closeSync(f);
      fds.length = 0;
    },
  };
}

/** Where a line is: file number, byte offset and length. */
export interface LinePlace {
  file: number;
  offset: number;
  length: number;
}

/** Runs of wanted lines closer than this are read as one (copying the gap costs less than another random read). */
const GAP = 32 * 1024;
/** Longest single read of a run. */
const RUN = 4 << 20;
/** Most bytes of lines one window holds; the lines after them are read one by one. */
const WINDOW_BYTES = 32 << 20;

/**
 * The lines about to be asked for, read at once in file order and kept in one buffer (memory: those lines), so lines
 * wanted in a shuffled order cost a few sequential reads instead of one random read each. Other lines are read
 * one by one through the reader.
 */
export class LineWindow<K> {
  private bytes = Buffer.allocUnsafe(0);
  private readonly startOf = new Map<K, number>();

  constructor(
    private readonly reader: LineReader,
    private readonly place: (key: K) => LinePlace,
  ) {}

  /** The line of `key` (valid until the next read or fill). */
  read(key: K): Buffer {
    const start = this.startOf.get(key);
    const at = this.place(key);
    if (start !== undefined) return this.bytes.subarray(start, start + at.length);
    return this.reader.read(at.file, at.offset, at.length);
  }

  /** Forget the previous lines and read those of `keys` in (file, offset) order, nearby lines in one read. */
  fill(keys: readonly K[]): void {
    this.startOf.clear();
    const places: LinePlace[] = [];
    let total = 0;
    // Only the leading lines that fit in WINDOW_BYTES are held: long lines (logprobs) keep the window bounded.
    for (const k of keys) {
      const p = this.place(k);
      if (total + p.length > WINDOW_BYTES) break;
      places.push(p);
      total += p.length;
    }
    const order = places.map((_, i) => i).sort((a, b) => places[a]!.file - places[b]!.file || places[a]!.offset - places[b]!.offset);
    if (this.bytes.length < total) this.bytes = Buffer.allocUnsafe(total);
    let put = 0;
    for (let i = 0; i < order.length; ) {
      const { file, offset: from, length } = places[order[i]!]!;
      let end = from + length;
      let j = i + 1;
      for (; j < order.length; j++) {
        const next = places[order[j]!]!;
        if (next.file !== file || next.offset - end > GAP || next.offset + next.length - from > RUN) break;
        end = Math.max(end, next.offset + next.length);
      }
      const run = this.reader.read(file, from, end - from);
      for (; i < j; i++) {
        const p = places[order[i]!]!;
        run.copy(this.bytes, put, p.offset - from, p.offset - from + p.length);
        this.startOf.set(keys[order[i]!]!, put);
        put += p.length;
      }
    }
  }
}

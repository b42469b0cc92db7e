import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createHash, randomBytes } from 'node:crypto';

const READ_BYTES = 1 << 20;

/**
 * Non-empty lines of a file with their 1-based physical line numbers, one at a time. Lines end at `\n`, `\r\n`
 * or a lone `\r` (as node:readline splits them); a last line without a newline counts; lines of whitespace only
 * are numbered but not yielded. Read in 1 MiB blocks split with indexOf (no readline, no regexp).
 */
export async function* readFileLines(path: string, skip?: LineSkip): AsyncGenerator<{ line: number; text: string }> {
  const handle = await open(path, 'r');
  let isOpen = true;
  try {
    const size = Math.min(READ_BYTES, (await handle.stat()).size + 1);
    let block = Buffer.allocUnsafe(size);
    let ahead = Buffer.allocUnsafe(size);
    const lines = new LineBreaker(skip);
    let got = (await handle.read(block, 0, size, null)).bytesRead;
    while (got > 0) {
      // One block read ahead: the end of the file is known (and the file closed) before its last lines are handed
      // out, so the caller sees "done" at once after the last line, as it did with readline.
      const next = (await handle.read(ahead, 0, size, null)).bytesRead;
      const items = lines.push(block.subarray(0, got));
      if (next === 0) {
        items.push(...lines.end());
        isOpen = false;
        await handle.close();
      }
      yield* items;
      [block, ahead, got] = [ahead, block, next];
    }
  } finally {
    if (isOpen) await handle.close();
  }
}

/** Says from a line's bytes `buf[start, end)` that it is not wanted: it is numbered but neither decoded nor yielded. */
export type LineSkip = (buf: Buffer, start: number, end: number) => boolean;

/** Splits blocks of bytes into numbered, decoded, non-blank lines (the core of {@link readFileLines}). */
export class LineBreaker {
  constructor(private readonly skip?: LineSkip) {}

  private line = 0;
  private rest: Buffer | undefined;
  /** The last block ended with `\r`: a `\n` opening the next block belongs to it. */
  private sawCr = false;

  /** The complete lines of `block` (which may be reused once this returns). */
  push(block: Buffer): Array<{ line: number; text: string }> {
    const out: Array<{ line: number; text: string }> = [];
    let start = 0;
    if (this.sawCr && block.length > 0 && block[0] === 10) start = 1;
    this.sawCr = false;
    let lf = block.indexOf(10, start);
    let cr = block.indexOf(13, start);
    while (lf !== -1 || cr !== -1) {
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      this.emit(block, start, end, out);
      if (end === cr) {
        if (end + 1 === block.length) this.sawCr = true;
        start = end + 1 < block.length && block[end + 1] === 10 ? end + 2 : end + 1;
        cr = block.indexOf(13, start);
        if (lf !== -1 && lf < start) lf = block.indexOf(10, start);
      } else {
        start = end + 1;
        lf = block.indexOf(10, start);
      }
    }
    if (start < block.length) {
      const tail = block.subarray(start);
      this.rest = this.rest === undefined ? Buffer.from(tail) : Buffer.concat([this.rest, tail]);
    }
    return out;
  }

  /** The last line, when the input does not end with a line break. */
  end(): Array<{ line: number; text: string }> {
    const out: Array<{ line: number; text: string }> = [];
    if (this.rest !== undefined) this.emit(Buffer.alloc(0), 0, 0, out);
    return out;
  }

  private emit(block: Buffer, start: number, end: number, out: Array<{ line: number; text: string }>): void {
    this.line++;
    let text: string;
    if (this.rest !== undefined) {
      text = Buffer.concat([this.rest, block.subarray(start, end)]).toString('utf8');
      this.rest = undefined;
    } else if (this.skip?.(block, start, end)) return;
    else text = block.toString('utf8', start, end);
    const first = text.charCodeAt(0);
    // Most lines start with `{`: only the others need the (Unicode-aware) blank test.
    if (first > 0x20 && first < 0x7f ? true : text.trim() !== '') out.push({ line: this.line, text });
  }
}

/** sha256, byte size and number of non-empty lines of a file, in one streaming pass. */
export async function scanFile(path: string): Promise<{ sha256: string; bytes: number; lines: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let lines = 0;
  let lastByte = 0x0a;
  let lineHasContent = false;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0x0a) {
        if (lineHasContent) lines++;
        lineHasContent = false;
      } else if (b !== 0x0d && b !== 0x20 && b !== 0x09) lineHasContent = true;
    }
    if (chunk.length) lastByte = chunk[chunk.length - 1]!;
  }
  if (lastByte !== 0x0a && lineHasContent) lines++;
  return { sha256: hash.digest('hex'), bytes, lines };
}

const ID_HEAD = '{"custom_id":"';

/**
 * The custom_id of a request or result line, or null when the line is not JSON or has none. A line kbatch wrote
 * (`{"custom_id":"…",` first, an id without escapes) is read without parsing its body; any other line is parsed.
 */
export function customIdOf(text: string): string | null {
  if (text.startsWith(ID_HEAD) && text.charCodeAt(text.length - 1) === 0x7d) {
    const end = text.indexOf('"', ID_HEAD.length);
    const next = end === -1 ? -1 : text.charCodeAt(end + 1);
    if ((next === 0x2c || next === 0x7d) && text.lastIndexOf('\\', end) < ID_HEAD.length) {
      const id = text.slice(ID_HEAD.length, end);
      if (!hasControl(id)) return id;
    }
  }
  try {
    const value = JSON.parse(text) as { custom_id?: unknown };
    return typeof value?.custom_id === 'string' ? value.custom_id : null;
  } catch {
    return null;
  }
}

/**
 * {@link customIdOf} of a line kbatch wrote, read from its bytes `buf[start, end)` without decoding the line;
 * undefined for any other line (then decode it and ask customIdOf).
 */
export function customIdOfBytes(buf: Buffer, start: number, end: number): string | undefined {
  if (end - start < ID_BYTES.length + 2 || buf[end - 1] !== 0x7d || buf.compare(ID_BYTES, 0, ID_BYTES.length, start, start + ID_BYTES.length) !== 0) return undefined;
  const from = start + ID_BYTES.length;
  for (let i = from; i < end; i++) {
    const b = buf[i]!;
    if (b === 0x22) {
      const next = buf[i + 1];
      return next === 0x2c || next === 0x7d ? buf.toString('utf8', from, i) : undefined;
    }
    if (b === 0x5c || b < 0x20) return undefined;
  }
  return undefined;
}

const ID_BYTES = Buffer.from(ID_HEAD);

// A raw control character makes the line invalid JSON: the full parse decides.
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

/**
 * Call `onLine(bytes, byteOffset, lineNumber)` for each non-blank line of a file, streaming; the offsets let
 * callers keep only positions in memory and re-read a line later with a positional read.
 */
export async function scanLineOffsets(path: string, onLine: (buf: Buffer, offset: number, line: number) => void): Promise<void> {
  let rest: Buffer | null = null;
  let restOffset = 0;
  let position = 0;
  let lineNo = 0;
  const emit = (buf: Buffer, offset: number): void => {
    lineNo++;
    let end = buf.length;
    if (end > 0 && buf[end - 1] === 0x0d) end--;
    let start = 0;
    while (start < end && (buf[start] === 0x20 || buf[start] === 0x09)) start++;
    if (start < end) onLine(buf.subarray(start, end), offset + start, lineNo);
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      if (rest !== null) {
        emit(Buffer.concat([rest, piece]), restOffset);
        rest = null;
      } else emit(piece, position + start);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const tail = chunk.subarray(start);
      if (rest === null) {
        rest = Buffer.from(tail);
        restOffset = position + start;
      } else rest = Buffer.concat([rest, tail]);
    }
    position += chunk.length;
  }
  if (rest !== null) emit(rest, restOffset);
}

/**
 * Write `data` (text lines get their newline added; buffers are copied as they are) to `dest` through a temp file
 * unique to this writer, then rename: a reader or a crash never sees half a file, two writers never share a temp.
 * @returns how many items were written
 */
export async function writeFileAtomic(dest: string, data: AsyncIterable<string | Buffer> | Iterable<string | Buffer>): Promise<number> {
  const temp = `${dest}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const out = createWriteStream(temp);
  let n = 0;
  for await (const item of data) {
    n++;
    if (!out.write(typeof item === 'string' ? `${item}\n` : item)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
  await rename(temp, dest);
  return n;
}

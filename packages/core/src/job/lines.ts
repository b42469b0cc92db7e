import { createReadStream, createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

/** Non-empty lines of a file with their 1-based physical line numbers, one at a time. */
export async function* readFileLines(path: string): AsyncGenerator<{ line: number; text: string }> {
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      if (text.trim() !== '') yield { line, text };
    }
  } finally {
    rl.close();
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

/** The custom_id of a request or result line, or null when the line is not JSON or has none. */
export function customIdOf(text: string): string | null {
  try {
    const value = JSON.parse(text) as { custom_id?: unknown };
    return typeof value?.custom_id === 'string' ? value.custom_id : null;
  } catch {
    return null;
  }
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

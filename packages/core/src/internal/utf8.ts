// UTF-8 validity of an input read in chunks. Checking is one SIMD pass per chunk (buffer.isUtf8); only a file
// that holds invalid bytes pays more (its records are then checked one by one).
import { isUtf8 } from 'node:buffer';

const EMPTY = Buffer.alloc(0);

/** Tracks UTF-8 validity over a byte stream split anywhere (a character may straddle two chunks). */
export class Utf8Check {
  private carry: Buffer = EMPTY;
  /** True once an invalid sequence was seen. */
  invalid = false;

  /** Check `chunk`'s complete characters (with the bytes carried from the previous chunk); returns `invalid`. */
  push(chunk: Buffer): boolean {
    if (this.invalid) return true;
    let start = 0;
    if (this.carry.length > 0) {
      const need = sequenceLength(this.carry[0]!) - this.carry.length;
      const head = chunk.subarray(0, need);
      const joined = Buffer.concat([this.carry, head]);
      if (head.length < need) {
        this.carry = joined;
        return false;
      }
      this.carry = EMPTY;
      if (!isUtf8(joined)) return (this.invalid = true);
      start = need;
    }
    const cut = completeEnd(chunk, start);
    if (cut < chunk.length) this.carry = Buffer.from(chunk.subarray(cut));
    if (!isUtf8(chunk.subarray(start, cut))) this.invalid = true;
    return this.invalid;
  }

  /** At end of input: bytes of an unfinished character left over are invalid too. */
  end(): boolean {
    if (this.carry.length > 0) this.invalid = true;
    this.carry = EMPTY;
    return this.invalid;
  }
}

/** Where `buf`'s last complete character ends (an unfinished multi-byte sequence at the end is left out). */
export function completeEnd(buf: Buffer, start = 0): number {
  let i = buf.length - 1;
  while (i >= start && buf.length - i <= 4 && (buf[i]! & 0xc0) === 0x80) i--;
  if (i >= start && buf[i]! >= 0xc0 && buf.length - i < sequenceLength(buf[i]!)) return i;
  return buf.length;
}

function sequenceLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** Latin-1 (ISO-8859-1) bytes as UTF-8: every byte is one character. */
export function latin1ToUtf8(chunk: Buffer | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.toString('latin1'));
}

/** The reason given for a record holding invalid UTF-8 (code INPUT_ENCODING); `where` says in which field or column. */
export function invalidUtf8Reason(where: string): string {
  return `invalid UTF-8 ${where} (it would be sent as U+FFFD); if the file is Latin-1 (ISO-8859-1), pass --encoding latin1 (option \`encoding: 'latin1'\`), or --on-invalid skip to skip such records`;
}

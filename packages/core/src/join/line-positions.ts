// Where indexed result lines are, in growable typed arrays (no object per line): the result indexes' positions.
import { grown } from '../internal/typed-arrays.js';
import type { LineSpan } from '../internal/line-offsets.js';

/** Where each indexed line is (file number, byte offset, length, line number) and whether it was taken, in growable typed arrays. */
export class LinePositions {
  private cap = 1024;
  offsets = new Float64Array(this.cap);
  lengths = new Uint32Array(this.cap);
  lines = new Uint32Array(this.cap);
  flags = new Uint8Array(this.cap);
  fileOf = new Uint16Array(this.cap);
  /** The entry's verdict slot, or -1: its line is read when taken. */
  verdicts = new Int32Array(this.cap);
  count = 0;

  /** A new entry's number. */
  add(): number {
    if (this.count === this.cap) this.reserve(this.cap * 2);
    return this.count++;
  }

  /** Room for `n` entries (grown once to an estimate, never twice the size in the end). */
  reserve(n: number): void {
    if (n > this.cap) {
      this.cap = n;
      this.offsets = grown(this.offsets, this.cap);
      this.lengths = grown(this.lengths, this.cap);
      this.lines = grown(this.lines, this.cap);
      this.flags = grown(this.flags, this.cap);
      this.fileOf = grown(this.fileOf, this.cap);
      this.verdicts = grown(this.verdicts, this.cap);
    }
  }

  /** Put entry `from`'s line (and verdict) in entry `to`. */
  move(from: number, to: number): void {
    this.offsets[to] = this.offsets[from]!;
    this.lengths[to] = this.lengths[from]!;
    this.lines[to] = this.lines[from]!;
    this.fileOf[to] = this.fileOf[from]!;
    this.verdicts[to] = this.verdicts[from]!;
  }

  set(e: number, file: number, span: Readonly<LineSpan>): void {
    this.offsets[e] = span.offset;
    this.lengths[e] = span.end - span.start;
    this.lines[e] = span.line;
    this.fileOf[e] = file;
  }
}

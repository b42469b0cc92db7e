const BUFFER_BYTES = 1 << 20;

/**
 * Request lines encoded straight into ~1 MB buffers, so no big string is built, flattened and re-encoded, and
 * output goes out in large writes. Writers reserve an upper bound, then fill `buf` from `off`.
 */
export class LineBuffer {
  buf = Buffer.allocUnsafe(BUFFER_BYTES);
  off = 0;
  private start = 0;
  private full: Buffer[] = [];

  /** Make room for `bytes` more at `off`. */
  reserve(bytes: number): void {
    if (this.off + bytes <= this.buf.length) return;
    if (this.off > this.start) this.full.push(this.buf.subarray(this.start, this.off));
    this.buf = Buffer.allocUnsafe(Math.max(BUFFER_BYTES, bytes));
    this.off = this.start = 0;
  }

  /** Append a line (UTF-8) and its newline. */
  writeLine(line: string): void {
    this.reserve(line.length * 3 + 1);
    this.off += this.buf.write(line, this.off);
    this.buf[this.off++] = 10;
  }

  /** The buffers filled so far, to be written in order; with `all`, the current one's bytes too (end of input). */
  take(all = false): Buffer[] {
    if (all && this.off > this.start) {
      this.full.push(this.buf.subarray(this.start, this.off));
      this.start = this.off;
    }
    const full = this.full;
    this.full = [];
    return full;
  }
}

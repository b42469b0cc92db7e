// The shape of the usual result lines, learned from one the scanner read: most lines of a file differ only in their
// values, so a line of a known shape is read by comparing its bytes with the shape's (measured in `pnpm bench:join`).
import type { LineVerdict } from './verdict-scan.js';
import { BAIL, resetVerdict, type Scan } from './verdict-scan.js';

const QUOTE = 0x22;
/** What a value of a shape is to the verdict: a string (ANY_STRING, or a part of the verdict), or a number. */
const ANY_STRING = 0;
const CUSTOM_ID = 1;
const REQUEST_ID = 2;
const FINISH = 3;
const CONTENT = 4;
const ANY_NUMBER = 5;
const STATUS = 6;
/** COUNT + 0…3: prompt, completion, reasoning and cached tokens (as `Scan.countAt`). */
const COUNT = 7;
/** Lines of new shapes read before one is learned, while the last one learned fit no line. */
const LEARN_AFTER = 8;
/** Longest line whose shape is learned (a shape holds a copy of its line; longer lines are rare, and scanned). */
const MAX_LINE = 64 * 1024;

/**
 * One learned shape: the bytes of the line it was learned from, and its values (every string that is not a key, every
 * number) with what each is to the verdict. A line fits when its bytes outside the values are the same — the same
 * keys in the same order, the same blanks, `null`s, `true`s and brackets — and each value is one of the same kind
 * (read by the scanner's own `string`, `number` and `count`). Then the scanner would have read it as it read the
 * learned line: every decision it makes rests on the keys, the structure or a value checked here as it checks it.
 */
class Shape {
  private bytes = Buffer.alloc(0);
  private length = 0;
  /** Per value: start and end in {@link bytes}, and its role. */
  private values = new Int32Array(0);
  private count = 0;

  constructor(private readonly scan: Scan) {}

  /** Learn the shape of `buf[start, end)`, which the scanner just read into `v` (its value positions are in `scan`). */
  learn(buf: Buffer, start: number, end: number, v: Readonly<LineVerdict>): void {
    const s = this.scan;
    if (this.bytes.length < end - start) this.bytes = Buffer.allocUnsafe(Math.max(1024, 2 * (end - start)));
    buf.copy(this.bytes, 0, start, end);
    this.length = end - start;
    this.count = 0;
    // Not `begin`: it would forget the value positions the scan just found.
    s.buf = buf;
    s.end = end;
    for (let i = start; i < end; ) {
      const b = buf[i]!;
      let after: number;
      let role: number;
      if (b === QUOTE) {
        after = s.string(i);
        let k = s.ws(after);
        if (buf[k] === 0x3a) {
          i = k; // a key: part of the shape
          continue;
        }
        k = i + 1;
        role = k === v.idStart ? CUSTOM_ID : k === v.requestStart ? REQUEST_ID : k === v.finishStart ? FINISH : k === v.contentStart ? CONTENT : ANY_STRING;
      } else if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
        after = s.number(i);
        const c = s.countAt.indexOf(i);
        role = i === s.statusAt ? STATUS : c !== -1 ? COUNT + c : ANY_NUMBER;
      } else {
        i++;
        continue;
      }
      this.add(i - start, after - start, role);
      i = after;
    }
    s.buf = EMPTY;
  }

  private add(from: number, to: number, role: number): void {
    if (this.values.length < 3 * (this.count + 1)) {
      const next = new Int32Array(Math.max(48, 2 * this.values.length));
      next.set(this.values);
      this.values = next;
    }
    const at = 3 * this.count++;
    this.values[at] = from;
    this.values[at + 1] = to;
    this.values[at + 2] = role;
  }

  /** Read `buf[start, end)` into `out` when it has this shape; false (and `out` unspecified) when not. */
  match(buf: Buffer, start: number, end: number, out: LineVerdict): boolean {
    if (this.length === 0) return false;
    const { bytes, values, scan: s } = this;
    s.buf = buf;
    s.end = end;
    resetVerdict(out);
    let i = start;
    let j = 0;
    for (let k = 0; k < 3 * this.count; k += 3) {
      const from = values[k]!;
      // The bytes between values are the shape's.
      if (i + from - j > end) return false;
      for (; j < from; j++, i++) if (buf[i] !== bytes[j]) return false;
      const role = values[k + 2]!;
      i = role < ANY_NUMBER ? this.string(i, role, out) : this.number(i, role, out);
      if (i === BAIL) return false;
      j = values[k + 1]!;
    }
    if (end - i !== this.length - j) return false;
    for (; j < this.length; j++, i++) if (buf[i] !== bytes[j]) return false;
    s.buf = EMPTY; // no line kept alive between calls (a line that does not fit is scanned next, which lets go of it)
    return true;
  }

  /** After the string value at `i` of `role` (its part of `out` set), or BAIL. */
  private string(i: number, role: number, out: LineVerdict): number {
    const s = this.scan;
    if (s.buf[i] !== QUOTE) return BAIL;
    const after = s.string(i);
    if (after === BAIL) return BAIL;
    if (role === ANY_STRING) return after;
    if (role === CONTENT) {
      out.contentStart = i + 1;
      out.contentEnd = after - 1;
      out.contentEscaped = s.escaped;
      return after;
    }
    // The custom_id, request id and finish reason are read only without escapes, as the scanner reads them.
    if (s.escaped) return BAIL;
    if (role === CUSTOM_ID) {
      out.idStart = i + 1;
      out.idEnd = after - 1;
    } else if (role === REQUEST_ID) {
      out.requestStart = i + 1;
      out.requestEnd = after - 1;
    } else {
      out.finishStart = i + 1;
      out.finishEnd = after - 1;
    }
    return after;
  }

  /** After the number value at `i` of `role` (its part of `out` set), or BAIL. */
  private number(i: number, role: number, out: LineVerdict): number {
    const s = this.scan;
    const b = s.buf[i];
    if (b !== 0x2d && !(b! >= 0x30 && b! <= 0x39)) return BAIL;
    if (role === ANY_NUMBER) return s.number(i);
    const after = s.count(i);
    if (after === BAIL) return BAIL;
    if (role === STATUS) {
      if (s.num < 200 || s.num > 299) return BAIL;
      out.status = s.num;
    } else if (role === COUNT) out.promptTokens = s.num;
    else if (role === COUNT + 1) out.completionTokens = s.num;
    else if (role === COUNT + 2) out.reasoningTokens = s.num;
    else out.cachedTokens = s.num;
    return after;
  }
}

const EMPTY = Buffer.alloc(0);

/** Lines tried against the shapes between two halvings of the hits and misses (older lines count less and less). */
const DECAY = 64;
/**
 * A line that fits neither shape costs two comparisons (most of a line each, when shapes differ near the end) before
 * the scan, about four times what a line that fits saves (measured on `pnpm bench:join`'s lines): a miss counts four.
 */
const MISS_WEIGHT = 4;
/** While misses outweigh hits, only every PROBE-th line is tried against the shapes (to see whether lines fit again). */
const PROBE = 32;

/**
 * The two shapes learned last (results of two kinds, e.g. with and without usage, both fit), tried before the scanner.
 * A line the scanner reads that fits neither replaces the one used less recently. Lines of three or more shapes in
 * turn mostly miss both: while misses outweigh hits, lines go straight to the scanner but for a probe now and then.
 */
export class VerdictTemplates {
  private first: Shape;
  private second: Shape;
  /** Lines that fit since the last shape was learned, and lines refused since (see {@link learn}). */
  private fits = 0;
  /** Starts full: the first line read is learned. */
  private refused = LEARN_AFTER;
  /** Decaying counts of the lines tried that fit and that did not; starts trusting the shapes. */
  private hits = DECAY;
  private misses = 0;
  /** Lines not tried since the last probe. */
  private skipped = 0;
  /** Lines tried against the shapes and lines that fit one, since construction (for tests and benchmarks). */
  readonly counts = { tried: 0, fitted: 0 };

  constructor(scan: Scan) {
    this.first = new Shape(scan);
    this.second = new Shape(scan);
  }

  /** Read `buf[start, end)` into `out` when it has a learned shape (false too when the shapes are not tried now). */
  match(buf: Buffer, start: number, end: number, out: LineVerdict): boolean {
    if (this.skipping() && ++this.skipped < PROBE) return false;
    this.skipped = 0;
    const fit = this.tryShapes(buf, start, end, out);
    const c = this.counts;
    if (++c.tried % DECAY === 0) {
      this.hits /= 2;
      this.misses /= 2;
    }
    if (fit) {
      c.fitted++;
      this.hits++;
    } else this.misses++;
    return fit;
  }

  /** Misses outweigh hits: lines are not tried but for a probe every {@link PROBE}th. */
  private skipping(): boolean {
    return this.misses * MISS_WEIGHT > this.hits;
  }

  private tryShapes(buf: Buffer, start: number, end: number, out: LineVerdict): boolean {
    if (this.first.match(buf, start, end, out)) {
      this.fits++;
      return true;
    }
    if (!this.second.match(buf, start, end, out)) return false;
    [this.first, this.second] = [this.second, this.first];
    this.fits++;
    return true;
  }

  /**
   * Learn the shape of a line the scanner read (it fit neither shape). When no line fit the last shape learned, only
   * every {@link LEARN_AFTER}th such line is learned: lines of ever-changing shapes cost little more than the scan.
   * While lines are not tried, only the line before a probe is learned (the probe tries its shape).
   */
  learn(buf: Buffer, start: number, end: number, v: Readonly<LineVerdict>): void {
    if (end - start > MAX_LINE) return;
    if (this.skipping()) {
      if (this.skipped !== PROBE - 1) return;
    } else if (this.fits === 0 && ++this.refused < LEARN_AFTER) return;
    this.fits = 0;
    this.refused = 0;
    [this.first, this.second] = [this.second, this.first];
    this.first.learn(buf, start, end, v);
  }
}

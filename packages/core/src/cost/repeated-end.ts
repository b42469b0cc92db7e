// Request lines often end alike (the answer instruction, fixed text after the last field, the same parameters): the
// estimate counts such an end once, and then only compares bytes.

/** Bytes kept of the end of the last line: a repeated end longer than this is compared (and counted) from here on. */
const WINDOW = 512;

/** The cuts of one line within {@link WINDOW} of its end: their distances from it, and the tokens counted before each. */
interface Cuts {
  distances: Int32Array;
  before: Int32Array;
  size: number;
}

// A cut follows a space after another character, so a window holds at most half as many cuts as bytes.
const cuts = (): Cuts => ({ distances: new Int32Array(WINDOW / 2), before: new Int32Array(WINDOW / 2), size: 0 });

/**
 * The end of the last line counted whole: its last bytes, and at each cut (a point a segment starts, where no token
 * spans) how far from the line's end it is and how many tokens were counted before it. A line that, at one of its
 * cuts, has the same bytes from there to its end as the last line from a cut as far from its end has the same tokens
 * from there on (the counter's state at a cut is the same whatever came before: the segment table is keyed by bytes).
 */
export class RepeatedEnd {
  private last = cuts();
  private current = cuts();
  private lastTotal = 0;
  private readonly window = Buffer.alloc(WINDOW);
  private windowLength = 0;
  /** The first of the last line's cuts not yet passed (cuts come in order, their distances decreasing). */
  private next = 0;

  /** A new line is about to be counted. */
  begin(): void {
    this.current.size = 0;
    this.next = 0;
  }

  /**
   * A cut at byte `at` of `line`, `before` tokens counted before it: the line's tokens when its end from here repeats
   * the last line's (the rest need not be read), else -1.
   */
  cut(line: Buffer, at: number, before: number): number {
    const distance = line.length - at;
    if (distance > WINDOW) return -1;
    const current = this.current;
    current.distances[current.size] = distance;
    current.before[current.size++] = before;
    if (distance > this.windowLength) return -1;
    const last = this.last;
    while (this.next < last.size && last.distances[this.next]! > distance) this.next++;
    if (this.next === last.size || last.distances[this.next] !== distance) return -1;
    const window = this.window;
    const offset = this.windowLength - distance;
    for (let k = 0; k < distance; k++) if (window[offset + k] !== line[at + k]) return -1;
    return before + this.lastTotal - last.before[this.next]!;
  }

  /** `line` was counted whole (`total` tokens, all its cuts given): the next line is compared with its end. */
  end(line: Buffer, total: number): void {
    [this.last, this.current] = [this.current, this.last];
    this.lastTotal = total;
    this.windowLength = Math.min(line.length, WINDOW);
    line.copy(this.window, 0, line.length - this.windowLength);
  }
}

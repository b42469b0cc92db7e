// The index pass over a byte range of one result file, as another thread runs it (see `RangeIndexer`): plain arrays out.
import { grown } from '../internal/typed-arrays.js';
import { scanLines, type LineSpan } from '../internal/line-offsets.js';
import { hashAsciiBytes, hashString } from './id-hash-table.js';
import { customIdOfLine } from './custom-id-of-line.js';
import { emptyVerdict, readVerdict } from './result-verdict.js';
import { VerdictStore } from './verdict-store.js';

/** What {@link indexRange} is asked: file `path`'s bytes `[from, to)` (`from` at a line's start). */
export interface RangeRequest {
  path: string;
  from: number;
  to: number;
  /** Keep verdicts (see `IndexResultFilesOptions.lean`), within `budget` bytes. */
  lean: boolean;
  budget: number;
}

/**
 * The lines of a range, in file order, as `FileIndex.add` would index them: custom_id hash halves (2 a line), byte
 * offset, length, line number counted from the range's start, and verdict slot (in `pages`, or -1: read when taken).
 */
export interface IndexedRange {
  count: number;
  hashes: Int32Array;
  offsets: Float64Array;
  lengths: Uint32Array;
  lines: Uint32Array;
  slots: Int32Array;
  pages: Buffer[];
  /** Lines in the range (blank ones too): the line number of the range's last line. */
  lineCount: number;
  /** The first line without a custom_id (indexing stopped there: its error is made again where the line number is known), or null. */
  bad: { offset: number; length: number; line: number } | null;
}

/** Lines read before the arrays are sized for the whole range. */
const ESTIMATE_AFTER = 1000;

/** Index the lines of a range of a result file (see {@link IndexedRange}). */
export async function indexRange(request: RangeRequest): Promise<IndexedRange> {
  const { path, from, to, lean } = request;
  const store = new VerdictStore(request.budget);
  const verdict = emptyVerdict();
  const hash = new Int32Array(2);
  let cap = 1024;
  const out: IndexedRange = {
    count: 0,
    hashes: new Int32Array(2 * cap),
    offsets: new Float64Array(cap),
    lengths: new Uint32Array(cap),
    lines: new Uint32Array(cap),
    slots: new Int32Array(cap),
    pages: [],
    lineCount: 0,
    bad: null,
  };
  const grow = (n: number): void => {
    cap = n;
    out.hashes = grown(out.hashes, 2 * cap);
    out.offsets = grown(out.offsets, cap);
    out.lengths = grown(out.lengths, cap);
    out.lines = grown(out.lines, cap);
    out.slots = grown(out.slots, cap);
  };
  const add = (buf: Buffer, span: Readonly<LineSpan>): void => {
    if (out.bad !== null) return;
    const fast = lean && readVerdict(buf, span.start, span.end, verdict);
    if (!(fast && hashAsciiBytes(buf, verdict.idStart, verdict.idEnd, hash))) {
      try {
        hashString(fast ? buf.toString('utf8', verdict.idStart, verdict.idEnd) : customIdOfLine(buf, { ...span, file: path }), hash);
      } catch {
        out.bad = { offset: span.offset, length: span.end - span.start, line: span.line };
        return;
      }
    }
    const k = out.count++;
    if (k === ESTIMATE_AFTER) grow(Math.max(cap, Math.ceil(((to - from) * k) / (span.offset - from + 1)) + 1024));
    if (k === cap) grow(cap * 2);
    out.hashes[2 * k] = hash[0]!;
    out.hashes[2 * k + 1] = hash[1]!;
    out.offsets[k] = span.offset;
    out.lengths[k] = span.end - span.start;
    out.lines[k] = span.line;
    out.slots[k] = fast ? store.keep(buf, verdict) : -1;
  };
  out.lineCount = await scanLines(path, add, { from, to });
  out.pages = [...store.filled];
  return out;
}

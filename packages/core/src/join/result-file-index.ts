import { stat } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { KbatchError } from '../errors.js';
import { hashAsciiBytes, hashString, IdHashTable } from './id-hash-table.js';
import type { JoinIssueHandler } from './join-issue.js';
import { parseResultLine, type BatchResult } from './result-line.js';
import { customIdOfLine } from './custom-id-of-line.js';
import { LineWindow, lineReader, scanLines, type LineReader, type LineSpan, type LineVisitor } from '../internal/line-offsets.js';
import { prefersResult, type ResultLookup } from './result-lookup.js';
import { LinePositions } from './line-positions.js';
import { FIND, LookupAhead } from './lookup-ahead.js';
import { emptyVerdict, readVerdict } from './result-verdict.js';
import { VerdictStore } from './verdict-store.js';
import type { IndexedRange } from './range-index.js';
import { INDEX_WORKER, SegmentIndexer, segmentBounds } from './range-indexer.js';

const TAKEN = 2;
/** An entry of a duplicate line not kept: never in the table, never a leftover. */
const DEAD = 4;
/** Lines indexed before their custom_ids are put in the table together (see `FileIndex.settle`). */
const PENDING = 128;
/** Lines read before the tables are sized for the whole index. */
const ESTIMATE_AFTER = 1000;
/** Lines a window is expected to read (by the share of untaken lines without a verdict) below which it does not prefetch. */
const PREFETCH_MIN = 64;

/** Options of {@link indexResultFiles}. */
export interface IndexResultFilesOptions {
  onIssue?: JoinIssueHandler;
  /**
   * The results taken need no `body` (no keepRaw, no outcome hook): the usual successful line is then read once, in the
   * index pass, and kept as a verdict (see `readVerdict`), so `take` neither re-reads nor parses it; its result's
   * `body` is undefined. Other lines are read again and parsed when taken.
   */
  lean?: boolean;
  /**
   * A result file of at least `minBytes` (default 16 MiB) is indexed by two threads at once, segment by segment, the
   * other one a worker started from `worker` (default: the module beside this one; none when it is absent), in segments
   * of about `segmentBytes` (default 32 MiB; `workerOnly`: all of them on the worker, as tests ask); false: one thread.
   * Default: two threads when a core is idle (1-minute load average at most the cores less one), else one.
   */
  parallel?: false | { worker?: URL; minBytes?: number; segmentBytes?: number; workerOnly?: boolean };
}

/**
 * Whether a core is idle for a second thread. On a busy machine the worker only adds CPU (measured: the index pass of
 * `pnpm bench:join` takes ~1.6 s of CPU on one thread, ~2.3 s on two) and wins no time.
 */
function coreIdle(): boolean {
  return loadavg()[0]! <= availableParallelism() - 1;
}

/** Result files smaller than this are indexed on one thread (a worker costs ~40 ms to start). */
const SPLIT_MIN_BYTES = 16 << 20;
/** Bytes of a segment of a result file indexed on two threads (small enough that one thread never waits long for the other). */
const SEGMENT_BYTES = 32 << 20;

/**
 * Index result files (outputs and errors) by custom_id without keeping results — or even the
 * custom_ids — on the JS heap: one streaming pass records each line's file, byte offset, length and
 * the 64-bit hash of its custom_id in typed arrays (~43 bytes per result: ~45 MB for 1,000,000);
 * `take()` re-reads the line with a positional read, parses it, and confirms the custom_id.
 * With `lean`, usual successful lines are kept as verdicts instead (~30 bytes plus the answer) and never re-read.
 * Duplicates are reported (JOIN_DUPLICATE_RESULT) and the better one kept (success beats failure).
 * @param files - JSONL result files; later files may hold retries of earlier ones
 */
export async function indexResultFiles(files: readonly string[], options: IndexResultFilesOptions | JoinIssueHandler = {}): Promise<ResultLookup> {
  const { onIssue, lean = false, parallel = coreIdle() ? {} : false } = typeof options === 'function' ? { onIssue: options } : options;
  if (files.length > 65535) throw new KbatchError('OPTION_INVALID', 'Invalid option `results`: must list at most 65535 files');
  const index = new FileIndex(files, lean);
  const worker = parallel === false ? null : (parallel.worker ?? INDEX_WORKER);
  const { minBytes = SPLIT_MIN_BYTES, segmentBytes = SEGMENT_BYTES, workerOnly = false } = parallel || {};
  let indexer: SegmentIndexer | null = null;
  try {
    // The number of lines, estimated from the first ones, sizes the tables once (growing by doubling holds both copies).
    const sizes = await Promise.all(files.map((f) => stat(f).then((i) => i.size, () => 0)));
    const bytes = sizes.reduce((a, b) => a + b, 0);
    for (let file = 0; file < files.length; file++) {
      index.begin(file, onIssue);
      if (worker !== null && sizes[file]! >= minBytes && SegmentIndexer.available(worker)) {
        indexer ??= new SegmentIndexer(worker);
        await indexSegments(index, indexer, { path: files[file]!, size: sizes[file]!, lean, segmentBytes, workerOnly, reserve: file === 0 ? bytes : 0 });
        continue;
      }
      await scanResultFile(files[file]!, (buf, span) => {
        if (file === 0 && span.line >= ESTIMATE_AFTER) index.reserve(Math.ceil(((bytes * span.line) / (span.offset + span.end - span.start + 1)) * 1.05));
        index.add(buf, span);
      });
      index.settle();
    }
  } catch (err) {
    await index.close();
    throw err;
  } finally {
    await indexer?.close();
  }
  return index;
}

/**
 * Index file `path` (the one `index.begin` named) in segments of about `segmentBytes`: this thread takes them from the
 * front, adding their lines as it reads them, the worker from the back, until they meet (a shared count of segments
 * taken); the worker's are added after, in file order, so the index is the one a single pass builds. `reserve`: the
 * bytes of all files, to size the index from the first lines (0: not).
 */
async function indexSegments(index: FileIndex, indexer: SegmentIndexer, file: { path: string; size: number; lean: boolean; segmentBytes: number; workerOnly: boolean; reserve: number }): Promise<void> {
  const { path, size, lean, reserve } = file;
  const bounds = await segmentBounds(path, size, Math.max(2, Math.round(size / file.segmentBytes)));
  const n = bounds.length - 1;
  // Each segment's share of the verdict budget: this thread's shares come back as it takes segments.
  const budget = index.lend(n);
  const counter = new Int32Array(new SharedArrayBuffer(4));
  indexer.start({ path, bounds, lean, budget, counter });
  let lines = 0;
  let mine = 0;
  const at: LineSpan = { start: 0, end: 0, offset: 0, line: 0 };
  for (; !file.workerOnly && Atomics.add(counter, 0, 1) < n; mine++) {
    index.repay(budget);
    const base = lines;
    lines += await scanResultFile(path, (buf, span) => {
      // Line numbers of the file, not of the segment.
      at.start = span.start;
      at.end = span.end;
      at.offset = span.offset;
      at.line = base + span.line;
      if (reserve > 0 && at.line >= ESTIMATE_AFTER) index.reserve(Math.ceil(((reserve * at.line) / (at.offset + at.end - at.start + 1)) * 1.05));
      index.add(buf, at);
    }, { from: bounds[mine]!, to: bounds[mine + 1]! });
  }
  index.settle();
  const ranges: Array<IndexedRange | undefined> = [];
  for (let got = 0; got < n - mine; ) {
    for (const { segment, range } of await indexer.next()) {
      ranges[segment] = range;
      got += 1;
    }
  }
  for (let s = mine; s < n; s++) {
    const range = ranges[s]!;
    ranges[s] = undefined;
    if (s === 0 && reserve > 0) index.reserve(Math.ceil(((reserve * range.count) / (bounds[1]! + 1)) * 1.05));
    index.addRange(range, { lines, lent: budget });
    lines += range.lineCount;
  }
}

/** The lookup {@link indexResultFiles} builds: entries by custom_id hash, each a verdict or a line read when taken. */
class FileIndex implements ResultLookup {
  private readonly table = new IdHashTable();
  private readonly at = new LinePositions();
  private readonly verdicts = new VerdictStore();
  private readonly verdict = emptyVerdict();
  private readonly reader: LineReader;
  private readonly window: LineWindow<number>;
  private readonly ahead = new LookupAhead(this.table, this.at, this.verdicts, TAKEN);
  private readonly hash = new Int32Array(2);
  /** Lines indexed but not yet in the table, as (entry, hash high, hash low): see {@link settle}. */
  private readonly pending = new Int32Array(3 * PENDING);
  private pendingCount = 0;
  private onIssue: JoinIssueHandler | undefined;
  /** The file whose lines are being added. */
  private file = 0;
  /** The entry being settled, and whether entry `c` has its custom_id (asked only on a hash match: a duplicate). */
  private settling = -1;
  /** What the buckets read ahead held (kept so the reads are not dropped as unused). */
  warmth = 0;
  private readonly isSettling = (c: number): boolean => this.customIdAt(c) === this.customIdAt(this.settling);
  private live = 0;
  /** Untaken lines without a verdict (read when taken). */
  private slow = 0;
  private reserved = false;

  constructor(
    private readonly files: readonly string[],
    private readonly lean: boolean,
  ) {
    this.reader = lineReader(files);
    const at = this.at;
    this.window = new LineWindow<number>(this.reader, (e) => ({ file: at.fileOf[e]!, offset: at.offsets[e]!, length: at.lengths[e]! }));
  }

  /** Room for about `lines` entries (once; later calls do nothing). */
  reserve(lines: number): void {
    if (this.reserved) return;
    this.reserved = true;
    this.at.reserve(lines);
    this.table.reserve(lines);
  }

  /** The lines {@link add}ed next are of file number `file`; their duplicates go to `onIssue`. */
  begin(file: number, onIssue: JoinIssueHandler | undefined): void {
    this.file = file;
    this.onIssue = onIssue;
  }

  /**
   * Index one line of the file {@link begin} named: its position and verdict now, its custom_id's hash in the table at
   * the next {@link settle} (every {@link PENDING} lines).
   */
  add(buf: Buffer, span: Readonly<LineSpan>): void {
    const { at, verdict, hash, file } = this;
    this.ahead.clear();
    const fast = this.lean && readVerdict(buf, span.start, span.end, verdict);
    // A usual line's ASCII custom_id is hashed from its bytes: no string is made (one is, for a duplicate only).
    if (!(fast && hashAsciiBytes(buf, verdict.idStart, verdict.idEnd, hash))) {
      try {
        hashString(fast ? buf.toString('utf8', verdict.idStart, verdict.idEnd) : customIdOfLine(buf, { ...span, file: this.files[file]! }), hash);
      } catch (error) {
        // The lines before a bad one are judged first, as they were read: their duplicates are reported, and a bad
        // duplicate among them is the error named.
        this.settle();
        throw error;
      }
    }
    const e = at.add();
    at.set(e, file, span);
    at.verdicts[e] = fast ? this.verdicts.keep(buf, verdict) : -1;
    if (at.verdicts[e] === -1) this.slow += 1;
    const p = 3 * this.pendingCount++;
    this.pending[p] = e;
    this.pending[p + 1] = hash[0]!;
    this.pending[p + 2] = hash[1]!;
    if (this.pendingCount === PENDING) this.settle();
  }

  /**
   * Index the lines of a range that another thread read (see `indexRange`) of the file {@link begin} named, after its
   * first `lines` lines, as {@link add} would have: a line without a custom_id throws here, the lines before it settled.
   */
  addRange(range: IndexedRange, after: { lines: number; lent: number }): void {
    const { at, file } = this;
    this.ahead.clear();
    const base = this.verdicts.adopt(range.pages, after.lent);
    for (let k = 0; k < range.count; k++) {
      const e = at.add();
      at.offsets[e] = range.offsets[k]!;
      at.lengths[e] = range.lengths[k]!;
      at.lines[e] = after.lines + range.lines[k]!;
      at.fileOf[e] = file;
      const slot = range.slots[k]!;
      at.verdicts[e] = slot === -1 ? -1 : base + slot;
      if (slot === -1) this.slow += 1;
      const p = 3 * this.pendingCount++;
      this.pending[p] = e;
      this.pending[p + 1] = range.hashes[2 * k]!;
      this.pending[p + 2] = range.hashes[2 * k + 1]!;
      if (this.pendingCount === PENDING) this.settle();
    }
    this.settle();
    if (range.bad === null) return;
    const { offset, length, line } = range.bad;
    // The same RESPONSE_INVALID the line gives on one thread, now that its line number is known.
    const buf = this.reader.read(file, offset, length);
    customIdOfLine(buf, { start: 0, end: length, file: this.files[file]!, line: after.lines + line });
  }

  /** The verdict budget left, shared by `segments` ranges read apart (see {@link addRange}): each one's bytes. */
  lend(segments: number): number {
    return this.lean ? this.verdicts.lend(segments) : 0;
  }

  /** Take back `bytes` {@link lend}ed (a range read here after all). */
  repay(bytes: number): void {
    this.verdicts.repay(bytes);
  }

  /**
   * Put the pending lines in the table, in file order; a line whose custom_id is there already is a duplicate (rare):
   * only then are both lines judged, the better one kept in the first one's entry (see `prefersResult`), the other's
   * entry left dead. Their buckets are read first, all together, so the cache misses overlap.
   */
  settle(): void {
    const { pending, table, at } = this;
    const n = this.pendingCount;
    this.pendingCount = 0;
    this.warmth = table.warm(pending, n);
    for (let k = 0; k < n; k++) {
      const e = (this.settling = pending[3 * k]!);
      const first = table.findHashed(pending[3 * k + 1]!, pending[3 * k + 2]!, this.isSettling);
      if (first === -1) {
        table.addHashed(pending[3 * k + 1]!, pending[3 * k + 2]!, e);
        this.live += 1;
        continue;
      }
      const replace = prefersResult({ ok: this.isOk(first) }, { ok: this.isOk(e) });
      const customId = this.customIdAt(e);
      const [later, earlier] = [this.source(e), this.source(first)];
      this.onIssue?.({
        code: 'JOIN_DUPLICATE_RESULT',
        customId,
        ...later,
        message: `duplicate result for custom_id "${customId}" at ${later.file}:${later.line} (first at ${earlier.file}:${earlier.line}); kept the ${replace ? 'later' : 'earlier'} one`,
      });
      // The line not kept is never read when taken.
      if (at.verdicts[replace ? first : e] === -1) this.slow -= 1;
      if (replace) at.move(e, first);
      at.flags[e]! |= DEAD;
    }
  }

  /** Whether entry `e` is a success (a verdict is one; another line is read and parsed to tell). */
  private isOk(e: number): boolean {
    return this.at.verdicts[e] !== -1 || parseResultLine(this.readEntry(e), this.source(e)).ok;
  }

  take(customId: string): BatchResult | undefined {
    const { at } = this;
    let e = this.ahead.entry(customId);
    let found: BatchResult | undefined;
    if (e >= 0) found = this.verdicts.result(at.verdicts[e]!, customId);
    else if (e === FIND) [e, found] = this.find(customId);
    if (e === -1) return undefined;
    at.flags[e]! |= TAKEN;
    this.live -= 1;
    if (at.verdicts[e] === -1) this.slow -= 1;
    return found;
  }

  /** The untaken entry of `customId` and its result (a line without a verdict is read and parsed to confirm it), or -1. */
  private find(customId: string): [number, BatchResult | undefined] {
    const { at, verdicts } = this;
    let found: BatchResult | undefined;
    const e = this.table.find(customId, (candidate) => {
      if ((at.flags[candidate]! & TAKEN) !== 0) return false;
      const slot = at.verdicts[candidate]!;
      if (slot !== -1) {
        if (!verdicts.isFor(slot, customId)) return false;
        found = verdicts.result(slot, customId);
        return true;
      }
      const result = parseResultLine(this.readEntry(candidate), this.source(candidate));
      if (result.customId !== customId) return false;
      found = result;
      return true;
    });
    return [e, found];
  }

  prefetch(customIds: readonly string[]): void {
    this.ahead.fill(customIds);
    // A few lines to read are read one by one for less than finding them all first.
    if (customIds.length * this.slow < this.live * PREFETCH_MIN) return;
    const at = this.at;
    const wanted: number[] = [];
    for (const customId of customIds) {
      // Every untaken line with this hash that is read when taken (a true 64-bit collision only costs a line read in vain).
      this.table.find(customId, (candidate) => {
        if ((at.flags[candidate]! & TAKEN) === 0 && at.verdicts[candidate] === -1) wanted.push(candidate);
        return false;
      });
    }
    this.window.fill(wanted);
  }

  *leftovers(): Iterable<{ customId: string; file?: string; line?: number }> {
    for (let e = 0; e < this.at.count; e++) if ((this.at.flags[e]! & (TAKEN | DEAD)) === 0) yield { customId: this.customIdAt(e), ...this.source(e) };
  }

  get size(): number {
    return this.live;
  }

  async close(): Promise<void> {
    this.reader.close();
  }

  private readEntry(e: number): string {
    return this.window.read(e).toString('utf8');
  }

  private source(e: number): { file: string; line: number } {
    return { file: this.files[this.at.fileOf[e]!]!, line: this.at.lines[e]! };
  }

  private customIdAt(e: number): string {
    const { at } = this;
    const slot = at.verdicts[e]!;
    if (slot !== -1) return this.verdicts.customId(slot);
    const buf = this.reader.read(at.fileOf[e]!, at.offsets[e]!, at.lengths[e]!);
    return customIdOfLine(buf, { start: 0, end: buf.length, ...this.source(e) });
  }
}

/** {@link scanLines} of a result file; a missing file is INPUT_NOT_FOUND. */
export async function scanResultFile(file: string, onLine: LineVisitor, range?: { from: number; to: number }): Promise<number> {
  try {
    return await scanLines(file, onLine, range);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KbatchError('INPUT_NOT_FOUND', `result file ${file} does not exist`, { file, cause: err });
    }
    throw err;
  }
}

export { customIdOfLine } from './custom-id-of-line.js';

import { stat } from 'node:fs/promises';
import { KbatchError } from '../errors.js';
import { hashAsciiBytes, hashString, IdHashTable } from './id-hash-table.js';
import type { JoinIssueHandler } from './join-issue.js';
import { parseResultLine, peekCustomId, type BatchResult } from './result-line.js';
import { LineWindow, lineReader, scanLines, type LineReader, type LineSpan, type LineVisitor } from '../internal/line-offsets.js';
import { prefersResult, type ResultLookup } from './result-lookup.js';
import { LinePositions } from './line-positions.js';
import { FIND, LookupAhead } from './lookup-ahead.js';
import { emptyVerdict, readVerdict } from './result-verdict.js';
import { VerdictStore } from './verdict-store.js';

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
}

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
  const { onIssue, lean = false } = typeof options === 'function' ? { onIssue: options } : options;
  if (files.length > 65535) throw new KbatchError('OPTION_INVALID', 'Invalid option `results`: must list at most 65535 files');
  const index = new FileIndex(files, lean);
  try {
    // The number of lines, estimated from the first ones, sizes the tables once (growing by doubling holds both copies).
    const bytes = (await Promise.all(files.map((f) => stat(f).then((i) => i.size, () => 0)))).reduce((a, b) => a + b, 0);
    for (let file = 0; file < files.length; file++) {
      index.begin(file, onIssue);
      await scanResultFile(files[file]!, (buf, span) => {
        if (file === 0 && span.line >= ESTIMATE_AFTER) index.reserve(Math.ceil(((bytes * span.line) / (span.offset + span.end - span.start + 1)) * 1.05));
        index.add(buf, span);
      });
      index.settle();
    }
  } catch (err) {
    await index.close();
    throw err;
  }
  return index;
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
export async function scanResultFile(file: string, onLine: LineVisitor): Promise<void> {
  try {
    await scanLines(file, onLine);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KbatchError('INPUT_NOT_FOUND', `result file ${file} does not exist`, { file, cause: err });
    }
    throw err;
  }
}

/**
 * The custom_id of a result line: read from its bytes (see {@link peekCustomId}), else by parsing it; a line that
 * is not JSON or has no custom_id is RESPONSE_INVALID.
 */
export function customIdOfLine(buf: Buffer, at: { start: number; end: number; file: string; line: number }): string {
  const peeked = peekCustomId(buf, at.start, at.end);
  if (peeked !== null) return peeked;
  const { file, line: lineNo } = at;
  let value: { custom_id?: unknown } | null;
  try {
    value = JSON.parse(buf.toString('utf8', at.start, at.end)) as { custom_id?: unknown } | null;
  } catch (err) {
    throw new KbatchError('RESPONSE_INVALID', `${file}:${lineNo} is not valid JSON: ${(err as Error).message}`, { file, line: lineNo, cause: err });
  }
  const id = value?.custom_id;
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new KbatchError('RESPONSE_INVALID', `${file}:${lineNo} is not a batch result (custom_id is missing)`, { file, line: lineNo });
  }
  return String(id);
}

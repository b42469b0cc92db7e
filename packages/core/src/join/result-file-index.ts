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
const EMPTY = Buffer.alloc(0);
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
      await scanResultFile(files[file]!, (buf, span) => {
        if (file === 0 && span.line >= ESTIMATE_AFTER) index.reserve(Math.ceil(((bytes * span.line) / (span.offset + span.end - span.start + 1)) * 1.05));
        index.add(buf, span, { file, onIssue });
      });
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
  /** The custom_id of the line being added: its ASCII bytes in `buf`, or the string `id`. */
  private readonly adding = { buf: EMPTY as Buffer, start: 0, end: 0, id: null as string | null };
  /** Whether entry `c` is the line being added's custom_id (asked only on a hash match: a duplicate). */
  private readonly isAdding = (c: number): boolean => this.customIdAt(c) === this.addingId();
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

  /** Index one line of file number `file` (the better of two lines for one custom_id stays, see `prefersResult`). */
  add(buf: Buffer, span: Readonly<LineSpan>, { file, onIssue }: { file: number; onIssue: JoinIssueHandler | undefined }): void {
    const { at, table, verdict, hash } = this;
    const name = this.files[file]!;
    this.ahead.clear();
    const fast = this.lean && readVerdict(buf, span.start, span.end, verdict);
    // A usual line's ASCII custom_id is hashed from its bytes: a string is made only for a duplicate (see `adding`).
    const adding = this.adding;
    if (fast && hashAsciiBytes(buf, verdict.idStart, verdict.idEnd, hash)) {
      adding.buf = buf;
      adding.start = verdict.idStart;
      adding.end = verdict.idEnd;
      adding.id = null;
    } else {
      adding.id = fast ? buf.toString('utf8', verdict.idStart, verdict.idEnd) : customIdOfLine(buf, { ...span, file: name });
      hashString(adding.id, hash);
    }
    let e = table.findHashed(hash[0]!, hash[1]!, this.isAdding);
    if (e !== -1) {
      // A duplicate (rare): only now are both lines judged, to keep the better one.
      const customId = this.addingId();
      const ok = fast || parseResultLine(buf.toString('utf8', span.start, span.end), { file: name, line: span.line }).ok;
      const replace = prefersResult({ ok: at.verdicts[e] !== -1 || parseResultLine(this.readEntry(e), this.source(e)).ok }, { ok });
      const first = this.source(e);
      onIssue?.({
        code: 'JOIN_DUPLICATE_RESULT',
        customId,
        file: name,
        line: span.line,
        message: `duplicate result for custom_id "${customId}" at ${name}:${span.line} (first at ${first.file}:${first.line}); kept the ${replace ? 'later' : 'earlier'} one`,
      });
      if (!replace) return;
      if (at.verdicts[e] === -1) this.slow -= 1;
    } else {
      e = at.add();
      this.live += 1;
      table.addHashed(hash[0]!, hash[1]!, e);
    }
    adding.buf = EMPTY;
    at.set(e, file, span);
    at.verdicts[e] = fast ? this.verdicts.keep(buf, verdict) : -1;
    if (at.verdicts[e] === -1) this.slow += 1;
  }

  /** The custom_id of the line being added (made a string only when needed). */
  private addingId(): string {
    const a = this.adding;
    return (a.id ??= a.buf.toString('latin1', a.start, a.end));
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
    for (let e = 0; e < this.at.count; e++) if ((this.at.flags[e]! & TAKEN) === 0) yield { customId: this.customIdAt(e), ...this.source(e) };
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

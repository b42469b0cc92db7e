// The winning result of each request of one chunk, indexed by position on disk: what the join reads.
import { KbatchError } from '../errors.js';
import { lineReader } from '../internal/line-offsets.js';
import type { JoinIssueHandler } from '../join/join-issue.js';
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import { prefersResult, type ResultLookup } from '../join/result-lookup.js';
import { lineTokens, walkAttempts, type AttemptLine, type AttemptSource } from './attempts.js';
import type { BatchResultLine } from './job-types.js';
import { emptyVerdict, readVerdict, type LineVerdict } from '../join/result-verdict.js';
import { IdHashTable } from '../join/id-hash-table.js';
import { LinePositions } from '../join/line-positions.js';
import { FIND, LookupAhead } from '../join/lookup-ahead.js';
import { recordCount, VerdictStore } from '../join/verdict-store.js';
import type { UsageTally } from '../cost/spend.js';

/** Prompt and completion tokens of the attempt lines no record was joined with (superseded, duplicate, unknown). */
export interface TokenTotals {
  prompt: number;
  completion: number;
  /** Where every line's usage is added (taken or not), by how it was sent: the run's spend. */
  usage?: UsageTally;
}

/** Options of {@link attemptLookup}. */
export interface AttemptLookupOptions {
  /** Where the tokens of lines no record takes are added (superseded, losing duplicates, left over); a taken result's are in the join's report. */
  tokens: TokenTotals;
  /** custom_ids already joined elsewhere (a live join's rows): neither indexed nor counted. */
  skip?: ReadonlySet<string>;
  onIssue?: JoinIssueHandler;
  /** Results need no `body` (see `indexResultFiles`): the usual successful line is read once, as a verdict, and never again. */
  lean?: boolean;
  /** About how many requests the chunk has: the tables are sized for them once (no doubling copies). */
  expected?: number;
}

/** A winning line: on disk (file number, byte offset and length, line number), or a result made in memory. */
interface Entry {
  file: number;
  offset: number;
  length: number;
  line: number;
  /** Its verdict in the lookup's store (see `VerdictStore`), or -1: the line is read when taken. */
  verdict: number;
  result?: BatchResult;
}

/** An entry taken (or replaced by a later duplicate's slot) in `LinePositions.flags`. */
const TAKEN = 2;

/**
 * Index a chunk's latest results (see `walkAttempts`) by custom_id: only each winning line's position is kept (one
 * chunk's custom_ids), and `take` reads and parses the line once. Duplicates within one attempt are reported
 * (JOIN_DUPLICATE_RESULT) and the better kept (success beats failure), as `kbatch join` does.
 */
export async function attemptLookup(jobDir: string, groups: readonly AttemptSource[][], options: AttemptLookupOptions): Promise<ResultLookup> {
  const { skip, onIssue, lean = false } = options;
  const lines = indexedLines(options.tokens);
  const index = new AttemptIndex(lines, onIssue);
  if (options.expected !== undefined) index.reserve(options.expected);
  const verdict = emptyVerdict();
  try {
    const visit = ({ customId, superseded, realtime, at, result, verdict: kept }: AttemptLine): void => {
      // Joined already (a live row): its tokens are in the join's report.
      if (skip?.has(customId)) return;
      const fast = lean && at !== undefined && kept === undefined && readVerdict(at.buf, at.start, at.end, verdict);
      if (superseded) {
        if (kept) {
          const [p, c] = [recordCount(kept.page, kept.at, 0), recordCount(kept.page, kept.at, 1)];
          lines.add(Math.max(0, p), Math.max(0, c));
          options.tokens.usage?.add(realtime ? 'realtime' : 'batch', { prompt: p, completion: c, reasoning: recordCount(kept.page, kept.at, 2), cached: recordCount(kept.page, kept.at, 3) });
        } else if (fast) {
          lines.add(Math.max(0, verdict.promptTokens), Math.max(0, verdict.completionTokens));
          options.tokens.usage?.add(realtime ? 'realtime' : 'batch', { prompt: verdict.promptTokens, completion: verdict.completionTokens, reasoning: verdict.reasoningTokens, cached: verdict.cachedTokens });
        } else if (at) lines.count(lines.parseAt(at.buf, at), realtime);
        return;
      }
      index.add(customId, at, kept ?? (fast ? verdict : null), result, realtime);
    };
    // Kept verdicts (the download read the lines) stand for the lines only where results need no `body`.
    await walkAttempts(jobDir, groups, visit, { verdicts: lean });
  } catch (err) {
    lines.close();
    throw err;
  }
  return index;
}

/**
 * The winning lines of one chunk by custom_id hash, in typed arrays (see `LinePositions`, `IdHashTable`): no object
 * per line on the heap (a Map of entries made a million old-generation objects for the GC to trace). A usual line is a
 * verdict whose bytes hold its custom_id; the few others keep their custom_id (or made result) in a small Map.
 */
class AttemptIndex implements ResultLookup {
  private readonly table = new IdHashTable();
  private readonly at = new LinePositions();
  /** The custom_id of each entry without a verdict (its line is read when taken) or made in memory. */
  private readonly ids = new Map<number, string>();
  private readonly made = new Map<number, BatchResult>();
  private readonly ahead: LookupAhead;
  private live = 0;

  constructor(
    private readonly lines: IndexedLines,
    private readonly onIssue: JoinIssueHandler | undefined,
  ) {
    this.ahead = new LookupAhead(this.table, this.at, lines.verdicts, TAKEN);
  }

  /** Room for about `entries` lines without growing. */
  reserve(entries: number): void {
    this.at.reserve(entries);
    this.table.reserve(entries);
  }

  /**
   * Index a winning line (`at`, with its verdict when read, or as the download kept it) or a result made in memory; a
   * duplicate keeps the better one.
   */
  add(customId: string, at: AttemptLine['at'], verdict: Readonly<LineVerdict> | AttemptLine['verdict'] | null, result: BatchResult | undefined, realtime = false): void {
    const { lines } = this;
    const file = at ? lines.fileNumber(at.file, realtime) : -1;
    const slot = !at || !verdict ? -1 : 'page' in verdict ? lines.verdicts.copy(verdict.page, verdict.at) : lines.verdicts.keep(at.buf, verdict);
    this.ahead.clear();
    let e = this.find(customId);
    if (e !== -1) {
      const entry: Entry = at ? { file, offset: at.offset, length: at.end - at.start, line: at.line, verdict: slot } : { file: -1, offset: 0, length: 0, line: 0, verdict: -1, result: result! };
      if (!keepsLater(lines, { customId, current: this.entryAt(e), entry, onIssue: this.onIssue })) return;
      this.made.delete(e);
    } else {
      e = this.at.add();
      this.live += 1;
      this.table.add(customId, e);
    }
    const positions = this.at;
    positions.offsets[e] = at ? at.offset : 0;
    positions.lengths[e] = at ? at.end - at.start : 0;
    positions.lines[e] = at ? at.line : 0;
    positions.fileOf[e] = at ? file : 0;
    positions.verdicts[e] = slot;
    if (slot === -1) this.ids.set(e, customId);
    else this.ids.delete(e);
    if (!at) this.made.set(e, result!);
  }

  take(customId: string): BatchResult | undefined {
    let e = this.ahead.entry(customId);
    if (e === FIND) e = this.find(customId);
    if (e === -1) return undefined;
    this.at.flags[e]! |= TAKEN;
    this.live -= 1;
    const { lines } = this;
    const slot = this.at.verdicts[e]!;
    if (slot !== -1) {
      lines.tallySlot(slot, this.at.fileOf[e]!);
      return lines.verdicts.result(slot, customId);
    }
    const entry = this.entryAt(e);
    const result = lines.resultOf(entry);
    // The line at the indexed offset must still be this request's (a result file replaced meanwhile is refused).
    if (result.customId !== customId) {
      throw new KbatchError('RESPONSE_INVALID', `${lines.fileName(entry)} line ${entry.line} holds ${result.customId}, not ${customId}: the file changed after it was indexed`, { file: lines.fileName(entry), line: entry.line, customId });
    }
    // The join's report counts the tokens of answers only; a failed line's usage (a 200 without choices) counts here.
    if (!result.ok && !entry.result) lines.count({ response: { body: result.body } } as Pick<BatchResultLine, 'response'>, null);
    return result;
  }

  prefetch(customIds: readonly string[]): void {
    this.ahead.fill(customIds);
  }

  *leftovers(): Iterable<{ customId: string; file?: string; line?: number }> {
    const { at, lines } = this;
    for (let e = 0; e < at.count; e++) {
      if ((at.flags[e]! & TAKEN) !== 0) continue;
      at.flags[e]! |= TAKEN;
      this.live -= 1;
      const entry = this.entryAt(e);
      lines.countEntry(entry);
      yield { customId: this.customIdAt(e), ...(entry.result ? {} : { file: lines.fileName(entry), line: entry.line }) };
    }
  }

  get size(): number {
    return this.live;
  }

  async close(): Promise<void> {
    this.lines.close();
  }

  /** The untaken entry of `customId`, or -1. */
  private find(customId: string): number {
    const { at, lines } = this;
    return this.table.find(customId, (e) => {
      if ((at.flags[e]! & TAKEN) !== 0) return false;
      const slot = at.verdicts[e]!;
      return slot !== -1 ? lines.verdicts.isFor(slot, customId) : this.ids.get(e) === customId;
    });
  }

  private customIdAt(e: number): string {
    const slot = this.at.verdicts[e]!;
    return slot !== -1 ? this.lines.verdicts.customId(slot) : this.ids.get(e)!;
  }

  /** Entry `e` as an object (for the rare paths: a line read when taken, a duplicate, a leftover). */
  private entryAt(e: number): Entry {
    const { at } = this;
    const result = this.made.get(e);
    if (result) return { file: -1, offset: 0, length: 0, line: 0, verdict: -1, result };
    return { file: at.fileOf[e]!, offset: at.offsets[e]!, length: at.lengths[e]!, line: at.lines[e]!, verdict: at.verdicts[e]! };
  }
}

/**
 * A duplicate within one attempt (rare): both are judged now, JOIN_DUPLICATE_RESULT is reported, and the line that
 * loses counts its tokens (the kept one counts them when taken or left over). True when the later one is kept.
 */
function keepsLater(lines: IndexedLines, dup: { customId: string; current: Entry; entry: Entry; onIssue: JoinIssueHandler | undefined }): boolean {
  const { customId, current, entry } = dup;
  const judge = (e: Entry): { ok: boolean } => e.result ?? (e.verdict !== -1 ? { ok: true } : parseResultLine(lines.parse(e), { file: lines.fileName(e), line: e.line }));
  const replace = prefersResult(judge(current), judge(entry));
  const file = entry.result ? undefined : lines.fileName(entry);
  dup.onIssue?.({
    code: 'JOIN_DUPLICATE_RESULT',
    customId,
    ...(file !== undefined ? { file, line: entry.line } : {}),
    message: `duplicate result for custom_id "${customId}"${file !== undefined ? ` at ${file}:${entry.line}` : ''}; kept the ${replace ? 'later' : 'earlier'} one`,
  });
  lines.countEntry(replace ? current : entry);
  return replace;
}

/** The files of indexed lines, read back and parsed, with every parsed line's tokens added to `tokens`. */
type IndexedLines = ReturnType<typeof indexedLines>;

function indexedLines(tokens: TokenTotals) {
  const files: string[] = [];
  /** File numbers of results sent realtime (see `AttemptSource.realtime`). */
  const realtimeFiles = new Set<number>();
  const modeOf = (file: number) => (realtimeFiles.has(file) ? 'realtime' : 'batch');
  const numbers = new Map<string, number>();
  const reader = lineReader(files);
  /** A line's bytes parsed; a broken line is RESPONSE_INVALID naming the file and line. */
  const parseAt = (buf: Buffer, at: { start: number; end: number; file: string; line: number }): BatchResultLine => {
    const text = buf.toString('utf8', at.start, at.end);
    try {
      return JSON.parse(text) as BatchResultLine;
    } catch (err) {
      throw new KbatchError('RESPONSE_INVALID', `${at.file}:${at.line} is not valid JSON: ${(err as Error).message}`, { file: at.file, line: at.line, cause: err });
    }
  };
  const fileName = (entry: Entry): string => files[entry.file]!;
  const parse = (entry: Entry): BatchResultLine => {
    const buf = reader.read(entry.file, entry.offset, entry.length);
    return parseAt(buf, { start: 0, end: buf.length, file: fileName(entry), line: entry.line });
  };
  const add = (prompt: number, completion: number): void => {
    tokens.prompt += prompt;
    tokens.completion += completion;
  };
  /** Add a parsed line's tokens; its usage goes to the spend too unless `realtime` is null (tallied when it was read). */
  const count = (line: Pick<BatchResultLine, 'response'>, realtime: boolean | null): void => {
    const t = lineTokens(line);
    add(t.prompt, t.completion);
    if (realtime !== null) tokens.usage?.addBody(realtime ? 'realtime' : 'batch', (line as Partial<BatchResultLine> | null)?.response?.body);
  };
  const tallySlot = (slot: number, file: number): void => {
    tokens.usage?.add(modeOf(file), { prompt: verdicts.count(slot, 0), completion: verdicts.count(slot, 1), reasoning: verdicts.count(slot, 2), cached: verdicts.count(slot, 3) });
  };
  const verdicts = new VerdictStore();
  return {
    parseAt,
    parse,
    count,
    add,
    tallySlot,
    verdicts,
    /** Add the tokens of an entry no record takes (a line made in memory has none to add). */
    countEntry(entry: Entry): void {
      if (entry.verdict !== -1) {
        const t = verdicts.tokens(entry.verdict);
        add(t.prompt, t.completion);
        tallySlot(entry.verdict, entry.file);
      } else if (!entry.result) count(parse(entry), realtimeFiles.has(entry.file));
    },
    fileName,
    fileNumber(file: string, realtime: boolean): number {
      let n = numbers.get(file);
      if (n === undefined) numbers.set(file, (n = files.push(file) - 1));
      if (realtime) realtimeFiles.add(n);
      return n;
    },
    /** The entry's line, parsed once and normalized (its tokens are counted by the join's report, its usage by the spend here). */
    resultOf(entry: Entry): BatchResult {
      if (entry.result) return entry.result;
      const line = parse(entry);
      tokens.usage?.addBody(modeOf(entry.file), (line as Partial<BatchResultLine> | null)?.response?.body);
      return parseResultLine(line, { file: fileName(entry), line: entry.line });
    },
    close: () => reader.close(),
  };
}

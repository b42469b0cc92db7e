// The winning result of each request of one chunk, indexed by position on disk: what the join reads.
import { KbatchError } from '../errors.js';
import { lineReader } from '../internal/line-offsets.js';
import type { JoinIssueHandler } from '../join/join-issue.js';
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import { prefersResult, type ResultLookup } from '../join/result-lookup.js';
import { lineTokens, walkAttempts, type AttemptSource } from './attempts.js';
import type { BatchResultLine } from './job-types.js';
import { emptyVerdict, readVerdict } from '../join/result-verdict.js';
import { VerdictStore } from '../join/verdict-store.js';

/** Prompt and completion tokens of the attempt lines no record was joined with (superseded, duplicate, unknown). */
export interface TokenTotals {
  prompt: number;
  completion: number;
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
}

/** A winning line: on disk (file number, byte offset and length, line number), or a result made in memory. */
interface Entry {
  file: number;
  offset: number;
  length: number;
  line: number;
  group: number;
  /** Its verdict in the lookup's store (see `VerdictStore`), or -1: the line is read when taken. */
  verdict: number;
  result?: BatchResult;
}

/**
 * Index a chunk's latest results (see `walkAttempts`) by custom_id: only each winning line's position is kept (one
 * chunk's custom_ids), and `take` reads and parses the line once. Duplicates within one attempt are reported
 * (JOIN_DUPLICATE_RESULT) and the better kept (success beats failure), as `kbatch join` does.
 */
export async function attemptLookup(jobDir: string, groups: readonly AttemptSource[][], options: AttemptLookupOptions): Promise<ResultLookup> {
  const { skip, onIssue, lean = false } = options;
  const lines = indexedLines(options.tokens);
  const verdict = emptyVerdict();
  const entries = new Map<string, Entry>();
  try {
    await walkAttempts(jobDir, groups, ({ customId, group, superseded, at, result }) => {
      // Joined already (a live row): its tokens are in the join's report.
      if (skip?.has(customId)) return;
      const fast = lean && at !== undefined && readVerdict(at.buf, at.start, at.end, verdict);
      if (superseded) {
        if (fast) lines.add(Math.max(0, verdict.promptTokens), Math.max(0, verdict.completionTokens));
        else if (at) lines.count(lines.parseAt(at.buf, at));
        return;
      }
      const entry: Entry = at
        ? { file: lines.fileNumber(at.file), offset: at.offset, length: at.end - at.start, line: at.line, group, verdict: fast ? lines.verdicts.keep(at.buf, verdict) : -1 }
        : { file: -1, offset: 0, length: 0, line: 0, group, verdict: -1, result: result! };
      const current = entries.get(customId);
      if (current !== undefined && !keepsLater(lines, { customId, current, entry, onIssue })) return;
      entries.set(customId, entry);
    });
  } catch (err) {
    lines.close();
    throw err;
  }
  return {
    take(customId) {
      const entry = entries.get(customId);
      if (entry === undefined) return undefined;
      entries.delete(customId);
      if (entry.verdict !== -1) return lines.verdicts.result(entry.verdict, customId);
      const result = lines.resultOf(entry);
      // The line at the indexed offset must still be this request's (a result file replaced meanwhile is refused).
      if (result.customId !== customId) {
        throw new KbatchError('RESPONSE_INVALID', `${lines.fileName(entry)} line ${entry.line} holds ${result.customId}, not ${customId}: the file changed after it was indexed`, { file: lines.fileName(entry), line: entry.line, customId });
      }
      // The join's report counts the tokens of answers only; a failed line's usage (a 200 without choices) counts here.
      if (!result.ok && !entry.result) lines.count({ response: { body: result.body } } as Pick<BatchResultLine, 'response'>);
      return result;
    },
    *leftovers() {
      for (const [customId, entry] of entries) {
        lines.countEntry(entry);
        yield { customId, ...(entry.result ? {} : { file: lines.fileName(entry), line: entry.line }) };
      }
      entries.clear();
    },
    get size() {
      return entries.size;
    },
    async close() {
      lines.close();
    },
  };
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
  const count = (line: Pick<BatchResultLine, 'response'>): void => {
    const t = lineTokens(line);
    add(t.prompt, t.completion);
  };
  const verdicts = new VerdictStore();
  return {
    parseAt,
    parse,
    count,
    add,
    verdicts,
    /** Add the tokens of an entry no record takes (a line made in memory has none to add). */
    countEntry(entry: Entry): void {
      if (entry.verdict !== -1) {
        const t = verdicts.tokens(entry.verdict);
        add(t.prompt, t.completion);
      } else if (!entry.result) count(parse(entry));
    },
    fileName,
    fileNumber(file: string): number {
      let n = numbers.get(file);
      if (n === undefined) numbers.set(file, (n = files.push(file) - 1));
      return n;
    },
    /** The entry's line, parsed once and normalized (its tokens are counted by the join's report). */
    resultOf(entry: Entry): BatchResult {
      return entry.result ?? parseResultLine(parse(entry), { file: fileName(entry), line: entry.line });
    },
    close: () => reader.close(),
  };
}

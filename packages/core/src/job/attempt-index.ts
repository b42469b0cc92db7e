// The winning result of each request of one chunk, indexed by position on disk: what the join reads.
import { lineReader } from '../internal/line-offsets.js';
import type { JoinIssueHandler } from '../join/join-issue.js';
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import { prefersResult, type ResultLookup } from '../join/result-lookup.js';
import { lineTokens, walkAttempts, type AttemptSource } from './attempts.js';
import type { BatchResultLine } from './types.js';

/** Prompt and completion tokens of every attempt line read (superseded ones included), added up across chunks. */
export interface TokenTotals {
  prompt: number;
  completion: number;
}

/** Options of {@link attemptLookup}. */
export interface AttemptLookupOptions {
  /** Where every line's tokens are added (each line once: when superseded or skipped, taken, or left over). */
  tokens: TokenTotals;
  /** custom_ids already joined elsewhere (a live join's rows): counted, not indexed. */
  skip?: ReadonlySet<string>;
  onIssue?: JoinIssueHandler;
}

/** A winning line: on disk (file number, byte offset and length, line number), or a result made in memory. */
interface Entry {
  file: number;
  offset: number;
  length: number;
  line: number;
  group: number;
  result?: BatchResult;
}

/**
 * Index a chunk's latest results (see `walkAttempts`) by custom_id: only each winning line's position is kept (one
 * chunk's custom_ids), and `take` reads and parses the line once. Duplicates within one attempt are reported
 * (JOIN_DUPLICATE_RESULT) and the better kept (success beats failure), as `kbatch join` does.
 */
export async function attemptLookup(jobDir: string, groups: readonly AttemptSource[][], options: AttemptLookupOptions): Promise<ResultLookup> {
  const { tokens, skip, onIssue } = options;
  const files: string[] = [];
  const fileNumber = new Map<string, number>();
  const entries = new Map<string, Entry>();
  const reader = lineReader(files);
  /** A line's bytes parsed; a broken line is RESPONSE_INVALID naming the file and line. */
  const parseBytes = (buf: Buffer, at: { start: number; end: number; file: string; line: number }): unknown => {
    const text = buf.toString('utf8', at.start, at.end);
    try {
      return JSON.parse(text);
    } catch {
      return parseResultLine(text, { file: at.file, line: at.line });
    }
  };
  const parseEntry = (entry: Entry): unknown => {
    const buf = reader.read(entry.file, entry.offset, entry.length);
    return parseBytes(buf, { start: 0, end: buf.length, file: files[entry.file]!, line: entry.line });
  };
  const count = (line: Pick<BatchResultLine, 'response'>): void => {
    const t = lineTokens(line);
    tokens.prompt += t.prompt;
    tokens.completion += t.completion;
  };
  /** The entry's line, parsed once: its tokens counted, its result normalized. */
  const resultOf = (entry: Entry): BatchResult => {
    if (entry.result) return entry.result;
    const raw = parseEntry(entry);
    count(raw as BatchResultLine);
    return parseResultLine(raw, { file: files[entry.file], line: entry.line });
  };
  try {
    await walkAttempts(jobDir, groups, ({ customId, group, superseded, at, result }) => {
      if (superseded || skip?.has(customId)) {
        if (at) count(parseBytes(at.buf, at) as BatchResultLine);
        return;
      }
      let file = -1;
      if (at) {
        file = fileNumber.get(at.file) ?? -1;
        if (file === -1) fileNumber.set(at.file, (file = files.push(at.file) - 1));
      }
      const entry: Entry = at ? { file, offset: at.offset, length: at.end - at.start, line: at.line, group } : { file, offset: 0, length: 0, line: 0, group, result: result! };
      const current = entries.get(customId);
      if (current !== undefined) {
        // A duplicate within one attempt (rare): both are judged now to keep the better one.
        const next = at ? parseResultLine(at.buf.toString('utf8', at.start, at.end), { file: at.file, line: at.line }) : result!;
        const replace = prefersResult(current.result ?? parseResultLine(parseEntry(current)), next);
        const where = at ? ` at ${at.file}:${at.line}` : '';
        onIssue?.({ code: 'JOIN_DUPLICATE_RESULT', customId, ...(at ? { file: at.file, line: at.line } : {}), message: `duplicate result for custom_id "${customId}"${where}; kept the ${replace ? 'later' : 'earlier'} one` });
        // The line that loses counts its tokens now; the kept one counts them when taken or left over.
        const loser = replace ? current : entry;
        if (!loser.result) count((loser === entry ? parseBytes(at!.buf, at!) : parseEntry(current)) as BatchResultLine);
        if (!replace) return;
      }
      entries.set(customId, entry);
    });
  } catch (err) {
    reader.close();
    throw err;
  }
  return {
    take(customId) {
      const entry = entries.get(customId);
      if (entry === undefined) return undefined;
      entries.delete(customId);
      return resultOf(entry);
    },
    *leftovers() {
      for (const [customId, entry] of entries) {
        if (!entry.result) count(parseEntry(entry) as BatchResultLine);
        yield { customId, ...(entry.result ? {} : { file: files[entry.file], line: entry.line }) };
      }
      entries.clear();
    },
    get size() {
      return entries.size;
    },
    async close() {
      reader.close();
    },
  };
}

import { KbatchError } from '../errors.js';
import { IdHashTable } from './id-hash-table.js';
import type { JoinIssueHandler } from './join-issue.js';
import { parseResultLine, peekCustomId, type BatchResult } from './result-line.js';
import { lineReader, scanLines, type LineVisitor } from '../internal/line-offsets.js';
import { prefersResult, type ResultLookup } from './result-lookup.js';
import { grown } from '../internal/typed-arrays.js';

const TAKEN = 2;

/**
 * Index result files (outputs and errors) by custom_id without keeping results — or even the
 * custom_ids — on the JS heap: one streaming pass records each line's file, byte offset, length and
 * the 64-bit hash of its custom_id in typed arrays (~43 bytes per result: ~45 MB for 1,000,000);
 * `take()` re-reads the line with a positional read, parses it, and confirms the custom_id.
 * Duplicates are reported (JOIN_DUPLICATE_RESULT) and the better one kept (success beats failure).
 * @param files - JSONL result files; later files may hold retries of earlier ones
 */
export async function indexResultFiles(files: readonly string[], onIssue?: JoinIssueHandler): Promise<ResultLookup> {
  if (files.length > 65535) throw new KbatchError('OPTION_INVALID', 'Invalid option `results`: must list at most 65535 files');
  const table = new IdHashTable();
  let cap = 1024;
  let offsets = new Float64Array(cap);
  let lengths = new Uint32Array(cap);
  let lines = new Uint32Array(cap);
  let flags = new Uint8Array(cap);
  let fileOf = new Uint16Array(cap);
  let count = 0;
  let live = 0;
  const grow = (): void => {
    cap *= 2;
    offsets = grown(offsets, cap);
    lengths = grown(lengths, cap);
    lines = grown(lines, cap);
    flags = grown(flags, cap);
    fileOf = grown(fileOf, cap);
  };

  const reader = lineReader(files);
  const readBytes = (e: number): Buffer => reader.read(fileOf[e]!, offsets[e]!, lengths[e]!);
  const readEntry = (e: number): string => readBytes(e).toString('utf8');
  const customIdAt = (e: number): string => {
    const buf = readBytes(e);
    return customIdOfLine(buf, { start: 0, end: buf.length, file: files[fileOf[e]!]!, line: lines[e]! });
  };
  const where = (e: number): string => `${files[fileOf[e]!]}:${lines[e]}`;

  const okAt = (e: number): boolean => parseResultLine(readEntry(e), { file: files[fileOf[e]!], line: lines[e]! }).ok;
  try {
    for (let fileIndex = 0; fileIndex < files.length; fileIndex++) {
      const file = files[fileIndex]!;
      await scanResultFile(file, (buf, start, end, offset, lineNo) => {
        const customId = customIdOfLine(buf, { start, end, file, line: lineNo });
        const existing = table.find(customId, (e) => customIdAt(e) === customId);
        let e: number;
        if (existing !== -1) {
          // A duplicate (rare): only now are both lines judged, to keep the better one.
          const ok = parseResultLine(buf.toString('utf8', start, end), { file, line: lineNo }).ok;
          const replace = prefersResult({ ok: okAt(existing) }, { ok });
          onIssue?.({
            code: 'JOIN_DUPLICATE_RESULT',
            customId,
            file,
            line: lineNo,
            message: `duplicate result for custom_id "${customId}" at ${file}:${lineNo} (first at ${where(existing)}); kept the ${replace ? 'later' : 'earlier'} one`,
          });
          if (!replace) return;
          e = existing;
        } else {
          if (count === cap) grow();
          e = count++;
          live += 1;
          table.add(customId, e);
        }
        offsets[e] = offset;
        lengths[e] = end - start;
        lines[e] = lineNo;
        fileOf[e] = fileIndex;
      });
    }
  } catch (err) {
    reader.close();
    throw err;
  }

  return {
    take(customId) {
      let found: BatchResult | undefined;
      const e = table.find(customId, (candidate) => {
        if ((flags[candidate]! & TAKEN) !== 0) return false;
        const result = parseResultLine(readEntry(candidate), { file: files[fileOf[candidate]!], line: lines[candidate]! });
        if (result.customId !== customId) return false;
        found = result;
        return true;
      });
      if (e === -1) return undefined;
      flags[e]! |= TAKEN;
      live -= 1;
      return found;
    },
    *leftovers() {
      for (let e = 0; e < count; e++) {
        if ((flags[e]! & TAKEN) === 0) yield { customId: customIdAt(e), file: files[fileOf[e]!], line: lines[e]! };
      }
    },
    get size() {
      return live;
    },
    async close() {
      reader.close();
    },
  };
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

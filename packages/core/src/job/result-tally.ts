import { KbatchError } from '../errors.js';
import type { BatchResultLine } from './types.js';
import { isSuccessLine, isUnrunLine } from './classify.js';

/**
 * A part's result lines counted as they stream by (on download) or from disk: successes, failures, never-run
 * markers, and — with `collectIds` — which custom_ids have a real result (`resolved`) or a never-run marker (`marked`).
 * A line of the usual shape (`{"id":"…","custom_id":"…","response":{"status_code":2xx,…},"error":null}`) is judged
 * from its head and tail; any other line is parsed once.
 */
export class ResultTally {
  succeeded = 0;
  /** Failures that are not never-run markers. */
  failed = 0;
  /** Never-run markers (expired/cancelled before running), counted as failures unless unrun requests are sought. */
  unrunLines = 0;
  readonly resolved = new Set<string>();
  readonly marked = new Set<string>();
  /** The first line that was not JSON: thrown by {@link ResultTally.check}, where the tally is used. */
  private invalid: KbatchError | undefined;

  constructor(readonly collectIds: boolean) {}

  /** Count one non-blank result line of file `rel` (job-relative, for the error). */
  add(line: Buffer, lineNo: number, rel: string): void {
    // A line of whitespace only (tabs, Unicode spaces) is no result, as when result files were read as text.
    if (line[0] !== 0x7b && line.toString('utf8').trim() === '') return;
    const quick = quickSuccessId(line, this.collectIds);
    if (quick !== undefined) {
      this.succeeded++;
      if (this.collectIds && quick !== null) this.resolved.add(quick);
      return;
    }
    let value: BatchResultLine;
    try {
      value = JSON.parse(line.toString('utf8')) as BatchResultLine;
    } catch (cause) {
      this.invalid ??= new KbatchError('RESPONSE_INVALID', `Result file ${rel} line ${lineNo} is not JSON`, { file: rel, line: lineNo, cause });
      return;
    }
    const id = typeof value.custom_id === 'string' ? value.custom_id : undefined;
    if (isSuccessLine(value)) this.succeeded++;
    else if (isUnrunLine(value)) {
      this.unrunLines++;
      if (this.collectIds && id !== undefined) this.marked.add(id);
      return;
    } else this.failed++;
    if (this.collectIds && id !== undefined) this.resolved.add(id);
  }

  /** The tallies of a part's files (output, then error) as one. */
  static merge(collectIds: boolean, files: readonly ResultTally[]): ResultTally {
    const all = new ResultTally(collectIds);
    for (const f of files) {
      all.succeeded += f.succeeded;
      all.failed += f.failed;
      all.unrunLines += f.unrunLines;
      for (const id of f.resolved) all.resolved.add(id);
      for (const id of f.marked) all.marked.add(id);
      all.invalid ??= f.invalid;
    }
    return all;
  }

  /** @throws KbatchError RESPONSE_INVALID when a line was not JSON */
  check(): void {
    if (this.invalid) throw this.invalid;
  }
}

const TAIL = Buffer.from(',"error":null}');
const RESPONSE = Buffer.from('"response":{"status_code":');
const CUSTOM_ID = Buffer.from('"custom_id":"');

/**
 * For a success line in the usual shape, its custom_id when `wantId` (else null; null too when not read before
 * `response`); undefined for any other line (then it is parsed). Reads the top-level members in order while they
 * are plain strings, up to `"response":{"status_code":NNN`, and requires the line to end with the top-level
 * `,"error":null}`. Compares bytes: no string is made unless the id is wanted.
 */
function quickSuccessId(line: Buffer, wantId: boolean): string | null | undefined {
  const n = line.length;
  if (n < 40 || line[0] !== 0x7b || !startsAt(line, TAIL, n - TAIL.length)) return undefined;
  let pos = 1;
  let id: string | null = null;
  for (let member = 0; member < 8; member++) {
    if (startsAt(line, RESPONSE, pos)) {
      pos += RESPONSE.length;
      const after = line[pos + 3];
      if (!isDigit(line[pos]) || !isDigit(line[pos + 1]) || !isDigit(line[pos + 2]) || (after !== 0x2c && after !== 0x7d)) return undefined;
      return line[pos] === 0x32 ? id : undefined; // 2xx
    }
    if (line[pos] !== 0x22) return undefined;
    const isId = startsAt(line, CUSTOM_ID, pos);
    const keyEnd = line.indexOf(0x22, pos + 1);
    if (keyEnd === -1 || line[keyEnd + 1] !== 0x3a || line[keyEnd + 2] !== 0x22) return undefined;
    // Any member before `response` must be a string without escapes (then its end is the next quote).
    const valueStart = keyEnd + 3;
    const valueEnd = line.indexOf(0x22, valueStart);
    const escape = line.indexOf(0x5c, pos + 1);
    if (valueEnd === -1 || line[valueEnd + 1] !== 0x2c || (escape !== -1 && escape < valueEnd)) return undefined;
    if (isId && wantId) id = line.toString('utf8', valueStart, valueEnd);
    pos = valueEnd + 2;
  }
  return undefined;
}

function startsAt(line: Buffer, bytes: Buffer, at: number): boolean {
  return at >= 0 && at + bytes.length <= line.length && line.compare(bytes, 0, bytes.length, at, at + bytes.length) === 0;
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

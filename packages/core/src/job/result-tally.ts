import { KbatchError } from '../errors.js';
import type { BatchResultLine } from './job-types.js';
import { isSuccessLine, isUnrunLine } from './classify.js';
import { VerdictTally, type ResultJudge } from './part-verdict.js';
import { emptyVerdict, readVerdict, type LineVerdict } from '../join/result-verdict.js';
import { VerdictFileWriter } from '../join/verdict-file.js';

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
  /** With a judge: what it said of every line (see {@link VerdictTally}). */
  readonly verdict: VerdictTally | undefined;
  /** The first line that was not JSON: thrown by {@link ResultTally.check}, where the tally is used. */
  private invalid: KbatchError | undefined;
  /** With a judge and a file: the lines' verdicts, kept beside the file for the join (see VerdictFileWriter). */
  private readonly keeper: { writer: VerdictFileWriter; line: LineVerdict } | undefined;

  /** @param resultFile - the file whose lines are added (absolute): with a judge, their verdicts are kept beside it */
  constructor(readonly collectIds: boolean, judge?: ResultJudge, resultFile?: string) {
    this.verdict = judge ? new VerdictTally(judge) : undefined;
    this.keeper = judge && resultFile !== undefined ? { writer: new VerdictFileWriter(resultFile), line: emptyVerdict() } : undefined;
  }

  /**
   * Count one non-blank result line of file `rel` (job-relative, for the error) at byte `offset` of it. With a
   * judge, a usual success line is read once (`readVerdict`, as the join reads it): its answer is judged and its
   * verdict kept for the join; any other line ends the keeping.
   */
  add(line: Buffer, lineNo: number, rel: string, offset = -1): void {
    const keeper = this.keeper;
    if (keeper && offset !== -1 && line[0] === 0x7b && readVerdict(line, 0, line.length, keeper.line)) {
      const v = keeper.line;
      this.succeeded++;
      if (this.collectIds) this.resolved.add(line.toString('utf8', v.idStart, v.idEnd));
      this.verdict!.add(line, { file: rel, line: lineNo, answer: answerOf(line, v) }, [v.idStart, v.idEnd]);
      keeper.writer.add(line, v, offset, lineNo);
      return;
    }
    keeper?.writer.abandon();
    // A line of whitespace only (tabs, Unicode spaces) is no result, as when result files were read as text.
    if (line[0] !== 0x7b && line.toString('utf8').trim() === '') return;
    // A judge reads the whole line: decoded once, for both.
    const latin1 = this.verdict ? line.toString('latin1') : undefined;
    const head = latin1 !== undefined ? wantedHead(successHead(latin1), true) : quickSuccess(line, this.collectIds);
    if (head !== undefined) {
      this.succeeded++;
      if (this.collectIds) this.resolved.add(line.toString('utf8', head.idStart, head.idEnd));
      this.verdict?.add(line, { file: rel, line: lineNo, latin1, statusEnd: head.statusEnd }, [head.idStart, head.idEnd]);
      return;
    }
    let value: BatchResultLine;
    try {
      value = JSON.parse(line.toString('utf8')) as BatchResultLine;
    } catch (cause) {
      this.invalid ??= new KbatchError('RESPONSE_INVALID', `Result file ${rel} line ${lineNo} is not JSON`, { file: rel, line: lineNo, cause });
      this.verdict?.add(line, { file: rel, line: lineNo }, undefined);
      return;
    }
    const id = typeof value.custom_id === 'string' ? value.custom_id : undefined;
    this.verdict?.add(line, { file: rel, line: lineNo }, id);
    if (isSuccessLine(value)) this.succeeded++;
    else if (isUnrunLine(value)) {
      this.unrunLines++;
      if (this.collectIds && id !== undefined) this.marked.add(id);
      return;
    } else this.failed++;
    if (this.collectIds && id !== undefined) this.resolved.add(id);
  }

  /** Put the kept verdicts beside the result file, now that it is in place (see VerdictFileWriter). */
  async keepVerdicts(): Promise<void> {
    await this.keeper?.writer.finish();
  }

  /** Drop the kept verdicts (this tally's download attempt failed). */
  discard(): void {
    this.keeper?.writer.abandon();
  }

  /** The tallies of a part's files (output, then error) as one. */
  static merge(collectIds: boolean, files: readonly ResultTally[], judge?: ResultJudge): ResultTally {
    const all = new ResultTally(collectIds, judge);
    for (const f of files) {
      if (all.verdict) {
        if (f.verdict) all.verdict.merge(f.verdict);
        else all.verdict.readable = false;
      }
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

/** The answer of a line `readVerdict` read: its content, unescaped ('' for null, as `resultCause` takes it). */
function answerOf(line: Buffer, v: Readonly<LineVerdict>): string {
  if (v.contentStart === -1) return '';
  const text = line.toString('utf8', v.contentStart, v.contentEnd);
  return v.contentEscaped ? (JSON.parse(`"${text}"`) as string) : text;
}

const TAIL = ',"error":null}';
const RESPONSE = '"response":{"status_code":';
const CUSTOM_ID = '"custom_id":"';
const TAIL_BYTES = Buffer.from(TAIL);
/** How much of a line the download tally decodes to find its status. */
const HEAD_BYTES = 512;

/**
 * For a success line in the usual shape, where its status and custom_id are (see {@link successHead}); undefined for
 * any other line, and for one whose custom_id comes after `response` when `wantId` (then it is parsed).
 */
function quickSuccess(line: Buffer, wantId: boolean): { idStart: number; idEnd: number; statusEnd: number } | undefined {
  const n = line.length;
  if (n < 40 || line[0] !== 0x7b || line.compare(TAIL_BYTES, 0, TAIL_BYTES.length, n - TAIL_BYTES.length, n) !== 0) return undefined;
  // Only the head is read (members before `response` that run past it send the line to the full parse).
  return wantedHead(successHead(line.toString('latin1', 0, Math.min(n, HEAD_BYTES)), true), wantId);
}

// An id written after `response` is not read here: the full parse finds it (else the result would look missing).
function wantedHead<H extends { idStart: number }>(head: H | undefined, wantId: boolean): H | undefined {
  return head === undefined || (wantId && head.idStart === -1) ? undefined : head;
}

/**
 * Where a success line in the usual shape has its status code (`statusEnd`: the index after its three digits)
 * and its custom_id (`idStart`/`idEnd`, -1 when not met before `response`); undefined for any other line.
 * `text` is the line's bytes as latin1 (one char a byte: indexes are byte offsets, and string searches cost no
 * call into Buffer). Reads the top-level members in order while they are plain strings, up to
 * `"response":{"status_code":2NN`, and requires the line to end with the top-level `,"error":null}` (`endsWell`:
 * already checked by a caller that passes only the line's head).
 */
export function successHead(text: string, endsWell = text.endsWith(TAIL)): { idStart: number; idEnd: number; statusEnd: number } | undefined {
  if (text.length < 40 || text.charCodeAt(0) !== 0x7b || !endsWell) return undefined;
  let pos = 1;
  let idStart = -1;
  let idEnd = -1;
  for (let member = 0; member < 8; member++) {
    if (text.startsWith(RESPONSE, pos)) {
      pos += RESPONSE.length;
      const after = text.charCodeAt(pos + 3);
      if (!isDigit(text.charCodeAt(pos)) || !isDigit(text.charCodeAt(pos + 1)) || !isDigit(text.charCodeAt(pos + 2)) || (after !== 0x2c && after !== 0x7d)) return undefined;
      return text.charCodeAt(pos) === 0x32 ? { idStart, idEnd, statusEnd: pos + 3 } : undefined; // 2xx
    }
    if (text.charCodeAt(pos) !== 0x22) return undefined;
    const isId = text.startsWith(CUSTOM_ID, pos);
    const keyEnd = text.indexOf('"', pos + 1);
    if (keyEnd === -1 || text.charCodeAt(keyEnd + 1) !== 0x3a || text.charCodeAt(keyEnd + 2) !== 0x22) return undefined;
    // Any member before `response` must be a string without escapes (then its end is the next quote).
    const valueStart = keyEnd + 3;
    const valueEnd = text.indexOf('"', valueStart);
    if (valueEnd === -1 || text.charCodeAt(valueEnd + 1) !== 0x2c || hasBackslash(text, pos + 1, valueEnd)) return undefined;
    if (isId) [idStart, idEnd] = [valueStart, valueEnd];
    pos = valueEnd + 2;
  }
  return undefined;
}

/** Whether `text[from, to)` holds a backslash (an escape the byte-level readers leave to the full parse). */
export function hasBackslash(text: string, from: number, to: number): boolean {
  const at = text.indexOf('\\', from);
  return at !== -1 && at < to;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

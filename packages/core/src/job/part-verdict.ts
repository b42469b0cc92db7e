// What the run's retry rounds will make of a part's result lines, judged as they are downloaded (no second read).
import { stat } from 'node:fs/promises';
import { jobPath } from './create-job.js';
import { readFileLines } from './lines.js';
import type { JobPart, PartVerdict } from '../state/manifest.js';

/**
 * The run's judgement of one result line `buf[start, end)`: its failure cause (null: a success the labels/schema
 * accept) and whether a retry round would send it again. May throw for a line it cannot read.
 */
export type ResultJudge = (buf: Buffer, start: number, end: number, where: JudgedLine) => { cause: { cause: string; retry: boolean } | null };

/** Where a judged line is, and (when the caller decoded it so) its bytes as latin1 and where `successHead` found its status. */
export interface JudgedLine {
  file: string;
  line: number;
  latin1?: string | undefined;
  /** `successHead(latin1).statusEnd`, when the caller ran it on `latin1`. */
  statusEnd?: number | undefined;
  /** The line's answer, when the caller read it as the join does (`readVerdict`): a success of the usual shape. */
  answer?: string | undefined;
}

/**
 * An order-independent digest of custom_ids (two 32-bit hash lanes, each summed): equal for the same ids in any
 * order, so a part whose results carry its requests' ids, each once, is told from one that lost or repeated some
 * without keeping the ids. Fed the ids' UTF-8 bytes.
 */
export class IdDigest {
  count = 0;
  private a = 0;
  private b = 0;

  add(buf: Uint8Array, start: number, end: number): void {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = start; i < end; i++) {
      h1 = Math.imul(h1 ^ buf[i]!, 0x01000193);
      h2 = Math.imul(h2 ^ buf[i]!, 0x5bd1e995);
      h2 ^= h2 >>> 13;
    }
    this.count++;
    this.a = (this.a + (h1 >>> 0)) >>> 0;
    this.b = (this.b + (Math.imul(h2 ^ (h2 >>> 15), 0x2c1b3c6d) >>> 0)) >>> 0;
  }

  addText(id: string): void {
    const bytes = Buffer.from(id, 'utf8');
    this.add(bytes, 0, bytes.length);
  }

  merge(other: IdDigest): void {
    this.count += other.count;
    this.a = (this.a + other.a) >>> 0;
    this.b = (this.b + other.b) >>> 0;
  }

  toString(): string {
    return `${this.count}:${this.a.toString(16)}:${this.b.toString(16)}`;
  }
}

/** The judge's counts over one part's result lines, built line by line (see ResultTally). */
export class VerdictTally {
  lines = 0;
  retry = 0;
  readonly notRetried: Record<string, number> = {};
  readonly ids = new IdDigest();
  /** False once a line's custom_id or cause could not be read: the part then gets no verdict. */
  readable = true;

  constructor(readonly judge: ResultJudge) {}

  /** Judge one line; `id` is its custom_id's bytes `[start, end)` in `line`, or its text, or undefined when unknown. */
  add(line: Buffer, where: JudgedLine, id: readonly [number, number] | string | undefined): void {
    if (!this.readable) return;
    if (id === undefined) {
      this.readable = false;
      return;
    }
    let cause;
    try {
      cause = this.judge(line, 0, line.length, where).cause;
    } catch {
      // The retry planning reads it again and says what is wrong with it.
      this.readable = false;
      return;
    }
    this.lines++;
    if (cause?.retry) this.retry++;
    else if (cause) this.notRetried[cause.cause] = (this.notRetried[cause.cause] ?? 0) + 1;
    if (typeof id === 'string') this.ids.addText(id);
    else this.ids.add(line, id[0], id[1]);
  }

  merge(other: VerdictTally): void {
    this.readable &&= other.readable;
    this.lines += other.lines;
    this.retry += other.retry;
    for (const [cause, n] of Object.entries(other.notRetried)) this.notRetried[cause] = (this.notRetried[cause] ?? 0) + n;
    this.ids.merge(other.ids);
  }
}

/** A part's verdict as the manifest keeps it, tied to its result files by their sizes; undefined when not readable. */
export async function partVerdict(jobDir: string, part: JobPart, tally: VerdictTally): Promise<PartVerdict | undefined> {
  if (!tally.readable) return undefined;
  const files = [];
  for (const rel of [part.outputPath, part.errorPath]) if (rel) files.push({ path: rel, bytes: (await stat(jobPath(jobDir, rel))).size });
  return { lines: tally.lines, retry: tally.retry, notRetried: { ...tally.notRetried }, ids: tally.ids.toString(), files };
}

const ID_HEAD = Buffer.from('{"custom_id":"');

/**
 * Add the custom_id of request line `buf[start, end)` to `digest`, as `settledPart` reads it from a chunk file;
 * false (nothing added) when the line does not start with an unescaped custom_id.
 */
export function addRequestId(digest: IdDigest, buf: Buffer, start: number, end: number): boolean {
  const close = idEnd(buf, start, end);
  if (close === -1) return false;
  digest.add(buf, start + ID_HEAD.length, close);
  return true;
}

/** Index of the quote closing the custom_id of a request line `buf[start, end)` that starts with it unescaped, else -1. */
function idEnd(buf: Buffer, start: number, end: number): number {
  const from = start + ID_HEAD.length;
  if (end - start <= ID_HEAD.length || buf.compare(ID_HEAD, 0, ID_HEAD.length, start, from) !== 0) return -1;
  const close = buf.indexOf(0x22, from);
  if (close === -1 || close >= end) return -1;
  // A loop, not `subarray().includes`: an id is a few bytes, and this runs once per request as a chunk is written.
  for (let i = from; i < close; i++) if (buf[i] === 0x5c) return -1;
  return close;
}

/**
 * The failures a retry cannot change, per cause, of a part whose recorded verdict shows every one of its requests
 * with exactly one result line that no retry round would send again; null when that is not shown (no verdict, a
 * line to retry, result files changed since, or its request ids do not match the results') — then the caller
 * reads the results. Takes the request ids' digest recorded when the chunk was written (`requestIds`, while the
 * file's size and mtime are as recorded), else reads the part's request file (ids only); never its results.
 */
export async function settledPart(jobDir: string, part: JobPart): Promise<Record<string, number> | null> {
  const verdict = part.verdict;
  if (!verdict || verdict.retry !== 0 || verdict.lines !== part.requests) return null;
  const recorded = [part.outputPath, part.errorPath].filter((f): f is string => Boolean(f));
  if (recorded.length !== verdict.files.length) return null;
  for (const [i, rel] of recorded.entries()) {
    const file = verdict.files[i]!;
    const size = await stat(jobPath(jobDir, rel)).then((s) => s.size, () => -1);
    if (file.path !== rel || file.bytes !== size) return null;
  }
  if (await sameChunk(jobDir, part)) return part.requestIds === verdict.ids ? { ...verdict.notRetried } : null;
  const ids = new IdDigest();
  let readable = true;
  // Request lines are written `{"custom_id":"…",…`: the id is read from the bytes (one with an escape: not settled here).
  const idOf = (buf: Buffer, start: number, end: number): boolean => {
    readable &&= addRequestId(ids, buf, start, end);
    return true;
  };
  // A line across two reads comes decoded instead.
  for await (const { text } of readFileLines(jobPath(jobDir, part.path), idOf)) {
    const close = text.startsWith('{"custom_id":"') ? text.indexOf('"', ID_HEAD.length) : -1;
    const id = close === -1 ? '\\' : text.slice(ID_HEAD.length, close);
    if (id.includes('\\')) readable = false;
    else ids.addText(id);
  }
  return readable && ids.toString() === verdict.ids ? { ...verdict.notRetried } : null;
}

// The recorded digest stands for the request file while it is unchanged (the upload trusts its sha256 the same way).
async function sameChunk(jobDir: string, part: JobPart): Promise<boolean> {
  if (part.requestIds === undefined || part.mtimeMs === undefined) return false;
  const now = await stat(jobPath(jobDir, part.path)).catch(() => null);
  return now !== null && now.size === part.bytes && now.mtimeMs === part.mtimeMs;
}

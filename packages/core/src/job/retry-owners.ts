import { closeSync, openSync, readSync } from 'node:fs';
import { IdHashTable } from '../join/id-hash-table.js';
import { KbatchError } from '../errors.js';
import { jobPath } from './create-job.js';
import { rootOf, type JobManifest, type JobPart } from '../state/manifest.js';
import { scanLineOffsets } from './lines.js';
import { isUnrunLine } from './classify.js';
import type { BatchResultLine } from './job-types.js';
import { grown } from '../internal/typed-arrays.js';

/** Which attempt reports a request: a later retry attempt (see addChunks) supersedes earlier results. */
export interface RetryOwners {
  /** True when an attempt later than `attempt` reports `customId`, so this attempt's line is not reported. */
  superseded(customId: string, attempt: number): boolean;
  /** Close the result files opened for confirmations. */
  close(): void;
}

/** The attempt a part belongs to: the position of its root (chunk or retry part) in the manifest. */
export function attemptOf(manifest: Pick<JobManifest, 'parts'>, part: JobPart): number {
  return manifest.parts.indexOf(rootOf(manifest, part));
}

/** A part's result files that exist, output first. */
export function resultFilesOf(part: JobPart): Array<{ source: 'output' | 'error'; rel: string }> {
  const out: Array<{ source: 'output' | 'error'; rel: string }> = [];
  if (part.outputPath) out.push({ source: 'output', rel: part.outputPath });
  if (part.errorPath) out.push({ source: 'error', rel: part.errorPath });
  return out;
}

/** Parse one result line, or fail with RESPONSE_INVALID naming the file and line. */
export function parseResultText(text: string, rel: string, line: number): BatchResultLine {
  try {
    return JSON.parse(text) as BatchResultLine;
  } catch (cause) {
    throw new KbatchError('RESPONSE_INVALID', `Result file ${rel} line ${line} is not JSON`, { file: rel, line, cause });
  }
}

/**
 * Index the results of retry attempts (retry parts and their resubmits) off-heap: per reported line only its
 * attempt, file, byte offset and length plus the custom_id's 64-bit hash (IdHashTable, ~40 bytes a line), so a
 * job-wide retry of millions of requests does not hold their custom_ids on the heap. Hits are confirmed by
 * re-reading the line. Never-run markers of resubmitted parts are not results and are not indexed.
 */
export async function indexRetryResults(jobDir: string, manifest: JobManifest): Promise<RetryOwners> {
  const table = new IdHashTable();
  const files: string[] = [];
  let cap = 1024;
  let attempts = new Uint32Array(cap);
  let fileOf = new Uint32Array(cap);
  let offsets = new Float64Array(cap);
  let lengths = new Uint32Array(cap);
  let count = 0;
  const grow = () => {
    cap *= 2;
    attempts = grown(attempts, cap);
    fileOf = grown(fileOf, cap);
    offsets = grown(offsets, cap);
    lengths = grown(lengths, cap);
  };
  for (const part of manifest.parts) {
    if (rootOf(manifest, part).kind !== 'retry') continue;
    const attempt = attemptOf(manifest, part);
    for (const { rel } of resultFilesOf(part)) {
      const file = files.push(jobPath(jobDir, rel)) - 1;
      await scanLineOffsets(files[file]!, (buf, offset, line) => {
        const result = parseResultText(buf.toString('utf8'), rel, line);
        if (typeof result.custom_id !== 'string') return;
        if ((part.resubmittedAs || part.straggler) && isUnrunLine(result)) return;
        if (count === cap) grow();
        attempts[count] = attempt;
        fileOf[count] = file;
        offsets[count] = offset;
        lengths[count] = buf.length;
        table.add(result.custom_id, count++);
      });
    }
  }
  const fds = new Map<number, number>();
  let scratch = Buffer.allocUnsafe(64 * 1024);
  const customIdAt = (e: number): unknown => {
    const length = lengths[e]!;
    if (length > scratch.length) scratch = Buffer.allocUnsafe(length);
    let fd = fds.get(fileOf[e]!);
    if (fd === undefined) fds.set(fileOf[e]!, (fd = openSync(files[fileOf[e]!]!, 'r')));
    readSync(fd, scratch, 0, length, offsets[e]!);
    return (JSON.parse(scratch.toString('utf8', 0, length)) as { custom_id?: unknown }).custom_id;
  };
  return {
    superseded(customId, attempt) {
      if (count === 0) return false;
      return table.find(customId, (e) => attempts[e]! > attempt && customIdAt(e) === customId) !== -1;
    },
    close() {
      for (const fd of fds.values()) closeSync(fd);
      fds.clear();
    },
  };
}

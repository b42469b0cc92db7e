import { Readable } from 'node:stream';
import { KbatchError } from '../errors.js';
import { loadManifest, type JobManifest } from './manifest.js';
import { jobPath } from './create-job.js';
import { customIdOf, readFileLines } from './lines.js';
import { isUnrunLine } from './classify.js';
import type { BatchResultLine } from './types.js';

/** One result line with where it came from. */
export interface JobResultEntry {
  /** The parsed output/error line. */
  result: BatchResultLine;
  /** The raw JSON text of the line. */
  text: string;
  part: string;
  source: 'output' | 'error';
}

/**
 * Every result of a job, output and error files part by part, one line at a time (constant memory besides the
 * custom_ids of retry parts). Each request appears once: never-run markers of resubmitted parts are skipped,
 * and a request re-run by a later retry part (see addChunks) is reported by that part only.
 * @param jobDir - the job directory
 * @example
 * for await (const { result } of readJobResultEntries('.kbatch/jobs/kb-…')) console.log(result.custom_id);
 */
export async function* readJobResultEntries(jobDir: string, manifest?: JobManifest): AsyncGenerator<JobResultEntry> {
  const m = manifest ?? (await loadManifest(jobDir));
  // custom_id → the last finished retry part that re-ran it.
  const owner = new Map<string, string>();
  for (const part of m.parts) {
    if (part.kind !== 'retry' || !part.done) continue;
    for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
      const id = customIdOf(text);
      if (id !== null) owner.set(id, part.index);
    }
  }
  for (const part of m.parts) {
    for (const source of ['output', 'error'] as const) {
      const rel = source === 'output' ? part.outputPath : part.errorPath;
      if (!rel) continue;
      for await (const { line, text } of readFileLines(jobPath(jobDir, rel))) {
        let result: BatchResultLine;
        try {
          result = JSON.parse(text) as BatchResultLine;
        } catch (cause) {
          throw new KbatchError('RESPONSE_INVALID', `Result file ${rel} line ${line} is not JSON`, { file: rel, line, cause });
        }
        if (part.resubmittedAs && isUnrunLine(result)) continue;
        const ownerPart = owner.get(result.custom_id);
        if (ownerPart !== undefined && ownerPart !== part.index) continue;
        yield { result, text, part: part.index, source };
      }
    }
  }
}

/**
 * The job's result lines, parsed (see {@link readJobResultEntries} for the once-per-request rule).
 * @param jobDir - the job directory
 */
export async function* readJobResults(jobDir: string): AsyncGenerator<BatchResultLine> {
  for await (const entry of readJobResultEntries(jobDir)) yield entry.result;
}

/**
 * The job's result lines as an object-mode Readable of {@link BatchResultLine} (for `pipeline()`).
 * @param jobDir - the job directory
 */
export function jobResultStream(jobDir: string): Readable {
  return Readable.from(readJobResults(jobDir), { objectMode: true });
}

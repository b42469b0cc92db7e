import { Readable } from 'node:stream';
import type { JobManifest } from '../state/manifest.js';
import { directoryStore } from '../state/job-store.js';
import { jobPath } from './create-job.js';
import { readFileLines } from './lines.js';
import { attemptOf, indexRetryResults, parseResultText, resultFilesOf } from './retry-owners.js';
import { isUnrunLine } from './classify.js';
import type { BatchResultLine } from './job-types.js';

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
 * Every result of a job, output and error files part by part, one line at a time (the results of retry attempts
 * are indexed off-heap, not held as strings). Each request appears once: never-run markers of resubmitted parts
 * (and of straggler batches, whose leftovers a run finishes realtime) are skipped, and a request re-run by a later retry part (see addChunks) — or by the resubmit parts that finish
 * an expired retry part — is reported by that later attempt only.
 * @param jobDir - the job directory
 * @example
 * for await (const { result } of readJobResultEntries('.kbatch/jobs/kb-…')) console.log(result.custom_id);
 */
export async function* readJobResultEntries(jobDir: string, manifest?: JobManifest): AsyncGenerator<JobResultEntry> {
  const m = manifest ?? (await directoryStore(jobDir).readManifest());
  const owners = await indexRetryResults(jobDir, m);
  try {
    for (const part of m.parts) {
      const attempt = attemptOf(m, part);
      for (const { source, rel } of resultFilesOf(part)) {
        for await (const { line, text } of readFileLines(jobPath(jobDir, rel))) {
          const result = parseResultText(text, rel, line);
          if ((part.resubmittedAs || part.straggler) && isUnrunLine(result)) continue;
          if (owners.superseded(result.custom_id, attempt)) continue;
          yield { result, text, part: part.index, source };
        }
      }
    }
  } finally {
    owners.close();
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

import type { JobPart } from '../state/manifest.js';

/** The metadata that names a part's batch; also the key for adopting it after a crash. */
export function partMetadata(jobId: string, part: JobPart): Record<string, string> {
  return { kbatch_job: jobId, kbatch_chunk: part.index, kbatch_sha256: part.sha256 };
}

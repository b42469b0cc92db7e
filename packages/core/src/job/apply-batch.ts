import type { KBatch } from '../client/schemas.js';
import type { JobPart } from '../state/manifest.js';

/** Copy the server's view of a batch into its part; true when something visible changed. */
export function applyBatch(part: JobPart, batch: KBatch): boolean {
  const before = JSON.stringify([part.status, part.requestCounts]);
  part.status = batch.status;
  part.requestCounts = batch.request_counts;
  part.outputFileId = batch.output_file_id;
  part.errorFileId = batch.error_file_id;
  return before !== JSON.stringify([part.status, part.requestCounts]);
}

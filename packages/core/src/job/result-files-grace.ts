import { KbatchError } from '../errors.js';
import type { KBatch } from '../client/schemas.js';
import type { JobPart } from '../state/manifest.js';
import type { JobContext } from './context.js';
import { withRequestSignal } from '../internal/request-signal.js';

/** When a part's ended batch was first seen with result files that may not all be named (in this process). */
export interface FilesWatch {
  incompleteSince?: number;
}

/** The default of `resultFileGraceMs`: Together documents no delay between its result files, so minutes, not polls. */
export const DEFAULT_RESULT_FILE_GRACE_MS = 600_000;

/** The flag that reads an ended batch's unaccounted requests as never run (named in BATCH_OUTPUT_MISSING). */
export const ACCEPT_MISSING_OUTPUT_FLAG = '--accept-missing-output';

/**
 * Whether an ended batch can be finished now: its client says its result files are all named (see
 * `JobClient.resultFilesComplete`; a client without the check always can). Until they are, the part is polled again;
 * past `resultFileGraceMs` the job stops with BATCH_OUTPUT_MISSING: its answers may exist, and sending its requests
 * again would pay for them twice. With `acceptMissingOutput` (the user checked the batch at the provider) it is
 * finished at once as it stands: the requests its files do not answer count as never run (see finishPart).
 */
export async function resultFilesSettled(ctx: JobContext, part: JobPart, batch: KBatch, watch: FilesWatch): Promise<boolean> {
  const check = ctx.client.resultFilesComplete;
  if (!check || (await withRequestSignal(ctx.signal, (signal) => check(batch, { requests: part.requests, ...(signal ? { signal } : {}) })))) return true;
  if (ctx.opts.acceptMissingOutput) {
    ctx.emit({ type: 'warning', part: part.index, message: `batch ${batch.id} is ${batch.status} and names no output file; finished as it stands (acceptMissingOutput): the requests its error file does not answer are read as never run, which pays twice for any answer the provider did produce` });
    return true;
  }
  const graceMs = ctx.opts.resultFileGraceMs ?? DEFAULT_RESULT_FILE_GRACE_MS;
  const now = Date.now();
  if (watch.incompleteSince === undefined) {
    watch.incompleteSince = now;
    ctx.emit({ type: 'warning', part: part.index, message: `batch ${batch.id} is ${batch.status} and names its error file but not yet its output file; waiting up to ${seconds(graceMs)} for it` });
  }
  if (now - watch.incompleteSince < graceMs) return false;
  throw new KbatchError(
    'BATCH_OUTPUT_MISSING',
    `Batch ${batch.id} (part ${part.index}) is ${batch.status} and names its error file ${batch.error_file_id}, whose lines answer fewer than its ${part.requests} requests, ` +
      `but after ${seconds(graceMs)} still no output file: the other requests may have been answered (and paid), so none is sent again. ` +
      `Check the batch at the provider (GET /batches/${batch.id}) for an output_file_id, then continue with: kbatch resume ${ctx.store.jobDir}. ` +
      `If the batch names no output file for good (an expired, cancelled or failed batch may never), continue with: kbatch resume ${ctx.store.jobDir} ${ACCEPT_MISSING_OUTPUT_FLAG} ` +
      `(library: acceptMissingOutput): the unanswered requests are then read as never run and sent again, which pays twice for any answer the provider did produce.`,
    { batchId: batch.id },
  );
}

const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;

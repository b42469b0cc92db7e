import { join } from 'node:path';
import { downloadFile } from '../batch/download-file.js';
import type { KBatch, BatchErrorEntry } from '../client/schemas.js';
import { ancestorsOf, type JobPart, type LineError } from '../state/manifest.js';
import type { JobContext } from './context.js';
import { jobPath, partFromFile } from './create-job.js';
import { customIdOf, readFileLines, scanLineOffsets, writeFileAtomic } from './lines.js';
import { ResultTally } from './result-tally.js';
import { partVerdict } from './part-verdict.js';
import { crashPoint } from './crash-point.js';
import { submitPart } from './submit-part.js';
import { cancelRequested } from './cancel-parts.js';
import { messageOf } from '../client/retry.js';
import { applyBatch } from './apply-batch.js';
import { addErrorLines, markExpiredLeftovers } from './expired-leftovers.js';
import { failedBatchErrors, innocentRequests, MAX_LISTED_ERRORS } from './failed-batch.js';

export { applyBatch };

/**
 * Handle a batch that reached a terminal status: download its output and error files (verified against
 * request_counts), map validation errors to custom_ids, resubmit the never-run requests of an expired batch, or
 * of a batch that failed validation those its errors do not name (whatever --retries: they never ran).
 * Returns the new part when it resubmitted.
 */
export async function finishPart(ctx: JobContext, part: JobPart, batch: KBatch): Promise<JobPart | undefined> {
  const { store } = ctx;
  applyBatch(part, batch);
  const counts = batch.request_counts;
  // Ids are collected on download only when the batch may have left requests unrun (a completed batch rarely does).
  const downloaded = await downloadResults(ctx, part, batch, batch.status !== 'completed' || Boolean(part.straggler));
  if (batch.status === 'failed') {
    part.lineErrors = await mapLineErrors(jobPath(store.jobDir, part.path), batch.errors?.data ?? []);
  }
  // A straggler batch's leftovers are finished realtime by the run, never resubmitted (even if it expired before the cancel took).
  const canResubmit = !part.straggler && !ctx.opts.noResubmit && !(await cancelRequested(ctx));
  const eligible = batch.status === 'expired' && canResubmit;
  const generations = ancestorsOf(store.manifest, part).length;
  let resubmit = eligible && generations < ctx.opts.maxResubmits;
  const atLimit = eligible && !resubmit;
  // Without all the results the server counted, "no result" does not mean "never run": sending it again would pay twice.
  const short = (part.outputLines ?? 0) < counts.completed;
  if (resubmit && short) resubmit = false;
  // --no-resubmit: an expired batch's never-run requests stay failed, each with a line that says so.
  const kept = batch.status === 'expired' && !part.straggler && ctx.opts.noResubmit;
  // Never-run markers of a straggler batch are not failures: those requests are finished elsewhere.
  // A failed batch that counted requests or gave result files ran some: none of it is sent again (that would pay twice).
  const ranSome = batch.status === 'failed' && (counts.completed + counts.failed > 0 || Boolean(part.outputPath || part.errorPath) || short);
  const findUnrun = resubmit || atLimit || short || kept || ranSome || Boolean(part.straggler);
  const tally = findUnrun && !downloaded.collectIds ? await tallyPart(store.jobDir, part, true) : await settleTally(store.jobDir, part, downloaded, findUnrun);
  if (short || ranSome) tally.failed += await markMissingResults(ctx, part, batch, tally);
  else if (kept && tally.missing.size > 0) await addErrorLines(store.jobDir, part, tally.missing, { code: 'batch_expired', message: `batch ${batch.id} expired before this request ran; not resubmitted (--no-resubmit)` });
  // What is left in unrun never ran: failures, unless resubmitted or marked at the limit below.
  if ((short || kept) && !atLimit && !part.straggler) tally.failed += tally.unrun.size;
  let newPart: JobPart | undefined;
  if (resubmit && tally.unrun.size > 0) newPart = await addResubmitPart(ctx, part, tally.unrun);
  if (atLimit && tally.unrun.size > 0) tally.failed += await markExpiredLeftovers(ctx, part, tally.unrun, generations);
  // A batch that failed validation ran nothing: the requests no error names go again without the bad lines.
  if (batch.status === 'failed' && !ranSome && canResubmit && generations < ctx.opts.maxResubmits) {
    const innocents = await innocentRequests(store.jobDir, part);
    if (innocents.size > 0) newPart = await addResubmitPart(ctx, part, innocents);
  }
  part.succeeded = tally.succeeded;
  part.failed = batch.status === 'failed' && tally.succeeded + tally.failed === 0 ? part.requests - (newPart?.requests ?? 0) : tally.failed;
  // Only a batch whose result files stay as downloaded (no marker lines added, nothing resubmitted) keeps a verdict.
  const verdict = batch.status === 'completed' && !findUnrun && downloaded.verdict ? await partVerdict(store.jobDir, part, downloaded.verdict) : undefined;
  if (verdict) part.verdict = verdict;
  else delete part.verdict;
  part.done = true;
  await store.save();
  ctx.emit({
    type: 'finished',
    part: part.index,
    batchId: batch.id,
    status: batch.status,
    succeeded: part.succeeded,
    failed: part.failed,
    unresolved: part.requests - part.succeeded - part.failed,
    ...(batch.status === 'failed' ? validationCauses(part) : {}),
  });
  if (newPart) {
    ctx.emit({ type: 'resubmitted', part: part.index, newPart: newPart.index, requests: newPart.requests });
    await submitPart(ctx, newPart);
  }
  return newPart;
}

/**
 * Download a terminal batch's output and error files into `results/`, each verified against the server's counts,
 * tallying their lines as they stream by (no second read).
 */
async function downloadResults(ctx: JobContext, part: JobPart, batch: KBatch, collectIds: boolean): Promise<ResultTally> {
  const { store, client, signal } = ctx;
  const counts = batch.request_counts;
  const files: ResultTally[] = [];
  for (const kind of ['output', 'error'] as const) {
    const fileId = kind === 'output' ? batch.output_file_id : batch.error_file_id;
    if (!fileId) continue;
    const rel = join('results', `part-${part.index}.${kind}.jsonl`);
    part.downloadAttempts++;
    const dest = jobPath(store.jobDir, rel);
    let tally = new ResultTally(collectIds, ctx.opts.judge);
    // A failed last attempt leaves no verdict file open or half-written.
    const result = await downloadFile(client.files, fileId, dest, {
      ...(signal ? { signal } : {}),
      // A fresh tally per attempt: only the attempt that made the file counts.
      inspect: () => {
        tally.discard();
        const attempt = (tally = new ResultTally(collectIds, ctx.opts.judge, dest));
        return (line, lineNo, offset) => attempt.add(line, lineNo, rel, offset);
      },
      // Whatever the status, the server's counts say how many lines there must be (an error file of an
      // expired batch may hold more: its never-run markers).
      expectedLines: kind === 'output' ? counts.completed : counts.failed,
      maxAttempts: ctx.opts.downloadAttempts,
      retryBaseMs: ctx.opts.retryBaseMs,
      onRetry: ({ attempt, delayMs, error }) =>
        ctx.emit({ type: 'retry', operation: `download ${kind}`, part: part.index, attempt, delayMs, message: messageOf(error) }),
    }).catch((error: unknown) => {
      tally.discard();
      throw error;
    });
    await tally.keepVerdicts();
    crashPoint('during-download');
    if (kind === 'output') {
      part.outputPath = rel;
      part.outputLines = result.lines;
    } else {
      part.errorPath = rel;
      part.errorLines = result.lines;
    }
    files.push(tally);
  }
  return ResultTally.merge(collectIds, files, ctx.opts.judge);
}

/** Code of a request whose batch counted more completed requests than its output file held: it may have run, so it is not sent again. */
export const RESULT_MISSING_CODE = 'result_missing';

/**
 * A batch finished without all the output the server counted (no output file, or a short one): give each request
 * with no result line at all a {@link RESULT_MISSING_CODE} error line (never resent: it may have run and been paid)
 * and warn naming the batch. Takes those requests out of `tally.unrun`.
 * @returns how many requests it marked
 */
async function markMissingResults(ctx: JobContext, part: JobPart, batch: KBatch, tally: Tally): Promise<number> {
  const { missing, unrun } = tally;
  for (const id of missing) unrun.delete(id);
  const got = part.outputLines ?? 0;
  const { completed, failed } = batch.request_counts;
  // Not short: a failed batch that ran some requests (counts or result files), whose other requests are not resent.
  const why = got < completed ? `counted ${completed} completed requests but gave ${got} output lines` : `failed after running requests (${completed} completed, ${failed} failed, ${got} output lines)`;
  ctx.emit({
    type: 'warning',
    part: part.index,
    message: `batch ${batch.id} (${batch.status}) ${why}; ${missing.size} request${missing.size === 1 ? '' : 's'} without a result ${missing.size === 1 ? 'is' : 'are'} marked ${RESULT_MISSING_CODE} and not resent (they may have run and been paid: check the batch on the server)`,
  });
  if (missing.size > 0) {
    const held = got < completed ? `counted ${completed} completed requests but its output held ${got}` : `failed after running requests (${completed} completed, ${failed} failed)`;
    const message = `batch ${batch.id} ${held}; this request may have run and been paid, so it is not resent (check the batch on the server)`;
    await addErrorLines(ctx.store.jobDir, part, missing, { code: RESULT_MISSING_CODE, message });
  }
  return missing.size;
}

/** A failed batch's errors for its 'finished' event: counted per code (unlisted requests given the one code too), and the first few lines. */
function validationCauses(part: JobPart): { causes: Array<{ code: string | null; message: string | null; requests: number }>; lineErrors: LineError[] } {
  const errors = part.lineErrors ?? [];
  const causes = new Map<string | null, { code: string | null; message: string | null; requests: number }>();
  for (const e of errors) {
    const cause = causes.get(e.code) ?? { code: e.code, message: e.message, requests: 0 };
    if (e.customId !== null) cause.requests++;
    causes.set(e.code, cause);
  }
  // A capped list whose errors share one code: the requests it does not name have that cause too.
  const { byId, rest } = failedBatchErrors(errors);
  const shared = rest && !errors.includes(rest) ? causes.get(rest.code) : undefined;
  if (shared) shared.requests += part.requests - byId.size;
  // The batch's own failure, named by no listed error (none listed, or lines without a custom_id): every request has it.
  else if (rest && !errors.includes(rest)) causes.set(rest.code, { code: rest.code, message: rest.message, requests: part.requests - byId.size });
  return { causes: [...causes.values()], lineErrors: errors.slice(0, 5) };
}

/**
 * The custom_ids a finished part passed on to its resubmit part: an expired batch's never-run requests, or the
 * requests of a batch that failed validation that no error names.
 */
export async function resubmittedRequests(jobDir: string, parent: JobPart): Promise<Set<string>> {
  return parent.status === 'failed' ? innocentRequests(jobDir, parent) : (await tallyPart(jobDir, parent, true)).unrun;
}

/**
 * Count a finished part's results; with `findUnrun`, also collect the custom_ids of its requests that have
 * no real result (none, or an expired/cancelled marker), which a resubmission must run again.
 */
export async function tallyPart(jobDir: string, part: JobPart, findUnrun: boolean): Promise<Tally> {
  const files: ResultTally[] = [];
  for (const rel of [part.outputPath, part.errorPath]) {
    if (!rel) continue;
    const tally = new ResultTally(findUnrun);
    await scanLineOffsets(jobPath(jobDir, rel), (line, _offset, lineNo) => tally.add(line, lineNo, rel));
    files.push(tally);
  }
  return settleTally(jobDir, part, ResultTally.merge(findUnrun, files), findUnrun);
}

/** The {@link Tally} of counted result lines; with `findUnrun` (ids collected), reads the part's requests for the unrun ones. */
async function settleTally(jobDir: string, part: JobPart, counted: ResultTally, findUnrun: boolean): Promise<Tally> {
  counted.check();
  const { succeeded, resolved, marked } = counted;
  // Without seeking unrun requests, a never-run marker is a failure like any other.
  const failed = counted.failed + (findUnrun ? 0 : counted.unrunLines);
  const unrun = new Set<string>();
  const missing = new Set<string>();
  if (findUnrun) {
    for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
      const id = customIdOf(text);
      if (id === null || resolved.has(id)) continue;
      unrun.add(id);
      if (!marked.has(id)) missing.add(id);
    }
  }
  return { succeeded, failed, unrun, missing };
}

/** A part's results counted: `unrun` has no real result (none, or a never-run marker); `missing` has no line at all. */
export interface Tally {
  succeeded: number;
  failed: number;
  unrun: Set<string>;
  missing: Set<string>;
}

// Allocating the index, writing the chunk and recording the part happen alone (ManifestStore.exclusive):
// two batches expiring at once must not take the same index or write the same file.
function addResubmitPart(ctx: JobContext, part: JobPart, unrun: Set<string>): Promise<JobPart> {
  const { store } = ctx;
  return store.exclusive(async () => {
    // Finishing this part again (a crash after a save that already held its resubmit part): reuse that part.
    const recorded = part.resubmittedAs === undefined ? undefined : store.manifest.parts.find((p) => p.index === part.resubmittedAs && p.parent === part.index);
    if (recorded) return recorded;
    const next = await writeResubmitPart(store.jobDir, part, unrun, store.nextIndex());
    part.resubmittedAs = next.index;
    store.manifest.parts.push(next);
    crashPoint('after-resubmit-part');
    return next;
  });
}

/**
 * Write part `index`: the original request lines of `part`'s never-run requests, in their original order.
 * Callers serialize index allocation (see addResubmitPart); the temp file is unique to this writer anyway.
 */
export async function writeResubmitPart(jobDir: string, part: JobPart, unrun: Set<string>, index: string): Promise<JobPart> {
  const dest = jobPath(jobDir, join('chunks', `part-${index}.jsonl`));
  async function* lines(): AsyncGenerator<string> {
    for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
      const id = customIdOf(text);
      if (id !== null && unrun.has(id)) yield text;
    }
  }
  await writeFileAtomic(dest, lines());
  const next = await partFromFile(jobDir, dest, { index, kind: 'resubmit' });
  next.parent = part.index;
  return next;
}

/**
 * Map a failed batch's `errors.data` line numbers back to custom_ids by reading the chunk file once.
 * @returns at most 1000 entries (the rest are counted, not listed)
 */
export async function mapLineErrors(chunkPath: string, errors: readonly BatchErrorEntry[]): Promise<LineError[]> {
  const listed = errors.slice(0, MAX_LISTED_ERRORS);
  const byLine = new Map<number, string | null>();
  for (const e of listed) if (typeof e.line === 'number') byLine.set(e.line, null);
  if (byLine.size > 0) {
    let remaining = byLine.size;
    for await (const { line, text } of readFileLines(chunkPath)) {
      if (!byLine.has(line)) continue;
      byLine.set(line, customIdOf(text));
      if (--remaining === 0) break;
    }
  }
  return listed.map((e) => ({
    line: typeof e.line === 'number' ? e.line : null,
    customId: typeof e.line === 'number' ? (byLine.get(e.line) ?? null) : null,
    code: e.code ?? null,
    message: e.message ?? null,
  }));
}

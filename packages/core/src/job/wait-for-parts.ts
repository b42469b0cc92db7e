import { KbatchError } from '../errors.js';
import { isTerminalStatus } from '../client/schemas.js';
import { backoffDelay, isAbortError, isTransientError, messageOf, retryAfterMs, sleep } from '../client/retry.js';
import { listedBatches, polledBatch } from '../batch/list-batches.js';
import type { KBatch } from '../client/schemas.js';
import type { JobPart } from '../state/manifest.js';
import type { JobContext } from './context.js';
import { submitPart } from './submit-part.js';
import { applyBatch } from './apply-batch.js';
import { finishPart } from './finish-part.js';
import { deleteFinishedFiles } from './delete-files.js';
import { partProgress, summarizeJob } from './summary.js';
import { cancelParts, cancelRequested, settleCancelled } from './cancel-parts.js';
import { crashPoint } from './crash-point.js';
import { resultFilesSettled, type FilesWatch } from './result-files-grace.js';
import { observeProgress, stragglingFor, type StallWatch } from './straggler-rule.js';
import { cancelForStragglers, sendStragglerCancel } from './cancel-stragglers.js';

interface Schedule extends FilesWatch {
  next: number;
  polls: number;
  errors: number;
  /** Polls that saw a finished batch without its result file ids (some servers set them a moment later). */
  missingFiles: number;
  /** When a finished batch was first seen without them: kbatch gives up on them only after a while, not a few fast polls. */
  missingSince?: number;
  /** When the batch's finished-request count last changed (for the straggler rule). */
  watch?: StallWatch;
  /** Polls answered by a listing since the batch was last fetched on its own (a GET). */
  listedPolls: number;
  /** The straggler rule held on listed counts: the next poll is a GET, and only its counts may cancel the batch. */
  confirm?: boolean;
}

/** What the polls of one wait share. */
interface Poller {
  schedules: Map<string, Schedule>;
  initialMs: number;
  /** When a poll last saved progress counts (of any part). */
  countsSavedAt: number;
  /** False once the server refused a batch listing: every part is then fetched on its own. */
  listing: boolean;
  /** Listed batches as last parsed (see {@link listedBatches}). */
  parsed: Map<string, { key: string; batch: KBatch }>;
}

/** Progress counts alone are saved at most this often for the whole job (a status change is saved at once). */
const COUNTS_SAVE_MS = 1_000;
/**
 * A batch seen only in listings is still fetched on its own at least once in this many of its polls (counted in polls,
 * not time: on a slow machine rounds take longer than the interval, and a time rule would GET every batch every round).
 */
const FETCH_EVERY_POLLS = 10;
/** Batches beyond the ones polled that a listing page holds (others' batches created since may push ours down). */
const LIST_SLACK = 20;

/**
 * Poll every unfinished part until all are done (or signal/timeout), finishing each as it ends. A cancel
 * requested by another process (`kbatch cancel`) is noticed here: running batches are cancelled, nothing new
 * is created.
 */
export async function waitForParts(ctx: JobContext, timeoutMs?: number, started = Date.now()): Promise<void> {
  const { store, signal } = ctx;
  const poller: Poller = { schedules: new Map(), initialMs: Math.min(1_000, ctx.opts.pollIntervalMs), countsSavedAt: 0, listing: true, parsed: new Map() };
  let lastProgress = '';
  const reportProgress = () => {
    const parts = partProgress(store.manifest);
    const key = JSON.stringify(parts);
    if (key === lastProgress) return;
    lastProgress = key;
    const summary = summarizeJob(store.jobDir, store.manifest);
    ctx.emit({
      type: 'progress',
      jobId: store.manifest.jobId,
      elapsedMs: Date.now() - started,
      total: summary.requests,
      completed: summary.succeeded,
      failed: summary.failed,
      parts,
    });
  };
  let cancelSeen = Boolean(store.manifest.cancelledAt);
  for (;;) {
    const active = store.manifest.parts.filter((p) => !p.done);
    if (active.length === 0) break;
    if (!cancelSeen && (await cancelRequested(ctx))) {
      cancelSeen = true;
      await cancelParts(ctx, active);
    }
    const unsubmitted = active.filter((p) => !p.batchId);
    if (unsubmitted.length > 0) {
      if (store.manifest.cancelledAt) await settleCancelled(ctx);
      else await submitParts(ctx, unsubmitted, timeoutMs, started);
    }
    await pollDue(ctx, poller, active);
    reportProgress();
    if (store.manifest.parts.every((p) => p.done)) break;
    if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) throw awaitTimeout(store.jobDir, timeoutMs);
    const waiting = store.manifest.parts.filter((p) => !p.done && p.batchId);
    // Parts waiting for their turn under the shared quota ask again after its retry time.
    const queued = ctx.quota !== undefined && !store.manifest.cancelledAt && store.manifest.parts.some((p) => !p.done && !p.batchId);
    if (waiting.length === 0 && !queued) continue;
    let nextAt = Math.min(...waiting.map((p) => poller.schedules.get(p.index)?.next ?? 0), queued ? Date.now() + ctx.quota!.retryMs : Infinity);
    if (timeoutMs !== undefined) nextAt = Math.min(nextAt, started + timeoutMs);
    await sleep(Math.max(0, nextAt - Date.now()), signal);
  }
  reportProgress();
}

/** The AWAIT_TIMEOUT error of a job whose `timeoutMs` ran out. */
export function awaitTimeout(jobDir: string, timeoutMs: number): KbatchError {
  return new KbatchError('AWAIT_TIMEOUT', `Batches still running after ${Math.round(timeoutMs / 1000)}s; continue with: kbatch resume ${jobDir}`);
}

/**
 * Upload and create the parts' batches, `concurrency` at a time; once `timeoutMs` (counted from `started`) is up, no
 * new upload starts (the ones under way finish, so nothing is half created) and the job fails with AWAIT_TIMEOUT.
 */
export async function submitParts(ctx: JobContext, parts: JobPart[], timeoutMs: number | undefined, started: number): Promise<void> {
  await settleAll(
    parts.map((p) =>
      ctx.limit(() => {
        if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) throw awaitTimeout(ctx.store.jobDir, timeoutMs);
        return submitPart(ctx, p);
      }),
    ),
  );
}

/**
 * Poll the parts that are due. With several batches in flight, one listing page replaces a GET per part and brings
 * every listed part's news at once (those count as polled); a batch it shows finished is fetched on its own, so a
 * part is always finished from the server's full answer.
 */
async function pollDue(ctx: JobContext, poller: Poller, active: JobPart[]): Promise<void> {
  const now = Date.now();
  const inFlight = active.filter((p) => p.batchId);
  const isDue = (p: JobPart): boolean => (poller.schedules.get(p.index)?.next ?? 0) <= now;
  if (!inFlight.some(isDue)) return;
  const listed = inFlight.length >= 2 ? await listInFlight(ctx, poller, inFlight) : new Map<string, KBatch>();
  // A part backing off after failed polls keeps its turn, whatever the listing says.
  // A listed batch that finished waits for its own turn (its GET): a fast part's rounds must not hurry another's.
  // However fresh a listing looks, each batch is fetched on its own now and then (a listing could be a cached view).
  const overdue = (p: JobPart): boolean => (poller.schedules.get(p.index)?.listedPolls ?? 0) >= FETCH_EVERY_POLLS;
  const usable = (p: JobPart): boolean => {
    const batch = listed.get(p.batchId!);
    const schedule = poller.schedules.get(p.index);
    return batch !== undefined && !isTerminalStatus(batch.status) && !schedule?.errors && !schedule?.confirm && !overdue(p);
  };
  const polled = inFlight.filter((p) => isDue(p) || usable(p) || overdue(p));
  await settleAll(
    polled.map((p) => {
      const useListed = usable(p);
      const batch = listed.get(p.batchId!);
      return ctx.limit(() => pollPart(ctx, p, poller, useListed ? batch : undefined));
    }),
  );
}

/** The listed batches of these parts (one page); empty when the listing fails. */
async function listInFlight(ctx: JobContext, poller: Poller, parts: JobPart[]): Promise<Map<string, KBatch>> {
  if (!poller.listing || typeof ctx.client.batches.list !== 'function') return new Map();
  try {
    const ids = new Set(parts.map((p) => p.batchId!));
    return await listedBatches(ctx.client.batches, ids, { pageSize: Math.min(100, ids.size + LIST_SLACK), parsed: poller.parsed, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  } catch (error) {
    if (isAbortError(error) || ctx.signal?.aborted) throw error;
    // A server without a usable listing: poll part by part from now on (a passing failure: this once).
    if (!isTransientError(error)) poller.listing = false;
    return new Map();
  }
}

async function pollPart(ctx: JobContext, part: JobPart, poller: Poller, listed: KBatch | undefined): Promise<void> {
  const { schedules, initialMs } = poller;
  const schedule = schedules.get(part.index) ?? { next: 0, polls: 0, errors: 0, missingFiles: 0, listedPolls: 0 };
  schedules.set(part.index, schedule);
  let batch;
  try {
    batch = listed ?? (await polledBatch(ctx.client.batches, part.batchId!, ctx.signal ? { signal: ctx.signal } : {}));
    schedule.listedPolls = listed ? schedule.listedPolls + 1 : 0;
  } catch (error) {
    return pollFailed(ctx, part, schedule, error);
  }
  const status = part.status;
  // A fast poll must not rewrite (and fsync) the manifest for every count that moved: counts are progress, not intent.
  if (applyBatch(part, batch) && (part.status !== status || Date.now() - poller.countsSavedAt >= COUNTS_SAVE_MS)) {
    poller.countsSavedAt = Date.now();
    await ctx.store.save();
  }
  crashPoint('during-wait');
  const c = batch.request_counts;
  // Any terminal batch (expired and cancelled too) may name its files a moment after its status changes.
  const filesMissing = (c.completed > 0 && !batch.output_file_id) || (c.failed > 0 && !batch.error_file_id);
  const terminal = isTerminalStatus(batch.status);
  // A running batch has no files yet: only polls of a finished one count, over at least five poll intervals.
  if (terminal && filesMissing) {
    schedule.missingSince ??= Date.now();
    schedule.missingFiles++;
  }
  const gaveUp = schedule.missingFiles > 5 && Date.now() - schedule.missingSince! >= 5 * ctx.opts.pollIntervalMs;
  // A provider without request counts may name one result file before the other: finished only once all are named.
  const settled = terminal && (!filesMissing || gaveUp) ? await filesSettled(ctx, part, batch, schedule) : false;
  // Reading the error file failed in passing: polled again after its backoff.
  if (settled === undefined) return;
  schedule.errors = 0;
  if (settled) {
    // The batch ended: the provider no longer counts it, so neither does the shared quota.
    await ctx.quota?.release(part);
    if (filesMissing) ctx.emit({ type: 'warning', part: part.index, message: `batch ${batch.id} is ${batch.status} but names no result file` });
    await finishPart(ctx, part, batch);
    await deleteFinishedFiles(ctx, [part]);
    return;
  }
  await checkStragglers(ctx, part, batch, { schedule, listed: listed !== undefined });
  schedule.polls++;
  schedule.next = Date.now() + backoffDelay(schedule.polls, { baseMs: initialMs / 2, maxMs: ctx.opts.pollIntervalMs });
}

/**
 * A poll that failed: a passing error (5xx, 429, a connection reset) is "not settled yet", polled again after a backoff
 * (the server's Retry-After when it sends one); any other error, or an abort, ends the wait.
 */
function pollFailed(ctx: JobContext, part: JobPart, schedule: Schedule, error: unknown): void {
  if (isAbortError(error) || ctx.signal?.aborted || !isTransientError(error)) throw error;
  const delayMs = Math.min(120_000, retryAfterMs(error) ?? backoffDelay(schedule.errors, { baseMs: ctx.opts.retryBaseMs, maxMs: Math.max(ctx.opts.pollIntervalMs, 1_000) * 4 }));
  schedule.errors++;
  schedule.next = Date.now() + delayMs;
  ctx.emit({ type: 'retry', operation: 'poll', part: part.index, attempt: schedule.errors, delayMs, message: messageOf(error) });
}

// Whether the ended batch's result files are all named; undefined when reading its error file (Together) failed in passing, like a poll.
async function filesSettled(ctx: JobContext, part: JobPart, batch: KBatch, schedule: Schedule): Promise<boolean | undefined> {
  try {
    return await resultFilesSettled(ctx, part, batch, schedule);
  } catch (error) {
    pollFailed(ctx, part, schedule, error);
    return undefined;
  }
}

// A running batch whose last few requests stalled is cancelled (once marked, the cancel is repeated until sent).
async function checkStragglers(ctx: JobContext, part: JobPart, batch: KBatch, seen: { schedule: Schedule; listed: boolean }): Promise<void> {
  const { schedule } = seen;
  const active = batch.status === 'in_progress' || batch.status === 'validating';
  if (part.straggler) {
    if (!part.cancelRequested && active) await sendStragglerCancel(ctx, part);
    return;
  }
  const rule = ctx.opts.stragglers;
  if (!rule || part.cancelRequested || ctx.store.manifest.cancelledAt) return;
  const now = Date.now();
  schedule.watch = observeProgress(schedule.watch, batch.request_counts, now);
  const idleMs = stragglingFor(batch, schedule.watch, now, rule);
  // A listing may lag behind the batch (a cached page): a paid cancel waits for the batch's own answer to agree.
  schedule.confirm = idleMs !== undefined && seen.listed;
  if (idleMs !== undefined && !seen.listed) await cancelForStragglers(ctx, part, batch, idleMs);
}

/** Wait for every promise so each part's state is saved, then surface the first failure. */
export async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

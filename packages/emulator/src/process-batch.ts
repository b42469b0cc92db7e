import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { errorBody } from './errors.js';
import { chatBodyError, type Executor, type Outcome } from './executor.js';
import { newId } from './internal/ids.js';
import type { ShuffleWriter } from './internal/shuffle-writer.js';
import type { Sleeper } from './internal/sleeper.js';
import type { ChatRequestBody, ResolvedFaults } from './options.js';
import type { BatchObject, Store, Stored } from './store.js';

/** How processing a batch's lines ended. */
export type Ending = 'done' | 'expired' | 'cancelled' | 'closed';

/** What {@link processBatch} needs besides the batch. */
export interface ProcessBatchContext {
  store: Store;
  executor: Executor;
  sleeper: Sleeper;
  faults: () => ResolvedFaults;
  /** Parallel lines (upstream concurrency; 1 with the built-in responder). */
  parallel: number;
  /** Pacing per line (0 = as fast as possible). */
  lineMs: number;
  /** When the completion window ends (ms since the epoch). */
  expiresMs: number;
  /** Write `batch_expired` / `batch_cancelled` markers for lines that never ran. */
  unrunErrorLines: boolean;
  /** Seeded draws (line failures). */
  random: () => number;
  /** Set by cancel(). */
  state: { cancelRequested: boolean };
}

/**
 * Run a batch's lines in order (output files shuffled by the writers), stopping at cancellation, expiry or
 * shutdown. Counts go to `rec.value.request_counts`; progress is saved at most every 200 ms.
 */
export async function processBatch(rec: Stored<BatchObject>, writers: readonly [ShuffleWriter, ShuffleWriter], ctx: ProcessBatchContext): Promise<Ending> {
  const b = rec.value;
  const inflight = new Set<Promise<void>>();
  let started = 0;
  let lastSave = Date.now();
  const startMs = Date.now();
  let ending: Ending = 'done';

  const record = async (customId: string, outcome: Outcome) => {
    const line = JSON.stringify({
      id: newId('batch_req_'),
      custom_id: customId,
      response: { status_code: outcome.status, request_id: newId('req_'), body: outcome.body },
      error: null,
    });
    if (outcome.status >= 200 && outcome.status < 300) {
      await writers[0].push(line);
      b.request_counts.completed++;
    } else {
      await writers[1].push(line);
      b.request_counts.failed++;
    }
    if (Date.now() - lastSave > 200) {
      lastSave = Date.now();
      ctx.store.save('batches', rec).catch(() => undefined);
    }
  };

  const rl = createInterface({ input: createReadStream(ctx.store.dataPath(b.input_file_id)), crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      if (line.trim() === '') continue;
      const faults = ctx.faults();
      const stop = await stopBefore(ctx, faults, { started, startMs, total: b.request_counts.total });
      if (stop) {
        ending = stop;
        break;
      }
      started++;
      const req = JSON.parse(line) as { custom_id: string; body: ChatRequestBody };
      const fail = faults.lineFailureRate !== undefined && ctx.random() < faults.lineFailureRate;
      const task = (async () => record(req.custom_id, await lineOutcome(ctx, faults, req.body, fail)))();
      inflight.add(task);
      void task.finally(() => inflight.delete(task));
      if (inflight.size >= ctx.parallel) await Promise.race(inflight);
    }
  } finally {
    rl.close();
    await Promise.allSettled([...inflight]);
  }
  if (ending === 'done' && ctx.state.cancelRequested) ending = 'cancelled';
  if (ctx.unrunErrorLines && (ending === 'expired' || ending === 'cancelled')) {
    await writeUnrunMarkers(rec, writers[1], started, ending, ctx.store);
  }
  return ending;
}

/**
 * Why the batch stops before its next line (shutdown, cancel, expiry), or null to run it: the line is paced by
 * `lineMs` first, and a line in the straggler tail waits `slowTailMs`.
 */
async function stopBefore(ctx: ProcessBatchContext, faults: ResolvedFaults, at: { started: number; startMs: number; total: number }): Promise<Ending | null> {
  const { started } = at;
  if (ctx.sleeper.isClosed) return 'closed';
  if (ctx.state.cancelRequested) return 'cancelled';
  if (Date.now() >= ctx.expiresMs || (faults.expireAfterLines !== undefined && started >= faults.expireAfterLines)) return 'expired';
  if (ctx.lineMs > 0) {
    const wait = at.startMs + (started + 1) * ctx.lineMs - Date.now();
    if (wait >= 1 && !(await ctx.sleeper.sleep(wait))) return 'closed';
  } else if (started % 500 === 499) {
    await new Promise((r) => setImmediate(r));
  }
  if (faults.slowTailLines !== undefined && started >= at.total - faults.slowTailLines) {
    // A straggler: it is in flight while it waits, so a cancel arriving now still lets it finish.
    if (!(await straggle(ctx, faults.slowTailMs ?? 60_000))) return 'closed';
  }
  return null;
}

/** One line's outcome: an injected failure, the chat body's validation error, or the executor's answer. */
async function lineOutcome(ctx: ProcessBatchContext, faults: ResolvedFaults, body: ChatRequestBody, fail: boolean): Promise<Outcome> {
  const bodyError = chatBodyError(ctx.store, body, false);
  const status = faults.lineFailureStatus ?? 500;
  if (fail) return { status, body: errorBody(status, 'Injected failure (faults.lineFailureRate)', status >= 500 ? 'server_error' : 'invalid_request') };
  if (bodyError) return { status: bodyError.status, body: errorBody(bodyError.status, bodyError.message, bodyError.code, bodyError.param) };
  return ctx.executor.run(body);
}

/** Wait `ms` for a straggler line, cut short by a cancel; false when the emulator closes. */
async function straggle(ctx: ProcessBatchContext, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!ctx.state.cancelRequested) {
    const left = until - Date.now();
    if (left <= 0) return true;
    if (!(await ctx.sleeper.sleep(Math.min(left, 20)))) return false;
  }
  return true;
}

/**
 * OpenAI-style never-ran markers: every request after the first `started` ones (lines run strictly in file order)
 * gets `{custom_id, response: null, error: {code: 'batch_expired' | 'batch_cancelled', message}}` in the error
 * file and counts as failed, so completed + failed = total. A second pass over the input keeps memory constant.
 */
export async function writeUnrunMarkers(
  rec: Stored<BatchObject>,
  errors: ShuffleWriter,
  started: number,
  ending: 'expired' | 'cancelled',
  store: Store,
): Promise<void> {
  const b = rec.value;
  const code = ending === 'expired' ? 'batch_expired' : 'batch_cancelled';
  const message = ending === 'expired' ? 'This request could not be executed before the completion window expired.' : 'This request was not executed because the batch was cancelled.';
  let seen = 0;
  const rl = createInterface({ input: createReadStream(store.dataPath(b.input_file_id)), crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      if (line.trim() === '' || ++seen <= started) continue;
      const { custom_id } = JSON.parse(line) as { custom_id: string };
      await errors.push(JSON.stringify({ id: newId('batch_req_'), custom_id, response: null, error: { code, message } }));
      b.request_counts.failed++;
    }
  } finally {
    rl.close();
  }
}

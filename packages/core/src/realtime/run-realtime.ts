import { setMaxListeners } from 'node:events';
import { basename, dirname, resolve } from 'node:path';
import type OpenAI from 'openai';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { booleanField, functionField, parseOptions } from '../options.js';
import { isIterable } from '../internal/iterable.js';
import { createWakeup } from '../internal/wakeup.js';
import type { BatchRequestLine } from '../request/request-line.js';
import { directoryStore, type JobStore } from '../state/job-store.js';
import { createReorderBuffer } from './reorder-buffer.js';
import { createSender } from './send-request.js';
import { abortedError } from '../client/retry.js';
import type { FailureKind, RealtimeEvent, RealtimeResultLine } from './realtime-types.js';
import { createBudgetGuard, type BudgetGuard, type RealtimeBudget } from './realtime-budget.js';

/** The one capability the realtime engine needs: `openai.chat.completions` (or a fake with `create`). */
export type RealtimeClient = Pick<OpenAI['chat']['completions'], 'create'>;

const positiveInt = (what: string) => z.number({ error: `must be ${what}` }).int({ error: `must be ${what}` }).min(1, { error: `must be ${what}` });

/** Options shared by `runRealtime` and `realtimeStream` (everything but the input). */
export const RealtimeOptionsSchema = z.object({
  /** `openai.chat.completions`; its SDK retries are disabled per call (`maxRetries: 0`) since we count retries ourselves. */
  client: z.custom<RealtimeClient>((v) => typeof (v as { create?: unknown } | null)?.create === 'function', {
    error: 'must be an object with a create() method, e.g. openai.chat.completions',
  }),
  /** Maximum requests in flight (the ceiling of the adaptive limit). */
  concurrency: positiveInt('a positive integer').default(16),
  /** Requests per minute; attempts (retries included) are spaced 60 000 / rpm ms apart. */
  rpm: z.number({ error: 'must be a positive number' }).positive({ error: 'must be a positive number' }).optional(),
  /** Estimated tokens per minute (see `estimateTokens`). */
  tpm: z.number({ error: 'must be a positive number' }).positive({ error: 'must be a positive number' }).optional(),
  /** Retries per request after the first attempt (429, 408/409, 5xx, dropped connections, timeouts). */
  retries: z.number({ error: 'must be a non-negative integer' }).int({ error: 'must be a non-negative integer' }).min(0, { error: 'must be a non-negative integer' }).default(5),
  /** Per-attempt timeout. */
  timeoutMs: positiveInt('a positive integer (milliseconds)').default(600_000),
  /**
   * Backoff base: retry n waits random() × min(retryMaxMs, retryBaseMs × 2^(n-1)); a 429 or 5xx with Retry-After
   * waits that plus at most a tenth of it (a Retry-After under a tenth of the base gets the full backoff on top); a
   * sporadic dropped connection is retried within 50 ms, later ones back off by their count (see `retryDelay`).
   */
  retryBaseMs: positiveInt('a positive integer (milliseconds)').default(500),
  retryMaxMs: positiveInt('a positive integer (milliseconds)').default(30_000),
  /** Lower the effective concurrency when the recent 429 rate says the server is saturated, and recover afterwards (see `createAdaptiveConcurrency`). */
  adaptive: booleanField().default(true),
  /** Calm period after a 429-driven decrease before the limit grows again. */
  adaptiveCooldownMs: z.number({ error: 'must be a non-negative integer' }).int().min(0, { error: 'must be a non-negative integer' }).default(2000),
  /**
   * Max requests started but not yet emitted (in flight, waiting for a retry, or waiting for order); default
   * 64 × concurrency, so that the results answered while one request waits out a Retry-After fit behind it.
   */
  window: positiveInt('a positive integer').optional(),
  /** Emit results as they complete instead of in input order. */
  unordered: booleanField().default(false),
  /** Answers log path: successes are appended as they arrive; ids found there are replayed, not resent. */
  answersLog: z.string({ error: 'must be a file path' }).min(1, { error: 'must be a file path' }).optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: 'must be an AbortSignal' }).optional(),
  /** Progress callback (retries, concurrency changes, answers, final failures). */
  onEvent: functionField<(event: RealtimeEvent) => void>().optional(),
  /**
   * A spending cap: a request whose worst case (estimated prompt + max completion tokens at the realtime price) would
   * take the spend (answers' usage, replayed ones included) past `maxCost` is not sent; sending stops, the requests
   * in flight finish, and the run ends with BUDGET_EXCEEDED. With an answers log a rerun replays what was answered.
   */
  budget: z
    .custom<RealtimeBudget>((v) => typeof v === 'object' && v !== null && typeof (v as RealtimeBudget).priceOf === 'function' && typeof (v as RealtimeBudget).maxCost === 'number' && (v as RealtimeBudget).maxCost >= 0, {
      error: 'must be { maxCost: a non-negative number, priceOf, provider, model }',
    })
    .optional(),
});

/** Options of `realtimeStream`. */
export type RealtimeOptions = z.input<typeof RealtimeOptionsSchema>;
/** The same after validation and defaults. */
export type ResolvedRealtimeOptions = z.output<typeof RealtimeOptionsSchema>;

/** Options of `runRealtime`: the shared options plus the request lines. */
export const RunRealtimeOptionsSchema = RealtimeOptionsSchema.extend({
  requests: z.custom<AsyncIterable<BatchRequestLine> | Iterable<BatchRequestLine>>(isIterable, {
    error: 'must be an iterable or async iterable of request lines',
  }),
});
/** Options of `runRealtime` as given. */
export type RunRealtimeOptions = z.input<typeof RunRealtimeOptionsSchema>;

/**
 * Send request lines to POST /v1/chat/completions with bounded, adaptive concurrency, rpm/tpm
 * pacing and retries, yielding one result line per request in the batch "request output object"
 * shape (input order unless `unordered`). Final failures are yielded as error lines, not thrown;
 * only run-level problems throw (ABORTED, LINE_INVALID, JOB_INVALID, I/O errors).
 * Memory is bounded by `window` whatever the input size: intake pauses while it is full.
 * @example
 * for await (const line of runRealtime({ requests, client: openai.chat.completions, concurrency: 20, rpm: 600, answersLog: 'job/answers.jsonl' })) out.write(JSON.stringify(line) + '\n');
 */
export function runRealtime(options: RunRealtimeOptions): AsyncGenerator<RealtimeResultLine, void, undefined> {
  const { requests, ...rest } = parseOptions(RunRealtimeOptionsSchema, options, 'runRealtime');
  return runResolved(requests, rest);
}

/**
 * Where the engine finds earlier final results and records new ones; `seq` is the request's 0-based
 * position in the input (so a caller can keep one log per request file).
 */
export interface AnswerStore {
  /** The final result an earlier run of the same round logged for this request, if any. */
  replay(customId: string, seq: number): Promise<RealtimeResultLine | undefined>;
  /** Log a final result: a success, or (`failed`) a final failure. */
  record(line: RealtimeResultLine, seq: number, failed: boolean): Promise<void>;
  close(): Promise<void>;
}

/** One answers log for a whole run (repaired, indexed, then appended to), kept by `store` (default: the directory it is in); `file` is a path, as the caller gave it. */
export async function singleAnswerStore(file: string, store?: JobStore): Promise<AnswerStore> {
  const { answered, log } = await (store ? store.openAnswersLog(resolve(file)) : directoryStore(dirname(file)).openAnswersLog(basename(file)));
  return {
    async replay(customId) {
      const location = answered.get(customId);
      return location ? log.read(location) : undefined;
    },
    record: (line, _seq, failed) => (failed ? log.appendFailure(line) : log.append(line)),
    close: () => log.close(),
  };
}

/** The engine, for already-validated options (used by `realtimeStream` too); `store` replaces `o.answersLog`. */
export async function* runResolved(
  requests: AsyncIterable<BatchRequestLine> | Iterable<BatchRequestLine>,
  o: ResolvedRealtimeOptions,
  store?: AnswerStore,
): AsyncGenerator<RealtimeResultLine, void, undefined> {
  if (o.signal?.aborted) throw abortedError(o.signal);
  const guard = o.budget ? createBudgetGuard(o.budget) : undefined;
  const log: AnswerStore | undefined = store ?? (o.answersLog ? await singleAnswerStore(o.answersLog) : undefined);
  const window = o.window ?? o.concurrency * WINDOW_PER_SLOT;
  const run = createRunControl(o.signal, window);
  const onEvent = o.onEvent;
  const emit = (event: RealtimeEvent) => onEvent?.(event);
  const sender = createSender({ o, signal: run.signal, emit, failure: run.failure, onWaiting: run.wake.notify });
  // null: a request the budget left unsent (it takes its place in the order, and is not yielded).
  const ordered = createReorderBuffer<RealtimeResultLine | null>();
  const completed: Array<RealtimeResultLine | null> = [];
  const tasks = new Set<Promise<void>>();
  // Once the budget refuses a request (reserved in input order) nothing more is sent: the rest is only replayed.
  let refused = false;
  let notSent = 0;
  const start = (request: BatchRequestLine, seq: number): void => {
    if (guard && !refused && !guard.reserve(request)) refused = true;
    const task: Promise<void> = answer(request, seq, { log, send: refused ? null : sender.send, emit, onEvent, guard })
      .then((line) => {
        if (line === null) notSent++;
        if (o.unordered) completed.push(line);
        else ordered.put(seq, line);
      })
      .catch(run.fail)
      .finally(() => {
        tasks.delete(task);
        run.wake.notify();
      });
    tasks.add(task);
  };

  const iterator = toAsyncIterator(requests);
  let inputDone = false;
  let pending: Promise<IteratorResult<BatchRequestLine>> | undefined;
  let started = 0;
  let emitted = 0;
  try {
    for (;;) {
      run.throwIfFailed();
      for (const line of o.unordered ? completed.splice(0) : ordered.drain()) {
        emitted++;
        if (line) yield line;
      }
      run.throwIfFailed();
      if (inputDone && emitted === started) {
        if (notSent > 0) throw guard!.exceeded(notSent);
        return;
      }
      // A new request goes only when it can have a slot at once (requests waiting for a retry hold none; the
      // adaptive limit may be below the concurrency), so a retry whose wait is over queues behind no new request,
      // and unsent lines stay unread. While most outcomes are dropped connections (the server looks down), the
      // waiting ones count too: no new request joins the ones backing off until they get answers.
      const busy = sender.dropping ? tasks.size : tasks.size - sender.waiting;
      const canPull = !inputDone && started - emitted < window && busy < sender.limit;
      if (canPull && !pending) pending = iterator.next();
      const next = canPull ? await Promise.race([pending!, run.wake.wait().then(() => undefined)]) : await run.wake.wait();
      if (next) {
        pending = undefined;
        if (next.done) inputDone = true;
        else start(next.value, started++);
      }
    }
  } finally {
    run.end();
    await Promise.allSettled([...tasks]);
    await log?.close();
    if (!inputDone) await iterator.return?.();
  }
}

/**
 * The default window per unit of concurrency. In input order, a request waiting out a Retry-After holds
 * back every result behind it: the window must hold what the other slots answer meanwhile (a 1 s wait at
 * 16 × 30 ms requests is ~530 results), or intake stops and the whole run waits for that one request.
 */
const WINDOW_PER_SLOT = 64;

/** One request's final result line: replayed from the answers log, or sent (with retries) and logged; null when it may not be sent (`send` null: the budget). */
async function answer(
  request: BatchRequestLine,
  seq: number,
  { log, send, emit, onEvent, guard }: { log: AnswerStore | undefined; send: ((request: BatchRequestLine) => Promise<RealtimeResultLine>) | null; emit: (event: RealtimeEvent) => void; onEvent: ((event: RealtimeEvent) => void) | undefined; guard: BudgetGuard | undefined },
): Promise<RealtimeResultLine | null> {
  checkLine(request, seq);
  const logged = log ? await log.replay(request.custom_id, seq) : undefined;
  if (logged) {
    guard?.settle(request, logged);
    // A logged final failure is final for this round too (a new round, with its own log, sends it again).
    if (isSuccess(logged)) emit({ type: 'answered', customId: request.custom_id, replayed: true });
    else emit({ type: 'failed', customId: request.custom_id, kind: failureKindOf(logged), replayed: true, ...statusOf(logged) });
    return logged;
  }
  if (!send) return null;
  const line = await send(request);
  guard?.settle(request, line);
  if (log) await log.record(line, seq, !isSuccess(line));
  if (onEvent && isSuccess(line)) onEvent({ type: 'answered', customId: request.custom_id, replayed: false });
  return line;
}

/**
 * The run's life: one internal signal aborted by the caller's signal, by the first run-level failure (kept and
 * rethrown by the loop) or when the run ends; `wake` rouses the loop when a request ends or the run fails.
 */
function createRunControl(outer: AbortSignal | undefined, window: number) {
  const internal = new AbortController();
  // Each of at most `window` requests listens once at a time (a backoff sleep, a request in flight, one closing): more is a leak, which Node then reports.
  setMaxListeners(2 * window + 16, internal.signal);
  const wake = createWakeup();
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    internal.abort(err);
    wake.notify();
  };
  const onOuterAbort = () => fail(abortedError(outer!));
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  return {
    signal: internal.signal,
    wake,
    fail,
    failure: () => failure,
    throwIfFailed() {
      if (failure !== undefined) throw failure;
    },
    end() {
      if (!internal.signal.aborted) internal.abort(new KbatchError('ABORTED', 'realtime run ended early'));
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}

const isSuccess = (line: RealtimeResultLine) => line.response?.status_code === 200 && !line.error;
const statusOf = (line: RealtimeResultLine) => (line.response ? { status: line.response.status_code } : {});
function failureKindOf(line: RealtimeResultLine): FailureKind {
  const status = line.response?.status_code;
  if (status === undefined) return line.error?.code === 'timeout' ? 'timeout' : 'connection_error';
  return status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : 'client_error';
}

function checkLine(request: BatchRequestLine, seq: number): void {
  const r = request as Partial<BatchRequestLine> | null;
  if (!r || typeof r.custom_id !== 'string' || !r.body || typeof r.body !== 'object' || !Array.isArray(r.body.messages)) {
    throw new KbatchError('LINE_INVALID', `request ${seq + 1} is not a chat-completion request line (custom_id, body.messages)`, {
      record: seq + 1,
    });
  }
}

function toAsyncIterator<T>(source: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> {
  if (typeof (source as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') return (source as AsyncIterable<T>)[Symbol.asyncIterator]();
  const sync = (source as Iterable<T>)[Symbol.iterator]();
  return {
    next: async () => sync.next(),
    return: async () => sync.return?.() ?? { done: true, value: undefined },
  };
}

import type OpenAI from 'openai';
import pLimit from 'p-limit';
import { abortedError, sleep } from '../client/retry.js';
import type { BatchRequestLine } from '../request/request-line.js';
import { createAdaptiveConcurrency, createRecentRate, SATURATION_RATE } from './adaptive-concurrency.js';
import { estimateTokens } from './estimate-tokens.js';
import { createRateLimiter } from './rate-limiter.js';
import { failureLine, successLine } from './result-lines.js';
import { classifyFailure, retryDelay } from './retry-policy.js';
import type { ResolvedRealtimeOptions } from './run-realtime.js';
import type { RealtimeEvent, RealtimeResultLine } from './realtime-types.js';

/** What sending requests needs from the run: its options, its signal, its event sink and its first failure. */
export interface SendContext {
  o: ResolvedRealtimeOptions;
  /** The run's signal: aborted on the caller's abort, on a run-level failure and when the run ends. */
  signal: AbortSignal;
  emit: (event: RealtimeEvent) => void;
  /** The run-level failure that aborted `signal`, thrown instead of the attempt's own abort error. */
  failure: () => unknown;
  /** Called when a request starts waiting for its retry (it makes room for another one). */
  onWaiting: () => void;
}

/** A run's sender: `send` answers one request line with its final result line. */
export interface Sender {
  send(request: BatchRequestLine): Promise<RealtimeResultLine>;
  /** Requests waiting out a Retry-After or a backoff now (they hold no slot). */
  readonly waiting: number;
  /** The concurrency limit now (the adaptive one, at most `concurrency`). */
  readonly limit: number;
  /** Whether most recent outcomes are dropped connections (the server or the network looks down). */
  readonly dropping: boolean;
}

/**
 * The sender of one run: `send(request)` answers one request line with its final result line, retrying
 * 429s, 5xx, dropped connections and timeouts. Only the attempt itself holds a concurrency slot (p-limit,
 * bounded by `concurrency` and lowered by the adaptive limit): a request waiting out its Retry-After or
 * backoff holds none, so a 429 delays that request, not the run. Attempts are paced by the rpm/tpm limiter.
 * The wait before a retry is `retryDelay`'s: the server's Retry-After (plus at most a tenth), a prompt retry
 * after a sporadic dropped connection, else the backoff. Like 429s, drops are judged by their recent rate in the
 * run (`createDropTracker`): once they are a large share of the outcomes, they all back off.
 */
export function createSender(ctx: SendContext): Sender {
  const { o, signal, emit } = ctx;
  const limit = pLimit(o.concurrency);
  // A random 429 now and then lowers nothing; a rate of them over the last few rounds of `concurrency` outcomes does.
  const adaptive = o.adaptive ? createAdaptiveConcurrency({ max: o.concurrency, cooldownMs: o.adaptiveCooldownMs, minSamples: o.concurrency }) : undefined;
  const adapt = (changed: boolean | undefined) => {
    if (!changed || !adaptive) return;
    limit.concurrency = adaptive.limit;
    emit({ type: 'concurrency', limit: adaptive.limit });
  };
  const limiter = createRateLimiter({ rpm: o.rpm, tpm: o.tpm });
  const attempt = createAttempt(ctx, limiter);
  const dropTracker = createDropTracker(o.concurrency);
  let waiting = 0;
  const wait = async (delayMs: number) => {
    waiting++;
    ctx.onWaiting();
    try {
      await sleep(delayMs, signal); // outside `limit`: the wait holds no slot
    } finally {
      waiting--;
    }
  };

  const send = async (request: BatchRequestLine): Promise<RealtimeResultLine> => {
    const tokens = o.tpm === undefined ? 0 : estimateTokens(request.body);
    const body = { ...request.body, stream: false } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    let drops = 0;
    for (let n = 1; ; n++) {
      try {
        const completion = await limit(attempt, body, tokens);
        dropTracker.record(false);
        adapt(adaptive?.onSuccess());
        // A 2xx without a body (null) is an answer too: re-sending it would pay twice.
        const used = (completion as { usage?: { total_tokens?: unknown } } | null)?.usage?.total_tokens;
        if (o.tpm !== undefined && typeof used === 'number') limiter.correct(used - tokens);
        return successLine(request.custom_id, completion);
      } catch (err) {
        if (signal.aborted) throw ctx.failure() ?? err;
        const info = classifyFailure(err);
        dropTracker.record(info.kind === 'connection_error');
        // The server answered with an error, so the attempt generated nothing: its estimate goes back and the
        // retry is charged once. Timeouts and dropped connections keep theirs (the server may have generated).
        if (tokens > 0 && info.status !== undefined) limiter.correct(-tokens);
        if (info.kind === 'rate_limited') adapt(adaptive?.onRateLimited());
        const status = info.status === undefined ? {} : { status: info.status };
        if (!info.retryable || n > o.retries) {
          emit({ type: 'failed', customId: request.custom_id, kind: info.kind, ...status });
          return failureLine(request.custom_id, err, info);
        }
        if (info.kind === 'connection_error') drops++;
        const delayMs = retryDelay(n, info, { baseMs: o.retryBaseMs, maxMs: o.retryMaxMs, drops, ...dropTracker.state() });
        emit({ type: 'retry', customId: request.custom_id, attempt: n, delayMs, kind: info.kind, ...status });
        await wait(delayMs);
      }
    }
  };
  return {
    send,
    get waiting() {
      return waiting;
    },
    get limit() {
      return limit.concurrency;
    },
    get dropping() {
      return dropTracker.dropping();
    },
  };
}

/**
 * The run's dropped connections among its recent outcomes (answers of any kind, timeouts and drops), over the
 * same sample as the 429 rate, but judged only after at least 16 outcomes (a few first drops are not a down
 * server): `frequent` at {@link SATURATION_RATE} of them, `dropping` when they are the majority.
 */
function createDropTracker(concurrency: number) {
  const rate = createRecentRate(Math.max(32, 4 * concurrency), Math.max(16, concurrency));
  let runDrops = 0;
  return {
    record(dropped: boolean) {
      rate.record(dropped);
      runDrops = dropped ? runDrops + 1 : 0;
    },
    state: () => ({ frequent: rate.value() >= SATURATION_RATE, runDrops }),
    dropping: () => rate.value() > 0.5,
  };
}

/** One attempt, run inside a concurrency slot: wait for the rpm/tpm limiter, then send with the run's abort. */
function createAttempt(ctx: SendContext, limiter: ReturnType<typeof createRateLimiter>) {
  const { o, signal } = ctx;
  const paced = o.rpm !== undefined || o.tpm !== undefined;
  // A client that removes its abort listener when a request ends (createDirectChat) shares the run's signal.
  const sharesSignal = (o.client as { releasesSignal?: unknown }).releasesSignal === true;
  // In-flight attempts' controllers, aborted together by one listener (cheaper than a listener per attempt).
  const inFlight = new Set<AbortController>();
  signal.addEventListener(
    'abort',
    () => {
      for (const c of inFlight) c.abort(signal.reason);
      inFlight.clear();
    },
    { once: true },
  );
  return async (body: OpenAI.ChatCompletionCreateParamsNonStreaming, tokens: number): Promise<unknown> => {
    // Without rpm/tpm the limiter would only check the signal: skip its promise.
    if (paced) await limiter.acquire(tokens, signal);
    else if (signal.aborted) throw abortedError(signal);
    // maxRetries: 0 — the SDK must not retry behind our back; the sender owns retries and their count.
    if (sharesSignal) return await o.client.create(body, { signal, timeout: o.timeoutMs, maxRetries: 0 });
    // The SDK adds an abort listener to the signal it is given and never removes it, so each
    // attempt gets its own short-lived signal; a run-long one would collect listeners (and memory).
    const attemptAbort = new AbortController();
    inFlight.add(attemptAbort);
    try {
      return await o.client.create(body, { signal: attemptAbort.signal, timeout: o.timeoutMs, maxRetries: 0 });
    } finally {
      inFlight.delete(attemptAbort);
    }
  };
}

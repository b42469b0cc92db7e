import type { FailureKind } from './realtime-types.js';

/** What an attempt's error means for the retry loop. */
export interface FailureInfo {
  kind: FailureKind;
  retryable: boolean;
  /** HTTP status, when the server answered. */
  status?: number;
  /** Server-requested wait (Retry-After / retry-after-ms), when given. */
  retryAfterMs?: number;
}

/**
 * Classify an error thrown by `chat.completions.create` (openai SDK errors, or anything shaped
 * like them): 429 → rate_limited, 408/409/5xx → server_error, no status → connection_error or
 * timeout (all retryable); other 4xx → client_error (final).
 * @example
 * const info = classifyFailure(err); // e.g. { kind: 'rate_limited', retryable: true, status: 429, retryAfterMs: 1000 }
 * if (!info.retryable) return failureLine(id, err, info);
 */
export function classifyFailure(err: unknown): FailureInfo {
  const e = (err ?? {}) as { status?: unknown; headers?: unknown; name?: unknown; constructor?: { name?: string } };
  const status = typeof e.status === 'number' ? e.status : undefined;
  if (status === undefined) {
    const name = `${String(e.name ?? '')} ${e.constructor?.name ?? ''}`;
    const timeout = /Timeout/i.test(name);
    return { kind: timeout ? 'timeout' : 'connection_error', retryable: true };
  }
  const retryAfterMs = parseRetryAfter(e.headers);
  const withWait = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (status === 429) return { kind: 'rate_limited', retryable: true, status, ...withWait };
  if (status === 408 || status === 409 || status >= 500) return { kind: 'server_error', retryable: true, status, ...withWait };
  return { kind: 'client_error', retryable: false, status };
}

/**
 * Read `retry-after-ms` (milliseconds) or `retry-after` (seconds or an HTTP date) from response
 * headers (a fetch `Headers` or a plain object). Returns undefined when absent or unparsable.
 */
export function parseRetryAfter(headers: unknown, now: number = Date.now()): number | undefined {
  const get = (name: string): string | undefined => {
    if (!headers || typeof headers !== 'object') return undefined;
    if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
    const value = (headers as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : undefined;
  };
  const ms = Number(get('retry-after-ms'));
  if (get('retry-after-ms') !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = get('retry-after');
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The wait before retry number `attempt` (1-based): "full jitter" exponential backoff,
 * random() × min(maxMs, baseMs × 2^(attempt-1)), so retrying clients spread out instead of
 * returning in lockstep. A server-given Retry-After is honoured as given, plus a jitter of at most a
 * tenth of it (and of the backoff's): it is the server's instruction, and a small spread is enough to
 * keep the waiting requests from returning at the same instant.
 * @example
 * backoffDelay(3, { baseMs: 500, maxMs: 30_000 }); // random in [0, 2000)
 * backoffDelay(1, { baseMs: 500, maxMs: 30_000, retryAfterMs: 1000 }); // in [1000, 1100)
 */
export function backoffDelay(
  attempt: number,
  options: { baseMs: number; maxMs: number; retryAfterMs?: number; random?: () => number },
): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** (attempt - 1));
  const after = options.retryAfterMs;
  if (after !== undefined) return Math.round(after + random() * Math.min(ceiling, options.baseMs, after / 10));
  return Math.round(random() * ceiling);
}

/** The most a request's first dropped connection waits before its retry. */
const PROMPT_RETRY_MS = 50;

/**
 * The wait before retry number `attempt` of a request after the failure `info`: the server's Retry-After
 * when it gave one (see {@link backoffDelay}). A dropped connection (no answer at all) backs off by the
 * request's count of drops, not of attempts (a 429 says nothing about the connection): the first is retried
 * promptly (under 50 ms; a connection closed before any answer is usually that one connection's fault, and
 * the retry takes a fresh one), the next ones back off as usual, since the server or the network may be down.
 * @example
 * retryDelay(3, { kind: 'connection_error', retryable: true }, { baseMs: 500, maxMs: 30_000, drops: 1 }); // in [0, 50)
 * retryDelay(3, { kind: 'connection_error', retryable: true }, { baseMs: 500, maxMs: 30_000, drops: 2 }); // in [0, 1000)
 */
export function retryDelay(
  attempt: number,
  info: FailureInfo,
  options: { baseMs: number; maxMs: number; drops: number; random?: () => number },
): number {
  const { drops, ...backoff } = options;
  if (info.retryAfterMs !== undefined) return backoffDelay(attempt, { ...backoff, retryAfterMs: info.retryAfterMs });
  if (info.kind !== 'connection_error') return backoffDelay(attempt, backoff);
  if (drops <= 1) return Math.round((options.random ?? Math.random)() * Math.min(options.baseMs, PROMPT_RETRY_MS));
  return backoffDelay(drops, backoff);
}

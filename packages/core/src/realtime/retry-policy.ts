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
 * floor(random() × min(maxMs, baseMs × 2^(attempt-1))), so retrying clients spread out instead of
 * returning in lockstep; every range is half-open (random() < 1).
 * A server-given Retry-After `after` is honoured as given, plus a jitter of at most a tenth of it (and of the
 * base): after + floor(random() × min(after / 10, baseMs, ceiling)); it is the server's instruction, and a small
 * spread is enough to keep the waiting requests from returning at the same instant. A Retry-After below the jitter
 * floor, a tenth of min(baseMs, ceiling) (50 ms by default), is no instruction to hurry: the retry waits it plus the
 * full backoff, after + floor(random() × ceiling), so a server answering "retry-after: 0" is not hammered.
 * @example
 * backoffDelay(3, { baseMs: 500, maxMs: 30_000 }); // in [0, 2000)
 * backoffDelay(1, { baseMs: 500, maxMs: 30_000, retryAfterMs: 1000 }); // in [1000, 1100)
 * backoffDelay(3, { baseMs: 500, maxMs: 30_000, retryAfterMs: 0 }); // in [0, 2000)
 */
export function backoffDelay(
  attempt: number,
  options: { baseMs: number; maxMs: number; retryAfterMs?: number; random?: () => number },
): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** (attempt - 1));
  const after = options.retryAfterMs;
  if (after === undefined) return Math.floor(random() * ceiling);
  if (after < Math.min(ceiling, options.baseMs) / 10) return Math.floor(after + random() * ceiling);
  return Math.floor(after + random() * Math.min(ceiling, options.baseMs, after / 10));
}

/** The most a sporadic dropped connection waits before its retry. */
const PROMPT_RETRY_MS = 50;

/** What the run knows of dropped connections, for {@link retryDelay}. */
export interface DropState {
  /** This request's dropped connections so far (this one included). */
  drops: number;
  /** Whether drops are a large share of the run's recent outcomes (the server or the network may be down). */
  frequent: boolean;
  /** The run's dropped connections since its last answer of any kind (this one included). */
  runDrops: number;
}

/**
 * The wait before retry number `attempt` of a request after the failure `info`: the server's Retry-After
 * when it gave one (see {@link backoffDelay}). A dropped connection (no answer at all) backs off by a count of
 * drops, not of attempts (a 429 says nothing about the connection). A sporadic one, the request's first while
 * drops are rare in the run, is retried promptly, in [0, min(50, baseMs)) ms: it is usually that one
 * connection's fault, and the retry takes a fresh one. The request's next drops back off by their count; and
 * while drops are `frequent`, every drop backs off by the larger of its request's count and the run's
 * consecutive drops, so a server that drops everything sees fewer attempts, not one prompt retry per request.
 * @example
 * const drop: FailureInfo = { kind: 'connection_error', retryable: true };
 * retryDelay(3, drop, { baseMs: 500, maxMs: 30_000, drops: 1, frequent: false, runDrops: 4 }); // in [0, 50)
 * retryDelay(3, drop, { baseMs: 500, maxMs: 30_000, drops: 2, frequent: false, runDrops: 2 }); // in [0, 1000)
 * retryDelay(1, drop, { baseMs: 500, maxMs: 30_000, drops: 1, frequent: true, runDrops: 4 }); // in [0, 4000)
 */
export function retryDelay(
  attempt: number,
  info: FailureInfo,
  options: DropState & { baseMs: number; maxMs: number; random?: () => number },
): number {
  const { drops, frequent, runDrops, ...backoff } = options;
  if (info.retryAfterMs !== undefined) return backoffDelay(attempt, { ...backoff, retryAfterMs: info.retryAfterMs });
  if (info.kind !== 'connection_error') return backoffDelay(attempt, backoff);
  const count = frequent ? Math.max(drops, runDrops) : drops;
  if (count <= 1) return Math.floor((options.random ?? Math.random)() * Math.min(options.baseMs, PROMPT_RETRY_MS));
  return backoffDelay(count, backoff);
}

import { APIError, APIUserAbortError } from 'openai';
import { isKbatchError, KbatchError } from '../errors.js';

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * True for failures worth retrying later: 408/409/429/5xx, dropped connections and timeouts.
 * Polling and job recovery use it so that a flaky network never aborts a long wait.
 */
export function isTransientError(err: unknown): boolean {
  if (isAbortError(err)) return false;
  if (isKbatchError(err)) return err.code === 'DOWNLOAD_INCOMPLETE' || err.code === 'UPLOAD_FAILED';
  if (err instanceof APIError || hasStatus(err)) {
    const status = (err as { status?: number }).status;
    if (status === undefined) return true; // connection error or timeout inside the SDK
    return status === 408 || status === 409 || status === 429 || status >= 500;
  }
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /^(terminated|fetch failed|other side closed|socket hang up)$/i.test(message)) return true;
  }
  return false;
}

function hasStatus(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'status' in err && 'headers' in err && err instanceof Error;
}

/** True for an AbortSignal-driven cancellation (ours or the SDK's). */
export function isAbortError(err: unknown): boolean {
  if (isKbatchError(err)) return err.code === 'ABORTED';
  if (err instanceof APIUserAbortError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const name = (err as { name?: unknown }).name;
  return name === 'AbortError' || name === 'APIUserAbortError';
}

/** The server's Retry-After (seconds or HTTP date) in ms, if the error carries one. */
export function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { headers?: unknown } | null)?.headers;
  const get = (name: string): string | null | undefined => {
    if (headers && typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
    if (headers && typeof headers === 'object') {
      const raw = (headers as Record<string, unknown>)[name];
      return Array.isArray(raw) ? String(raw[0]) : raw === undefined ? undefined : String(raw);
    }
    return undefined;
  };
  const ms = Number(get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = get('retry-after');
  if (value === null || value === undefined || value === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Exponential backoff with full jitter in [delay/2, delay]: fast at first, capped at `maxMs`. */
export function backoffDelay(attempt: number, { baseMs = 500, maxMs = 30_000, random = Math.random } = {}): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(delay / 2 + random() * (delay / 2));
}

/** Wait `ms`, rejecting with ABORTED as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortedError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The ABORTED error for a signal (keeps the signal's reason as cause). */
export function abortedError(signal: AbortSignal): KbatchError {
  return new KbatchError('ABORTED', 'The operation was aborted', { cause: signal.reason });
}

/** Throw ABORTED if the signal has fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortedError(signal);
}

/** Message of any thrown value, for events and reports. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

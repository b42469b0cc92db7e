import { request, type Dispatcher } from 'undici';
import { APIConnectionError } from 'openai';
import { httpApiError } from '../../client/http-error.js';
import { backoffDelay, isAbortError, isTransientError, retryAfterMs, sleep } from '../../client/retry.js';

/** Where and how a Gemini adapter talks: the bare origin (as @google/genai takes it), the key, and patience. */
export interface GeminiHttp {
  origin: string;
  apiKey: string;
  /** ms per attempt (headers and body). */
  timeout?: number | undefined;
  /** Retries of a transient failure (429/5xx/drops) when a call does not say (the openai client's default: 2). */
  maxRetries: number;
}

/** One call: method, path under the origin (`v1beta/batches/x`), and what it sends. */
export interface GeminiCall {
  method: Dispatcher.HttpMethod;
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  headers?: Record<string, string>;
  body?: Buffer | NodeJS.ReadableStream;
  signal?: AbortSignal | undefined;
  maxRetries?: number | undefined;
}

/** The URL of a path under the origin. */
export function geminiUrl(http: GeminiHttp, path: string, query: GeminiCall['query'] = {}): string {
  const url = new URL(`${http.origin.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url.toString();
}

/**
 * Send one request to the Gemini API with `x-goog-api-key`, retrying transient failures (429 after its
 * Retry-After, 5xx, drops) up to `maxRetries` times (a request with a raw body is never retried here). A non-2xx answer becomes the openai SDK's error class for its
 * status (`APIError.generate`), so kbatch's retry rules apply unchanged; a dropped connection, APIConnectionError.
 * @returns the response (status 2xx, body unread)
 */
export async function geminiRequest(http: GeminiHttp, call: GeminiCall): Promise<Dispatcher.ResponseData> {
  const retries = call.maxRetries ?? http.maxRetries;
  for (let attempt = 0; ; attempt++) {
    try {
      return await once(http, call);
    } catch (error) {
      if (isAbortError(error) || call.signal?.aborted || !isTransientError(error) || attempt >= retries || call.body !== undefined) throw error;
      await sleep(Math.min(60_000, retryAfterMs(error) ?? backoffDelay(attempt, { baseMs: 500, maxMs: 8_000 })), call.signal);
    }
  }
}

/** {@link geminiRequest} with its JSON answer parsed (an empty body reads as `{}`). */
export async function geminiJson(http: GeminiHttp, call: GeminiCall): Promise<unknown> {
  const res = await geminiRequest(http, call);
  const text = await res.body.text();
  return text.trim() === '' ? {} : (JSON.parse(text) as unknown);
}

async function once(http: GeminiHttp, call: GeminiCall): Promise<Dispatcher.ResponseData> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(geminiUrl(http, call.path, call.query), {
      method: call.method,
      headers: {
        'x-goog-api-key': http.apiKey,
        ...(call.json === undefined ? {} : { 'content-type': 'application/json' }),
        ...call.headers,
      },
      ...(call.json !== undefined ? { body: JSON.stringify(call.json) } : call.body !== undefined ? { body: call.body as Buffer } : {}),
      ...(http.timeout === undefined ? {} : { headersTimeout: http.timeout, bodyTimeout: http.timeout }),
      ...(call.signal ? { signal: call.signal } : {}),
    });
  } catch (cause) {
    if (isAbortError(cause) || call.signal?.aborted) throw cause;
    throw new APIConnectionError({ message: `Connection to the Gemini API failed: ${(cause as Error).message}`, cause: cause as Error });
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return res;
  throw httpApiError(res.statusCode, await res.body.text().catch(() => ''), res.headers);
}

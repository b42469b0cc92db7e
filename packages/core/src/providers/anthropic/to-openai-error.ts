// Errors of @anthropic-ai/sdk → the openai SDK's classes, so kbatch's retry rules (429/5xx/Retry-After) apply unchanged.
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { isKbatchError } from '../../errors.js';

/** What an @anthropic-ai/sdk error carries (read by shape: the SDK is imported lazily). */
interface AnthropicErrorLike {
  name?: string;
  message?: string;
  status?: number;
  headers?: Headers;
  error?: unknown;
  cause?: unknown;
}

/**
 * The openai-SDK error for an Anthropic SDK error: an HTTP error becomes `APIError.generate(status, body, message,
 * headers)` (RateLimitError for 429, InternalServerError for 5xx, … with Retry-After kept); an abort, a timeout
 * and a connection failure their openai counterparts. KbatchErrors and anything else pass through.
 */
export function toOpenAIError(error: unknown): unknown {
  if (isKbatchError(error) || typeof error !== 'object' || error === null) return error;
  const e = error as AnthropicErrorLike;
  if (e.name === 'APIUserAbortError' || e.name === 'AbortError') return new APIUserAbortError({ message: e.message });
  if (e.name === 'APIConnectionTimeoutError') return new APIConnectionTimeoutError({ message: e.message });
  if (e.name === 'APIConnectionError') return new APIConnectionError({ message: e.message, cause: e.cause instanceof Error ? e.cause : undefined });
  if (typeof e.status === 'number' && e.headers !== undefined) {
    const body = (e.error ?? undefined) as object | undefined;
    return APIError.generate(e.status, body, e.message, e.headers);
  }
  return error;
}

/** Run an SDK call, its errors mapped by {@link toOpenAIError}. */
export async function mapErrors<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toOpenAIError(error);
  }
}

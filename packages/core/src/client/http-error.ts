import { APIError } from 'openai';

/**
 * A non-2xx answer read by undici as the openai SDK's error of its status (RateLimitError, …) with its headers, so
 * kbatch's retry rules (429/5xx, Retry-After) treat it as any SDK error.
 * @param text - the response body as text
 */
export function httpApiError(status: number, text: string, rawHeaders: Record<string, string | string[] | undefined>): APIError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const headers = new Headers();
  for (const [key, value] of Object.entries(rawHeaders)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  // generate() takes the whole body (it reads `.error` itself); the raw text only when there is no `error` in it.
  const body = typeof json === 'object' && json !== null && 'error' in json ? json : undefined;
  return APIError.generate(status, body, body ? undefined : text.slice(0, 500) || undefined, headers);
}

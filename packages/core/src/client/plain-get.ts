import type OpenAI from 'openai';
import { APIError } from 'openai';
import { request, type Dispatcher } from 'undici';
import { supportsDirectChat } from './direct-chat.js';
import { headerValue, isJsonMedia, mediaTypeOf, safeJson, toFetchHeaders } from './undici-fetch.js';

/** One GET as the SDK would send it: its path (below the base URL), query and extra headers. */
export interface PlainGetRequest {
  path: string;
  query?: Record<string, string | number>;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** What node's fetch allows for response headers and between body chunks (the SDK's own timeout may be shorter). */
const FETCH_TIMEOUT_MS = 300_000;

// Ids the SDK's path encoder leaves as they are (no dots: it refuses `.` and `..` segments); others keep the SDK call.
const PLAIN_ID = /^[A-Za-z0-9_~-]+$/;

/** `id` when it goes into a path unchanged by the SDK's encoder, else undefined (the caller then makes the SDK call). */
export function plainPathId(id: string): string | undefined {
  return PLAIN_ID.test(id) ? id : undefined;
}

type Resource = { _client?: unknown; constructor?: { name?: string } };

/**
 * The plain openai client behind an SDK resource (`client.files`, `client.batches`) whose `method` is the SDK's
 * own (not replaced on the object), when `supportsDirectChat` accepts that client; else undefined (fakes, native
 * adapters, custom fetch or auth hooks: those keep the SDK call).
 */
export function plainClientOf(resource: unknown, method: string): OpenAI | undefined {
  if (typeof resource !== 'object' || resource === null || Object.hasOwn(resource, method)) return undefined;
  const client = (resource as Resource)._client;
  if (typeof client !== 'object' || client === null) return undefined;
  const proto = Object.getPrototypeOf(resource) as Resource | null;
  if (!['Files', 'Batches'].includes(proto?.constructor?.name ?? '')) return undefined;
  return supportsDirectChat(client as OpenAI) ? (client as OpenAI) : undefined;
}

/**
 * GET with the URL and headers the client itself builds, over undici's Node streams (no web streams, Request or
 * Response objects). Why: the SDK's per-request work and web streams cost ~4x the CPU of the request itself, which
 * polls and downloads pay for the length of a job. It asks for `accept-encoding: identity` (undici does not
 * decompress). Returns the 2xx response; an HTTP error status throws the SDK's own error (`APIError.generate`, with
 * its headers for Retry-After), so the callers' retries and backoff apply as to the SDK call, and no second request
 * is sent at once. Anything else (a redirect, a compressed body, a network error, an abort) gives undefined after
 * releasing the socket, so the caller makes the SDK call, which follows redirects and decompresses.
 */
export async function plainGet(client: OpenAI, get: PlainGetRequest): Promise<Dispatcher.ResponseData | undefined> {
  if (get.signal?.aborted) return undefined;
  let res: Dispatcher.ResponseData;
  try {
    const { url, req, timeout } = await client.buildRequest({
      method: 'get',
      path: get.path,
      ...(get.query ? { query: get.query } : {}),
      ...(get.headers ? { headers: get.headers } : {}),
      __security: { bearerAuth: true },
    } as Parameters<OpenAI['buildRequest']>[0]);
    const headers: string[] = [];
    new Headers(req.headers as ConstructorParameters<typeof Headers>[0]).forEach((value, name) => {
      if (name !== 'accept-encoding') headers.push(name, value);
    });
    headers.push('accept-encoding', 'identity');
    res = await request(url, {
      method: 'GET',
      headers,
      headersTimeout: Math.min(timeout, FETCH_TIMEOUT_MS),
      bodyTimeout: FETCH_TIMEOUT_MS,
      ...(get.signal ? { signal: get.signal } : {}),
    });
  } catch {
    return undefined;
  }
  const encoding = headerValue(res.headers, 'content-encoding')?.trim().toLowerCase();
  if (res.statusCode >= 200 && res.statusCode < 300 && res.statusCode !== 204 && (!encoding || encoding === 'identity')) return res;
  if (res.statusCode < 400) {
    await res.body.dump().catch(() => undefined);
    return undefined;
  }
  const text = await res.body.text().catch(() => undefined);
  if (text === undefined) return undefined;
  const json = safeJson(text);
  throw APIError.generate(res.statusCode, json, json === undefined ? text : undefined, toFetchHeaders(res.headers));
}

/**
 * {@link plainGet} of a JSON body, parsed; undefined (the caller makes the SDK call) for a body that is not JSON by
 * its content type or by its bytes, or that fails while it is read.
 */
export async function plainGetJson(client: OpenAI, get: PlainGetRequest): Promise<unknown> {
  const res = await plainGet(client, get);
  if (!res) return undefined;
  if (!isJsonMedia(mediaTypeOf(res.headers))) {
    await res.body.dump().catch(() => undefined);
    return undefined;
  }
  try {
    return await res.body.json();
  } catch {
    return undefined;
  }
}

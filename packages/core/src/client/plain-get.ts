import type OpenAI from 'openai';
import { request, type Dispatcher } from 'undici';
import { supportsDirectChat } from './direct-chat.js';

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
 * polls and downloads pay for the length of a job. Returns the 2xx response; anything else (another status, a
 * network error, an abort) gives undefined after releasing the socket, so the caller makes the SDK call, which
 * owns retries, redirects and error classes: the outcome of a failure is the SDK's, at the cost of one more request.
 */
export async function plainGet(client: OpenAI, get: PlainGetRequest): Promise<Dispatcher.ResponseData | undefined> {
  if (get.signal?.aborted) return undefined;
  try {
    const { url, req, timeout } = await client.buildRequest({
      method: 'get',
      path: get.path,
      ...(get.query ? { query: get.query } : {}),
      ...(get.headers ? { headers: get.headers } : {}),
      __security: { bearerAuth: true },
    } as Parameters<OpenAI['buildRequest']>[0]);
    const headers: string[] = [];
    new Headers(req.headers as ConstructorParameters<typeof Headers>[0]).forEach((value, name) => headers.push(name, value));
    const res = await request(url, {
      method: 'GET',
      headers,
      headersTimeout: Math.min(timeout, FETCH_TIMEOUT_MS),
      bodyTimeout: FETCH_TIMEOUT_MS,
      ...(get.signal ? { signal: get.signal } : {}),
    });
    if (res.statusCode >= 200 && res.statusCode < 300 && res.statusCode !== 204) return res;
    await res.body.dump().catch(() => undefined);
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * {@link plainGet} of a JSON body, parsed; undefined (the caller makes the SDK call) for a body that is not JSON by
 * its content type or by its bytes, or that fails while it is read.
 */
export async function plainGetJson(client: OpenAI, get: PlainGetRequest): Promise<unknown> {
  const res = await plainGet(client, get);
  if (!res) return undefined;
  const type = res.headers['content-type'];
  const media = (Array.isArray(type) ? type[0] : type)?.split(';')[0]?.trim() ?? '';
  if (!media.includes('application/json') && !media.endsWith('+json')) {
    await res.body.dump().catch(() => undefined);
    return undefined;
  }
  try {
    return await res.body.json();
  } catch {
    return undefined;
  }
}

import type OpenAI from 'openai';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { Pool, type Dispatcher } from 'undici';
import { z } from 'zod';
import { parseOptions } from '../options.js';
import { isJsonMedia, mediaTypeOf, safeJson, toFetchHeaders } from './undici-fetch.js';

/** Options of {@link createDirectChat}. */
export const DirectChatOptionsSchema = z.object({
  /** Sockets to the API's origin (size it to the request concurrency). */
  connections: z.int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }),
  /** How long an idle keep-alive socket is kept (default 30 s). */
  keepAliveTimeoutMs: z.int({ error: 'must be a positive integer (ms)' }).min(1, { error: 'must be a positive integer (ms)' }).default(30_000),
});
/** Options of {@link createDirectChat} as given. */
export type DirectChatOptions = z.input<typeof DirectChatOptionsSchema>;

/** Per-call options the direct client honours (the SDK's `RequestOptions` subset the realtime engine passes). */
export interface DirectChatRequestOptions {
  signal?: AbortSignal | null | undefined;
  /** Milliseconds until the response headers, and again between body chunks (default: the client's timeout). */
  timeout?: number | undefined;
}

/** `chat.completions.create` without the SDK's per-request machinery, plus `close()` for its sockets. */
export interface DirectChat {
  create(body: OpenAI.ChatCompletionCreateParamsNonStreaming, options?: DirectChatRequestOptions): Promise<OpenAI.ChatCompletion>;
  /** Close the pool's sockets (waits for requests in flight). */
  close(): Promise<void>;
  /** Each request removes its abort listener when it ends, so one long-lived signal can be shared by all. */
  readonly releasesSignal: true;
}

type Internals = {
  _options?: { apiKey?: unknown };
  buildRequest?: unknown;
  prepareRequest?: unknown;
  fetch?: unknown;
  fetchOptions?: unknown;
  _provider?: unknown;
  _workloadIdentityAuth?: unknown;
  timeout: number;
};

/**
 * True when `createDirectChat` can send exactly what the client would: a plain `OpenAI` on the
 * platform fetch with a fixed key and no fetch options, provider or token hooks (an Azure client, an
 * `apiKey` function, a proxy dispatcher or a custom fetch keeps the SDK path).
 */
export function supportsDirectChat(client: OpenAI): boolean {
  const c = client as unknown as Internals;
  // By class name, not identity: the client may come from another copy of the package (CJS vs ESM).
  const proto = Object.getPrototypeOf(c) as { constructor?: { name?: string } } | null;
  return (
    proto?.constructor?.name === 'OpenAI' &&
    typeof c.buildRequest === 'function' &&
    !Object.hasOwn(c, 'buildRequest') &&
    !Object.hasOwn(c, 'prepareRequest') &&
    c.fetch === globalThis.fetch &&
    c.fetchOptions === undefined &&
    // A key function is called per request by the SDK (tokens that expire); headers built once would freeze one.
    typeof c._options?.apiKey !== 'function' &&
    !c._provider &&
    !c._workloadIdentityAuth
  );
}

/**
 * POST /chat/completions over one undici keep-alive `Pool`, with the headers the openai client
 * itself builds (taken once from `client.buildRequest`: auth, organization/project, default headers
 * and query, user agent) and the SDK's own error classes: `APIError.generate` for HTTP errors
 * (`RateLimitError` with its headers for Retry-After, …), `APIConnectionError` with the cause for
 * network failures, `APIConnectionTimeoutError`, `APIUserAbortError`. Why: the SDK's per-request work
 * on top of the HTTP client (options copies, header merging, logging details, an AbortController and a
 * timer per call) limits realtime throughput on small machines (see `pnpm bench:realtime`). Never retries (the
 * realtime engine owns retries). Only for clients `supportsDirectChat` accepts. Unlike the SDK it does
 * not follow redirects, log through `OPENAI_LOG`/`logger`, or use undici's global dispatcher.
 * @example
 * const chat = createDirectChat(new OpenAI({ apiKey, baseURL }), { connections: 64 });
 * try { const c = await chat.create({ model, messages }, { timeout: 60_000 }); } finally { await chat.close(); }
 */
export function createDirectChat(client: OpenAI, options: DirectChatOptions): DirectChat {
  const o = parseOptions(DirectChatOptionsSchema, options, 'createDirectChat');
  const defaultTimeout = (client as unknown as Internals).timeout;
  // The client's own request for a chat body: its URL and headers, built once (they do not depend on the body).
  const target = client.buildRequest({ method: 'post', path: '/chat/completions', body: {} }).then(({ url, req }) => {
    const parsed = new URL(url);
    const headers: string[] = [];
    new Headers(req.headers as ConstructorParameters<typeof Headers>[0]).forEach((value, name) => {
      if (name !== 'content-length') headers.push(name, value);
    });
    return { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}`, headers };
  });
  target.catch(() => undefined); // surfaced by the first create()
  let pool: Pool | undefined;
  let closed = false;

  return {
    releasesSignal: true,
    async create(body, requestOptions = {}) {
      if ((body as { stream?: unknown }).stream) throw new TypeError('createDirectChat sends non-streaming requests only (stream: true given)');
      const { origin, path, headers } = await target;
      if (closed) throw new APIConnectionError({ message: 'createDirectChat: the client was closed' });
      pool ??= new Pool(origin, { connections: o.connections, keepAliveTimeout: o.keepAliveTimeoutMs });
      const signal = requestOptions.signal ?? undefined;
      if (signal?.aborted) throw new APIUserAbortError();
      const timeout = requestOptions.timeout ?? defaultTimeout;
      let res: Dispatcher.ResponseData;
      try {
        res = await pool.request({
          path,
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          headersTimeout: timeout,
          bodyTimeout: timeout,
          ...(signal ? { signal } : {}),
        });
        if (res.statusCode >= 200 && res.statusCode < 300) {
          if (res.statusCode === 204) {
            await res.body.dump();
            return null as unknown as OpenAI.ChatCompletion;
          }
          if (!isJsonMedia(mediaTypeOf(res.headers))) return (await res.body.text()) as unknown as OpenAI.ChatCompletion;
          const completion = (await res.body.json()) as OpenAI.ChatCompletion;
          const requestId = res.headers['x-request-id'];
          if (completion && typeof completion === 'object' && !Array.isArray(completion)) {
            Object.defineProperty(completion, '_request_id', { value: typeof requestId === 'string' ? requestId : null, enumerable: false });
          }
          return completion;
        }
        const text = await res.body.text().catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
        const json = safeJson(text);
        throw APIError.generate(res.statusCode, json, json === undefined ? text : undefined, toFetchHeaders(res.headers));
      } catch (err) {
        if (err instanceof APIError) throw err;
        if (signal?.aborted) throw new APIUserAbortError();
        if (isTimeout(err)) throw new APIConnectionTimeoutError();
        throw new APIConnectionError({ message: 'Connection error.', cause: err as Error });
      }
    },
    async close() {
      closed = true;
      await pool?.close();
    },
  };
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

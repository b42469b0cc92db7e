import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { Agent, request, type Dispatcher } from 'undici';
import { z } from 'zod';
import { parseOptions } from '../options.js';

/** Options of {@link createUndiciFetch}. */
export const UndiciFetchOptionsSchema = z.object({
  /** Sockets per origin (size it to the request concurrency); default unlimited, as fetch. */
  connections: z.int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }).optional(),
  /** How long an idle keep-alive socket is kept (default 30 s). */
  keepAliveTimeoutMs: z.int({ error: 'must be a positive integer (ms)' }).min(1, { error: 'must be a positive integer (ms)' }).default(30_000),
  /** undici's headers/body timeouts; default 0 (off) so the caller's own timeout (the SDK's) governs. */
  headersTimeoutMs: z.int({ error: 'must be a non-negative integer (ms)' }).min(0, { error: 'must be a non-negative integer (ms)' }).default(0),
  bodyTimeoutMs: z.int({ error: 'must be a non-negative integer (ms)' }).min(0, { error: 'must be a non-negative integer (ms)' }).default(0),
  /** Follow up to this many redirects, as fetch does (default 5; 0 returns 3xx responses as they are). */
  maxRedirections: z.int({ error: 'must be a non-negative integer' }).min(0, { error: 'must be a non-negative integer' }).default(5),
  /** Use this dispatcher instead of creating an Agent (the other pool options are then ignored). */
  dispatcher: z.custom<Dispatcher>((v) => typeof (v as { dispatch?: unknown } | null)?.dispatch === 'function', { error: 'must be an undici Dispatcher' }).optional(),
});
/** Options of {@link createUndiciFetch} as given. */
export type UndiciFetchOptions = z.input<typeof UndiciFetchOptionsSchema>;

/** A `fetch` over undici's `request`, plus `close()` to release its keep-alive sockets. */
export type UndiciFetch = typeof fetch & {
  /** Close the pool's sockets (waits for requests in flight). Not needed when `dispatcher` was given. */
  close(): Promise<void>;
  /** The dispatcher requests go through. */
  readonly dispatcher: Dispatcher;
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * A `fetch`-compatible function over `undici.request` and a keep-alive `Agent`, for `new OpenAI({ fetch })`.
 * Why: Node 20's fetch costs much CPU per request (WHATWG streams, Request/Response objects), which caps
 * realtime throughput on small machines (see `pnpm bench:realtime`); and it sends a streamed request body without backpressure
 * (a 1 GB upload to a slow server holds ~1 GB in memory). Here a streamed body (web ReadableStream, async
 * iterable, Node Readable, Blob, FormData) is piped into the socket and waits for it to drain, and the
 * response body is read straight from undici (`json()`/`text()` without web streams; `body` is a web
 * ReadableStream made on first access). Aborting `signal` rejects with the signal's reason (an `AbortError`
 * DOMException by default) before the headers, and errors the body after them. Network failures reject with
 * `TypeError('fetch failed', { cause })`, as fetch does, so the SDK classifies them the same way.
 * @example
 * const fetch = createUndiciFetch({ connections: 64 });
 * const openai = new OpenAI({ apiKey, baseURL, fetch });
 * // … later
 * await fetch.close();
 */
export function createUndiciFetch(options: UndiciFetchOptions = {}): UndiciFetch {
  const o = parseOptions(UndiciFetchOptionsSchema, options, 'createUndiciFetch');
  const dispatcher: Dispatcher =
    o.dispatcher ??
    new Agent({
      ...(o.connections === undefined ? {} : { connections: o.connections }),
      keepAliveTimeout: o.keepAliveTimeoutMs,
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
    });
  const owned = o.dispatcher === undefined;

  const undiciFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    let method = (init?.method ?? (isRequest(input) ? input.method : 'GET')).toUpperCase();
    const headers = new Headers(init?.headers ?? (isRequest(input) ? input.headers : undefined));
    const signal = init?.signal ?? (isRequest(input) ? input.signal : undefined) ?? undefined;
    let body = toBody(init?.body ?? (isRequest(input) ? input.body : null), headers);
    if (signal?.aborted) throw abortReason(signal);
    for (let redirects = 0; ; redirects++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          dispatcher,
          method: method as Dispatcher.HttpMethod,
          headers: flatHeaders(headers),
          body: body ?? null,
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (signal?.aborted) throw abortReason(signal);
        throw new TypeError('fetch failed', { cause: err });
      }
      const location = res.headers['location'];
      if (o.maxRedirections > 0 && REDIRECTS.has(res.statusCode) && typeof location === 'string' && init?.redirect !== 'manual') {
        res.body.resume().on('error', () => undefined);
        if (init?.redirect === 'error') throw new TypeError('fetch failed', { cause: new Error(`redirect to ${location} refused`) });
        if (redirects >= o.maxRedirections) throw new TypeError('fetch failed', { cause: new Error('too many redirects') });
        if (body instanceof Readable && res.statusCode !== 303 && !((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
          throw new TypeError('fetch failed', { cause: new Error('cannot follow a redirect with a streamed body') });
        }
        url = new URL(location, url).href;
        if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
          headers.delete('content-type');
          headers.delete('content-length');
        }
        continue;
      }
      return new UndiciResponse(res, url, redirects > 0, method === 'HEAD') as unknown as Response;
    }
  };
  return Object.assign(undiciFetch as typeof fetch, {
    dispatcher,
    close: async () => {
      if (owned) await dispatcher.close();
    },
  });
}

/** undici's response header object as a fetch `Headers` (repeated names kept). */
export function toFetchHeaders(raw: Dispatcher.ResponseData['headers']): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.append(name, value);
  }
  return headers;
}

function isRequest(v: unknown): v is Request {
  return typeof Request !== 'undefined' && v instanceof Request;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** Headers as undici's flat [name, value, …] list (keeps repeated names). */
function flatHeaders(headers: Headers): string[] {
  const out: string[] = [];
  headers.forEach((value, name) => out.push(name, value));
  return out;
}

/** The request body in a form undici sends with backpressure; sets content-type as fetch would. */
function toBody(body: RequestInit['body'] | null | undefined | Readable | AsyncIterable<Uint8Array>, headers: Headers): string | Uint8Array | Readable | undefined {
  if (body === null || body === undefined) return undefined;
  const type = (value: string) => {
    if (!headers.has('content-type') && value) headers.set('content-type', value);
  };
  if (typeof body === 'string') {
    type('text/plain;charset=UTF-8');
    return body;
  }
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof URLSearchParams) {
    type('application/x-www-form-urlencoded;charset=UTF-8');
    return body.toString();
  }
  if (body instanceof Readable) return body;
  if (typeof Blob !== 'undefined' && body instanceof Blob) {
    type(body.type);
    if (!headers.has('content-length')) headers.set('content-length', String(body.size));
    return Readable.fromWeb(body.stream() as unknown as NodeWebReadableStream<Uint8Array>);
  }
  if (typeof FormData !== 'undefined' && body instanceof FormData) {
    // The platform's multipart encoder (boundary and all); its stream is pulled as the socket drains.
    const encoded = new Response(body);
    type(encoded.headers.get('content-type') ?? '');
    return Readable.fromWeb(encoded.body as unknown as NodeWebReadableStream<Uint8Array>);
  }
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) {
    return Readable.fromWeb(body as unknown as NodeWebReadableStream<Uint8Array>);
  }
  if (typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function' || typeof (body as Iterable<Uint8Array>)[Symbol.iterator] === 'function') {
    return Readable.from(body as AsyncIterable<Uint8Array>, { objectMode: false });
  }
  throw new TypeError(`unsupported request body type ${Object.prototype.toString.call(body)}`);
}

/**
 * The parts of a fetch `Response` that clients use, over an undici response. Reading the body as a
 * whole (`json`, `text`, `arrayBuffer`, `blob`) goes through undici's own body mixin, without web
 * streams; `body` converts lazily. `clone()` materializes a platform Response.
 */
class UndiciResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly url: string;
  readonly redirected: boolean;
  readonly type = 'basic';
  readonly headers: Headers;
  #raw: Dispatcher.ResponseData['body'] | null;
  #web: ReadableStream<Uint8Array> | null | undefined;
  #used = false;

  constructor(res: Dispatcher.ResponseData, url: string, redirected: boolean, head: boolean) {
    this.status = res.statusCode;
    this.statusText = STATUS_CODES[res.statusCode] ?? '';
    this.ok = res.statusCode >= 200 && res.statusCode < 300;
    this.url = url;
    this.redirected = redirected;
    this.headers = toFetchHeaders(res.headers);
    const empty = head || res.statusCode === 204 || res.statusCode === 205 || res.statusCode === 304;
    if (empty) res.body.resume().on('error', () => undefined);
    this.#raw = empty ? null : res.body;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#web === undefined) {
      this.#web = this.#raw === null ? null : (Readable.toWeb(this.#raw) as unknown as ReadableStream<Uint8Array>);
    }
    return this.#web;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  #take(): Dispatcher.ResponseData['body'] | null {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#web === undefined ? this.#raw : null; // after `body` was touched, read through it
  }

  /** The body read through the web stream (after `body` was touched), via a platform Response. */
  #fromWeb(): Response {
    return new Response(this.#web ?? null);
  }

  async text(): Promise<string> {
    const raw = this.#take();
    return raw ? raw.text() : this.#fromWeb().text();
  }

  async json(): Promise<unknown> {
    const raw = this.#take();
    return raw ? raw.json() : this.#fromWeb().json();
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const raw = this.#take();
    return raw ? raw.arrayBuffer() : this.#fromWeb().arrayBuffer();
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.arrayBuffer());
  }

  async blob(): Promise<Blob> {
    return new Blob([await this.arrayBuffer()], { type: this.headers.get('content-type') ?? '' });
  }

  async formData(): Promise<FormData> {
    return this.clone().formData();
  }

  clone(): Response {
    const [a, b] = this.body ? this.body.tee() : [null, null];
    this.#web = a;
    return new Response(b, { status: this.status, statusText: this.statusText, headers: this.headers });
  }
}

/** The media type of a response (`application/json` of `application/json; charset=utf-8`), '' when absent. */
export function mediaTypeOf(headers: Dispatcher.ResponseData['headers']): string {
  return headerValue(headers, 'content-type')?.split(';')[0]?.trim() ?? '';
}

/** True for a JSON media type (`application/json`, `…+json`). */
export const isJsonMedia = (media: string): boolean => media.includes('application/json') || media.endsWith('+json');

/** The first value of a response header, undefined when absent. */
export function headerValue(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The JSON a text holds, or undefined when it is not JSON (an error body may be plain text). */
export function safeJson(text: string): object | undefined {
  try {
    return JSON.parse(text) as object;
  } catch {
    return undefined;
  }
}

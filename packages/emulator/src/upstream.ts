import pLimit from 'p-limit';
import type { ServerResponse } from 'node:http';
import type { ChatRequestBody } from './options.js';

/** Resolved upstream options. */
export interface UpstreamConfig {
  url: string;
  apiKey?: string | undefined;
  concurrency: number;
  maxAttempts: number;
}

/** An upstream answer: HTTP status and the parsed JSON body. */
export interface UpstreamResult {
  status: number;
  body: unknown;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Executes chat requests against another OpenAI-compatible endpoint with bounded concurrency (p-limit) and
 * retries on 429/5xx/network errors (honouring retry-after-ms / Retry-After, else exponential backoff).
 */
export function createUpstream(config: UpstreamConfig) {
  const limit = pLimit(config.concurrency);
  const endpoint = `${config.url.replace(/\/+$/, '')}/chat/completions`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.apiKey) headers['authorization'] = `Bearer ${config.apiKey}`;

  async function send(body: unknown, signal?: AbortSignal): Promise<Response> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= config.maxAttempts; attempt++) {
      try {
        const res = await fetch(endpoint, { method: 'POST', headers, body: JSON.stringify(body), ...(signal ? { signal } : {}) });
        if ((res.status === 429 || res.status >= 500) && attempt < config.maxAttempts) {
          await res.body?.cancel();
          await sleep(retryDelay(res.headers, attempt));
          continue;
        }
        return res;
      } catch (err) {
        if (signal?.aborted) throw err;
        lastError = err;
        if (attempt < config.maxAttempts) await sleep(retryDelay(undefined, attempt));
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  return {
    /** Non-streamed chat: the upstream status and JSON body (status 502 if it could not be reached). */
    chat(body: ChatRequestBody): Promise<UpstreamResult> {
      return limit(async () => {
        try {
          const res = await send({ ...body, stream: false });
          const text = await res.text();
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = { error: { message: `upstream answered non-JSON: ${text.slice(0, 200)}`, type: 'server_error', param: null, code: 'upstream_error' } };
          }
          return { status: res.status, body: parsed };
        } catch (err) {
          return {
            status: 502,
            body: { error: { message: `upstream unreachable: ${(err as Error).message}`, type: 'server_error', param: null, code: 'upstream_error' } },
          };
        }
      });
    },
    /** Streamed chat: relays the upstream SSE bytes as they arrive. */
    stream(body: ChatRequestBody, res: ServerResponse): Promise<void> {
      return limit(async () => {
        const up = await send(body);
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'text/event-stream', 'cache-control': 'no-cache' });
        if (up.body) {
          for await (const chunk of up.body as unknown as AsyncIterable<Uint8Array>) {
            if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
          }
        }
        res.end();
      });
    },
  };
}

/** The upstream executor type. */
export type Upstream = ReturnType<typeof createUpstream>;

function retryDelay(headers: Headers | undefined, attempt: number): number {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms)) return Math.min(ms, 60_000);
  const s = Number.parseFloat(headers?.get('retry-after') ?? '');
  if (Number.isFinite(s)) return Math.min(s * 1000, 60_000);
  return Math.min(100 * 2 ** (attempt - 1), 5_000);
}

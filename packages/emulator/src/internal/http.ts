import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, badRequest } from '../errors.js';

/** What a route handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
}

/** A route: 'METHOD /v1/path/:param' (`:param+` matches slashes too) and its handler. */
export interface Route {
  method: string;
  pattern: string;
  /** Answered without the API key (a presigned upload URL, which carries its own token). */
  public?: boolean;
  handler: (ctx: RouteContext) => Promise<void>;
}

const MAX_JSON_BYTES = 32 * 1024 * 1024;

/** Read a JSON request body (bounded: JSON bodies are small; files go through multipart streaming). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) throw new HttpError(413, `Request body larger than ${MAX_JSON_BYTES} bytes`, 'invalid_request_error', 'request_too_large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('The request body is not valid JSON', null, 'invalid_json');
  }
}

/** Compile route patterns to regexes. */
export function compileRoutes(routes: Route[]) {
  return routes.map((r) => {
    const keys: string[] = [];
    const path = r.pattern.slice(r.method.length + 1);
    const source = path
      .split('/')
      .map((seg) => {
        if (!seg.startsWith(':')) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        const greedy = seg.endsWith('+');
        keys.push(seg.slice(1, greedy ? -1 : undefined));
        return greedy ? '(.+)' : '([^/]+)';
      })
      .join('/');
    return { ...r, keys, re: new RegExp(`^${source}$`) };
  });
}

/** Newest-first cursor pagination (`after`, `limit` 1..100). */
export function paginate<T extends { id: string }>(items: T[], query: URLSearchParams, maxLimit = 100) {
  const rawLimit = query.get('limit');
  const limit = rawLimit === null ? 20 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) throw badRequest(`limit must be an integer between 1 and ${maxLimit}`, 'limit', 'invalid_value');
  const after = query.get('after');
  let start = 0;
  if (after) {
    const at = items.findIndex((i) => i.id === after);
    start = at < 0 ? items.length : at + 1;
  }
  const data = items.slice(start, start + limit);
  return {
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < items.length,
    start,
    limit,
  };
}

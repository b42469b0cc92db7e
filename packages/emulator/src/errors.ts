import type { ServerResponse } from 'node:http';

/** An HTTP error the routes throw; the server turns it into the OpenAI error format. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = typeForStatus(status),
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

function typeForStatus(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The OpenAI error body `{error:{message,type,param,code}}`. */
export function errorBody(status: number, message: string, code: string | null = null, param: string | null = null) {
  return { error: { message, type: typeForStatus(status), param, code } };
}

/** Shorthands for the common cases. */
export const badRequest = (message: string, param: string | null = null, code: string | null = 'invalid_request') =>
  new HttpError(400, message, 'invalid_request_error', code, param);
export const notFound = (message: string, param: string | null = null, code: string | null = 'not_found') =>
  new HttpError(404, message, 'not_found_error', code, param);

/** Write an error response (no-op if the response already started). */
export function sendError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, { error: { message: err.message, type: err.type, param: err.param, code: err.code } }, err.headers);
}

/** Write a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

import { randomUUID } from 'node:crypto';
import type { FailureInfo } from './retry-policy.js';
import type { RealtimeResultLine } from './realtime-types.js';

/** A success line: status 200 and the chat completion as body (request id from x-request-id when known). */
export function successLine(customId: string, completion: unknown): RealtimeResultLine {
  const requestId = (completion as { _request_id?: unknown } | null)?._request_id;
  return {
    id: `rt_req_${randomUUID()}`,
    custom_id: customId,
    response: { status_code: 200, request_id: typeof requestId === 'string' ? requestId : null, body: completion },
    error: null,
  };
}

/**
 * A final-failure line. With an HTTP status: `response` carries it and `{ error }` as body, like a
 * batch's error file. Without one (connection dropped, timeout): `response: null` and `error` set.
 */
export function failureLine(customId: string, err: unknown, info: FailureInfo): RealtimeResultLine {
  const e = (err ?? {}) as { error?: unknown; message?: unknown; requestID?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const id = `rt_req_${randomUUID()}`;
  if (info.status !== undefined) {
    const error = e.error && typeof e.error === 'object' ? e.error : { message, type: info.kind, code: String(info.status) };
    return {
      id,
      custom_id: customId,
      response: { status_code: info.status, request_id: typeof e.requestID === 'string' ? e.requestID : null, body: { error } },
      error: null,
    };
  }
  return { id, custom_id: customId, response: null, error: { code: info.kind, message } };
}

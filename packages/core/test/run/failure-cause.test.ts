import { describe, expect, it } from 'vitest';
import { parseResultLine } from '../../src/join/result-line.js';
import { failureCause } from '../../src/run/failure-cause.js';

const ok = { custom_id: 'a', response: { status_code: 200, body: { choices: [{ message: { content: 'x' } }] } } };
const http = (status: number, code?: string) => parseResultLine({ custom_id: 'a', response: { status_code: status, body: { error: { message: 'm', ...(code ? { code } : {}) } } } });
const lineError = (code: string) => parseResultLine({ custom_id: 'a', response: null, error: { code, message: 'm' } });

describe('failureCause', () => {
  it('is null for an accepted answer and retries an answer the labels/schema reject', () => {
    expect(failureCause(parseResultLine(ok), null)).toBeNull();
    expect(failureCause(parseResultLine(ok), new Error('not a label'))).toEqual({ cause: 'invalid_answer', retry: true });
  });

  it('retries 5xx, 408, 409 and 429 but not 400, 401, 403, 404 or 422 (model_not_found named as such)', () => {
    for (const status of [500, 502, 503, 408, 409, 429]) expect(failureCause(http(status), null)).toEqual({ cause: `http_${status}`, retry: true });
    for (const status of [400, 401, 403, 404, 422]) expect(failureCause(http(status), null)).toEqual({ cause: `http_${status}`, retry: false });
    expect(failureCause(http(404, 'model_not_found'), null)).toEqual({ cause: 'model_not_found', retry: false });
  });

  it('retries expiry, cancellation, timeouts and connection errors; not validation errors nor a failed batch\'s requests left unresubmitted', () => {
    for (const code of ['batch_expired', 'batch_cancelled', 'timeout', 'connection_error', 'batch_failed_no_cause']) expect(failureCause(lineError(code), null)).toEqual({ cause: code, retry: true });
    for (const code of ['model_not_found', 'line_too_long', 'invalid_request', 'invalid_json_line', 'duplicate_custom_id', 'batch_failed', 'too_many_requests']) expect(failureCause(lineError(code), null)).toEqual({ cause: code, retry: false });
  });

  it('never retries a billed 2xx that is not an accepted answer: a body that is not a chat completion, or a 2xx with a line error', () => {
    const notChat = parseResultLine({ custom_id: 'a', response: { status_code: 200, body: { object: 'list' } } });
    expect(notChat.ok).toBe(false);
    expect(failureCause(notChat, null)).toEqual({ cause: 'invalid_response', retry: false });
    const withError = parseResultLine({ ...ok, error: { code: 'server_error', message: 'm' } });
    expect(withError.ok).toBe(false);
    expect(failureCause(withError, null)).toEqual({ cause: 'invalid_response', retry: false });
  });

  it('retries a line with an error but no code and no response (it never ran)', () => {
    expect(failureCause(parseResultLine({ custom_id: 'a', response: null, error: { message: 'm' } }), null)).toEqual({ cause: 'request_error', retry: true });
  });

  it('does not retry requests that expired at the resubmission limit (BATCH_EXPIRED), only the server\'s own expiry markers', () => {
    expect(failureCause(lineError('BATCH_EXPIRED'), null)).toEqual({ cause: 'batch_expired_limit', retry: false });
    expect(failureCause(lineError('batch_expired'), null)).toEqual({ cause: 'batch_expired', retry: true });
  });
});

import { describe, expect, it } from 'vitest';
import { parseResultLine, peekCustomId } from '../../src/join/result-line.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { httpErrorLine, okLine } from './fixtures.js';

describe('parseResultLine', () => {
  it('normalizes a successful output line', () => {
    const result = parseResultLine(JSON.stringify(okLine('7', 'Buenos Aires')));
    expect(result).toMatchObject({
      customId: '7',
      ok: true,
      statusCode: 200,
      requestId: 'req-7',
      response: 'Buenos Aires',
      finishReason: 'stop',
      promptTokens: 10,
      completionTokens: 2,
      error: null,
    });
    expect((result.body as { id: string }).id).toBe('chatcmpl-7');
  });

  it('turns a non-2xx response into an error message with the status code', () => {
    const result = parseResultLine(httpErrorLine('8', 429, 'Rate limit exceeded'));
    expect(result.ok).toBe(false);
    expect(result.statusCode).toBe(429);
    expect(result.error).toBe('HTTP 429: Rate limit exceeded (rate_limit_exceeded)');
    expect(result.response).toBeNull();
  });

  it('reports a non-HTTP failure from the line error object', () => {
    const result = parseResultLine({ id: 'x', custom_id: '9', response: null, error: { code: 'timeout', message: 'request timed out' } });
    expect(result).toMatchObject({ ok: false, statusCode: null, error: 'request failed (timeout): request timed out' });
    expect(result.body).toEqual({ code: 'timeout', message: 'request timed out' });
  });

  it('is tolerant: numeric custom_id, missing usage, unknown keys, string status code', () => {
    const result = parseResultLine({
      custom_id: 12,
      extra: true,
      response: { status_code: '200', body: { choices: [{ message: { content: 'hi' } }], something: 1 } },
    });
    expect(result).toMatchObject({ customId: '12', ok: true, response: 'hi', promptTokens: null, finishReason: null });
  });

  it('flags a 200 whose body is not a chat completion', () => {
    const result = parseResultLine({ custom_id: '1', response: { status_code: 200, body: { nope: 1 } } });
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^HTTP 200 but the body is not a chat completion/);
  });

  it('rejects a line that is not JSON or has no custom_id with RESPONSE_INVALID', async () => {
    expectKbatchError(await catchError(() => parseResultLine('{oops', { file: 'out.jsonl', line: 3 })), {
      code: 'RESPONSE_INVALID',
      file: 'out.jsonl',
      line: 3,
      message: 'out.jsonl:3 is not valid JSON',
    });
    expectKbatchError(await catchError(() => parseResultLine({ response: null })), { code: 'RESPONSE_INVALID', message: 'custom_id' });
  });
});

describe('peekCustomId', () => {
  const peek = (text: string): string | null => peekCustomId(Buffer.from(text));

  it('reads a top-level string or integer custom_id from the bytes', () => {
    expect(peek('{"id":"batch_req_1","custom_id":"row-7","response":{"status_code":200}}')).toBe('row-7');
    expect(peek('{ "custom_id" : 12, "response": null}')).toBe('12');
    expect(peek('{"response":{"body":{"custom_id":"inner"}},"custom_id":"outer"}')).toBe('outer');
    expect(peekCustomId(Buffer.from('xx{"custom_id":"mid"}yy'), 2, 21)).toBe('mid');
  });

  it('leaves lines it is unsure of to JSON.parse (null): escapes, torn lines, a value named custom_id, odd ids', () => {
    expect(peek('{"custom_id":"a\\"b"}')).toBeNull();
    expect(peek('{"custom_id":"row-1","response":')).toBeNull();
    expect(peek('{"note":"custom_id","x":1}')).toBeNull();
    expect(peek('{"custom_id":1.5}')).toBeNull();
    expect(peek('{"custom_id":12345678901234567890}')).toBeNull();
  });
});

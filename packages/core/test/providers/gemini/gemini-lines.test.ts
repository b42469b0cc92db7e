import { describe, expect, it } from 'vitest';
import { fromGeminiLine, toGeminiLine } from '../../../src/providers/gemini/gemini-lines.js';
import { parseResultLine } from '../../../src/join/result-line.js';
import { failureCause } from '../../../src/run/failure-cause.js';
import { isUnrunLine } from '../../../src/job/classify.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const at = { file: 'x', line: 1 };

describe('toGeminiLine', () => {
  it('turns a request line into {key, request}, the model beside it', () => {
    const text = JSON.stringify({ custom_id: 'r-1', method: 'POST', url: '/v1/chat/completions', body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'ünï "q"' }], temperature: 0 } });
    const { key, model, line } = toGeminiLine(text, 1);
    expect([key, model]).toEqual(['r-1', 'gemini-2.5-flash']);
    expect(JSON.parse(line)).toEqual({ key: 'r-1', request: { contents: [{ role: 'user', parts: [{ text: 'ünï "q"' }] }], generationConfig: { temperature: 0 } } });
  });

  it('names the line and custom_id of a request Gemini cannot take, and refuses a line that is not a request', async () => {
    const bad = JSON.stringify({ custom_id: 'r-9', body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'x' }], logit_bias: { 1: 1 } } });
    expectKbatchError(await catchError(() => toGeminiLine(bad, 9)), { code: 'PARAM_UNSUPPORTED', message: 'Request line 9 (custom_id r-9): Parameter `logit_bias`' });
    expectKbatchError(await catchError(() => toGeminiLine('{nope', 3)), { code: 'LINE_INVALID', line: 3 });
    expectKbatchError(await catchError(() => toGeminiLine('{"body":{}}', 4)), { code: 'LINE_INVALID', line: 4 });
  });
});

describe('fromGeminiLine', () => {
  it('turns {key, response} into a 200 result line kbatch reads as a success', () => {
    const out = fromGeminiLine(JSON.stringify({ key: 'r-1', response: { candidates: [{ content: { parts: [{ text: 'positive' }] }, finishReason: 'MAX_TOKENS' }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1 } } }))!;
    expect(out.ok).toBe(true);
    expect(parseResultLine(out.line, at)).toMatchObject({ customId: 'r-1', ok: true, response: 'positive', finishReason: 'length', promptTokens: 3, completionTokens: 1 });
  });

  it('turns {key, error} into its HTTP status and the provider\'s message: 4xx final, 429/5xx and cancelled resent', () => {
    const judge = (error: object) => {
      const out = fromGeminiLine(JSON.stringify({ key: 7, error }))!;
      expect(out.ok).toBe(false);
      const result = parseResultLine(out.line, at);
      return { customId: result.customId, error: result.error, cause: failureCause(result, null), unrun: isUnrunLine(JSON.parse(out.line)) };
    };
    expect(judge({ code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' })).toEqual({ customId: '7', error: 'HTTP 400: Request contains an invalid argument. (invalid_argument)', cause: { cause: 'http_400', retry: false }, unrun: false });
    expect(judge({ code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED' }).cause).toEqual({ cause: 'http_429', retry: true });
    expect(judge({ code: 503, message: 'overloaded', status: 'UNAVAILABLE' }).cause).toEqual({ cause: 'http_503', retry: true });
    expect(judge({ code: 499, message: 'cancelled', status: 'CANCELLED' }).unrun).toBe(true);
    expect(judge({ message: 'no code' }).cause).toEqual({ cause: 'http_500', retry: true });
  });

  it('reads a google.rpc.Status error (an rpc code, no status name) by its code: {code: 3} is a final 400, {code: 14} a resent 503', () => {
    const judge = (error: object) => {
      const result = parseResultLine(fromGeminiLine(JSON.stringify({ key: 'r1', error }))!.line, at);
      return { status: result.statusCode, cause: failureCause(result, null) };
    };
    expect(judge({ code: 3, message: 'Request contains an invalid argument.' })).toEqual({ status: 400, cause: { cause: 'http_400', retry: false } });
    expect(judge({ code: 14, message: 'overloaded' })).toEqual({ status: 503, cause: { cause: 'http_503', retry: true } });
    expect(judge({ code: 8, message: 'quota' })).toEqual({ status: 429, cause: { cause: 'http_429', retry: true } });
    const cancelled = fromGeminiLine(JSON.stringify({ key: 'r1', error: { code: 1, message: 'cancelled' } }))!.line;
    expect(isUnrunLine(JSON.parse(cancelled))).toBe(true);
    expect(JSON.parse(cancelled).response.body.error.code).toBe('cancelled');
  });

  it('skips a line without a key and throws on a line that is not JSON', () => {
    expect(fromGeminiLine('{"response":{}}')).toBeNull();
    expect(() => fromGeminiLine('{oops')).toThrow();
  });
});

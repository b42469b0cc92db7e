import { APIConnectionError, APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { parseResultLine } from '../../src/join/result-line.js';
import { failureLine, successLine } from '../../src/realtime/result-lines.js';
import { classifyFailure } from '../../src/realtime/retry-policy.js';
import { completion } from './fake-chat.js';

// The join consumes realtime results unchanged: these lines must read like batch output/error lines.
describe('successLine / failureLine', () => {
  it('writes successes the batch join reads as answers', () => {
    const body = Object.defineProperty(completion('Buenos Aires'), '_request_id', { value: 'req-1', enumerable: false });
    const line = successLine('7', body);
    expect(line).toMatchObject({ custom_id: '7', error: null, response: { status_code: 200, request_id: 'req-1' } });
    expect(JSON.stringify(line)).not.toContain('_request_id');
    expect(parseResultLine(JSON.stringify(line))).toMatchObject({ customId: '7', ok: true, statusCode: 200, requestId: 'req-1', response: 'Buenos Aires' });
  });

  it('writes HTTP failures with status and error body, and connection failures as errors', () => {
    const http = APIError.generate(400, { error: { message: 'bad model', type: 'invalid_request_error' } }, 'bad model', new Headers());
    const httpLine = failureLine('8', http, classifyFailure(http));
    expect(httpLine.response).toMatchObject({ status_code: 400, body: { error: { message: 'bad model' } } });
    expect(parseResultLine(JSON.stringify(httpLine))).toMatchObject({ customId: '8', ok: false, statusCode: 400 });
    const drop = new APIConnectionError({ message: 'socket hang up' });
    const dropLine = failureLine('9', drop, classifyFailure(drop));
    expect(dropLine).toMatchObject({ response: null, error: { code: 'connection_error', message: 'socket hang up' } });
    expect(parseResultLine(JSON.stringify(dropLine))).toMatchObject({ customId: '9', ok: false, statusCode: null });
  });
});

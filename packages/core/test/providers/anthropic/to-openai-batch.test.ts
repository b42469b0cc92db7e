import { describe, expect, it } from 'vitest';
import { batchStatus, parseResultsFileId, toOpenAIBatch, toOpenAIResultLine, type AnthropicBatch } from '../../../src/providers/anthropic/to-openai-batch.js';
import { encodeCustomId } from '../../../src/providers/anthropic/custom-id-codec.js';
import { failureCause } from '../../../src/run/failure-cause.js';
import { parseResultLine } from '../../../src/join/result-line.js';
import { parseBatch } from '../../../src/client/schemas.js';

const counts = (c: Partial<AnthropicBatch['request_counts']>) => ({ processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0, ...c });
const batch = (over: Partial<AnthropicBatch>): AnthropicBatch => ({
  id: 'msgbatch_1',
  processing_status: 'ended',
  request_counts: counts({ succeeded: 3 }),
  created_at: '2026-12-04T19:00:00.123Z',
  expires_at: '2026-12-05T19:00:00.123Z',
  ended_at: '2026-12-04T19:10:00Z',
  cancel_initiated_at: null,
  results_url: 'http://x/results',
  ...over,
});

describe('toOpenAIBatch', () => {
  it('maps processing_status: in_progress, canceling → cancelling, ended → completed / expired / cancelled', () => {
    expect(batchStatus(batch({ processing_status: 'in_progress' }))).toBe('in_progress');
    expect(batchStatus(batch({ processing_status: 'canceling' }))).toBe('cancelling');
    expect(batchStatus(batch({}))).toBe('completed');
    expect(batchStatus(batch({ request_counts: counts({ succeeded: 1, expired: 2 }) }))).toBe('expired');
    expect(batchStatus(batch({ cancel_initiated_at: '2026-12-04T19:05:00Z', request_counts: counts({ succeeded: 1, canceled: 2 }) }))).toBe('cancelled');
  });

  it('gives total/completed/failed, unix seconds, and the two results files once ended; kbatch parses it', () => {
    const view = toOpenAIBatch(batch({ request_counts: counts({ succeeded: 2, errored: 1, expired: 1 }) }), 'local-chunk:/c');
    expect(view).toMatchObject({ status: 'expired', created_at: 1796410800, expired_at: 1796411400, request_counts: { total: 4, completed: 2, failed: 1 }, input_file_id: 'local-chunk:/c' });
    expect(parseResultsFileId(view.output_file_id!)).toEqual({ batchId: 'msgbatch_1', kind: 'output' });
    expect(parseResultsFileId(view.error_file_id!)).toEqual({ batchId: 'msgbatch_1', kind: 'errors' });
    expect(parseBatch(view).status).toBe('expired');
    const running = toOpenAIBatch(batch({ processing_status: 'in_progress', ended_at: null, results_url: null, request_counts: counts({ processing: 4 }) }));
    expect(running).toMatchObject({ output_file_id: null, error_file_id: null, request_counts: { total: 4, completed: 0, failed: 0 } });
  });
});

describe('toOpenAIResultLine', () => {
  const message = { id: 'msg_9', model: 'claude-x', content: [{ type: 'text', text: 'yes' }], stop_reason: 'max_tokens', usage: { input_tokens: 3, output_tokens: 1 } };

  it('turns a succeeded line into a 200 response whose answer, finish_reason and tokens kbatch reads, with the id decoded', () => {
    const line = toOpenAIResultLine({ custom_id: encodeCustomId('a b/é', '0a1b2c3d'), result: { type: 'succeeded', message } });
    const parsed = parseResultLine(line);
    expect(parsed).toMatchObject({ customId: 'a b/é', ok: true, response: 'yes', finishReason: 'length' });
    expect(failureCause(parsed, null)).toBeNull();
  });

  it("keeps an errored line's provider message and status: invalid requests are final, overloaded ones are retried", () => {
    const invalid = toOpenAIResultLine({ custom_id: 'r1', result: { type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: 'temperature: Extra inputs are not permitted' } } } });
    expect(invalid).toMatchObject({ custom_id: 'r1', response: { status_code: 400, body: { error: { message: 'temperature: Extra inputs are not permitted' } } } });
    expect(failureCause(parseResultLine(invalid), null)).toEqual({ cause: 'http_400', retry: false });
    const overloaded = toOpenAIResultLine({ custom_id: 'r2', result: { type: 'errored', error: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } } });
    expect(failureCause(parseResultLine(overloaded), null)).toEqual({ cause: 'http_529', retry: true });
  });

  it("marks expired and canceled requests as OpenAI-style servers do, which kbatch's classifier resends", () => {
    const expired = toOpenAIResultLine({ custom_id: 'r3', result: { type: 'expired' } });
    const canceled = toOpenAIResultLine({ custom_id: 'r4', result: { type: 'canceled' } });
    expect(expired).toMatchObject({ response: null, error: { code: 'batch_expired' } });
    expect(canceled).toMatchObject({ response: null, error: { code: 'batch_cancelled' } });
    expect(failureCause(parseResultLine(expired), null)).toEqual({ cause: 'batch_expired', retry: true });
    expect(failureCause(parseResultLine(canceled), null)).toEqual({ cause: 'batch_cancelled', retry: true });
  });

  it('marks a result type it does not know as an error line naming the type, never resent (it may have run)', () => {
    const odd = toOpenAIResultLine({ custom_id: 'r5', result: { type: 'deferred' } });
    expect(odd).toMatchObject({ custom_id: 'r5', response: null, error: { code: 'invalid_result_type' } });
    expect((odd['error'] as { message: string }).message).toContain('"deferred"');
    expect(failureCause(parseResultLine(odd), null)).toEqual({ cause: 'invalid_result_type', retry: false });
  });

  it('reads an errored result without an error object as an api_error (500), not a TypeError', () => {
    const bare = toOpenAIResultLine({ custom_id: 'r6', result: { type: 'errored' } } as never);
    expect(bare).toMatchObject({ response: { status_code: 500, body: { error: { type: 'api_error', code: 'api_error' } } }, error: null });
  });
});

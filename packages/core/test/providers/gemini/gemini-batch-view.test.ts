import { describe, expect, it } from 'vitest';
import { batchStatus, displayNameToMetadata, MAX_DISPLAY_NAME, metadataToDisplayName, toOpenAiBatch } from '../../../src/providers/gemini/gemini-batch-view.js';
import { BATCH_NO_CAUSE_CODE } from '../../../src/job/validation-results.js';
import { failureCause } from '../../../src/run/failure-cause.js';
import { parseResultLine } from '../../../src/join/result-line.js';
import { parseBatch } from '../../../src/client/schemas.js';
import { metadataMatches } from '../../../src/batch/find-batch.js';

describe('toOpenAiBatch', () => {
  it('maps the wire states and @google/genai\'s renamed ones to the same OpenAI statuses', () => {
    const states = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'EXPIRED', 'UNSPECIFIED'];
    const wanted = ['validating', 'in_progress', 'completed', 'failed', 'cancelled', 'expired', 'validating'];
    expect(states.map((s) => batchStatus(`BATCH_STATE_${s}`))).toEqual(wanted);
    expect(states.map((s) => batchStatus(`JOB_STATE_${s}`))).toEqual(wanted);
    expect(batchStatus('BATCH_STATE_SOMETHING_NEW')).toBe('batch_state_something_new');
  });

  it('reads request counts from batchStats (int64 strings or numbers), times from RFC 3339, the responses file as output', () => {
    const batch = parseBatch(
      toOpenAiBatch({
        name: 'batches/abc',
        metadata: {
          displayName: metadataToDisplayName({ kbatch_job: 'kb-1', kbatch_chunk: '00002', kbatch_sha256: 'ff00' }),
          model: 'models/gemini-2.5-flash',
          state: 'BATCH_STATE_SUCCEEDED',
          createTime: '2026-12-04T19:00:00.123Z',
          endTime: '2026-12-04T19:30:00Z',
          batchStats: { requestCount: '5', successfulRequestCount: '4', failedRequestCount: 1, pendingRequestCount: '0' },
          output: { responsesFile: 'files/batch-abc' },
        },
        done: true,
      }),
    );
    expect(batch).toMatchObject({
      id: 'batches/abc',
      status: 'completed',
      created_at: Date.parse('2026-12-04T19:00:00Z') / 1000,
      completed_at: Date.parse('2026-12-04T19:30:00Z') / 1000,
      request_counts: { total: 5, completed: 4, failed: 1 },
      output_file_id: 'files/batch-abc',
      error_file_id: 'files/batch-abc#errors',
      metadata: { kbatch_job: 'kb-1', kbatch_chunk: '00002', kbatch_sha256: 'ff00' },
    });
    expect(metadataMatches(toOpenAiBatch({ name: 'batches/abc', metadata: { displayName: metadataToDisplayName({ kbatch_job: 'kb-1' }) } }), { kbatch_job: 'kb-1' })).toBe(true);
  });

  it("names a batch's input file (inputConfig.fileName) in the id form kbatch records and files.list gives: files/ID#model=MODEL", () => {
    const op = (fileName: string | undefined, model?: string) => toOpenAiBatch({ name: 'batches/abc', metadata: { ...(model ? { model } : {}), ...(fileName ? { inputConfig: { fileName } } : {}) } })['input_file_id'];
    expect(op('files/f1', 'models/gemini-2.5-flash')).toBe('files/f1#model=gemini-2.5-flash');
    expect(op('f1', 'gemini-2.5-flash')).toBe('files/f1#model=gemini-2.5-flash');
    expect(op('files/f1')).toBe('files/f1');
    expect(op(undefined, 'models/gemini-2.5-flash')).toBeNull();
  });

  it('gives no error file when nothing failed, and a failed batch its operation error as errors.data', () => {
    const ok = toOpenAiBatch({ name: 'batches/a', metadata: { state: 'BATCH_STATE_SUCCEEDED', batchStats: { requestCount: '2', successfulRequestCount: '2' }, output: { responsesFile: 'files/r' } } });
    expect([ok['output_file_id'], ok['error_file_id']]).toEqual(['files/r', null]);
    const failed = parseBatch(toOpenAiBatch({ name: 'batches/b', metadata: { state: 'BATCH_STATE_FAILED' }, error: { code: 400, message: 'bad file', status: 'INVALID_ARGUMENT' } }));
    expect(failed).toMatchObject({ status: 'failed', output_file_id: null, errors: { data: [{ code: 'invalid_argument', message: 'bad file', line: null }] } });
  });

  it('keeps the cause of an Operation error sent as a google.rpc.Status: {code: 13} is internal (resent), no code at all batch_failed_no_cause, never batch_failed', () => {
    const causeOf = (error: object) => {
      const batch = parseBatch(toOpenAiBatch({ name: 'batches/b', metadata: { state: 'BATCH_STATE_FAILED' }, error }));
      const code = batch.errors!.data![0]!.code!;
      return { code, cause: failureCause(parseResultLine(JSON.stringify({ custom_id: 'r1', response: null, error: { code, message: 'm' } }), { file: 'x', line: 1 }), null) };
    };
    expect(causeOf({ code: 13, message: 'Internal error encountered.' })).toEqual({ code: 'internal', cause: { cause: 'internal', retry: true } });
    expect(causeOf({ code: 3, message: 'bad file' })).toEqual({ code: 'invalid_argument', cause: { cause: 'invalid_argument', retry: false } });
    expect(causeOf({ message: 'no code' })).toEqual({ code: BATCH_NO_CAUSE_CODE, cause: { cause: BATCH_NO_CAUSE_CODE, retry: true } });
  });

  it('writes a part\'s metadata as a short lossless tag (at most 128 characters for a run\'s longest job id) that adoption matches exactly', () => {
    const metadata = { kbatch_job: `kb-${'customer-reviews-2026-q4-export-final-v2'.slice(0, 40)}-0123456789abcdef`, kbatch_chunk: '00003', kbatch_sha256: 'a1'.repeat(32) };
    const name = metadataToDisplayName(metadata);
    expect(name).toMatch(/^kbatch:kb-customer-reviews-2026-q4-export-final-v2-0123456789abcdef:00003:[A-Za-z0-9_-]{43}$/);
    expect(name.length).toBeLessThanOrEqual(MAX_DISPLAY_NAME);
    expect(displayNameToMetadata(name)).toEqual(metadata);
    expect(metadataMatches(toOpenAiBatch({ name: 'batches/x', metadata: { displayName: name } }), metadata)).toBe(true);
    // A job id holding ':' still parses (the chunk and sha are the last two fields).
    expect(displayNameToMetadata(metadataToDisplayName({ ...metadata, kbatch_job: 'a:b' }))).toEqual({ ...metadata, kbatch_job: 'a:b' });
    // Names written by earlier versions (the query-string form) are still read.
    expect(displayNameToMetadata(`kbatch?${new URLSearchParams(metadata).toString()}`)).toEqual(metadata);
    expect(displayNameToMetadata('kbatch:not-a-tag')).toBeNull();
  });

  it('round-trips metadata through displayName (escapes, unicode, any key order), and reads a foreign name as no metadata', () => {
    const metadata = { b: 'x&y=z', a: 'é ü/?#', kbatch_chunk: '00001' };
    const name = metadataToDisplayName(metadata);
    expect(displayNameToMetadata(name)).toEqual(metadata);
    expect(displayNameToMetadata('my batch')).toBeNull();
    expect(displayNameToMetadata(undefined)).toBeNull();
    expect(metadataToDisplayName({})).toBe('kbatch');
  });
});

import { describe, expect, it } from 'vitest';
import { batchStatus, displayNameToMetadata, metadataToDisplayName, toOpenAiBatch } from '../../../src/providers/gemini/gemini-batch-view.js';
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

  it('gives no error file when nothing failed, and a failed batch its operation error as errors.data', () => {
    const ok = toOpenAiBatch({ name: 'batches/a', metadata: { state: 'BATCH_STATE_SUCCEEDED', batchStats: { requestCount: '2', successfulRequestCount: '2' }, output: { responsesFile: 'files/r' } } });
    expect([ok['output_file_id'], ok['error_file_id']]).toEqual(['files/r', null]);
    const failed = parseBatch(toOpenAiBatch({ name: 'batches/b', metadata: { state: 'BATCH_STATE_FAILED' }, error: { code: 400, message: 'bad file', status: 'INVALID_ARGUMENT' } }));
    expect(failed).toMatchObject({ status: 'failed', output_file_id: null, errors: { data: [{ code: 'invalid_argument', message: 'bad file', line: null }] } });
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

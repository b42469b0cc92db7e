import { describe, expect, it } from 'vitest';
import { isTerminalStatus, parseBatch } from '../../../src/client/schemas.js';
import { batchStatus, toOpenAiBatch } from '../../../src/providers/together/together-batch-view.js';

describe('batchStatus', () => {
  it("maps Together's upper-case statuses to OpenAI's, passing an unknown one through lower-cased (read as running)", () => {
    const files = { output_file_id: 'file-out' };
    const table = ['VALIDATING', 'IN_PROGRESS', 'CANCELLING', 'COMPLETED', 'FAILED', 'EXPIRED', 'CANCELLED', 'QUEUED', 'completed'].map((status) => [status, batchStatus({ status, ...files })]);
    expect(table).toEqual([
      ['VALIDATING', 'validating'],
      ['IN_PROGRESS', 'in_progress'],
      ['CANCELLING', 'cancelling'],
      ['COMPLETED', 'completed'],
      ['FAILED', 'failed'],
      ['EXPIRED', 'expired'],
      ['CANCELLED', 'cancelled'],
      ['QUEUED', 'queued'],
      ['completed', 'completed'],
    ]);
    expect(batchStatus({})).toBe('validating');
  });

  it('reads a COMPLETED batch that names no output nor error file as finalizing (not ended: kbatch polls until a file is named)', () => {
    expect(batchStatus({ status: 'COMPLETED' })).toBe('finalizing');
    expect(batchStatus({ status: 'COMPLETED', output_file_id: '', error_file_id: null })).toBe('finalizing');
    expect(isTerminalStatus(batchStatus({ status: 'COMPLETED' }))).toBe(false);
    expect(batchStatus({ status: 'COMPLETED', error_file_id: 'file-err', output_file_id: 'file-out' })).toBe('completed');
    expect(batchStatus({ status: 'EXPIRED', progress: 0 })).toBe('expired');
  });

  it('reads any final batch that may have answered (progress not 0) but names no result file yet as finalizing: its answers were paid', () => {
    // Without request counts, reading it now would take its answered requests for never run and send them again.
    for (const status of ['COMPLETED', 'EXPIRED', 'CANCELLED', 'FAILED']) {
      expect(batchStatus({ status, progress: 50 })).toBe('finalizing');
      expect(batchStatus({ status })).toBe('finalizing');
      expect(batchStatus({ status, progress: 50, output_file_id: 'file-out' })).toBe(status.toLowerCase());
      expect(batchStatus({ status, progress: 50, error_file_id: 'file-err' })).toBe(status.toLowerCase());
    }
    expect(batchStatus({ status: 'FAILED', progress: 0 })).toBe('failed');
    // No progress, but an error of its own: it failed as a whole and ends (its error is shown, not polled forever).
    expect(batchStatus({ status: 'FAILED', error: 'model not available for batch' })).toBe('failed');
  });
});

describe('toOpenAiBatch', () => {
  it('turns a BatchJob into a batch kbatch parses: ISO times as seconds, the end time under its status, zero counts, no metadata', () => {
    const job = {
      id: '01234567-8901-2345-6789-012345678901',
      input_file_id: 'file-in',
      status: 'COMPLETED',
      output_file_id: 'file-out',
      created_at: '2024-01-15T14:30:00Z',
      completed_at: '2024-01-15T15:45:30Z',
      job_deadline: '2024-01-16T14:30:00Z',
      endpoint: '/v1/chat/completions',
      progress: 100,
      model_id: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo',
    };
    const batch = parseBatch(toOpenAiBatch(job));
    expect(batch).toMatchObject({
      id: job.id,
      status: 'completed',
      input_file_id: 'file-in',
      output_file_id: 'file-out',
      error_file_id: null,
      created_at: Date.parse(job.created_at) / 1000,
      completed_at: Date.parse(job.completed_at) / 1000,
      expires_at: Date.parse(job.job_deadline) / 1000,
      failed_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      errors: null,
      metadata: null,
    });
    expect(parseBatch(toOpenAiBatch({ ...job, status: 'EXPIRED' }))).toMatchObject({ status: 'expired', expired_at: Date.parse(job.completed_at) / 1000, completed_at: null });
  });

  it("gives a FAILED batch's error string as a batch-level error without a code (batch_failed_no_cause), and an unreadable time as null", () => {
    const batch = parseBatch(toOpenAiBatch({ id: 'b', status: 'FAILED', error: 'model not available for batch', created_at: 'yesterday', completed_at: '2024-01-15T15:45:30Z' }));
    expect(batch).toMatchObject({ status: 'failed', created_at: null, failed_at: Date.parse('2024-01-15T15:45:30Z') / 1000 });
    expect(batch.errors!.data).toEqual([{ code: 'batch_failed_no_cause', message: 'model not available for batch', line: null }]);
  });
});

import { describe, expect, it } from 'vitest';
import { formatSummary } from '../src/job-command.js';

describe('formatSummary', () => {
  it('lists validation errors with their custom_ids and how to get the results', () => {
    const text = formatSummary({
      jobId: 'kb-1',
      jobDir: '/j',
      state: 'partial',
      requests: 3,
      succeeded: 2,
      failed: 1,
      pending: 0,
      parts: [{ index: '00002', kind: 'chunk', requests: 1, done: true, status: 'failed', total: 1, completed: 0, failed: 0, lineErrors: 1, batchId: 'b2' }],
      lineErrors: [{ part: '00002', line: 1, customId: 'x1', code: 'invalid_url', message: 'bad url' }],
    });
    expect(text).toContain('job kb-1 partial: 2/3 succeeded, 1 failed');
    expect(text).toContain('part 00002 line 1 (custom_id x1): invalid_url: bad url');
    expect(text).toContain('kbatch results /j > results.jsonl');
  });

  it('names a job in the database by its id and --storage in the commands it suggests', () => {
    const summary = { jobId: 'kb-9', jobDir: '/mnt/jobs/kb-9', state: 'running' as const, requests: 2, succeeded: 0, failed: 0, pending: 2, parts: [], lineErrors: [] };
    expect(formatSummary(summary, 'kb-9 --storage /mnt/jobs')).toContain('continue with: kbatch resume kb-9 --storage /mnt/jobs\n');
    expect(formatSummary({ ...summary, state: 'completed' }, 'kb-9 --storage /mnt/jobs')).toContain('results: kbatch results kb-9 --storage /mnt/jobs > results.jsonl');
    expect(formatSummary(summary)).toContain('continue with: kbatch resume /mnt/jobs/kb-9\n');
  });
});

import { describe, expect, it } from 'vitest';
import { isKbatchError } from '@kbatch/core';
import { jobOptionsFromFlags, parseDuration, formatSummary } from '../src/client-flags.js';

describe('parseDuration', () => {
  it('reads ms, s, m, h and bare seconds', () => {
    expect([parseDuration('500ms', 'x'), parseDuration('15s', 'x'), parseDuration('2m', 'x'), parseDuration('1h', 'x'), parseDuration('3', 'x')]).toEqual([
      500, 15_000, 120_000, 3_600_000, 3_000,
    ]);
  });

  it('rejects junk with OPTION_INVALID naming the flag', () => {
    try {
      parseDuration('soon', '--timeout');
      expect.unreachable();
    } catch (err) {
      expect(isKbatchError(err) && err.code).toBe('OPTION_INVALID');
      expect((err as Error).message).toContain('`--timeout`');
    }
  });
});

describe('jobOptionsFromFlags', () => {
  it('maps --no-resubmit, --cancel-on-interrupt and durations', () => {
    expect(jobOptionsFromFlags({ concurrency: 2, resubmit: false, cancelOnInterrupt: true, pollInterval: '5s', timeout: '1m', window: '6h' })).toEqual({
      concurrency: 2,
      window: '6h',
      pollIntervalMs: 5_000,
      timeoutMs: 60_000,
      noResubmit: true,
      cancelOnInterrupt: true,
    });
  });
});

describe('jobOptionsFromFlags file and resubmit flags', () => {
  it('maps --max-resubmits and --keep-files', () => {
    expect(jobOptionsFromFlags({ concurrency: 1, maxResubmits: 0, keepFiles: true })).toMatchObject({ maxResubmits: 0, keepFiles: true });
    expect(jobOptionsFromFlags({ concurrency: 1 })).not.toHaveProperty('keepFiles');
  });
});

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
});

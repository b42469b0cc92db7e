import { describe, expect, it } from 'vitest';
import { isKbatchError } from '@kbatch/core';
import { jobOptionsFromFlags, parseDuration } from '../../src/flags/client-flags.js';

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

import { describe, expect, it } from 'vitest';
import { settledOutcome } from '../../src/worker/run-worker.js';

describe('settledOutcome', () => {
  it("logs the plan's outcome when the queue settled the step", () => {
    expect(settledOutcome({ action: 'done' }, true)).toBe('done');
    expect(settledOutcome({ action: 'requeue', delayMs: 0, reason: 'running' }, true)).toBe('running');
  });

  it('logs `lost` when the step was no longer the worker\'s as it settled it (nothing completed or failed)', () => {
    expect(settledOutcome({ action: 'done' }, false)).toBe('lost');
    expect(settledOutcome({ action: 'fail', retry: true, code: 'X', message: 'm' }, false)).toBe('lost');
  });
});

import { describe, expect, it } from 'vitest';
import type { JobEvent } from '../../src/job/job-types.js';
import { roundProgress } from '../../src/run/round-progress.js';

type ProgressEvent = Extract<JobEvent, { type: 'progress' }>;

const part = (index: string, status: string, total: number, completed: number, failed = 0) => ({ index, status, total, completed, failed });

describe('roundProgress', () => {
  it("counts only the round's parts (and their resubmits) against the round's requests", () => {
    const job: ProgressEvent = {
      type: 'progress',
      jobId: 'kb-1',
      elapsedMs: 1_000,
      total: 3201,
      completed: 9603,
      failed: 0,
      parts: [part('00001', 'completed', 1601, 1601), part('00002', 'completed', 1600, 1600), part('00003', 'expired', 200, 120, 3), part('00004', 'in_progress', 80, 40)],
    };
    const round = roundProgress(job, 1, 280, '00003');
    expect(round).toMatchObject({ type: 'progress', round: 1, total: 280, completed: 160, failed: 3 });
    expect(round.parts.map((p) => p.index)).toEqual(['00003', '00004']);
  });

  it('never counts past the round total', () => {
    const job: ProgressEvent = { type: 'progress', jobId: 'kb-1', elapsedMs: 0, total: 10, completed: 0, failed: 0, parts: [part('00002', 'completed', 10, 10, 4)] };
    expect(roundProgress(job, 2, 8, '00002')).toMatchObject({ total: 8, completed: 8, failed: 0 });
  });
});

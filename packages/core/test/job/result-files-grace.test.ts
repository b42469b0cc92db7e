import { describe, expect, it } from 'vitest';
import { parseBatch } from '../../src/client/schemas.js';
import type { JobContext } from '../../src/job/context.js';
import type { JobEvent } from '../../src/job/job-types.js';
import { resultFilesSettled } from '../../src/job/result-files-grace.js';
import type { JobPart } from '../../src/state/manifest.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const batch = parseBatch({ id: 'b-7', status: 'completed', error_file_id: 'file-err', request_counts: { total: 0, completed: 0, failed: 0 } });
const part = { index: '00002', requests: 5 } as JobPart;

// Just what resultFilesSettled reads of a job context; `complete` stands for the client's check (absent: none).
function context(complete: boolean | undefined, resultFileGraceMs?: number, acceptMissingOutput?: boolean) {
  const events: JobEvent[] = [];
  const asked: Array<{ requests: number }> = [];
  const client = complete === undefined ? {} : { resultFilesComplete: async (_b: unknown, expected: { requests: number }) => (asked.push(expected), complete) };
  const ctx = { client, store: { jobDir: '/jobs/kb-1' }, emit: (e: JobEvent) => events.push(e), opts: { pollIntervalMs: 10, ...(resultFileGraceMs === undefined ? {} : { resultFileGraceMs }), ...(acceptMissingOutput ? { acceptMissingOutput } : {}) } } as unknown as JobContext;
  return { ctx, events, asked };
}

describe('resultFilesSettled', () => {
  it("finishes a batch at once when the client has no such check, or its check says every file is named (asked with the part's request count)", async () => {
    expect(await resultFilesSettled(context(undefined).ctx, part, batch, {})).toBe(true);
    const { ctx, asked, events } = context(true);
    expect(await resultFilesSettled(ctx, part, batch, {})).toBe(true);
    expect([asked, events]).toEqual([[{ requests: 5 }], []]);
  });

  it('polls on while the files may be incomplete, warning once, then stops with BATCH_OUTPUT_MISSING past the grace', async () => {
    const { ctx, events } = context(false, 60_000);
    const watch = {};
    expect(await resultFilesSettled(ctx, part, batch, watch)).toBe(false);
    expect(await resultFilesSettled(ctx, part, batch, watch)).toBe(false);
    expect(events).toEqual([{ type: 'warning', part: '00002', message: 'batch b-7 is completed and names its error file but not yet its output file; waiting up to 60s for it' }]);
    const late = context(false, 1);
    const since = { incompleteSince: Date.now() - 5 };
    const error = await catchError(() => resultFilesSettled(late.ctx, part, batch, since));
    expectKbatchError(error, { code: 'BATCH_OUTPUT_MISSING', batchId: 'b-7', message: 'whose lines answer fewer than its 5 requests' });
    expect((error as Error).message).toContain('none is sent again');
    expect((error as Error).message).toContain('continue with: kbatch resume /jobs/kb-1');
  });

  it('waits 10 minutes by default', async () => {
    const { ctx, events } = context(false);
    expect(await resultFilesSettled(ctx, part, batch, { incompleteSince: Date.now() - 599_000 })).toBe(false);
    expect(events).toEqual([]);
    expectKbatchError(await catchError(() => resultFilesSettled(ctx, part, batch, { incompleteSince: Date.now() - 600_000 })), { code: 'BATCH_OUTPUT_MISSING' });
  });

  it('with acceptMissingOutput finishes an incomplete batch at once, warning that it may pay twice', async () => {
    const { ctx, events } = context(false, 60_000, true);
    expect(await resultFilesSettled(ctx, part, batch, {})).toBe(true);
    expect(events).toEqual([
      {
        type: 'warning',
        part: '00002',
        message:
          'batch b-7 is completed and names no output file; finished as it stands (acceptMissingOutput): the requests its error file does not answer are read as never run, which pays twice for any answer the provider did produce',
      },
    ]);
  });
});

import { mkdir, mkdtemp, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobManifestSchema, writeManifest } from '../../src/state/manifest.js';
import { readJobFacts, timelineOf } from '../../src/report/job-facts.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const part = (index: string, fields: Record<string, unknown>) => ({ index, kind: 'chunk', path: `chunks/part-${index}.jsonl`, sha256: 'x', requests: 10, bytes: 100, ...fields });
// An expired batch, its leftovers resubmitted, a retry round still running, a part never sent and one uploaded only.
const MANIFEST = JobManifestSchema.parse({
  version: 1, jobId: 'kb-1', createdAt: '2026-12-05T01:00:00.000Z', updatedAt: '2026-12-05T03:00:00.000Z', endpoint: '/v1/chat/completions', window: '24h',
  parts: [
    part('00001', { createStartedAt: '2026-12-05T01:00:01.000Z', batchId: 'b1', status: 'expired', done: true, succeeded: 6, failed: 0, outputPath: 'results/part-00001.output.jsonl' }),
    part('00002', { kind: 'resubmit', parent: '00001', requests: 4, createStartedAt: '2026-12-05T02:00:00.000Z', batchId: 'b2', status: 'completed', done: true, succeeded: 4, failed: 0 }),
    part('00003', { kind: 'retry', createStartedAt: '2026-12-05T02:30:00.000Z', batchId: 'b3', status: 'in_progress' }),
    part('00004', {}),
    part('00005', { uploadStartedAt: '2026-12-05T02:40:00.000Z' }),
  ],
});

describe('timelineOf', () => {
  it('gives each batch begun its status and times: downloaded results end a done batch (unknown without them), else the last manifest update', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-report-facts-'));
    await mkdir(join(dir, 'results'));
    await writeFile(join(dir, 'results/part-00001.output.jsonl'), '');
    const downloaded = new Date('2026-12-05T01:59:00.000Z');
    await utimes(join(dir, 'results/part-00001.output.jsonl'), downloaded, downloaded);
    expect(await timelineOf(dir, MANIFEST)).toEqual([
      { part: '00001', kind: 'chunk', batchId: 'b1', status: 'expired', start: '2026-12-05T01:00:01.000Z', end: downloaded.toISOString(), requests: 10, succeeded: 6, failed: 0 },
      { part: '00002', kind: 'resubmit of 00001', batchId: 'b2', status: 'completed', start: '2026-12-05T02:00:00.000Z', end: null, requests: 4, succeeded: 4, failed: 0 },
      { part: '00003', kind: 'retry', batchId: 'b3', status: 'in_progress', start: '2026-12-05T02:30:00.000Z', end: MANIFEST.updatedAt, requests: 10, succeeded: null, failed: null },
      { part: '00005', kind: 'chunk', batchId: null, status: 'not created', start: '2026-12-05T02:40:00.000Z', end: MANIFEST.updatedAt, requests: 10, succeeded: null, failed: null },
    ]);
  });
});

describe('readJobFacts', () => {
  it('reads what there is: no run.json (no output), no spend.json, a torn eval.json ignored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-report-facts-'));
    await writeManifest(dir, MANIFEST);
    await writeFile(join(dir, 'eval.json'), '{"gold": "sent');
    expect(await readJobFacts(dir)).toMatchObject({ output: null, prefix: '', labels: undefined, gold: undefined, spend: null });
  });

  it('takes the gold column from eval.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-report-facts-'));
    await writeManifest(dir, MANIFEST);
    await writeFile(join(dir, 'eval.json'), JSON.stringify({ gold: 'sentiment', pred: 'label', n: 0 }));
    expect((await readJobFacts(dir)).gold).toBe('sentiment');
  });

  it('fails with JOB_NOT_FOUND on a directory without a manifest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-report-facts-'));
    expectKbatchError(await catchError(() => readJobFacts(dir)), { code: 'JOB_NOT_FOUND' });
  });
});

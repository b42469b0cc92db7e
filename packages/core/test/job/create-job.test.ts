import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJob, resolveChunkFiles } from '../../src/job/create-job.js';
import { cancelJob } from '../../src/job/job-commands.js';
import { resumeJob } from '../../src/job/batch-job.js';
import { loadManifest } from '../../src/state/manifest.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { writeChunks } from './fixtures.js';

// A client that must never be called.
const never = () => Promise.reject(new Error('no remote call expected'));
const noClient = {
  apiKey: 'k',
  baseURL: 'http://127.0.0.1:9/v1',
  maxRetries: 0,
  timeout: 1000,
  batches: { create: never, retrieve: never, list: never, cancel: never },
  files: { content: never },
};

describe('createJob', () => {
  it('links chunks into the job and records sha256, requests and bytes', async () => {
    const { dir, root } = await writeChunks(2, 3);
    const { jobDir, manifest } = await createJob({ chunks: [dir], jobDir: join(root, 'job') });
    expect(await readdir(join(jobDir, 'chunks'))).toEqual(['part-00001.jsonl', 'part-00002.jsonl']);
    expect(manifest.parts[0]).toMatchObject({ index: '00001', kind: 'chunk', requests: 3, done: false });
    expect(manifest.parts[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.jobId).toMatch(/^kb-\d{8}-\d{6}-[0-9a-f]{6}$/);
  });

  it('refuses a directory that already holds a job with JOB_MISMATCH', async () => {
    const { dir, root } = await writeChunks(1, 1);
    await createJob({ chunks: [dir], jobDir: join(root, 'job') });
    expectKbatchError(await catchError(() => createJob({ chunks: [dir], jobDir: join(root, 'job') })), { code: 'JOB_MISMATCH' });
  });

  it('lets only one of two racing creates write a job into one directory', async () => {
    const { dir, root } = await writeChunks(1, 1);
    for (let round = 0; round < 20; round++) {
      const jobDir = join(root, `job-${round}`);
      const results = await Promise.allSettled([createJob({ chunks: [dir], jobDir }), createJob({ chunks: [dir], jobDir })]);
      expect(results.filter((r) => r.status === 'fulfilled'), `round ${round}`).toHaveLength(1);
      const failure = results.find((r) => r.status === 'rejected')!.reason;
      expect(['JOB_MISMATCH', 'JOB_LOCKED']).toContain((failure as { code?: string }).code);
    }
  });

  it('rejects missing inputs and empty directories with INPUT_NOT_FOUND', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-empty-'));
    expectKbatchError(await catchError(() => resolveChunkFiles([join(root, 'nope.jsonl')])), { code: 'INPUT_NOT_FOUND' });
    expectKbatchError(await catchError(() => resolveChunkFiles([root])), { code: 'INPUT_NOT_FOUND', message: 'No .jsonl' });
    await writeFile(join(root, 'empty.jsonl'), '\n');
    expectKbatchError(await catchError(() => createJob({ chunks: [join(root, 'empty.jsonl')], jobDir: join(root, 'j') })), {
      code: 'INPUT_NOT_FOUND',
      message: 'no request lines',
    });
  });
});

describe('resumeJob', () => {
  it('rejects a directory without a job with JOB_NOT_FOUND', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-nojob-'));
    expectKbatchError(await catchError(() => resumeJob(root, { client: noClient as never })), { code: 'JOB_NOT_FOUND' });
  });

  it('rejects a completion window kluster does not offer, listing the allowed ones', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-window-'));
    expectKbatchError(await catchError(() => resumeJob(root, { client: noClient as never, window: '5h' })), {
      code: 'OPTION_INVALID',
      message: /`window`: must be one of 1h, 3h, 6h, 12h, 24h/,
    });
  });

  it('never submits the parts of a cancelled job', async () => {
    const { dir, root } = await writeChunks(2, 2);
    const { jobDir } = await createJob({ chunks: [dir], jobDir: join(root, 'job') });
    expect(await cancelJob(jobDir, { client: noClient as never })).toBe(0);
    const summary = await resumeJob(jobDir, { client: noClient as never });
    expect(summary.state).toBe('cancelled');
    expect((await loadManifest(jobDir)).parts.map((p) => p.status)).toEqual(['not_submitted', 'not_submitted']);
  });
});

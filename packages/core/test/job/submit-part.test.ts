import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { createJob } from '../../src/job/create-job.js';
import { ManifestStore } from '../../src/state/manifest.js';
import { submitPart } from '../../src/job/submit-part.js';
import { writeCancelMarker } from '../../src/state/cancel-marker.js';
import type { JobContext } from '../../src/job/context.js';
import type { JobEvent } from '../../src/job/job-types.js';
import { writeChunks } from './fixtures.js';

const never = () => Promise.reject(new Error('no such call expected'));

async function setup(chunks: number, list: (jobId: string, sha: (i: string) => string) => unknown[], job: { outputExpiresAfter?: number } = {}) {
  const { dir, root } = await writeChunks(chunks, 2);
  const { jobDir } = await createJob({ chunks: [dir], jobDir: join(root, 'job'), ...job });
  const store = await ManifestStore.open(jobDir);
  const started = new Date().toISOString();
  for (const part of store.manifest.parts) {
    part.fileId = `file-${part.index}`;
    part.createStartedAt = started;
  }
  const sha = (i: string) => store.manifest.parts.find((p) => p.index === i)!.sha256;
  const calls = { list: 0, create: 0, cancel: [] as string[], params: [] as unknown[] };
  const items = list(store.manifest.jobId, sha);
  const client = {
    apiKey: 'k',
    baseURL: 'http://127.0.0.1:9/v1',
    maxRetries: 0,
    timeout: 1000,
    batches: {
      list: async () => {
        calls.list++;
        return { data: items, has_more: false };
      },
      create: async (params: unknown) => {
        calls.create++;
        calls.params.push(params);
        return { id: `new-${calls.create}`, status: 'validating', request_counts: { total: 2, completed: 0, failed: 0 } };
      },
      retrieve: never,
      cancel: async (id: string) => {
        calls.cancel.push(id);
        return { id, status: 'cancelling' };
      },
    },
    files: { content: never },
  };
  const events: JobEvent[] = [];
  const ctx: JobContext = {
    store,
    client: client as never,
    limit: pLimit(2),
    emit: (e) => events.push(e),
    opts: { concurrency: 2, pollIntervalMs: 50, retryBaseMs: 1, noResubmit: false, maxResubmits: 3, downloadAttempts: 2 },
  };
  return { ctx, store, calls, events, jobDir };
}

const item = (id: string, status: string, metadata: Record<string, string>) => ({
  id,
  status,
  created_at: Math.floor(Date.now() / 1000),
  request_counts: { total: 2, completed: 0, failed: 0 },
  metadata,
});

describe('submitPart', () => {
  it('adopts one of several batches carrying the part metadata, warns and cancels the running extras', async () => {
    const { ctx, store, calls, events } = await setup(1, (job, sha) => [
      item('b-cancelled', 'cancelled', { kbatch_job: job, kbatch_chunk: '00001', kbatch_sha256: sha('00001') }),
      item('b-live', 'in_progress', { kbatch_job: job, kbatch_chunk: '00001', kbatch_sha256: sha('00001') }),
      item('b-extra', 'validating', { kbatch_job: job, kbatch_chunk: '00001', kbatch_sha256: sha('00001') }),
    ]);
    const part = store.manifest.parts[0]!;
    await submitPart(ctx, part);
    expect(part).toMatchObject({ batchId: 'b-live', adopted: true, status: 'in_progress' });
    expect(calls.create).toBe(0);
    expect(calls.cancel).toEqual(['b-extra']);
    expect(events.some((e) => e.type === 'warning' && e.message.includes('3 batches'))).toBe(true);
  });

  it('lists the account once for every part of a resume that needs to look', async () => {
    const { ctx, store, calls } = await setup(3, (job, sha) => [
      item('b1', 'in_progress', { kbatch_job: job, kbatch_chunk: '00001', kbatch_sha256: sha('00001') }),
      item('b3', 'in_progress', { kbatch_job: job, kbatch_chunk: '00003', kbatch_sha256: sha('00003') }),
      item('foreign', 'in_progress', { kbatch_job: 'another', kbatch_chunk: '00002', kbatch_sha256: sha('00002') }),
    ]);
    for (const part of store.manifest.parts) await submitPart(ctx, part);
    expect(store.manifest.parts.map((p) => p.batchId)).toEqual(['b1', 'new-1', 'b3']);
    expect(calls.list).toBe(1);
  });

  it('creates nothing once another process asked to cancel the job (cancel marker)', async () => {
    const { ctx, store, calls, jobDir } = await setup(1, () => []);
    const part = store.manifest.parts[0]!;
    delete part.createStartedAt;
    await writeCancelMarker(jobDir);
    await submitPart(ctx, part);
    expect(calls.create).toBe(0);
    expect(part.batchId).toBeUndefined();
    expect(store.manifest.cancelledAt).toBeTruthy();
  });

  // The manifest holds the expiry, so a create after a crash (intent recorded, no batch found) sends what the first one did.
  it("sends the job's recorded output_expires_after on a resume's create, and none for a job without one", async () => {
    const { ctx, store, calls } = await setup(1, () => [], { outputExpiresAfter: 86_400 });
    expect(store.manifest.outputExpiresAfter).toBe(86_400);
    await submitPart(ctx, store.manifest.parts[0]!);
    expect(calls.list).toBe(1);
    expect(calls.params).toEqual([expect.objectContaining({ output_expires_after: { anchor: 'created_at', seconds: 86_400 } })]);
    const plain = await setup(1, () => []);
    await submitPart(plain.ctx, plain.store.manifest.parts[0]!);
    expect(plain.calls.params).toEqual([expect.not.objectContaining({ output_expires_after: expect.anything() })]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { APIUserAbortError } from 'openai';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runBatchJob, resumeJob } from '../../src/job/batch-job.js';
import { readJobResults } from '../../src/job/read-job-results.js';
import { loadManifest, writeManifest } from '../../src/state/manifest.js';
import { scanFile } from '../../src/job/lines.js';
import { uploadFile } from '../../src/client/upload-file.js';
import { addChunks, createJob } from '../../src/job/create-job.js';
import { cancelJob, jobStatus } from '../../src/job/job-commands.js';
import type { JobEvent } from '../../src/job/job-types.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { watchAbortListeners } from '../helpers/listeners.js';
import { emulatorClient, requestLine, writeChunks } from './fixtures.js';

const fast = { pollIntervalMs: 50, retryBaseMs: 10 };

async function resultIds(jobDir: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const r of readJobResults(jobDir)) ids.push(r.custom_id);
  return ids.sort();
}

describe('runBatchJob', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 1, validationMs: 10, lineMs: 0, finalizingMs: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('resumeJob removes the temps a killed writer left in chunks/ and results/, never a live writer\'s or a look-alike', async () => {
    const { dir, root } = await writeChunks(1, 3);
    const { jobDir } = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), ...fast });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const stale = [join('chunks', `part-00002.jsonl.${dead}.0a1b2c3d.tmp`), join('results', `part-00001.error.jsonl.${dead}.deadbeef.tmp`)];
    const kept = [join('chunks', `part-00002.jsonl.${process.ppid}.0a1b2c3d.tmp`), join('results', `mine.jsonl.${dead}.deadbeef.tmp`)];
    for (const file of [...stale, ...kept]) await writeFile(join(jobDir, file), 'partial');
    await resumeJob(jobDir, { client: emulatorClient(emu.baseURL), ...fast });
    const left = [];
    for (const sub of ['chunks', 'results']) left.push(...(await readdir(join(jobDir, sub))).filter((n) => n.endsWith('.tmp')).map((n) => join(sub, n)));
    expect(left.sort()).toEqual([...kept].sort());
  });

  it("records outputExpiresAfter in the manifest on a provider that offers it (openai), and its batches' output files expire then", async () => {
    const { dir, root } = await writeChunks(1, 2);
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), provider: 'openai', outputExpiresAfter: '2h', ...fast });
    const manifest = await loadManifest(summary.jobDir);
    expect(manifest.outputExpiresAfter).toBe(7_200);
    const output = (await emulatorClient(emu.baseURL).files.retrieve(manifest.parts[0]!.outputFileId!)) as unknown as { created_at: string; expires_at: number };
    expect(output.expires_at - Number(output.created_at)).toBe(7_200);
  });

  it('refuses outputExpiresAfter on a provider without it before any job directory or upload (OPTION_INVALID)', async () => {
    const { dir, root } = await writeChunks(1, 2);
    const before = emu.stats().filesCreated;
    const err = await catchError(() => runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), outputExpiresAfter: 7_200, ...fast }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'outputExpiresAfter', message: 'provider kluster does not document an output expiry' });
    expect(emu.stats().filesCreated).toBe(before);
    expect(await readdir(root)).toEqual(['chunks']);
  });

  it("leaves the caller's signal without any abort listener it added after a job of 12 parts that deletes its input files, and Node warns of none", async () => {
    const { dir, root } = await writeChunks(12, 2);
    const caller = new AbortController();
    const watch = watchAbortListeners(caller.signal);
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), concurrency: 4, signal: caller.signal, ...fast });
    expect(summary).toMatchObject({ state: 'completed', succeeded: 24 });
    expect(summary.parts.every((p) => p.done)).toBe(true);
    expect((await loadManifest(summary.jobDir)).parts.filter((p) => p.fileDeletedAt)).toHaveLength(12);
    expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
  });

  it("cancels straggler batches without leaving an abort listener on the caller's signal", async () => {
    const slow = await startEmulator({ timeScale: 0.001, seed: 1, validationMs: 10, lineMs: 0, finalizingMs: 10, faults: { slowTailLines: 2, slowTailMs: 60_000 } });
    try {
      const { dir, root } = await writeChunks(2, 10);
      const caller = new AbortController();
      const watch = watchAbortListeners(caller.signal);
      const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(slow.baseURL), ...fast, keepFiles: true, signal: caller.signal, stragglers: { threshold: 2, waitMs: 100 } });
      expect(summary.parts.map((p) => p.straggler)).toEqual([true, true]);
      expect(slow.stats().requests['POST /v1/batches/:id/cancel']).toBe(2);
      expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
    } finally {
      await slow.close();
    }
  });

  it('takes several chunks to downloaded results, each custom_id once', async () => {
    const { dir, ids, root } = await writeChunks(3, 20);
    const before = emu.stats().batchesCreated;
    const events: JobEvent[] = [];
    const summary = await runBatchJob({
      chunks: [dir],
      jobDir: join(root, 'job'),
      client: emulatorClient(emu.baseURL),
      concurrency: 2,
      ...fast,
      onProgress: (e) => events.push(e),
    });
    expect(summary).toMatchObject({ state: 'completed', requests: 60, succeeded: 60, failed: 0, pending: 0 });
    expect(emu.stats().batchesCreated - before).toBe(3);
    expect(await resultIds(summary.jobDir)).toEqual([...ids].sort());
    const manifest = await loadManifest(summary.jobDir);
    expect(manifest.parts.map((p) => [p.status, p.outputLines, p.done])).toEqual([
      ['completed', 20, true],
      ['completed', 20, true],
      ['completed', 20, true],
    ]);
    expect(JSON.stringify(manifest)).not.toContain('test-key');
    expect(events.some((e) => e.type === 'progress')).toBe(true);
    expect(events.filter((e) => e.type === 'created')).toHaveLength(3);
    const meta = (await emulatorClient(emu.baseURL).batches.retrieve(manifest.parts[0]!.batchId!)).metadata;
    expect(meta).toMatchObject({ kbatch_job: manifest.jobId, kbatch_chunk: '00001', kbatch_sha256: manifest.parts[0]!.sha256 });
  });

  it('reports a failed validation with line numbers mapped to custom_ids', async () => {
    const { dir, root } = await writeChunks(1, 3);
    const bad = join(dir, 'part-00002.jsonl');
    await writeFile(bad, `${requestLine('ok1')}\n${JSON.stringify({ custom_id: 'bad1', method: 'GET', url: '/v1/chat/completions', body: {} })}\n`);
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), ...fast });
    expect(summary.state).toBe('partial');
    // ok1 never ran: it is resubmitted without the bad line.
    expect(summary).toMatchObject({ requests: 5, succeeded: 4, failed: 1 });
    expect(summary.lineErrors.map((e) => [e.part, e.line, e.customId])).toContainEqual(['00002', 2, 'bad1']);
    expect(summary.parts[1]).toMatchObject({ status: 'failed', code: 'BATCH_FAILED', lineErrors: summary.lineErrors.length });
    expect(summary.parts[0]!.code).toBeUndefined();
  });

  it('resubmits the never-run requests of an expired batch as a new part', async () => {
    const { dir, ids, root } = await writeChunks(1, 10);
    emu.setFaults({ expireAfterLines: 4 });
    const events: JobEvent[] = [];
    const created = emu.stats().batchesCreated;
    let summary;
    try {
      summary = await runBatchJob({
        chunks: [dir],
        jobDir: join(root, 'job'),
        client: emulatorClient(emu.baseURL),
        ...fast,
        maxResubmits: 5,
        onProgress: (e) => events.push(e),
      });
    } finally {
      emu.setFaults(null);
    }
    expect(summary.state).toBe('completed');
    expect(summary.succeeded).toBe(10);
    const manifest = await loadManifest(summary.jobDir);
    expect(manifest.parts[0]).toMatchObject({ status: 'expired', resubmittedAs: '00002', succeeded: 4 });
    expect(manifest.parts[1]).toMatchObject({ kind: 'resubmit', parent: '00001', requests: 6 });
    expect(events.some((e) => e.type === 'resubmitted')).toBe(true);
    expect(await resultIds(summary.jobDir)).toEqual([...ids].sort());
    expect(emu.stats().batchesCreated - created).toBe(manifest.parts.length);
  });

  it('keeps partial output of an expired batch with noResubmit', async () => {
    const { dir, root } = await writeChunks(1, 10);
    emu.setFaults({ expireAfterLines: 3 });
    let summary;
    try {
      summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), ...fast, noResubmit: true });
    } finally {
      emu.setFaults(null);
    }
    // The never-run requests are failed, each with a batch_expired line (none is left without a result).
    expect(summary).toMatchObject({ state: 'partial', succeeded: 3, failed: 7, pending: 0 });
    expect(summary.parts[0]).toMatchObject({ status: 'expired', code: 'BATCH_EXPIRED' });
    expect((await resultIds(summary.jobDir)).length).toBe(10);
  });

  it('counts failed requests of a completed batch and reports them in the results', async () => {
    const { dir, root } = await writeChunks(1, 30);
    emu.setFaults({ lineFailureRate: 0.3 });
    let summary;
    try {
      summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), ...fast });
    } finally {
      emu.setFaults(null);
    }
    expect(summary.state).toBe('partial');
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.succeeded + summary.failed).toBe(30);
    expect((await resultIds(summary.jobDir)).length).toBe(30);
  });

  it('survives 429/5xx/dropped-connection storms on upload, create and polling', async () => {
    const { dir, ids, root } = await writeChunks(3, 5);
    const created = emu.stats().batchesCreated;
    emu.setFaults({
      rate429: 0.25,
      rate5xx: 0.2,
      dropRate: 0.15,
      retryAfterSeconds: 0.01,
      routes: ['POST /v1/files', 'POST /v1/batches', 'GET /v1/batches/:id', 'GET /v1/batches', 'GET /v1/files/:id/content'],
    });
    let summary;
    const retries: string[] = [];
    try {
      summary = await runBatchJob({
        chunks: [dir],
        jobDir: join(root, 'job'),
        client: emulatorClient(emu.baseURL, 2),
        ...fast,
        downloadAttempts: 10,
        onProgress: (e) => {
          if (e.type === 'retry') retries.push(e.operation);
        },
      });
    } finally {
      emu.setFaults(null);
    }
    expect(summary.state).toBe('completed');
    expect(emu.stats().batchesCreated - created).toBe(3);
    expect(await resultIds(summary.jobDir)).toEqual([...ids].sort());
    expect(retries.length).toBeGreaterThan(0);
  });

  it('with `stragglers`, cancels a stalled batch once, marks its part and leaves the unanswered requests out of the results', async () => {
    const slow = await startEmulator({ timeScale: 0.001, seed: 1, validationMs: 10, lineMs: 0, finalizingMs: 10, faults: { slowTailLines: 2, slowTailMs: 60_000 } });
    try {
      const { dir, root } = await writeChunks(2, 10);
      const events: JobEvent[] = [];
      const summary = await runBatchJob({
        chunks: [dir],
        jobDir: join(root, 'job'),
        client: emulatorClient(slow.baseURL),
        ...fast,
        stragglers: { threshold: 2, waitMs: 100 },
        onProgress: (e) => events.push(e),
      });
      // Each batch: 8 answered, the 9th finishes while cancelling, the 10th never runs.
      expect(summary).toMatchObject({ state: 'partial', requests: 20, succeeded: 18, failed: 0, pending: 2 });
      expect(summary.parts.map((p) => [p.status, p.straggler])).toEqual([
        ['cancelled', true],
        ['cancelled', true],
      ]);
      expect(events.filter((e) => e.type === 'stragglers')).toHaveLength(2);
      expect(slow.stats().requests['POST /v1/batches/:id/cancel']).toBe(2);
      expect(slow.stats().batchesCreated).toBe(2);
      expect(await resultIds(summary.jobDir)).toHaveLength(18);
      expectKbatchError(
        await catchError(() => runBatchJob({ chunks: [dir], client: emulatorClient(slow.baseURL), stragglers: { waitMs: 0 } })),
        { code: 'OPTION_INVALID', message: /stragglers\.waitMs/ },
      );
    } finally {
      await slow.close();
    }
  });

  it('stops waiting with AWAIT_TIMEOUT and finishes on resume', async () => {
    const slow = await startEmulator({ timeScale: 0.01, seed: 2, validationMs: 10, lineMs: 30, finalizingMs: 10 });
    try {
      const { dir, ids, root } = await writeChunks(1, 10);
      const jobDir = join(root, 'job');
      const client = emulatorClient(slow.baseURL);
      expectKbatchError(await catchError(() => runBatchJob({ chunks: [dir], jobDir, client, ...fast, timeoutMs: 50 })), {
        code: 'AWAIT_TIMEOUT',
        message: 'kbatch resume',
      });
      const summary = await resumeJob(jobDir, { client, ...fast });
      expect(summary.state).toBe('completed');
      expect(slow.stats().batchesCreated).toBe(1);
      expect(await resultIds(jobDir)).toEqual([...ids].sort());
    } finally {
      await slow.close();
    }
  });

  it('leaves a resumable job when aborted, and cancels with cancelOnInterrupt', async () => {
    // Each batch runs about a second (20 lines × 50 ms), so under load the aborts still land before it completes.
    const slow = await startEmulator({ timeScale: 0.01, seed: 3, validationMs: 10, lineMs: 5_000, finalizingMs: 10 });
    try {
      const { dir, root } = await writeChunks(2, 20);
      const jobDir = join(root, 'job');
      const client = emulatorClient(slow.baseURL);
      const controller = new AbortController();
      const run = runBatchJob({
        chunks: [dir],
        jobDir,
        client,
        ...fast,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.type === 'progress' && e.parts.every((p) => p.batchId)) controller.abort();
        },
      });
      expectKbatchError(await catchError(() => run), { code: 'ABORTED', message: `kbatch resume ${jobDir}` });
      const controller2 = new AbortController();
      const run2 = resumeJob(jobDir, {
        client,
        ...fast,
        signal: controller2.signal,
        cancelOnInterrupt: true,
        onProgress: (e) => {
          if (e.type === 'progress') controller2.abort();
        },
      });
      expectKbatchError(await catchError(() => run2), { code: 'ABORTED', message: /cancelled/ });
      const summary = await resumeJob(jobDir, { client, ...fast });
      expect(summary.state).toBe('cancelled');
      expect(summary.parts.map((p) => p.status)).toEqual(['cancelled', 'cancelled']);
      expect(slow.stats().batchesCreated).toBe(2);
    } finally {
      await slow.close();
    }
  });

  it('cancels a submitted job with cancelJob and collects partial output', async () => {
    const slow = await startEmulator({ timeScale: 0.01, seed: 4, validationMs: 10, lineMs: 20, finalizingMs: 10 });
    try {
      const { dir, root } = await writeChunks(1, 30);
      const jobDir = join(root, 'job');
      const client = emulatorClient(slow.baseURL);
      await runBatchJob({ chunks: [dir], jobDir, client, ...fast, wait: false });
      expect((await jobStatus(jobDir, { client })).state).toBe('running');
      expect(await cancelJob(jobDir, { client })).toBe(1);
      const summary = await resumeJob(jobDir, { client, ...fast });
      expect(summary.state).toBe('cancelled');
      expect(summary.parts[0]).toMatchObject({ status: 'cancelled', code: 'BATCH_CANCELLED' });
      expect(slow.stats().batchesCreated).toBe(1);
    } finally {
      await slow.close();
    }
  });

  it('adds retry parts whose results replace earlier ones', async () => {
    const { dir, ids, root } = await writeChunks(1, 10);
    const jobDir = join(root, 'job');
    const client = emulatorClient(emu.baseURL);
    emu.setFaults({ lineFailureRate: 0.5 });
    let first;
    try {
      first = await runBatchJob({ chunks: [dir], jobDir, client, ...fast });
    } finally {
      emu.setFaults(null);
    }
    expect(first.failed).toBeGreaterThan(0);
    const failedIds: string[] = [];
    for await (const r of readJobResults(jobDir)) if (r.response?.status_code !== 200) failedIds.push(r.custom_id);
    const retryFile = join(root, 'retry.jsonl');
    await writeFile(retryFile, `${failedIds.map((id) => requestLine(id)).join('\n')}\n`);
    expect(await addChunks(jobDir, [retryFile])).toEqual(['00002']);
    const summary = await resumeJob(jobDir, { client, ...fast });
    expect(summary).toMatchObject({ state: 'completed', succeeded: 10, failed: 0 });
    const results = [];
    for await (const r of readJobResults(jobDir)) results.push(r);
    expect(results.map((r) => r.custom_id).sort()).toEqual([...ids].sort());
    expect(results.every((r) => r.response?.status_code === 200)).toBe(true);
    expect(await readFile(join(jobDir, 'chunks', 'part-00002.jsonl'), 'utf8')).toContain(failedIds[0]!);
  });

  it('reports the results of resubmit parts that finish an expired retry part', async () => {
    const { dir, ids, root } = await writeChunks(1, 10);
    const jobDir = join(root, 'job');
    const client = emulatorClient(emu.baseURL);
    emu.setFaults({ lineFailureRate: 0.5 });
    try {
      await runBatchJob({ chunks: [dir], jobDir, client, ...fast });
    } finally {
      emu.setFaults(null);
    }
    const failedIds: string[] = [];
    for await (const r of readJobResults(jobDir)) if (r.response?.status_code !== 200) failedIds.push(r.custom_id);
    expect(failedIds.length).toBeGreaterThan(2);
    const retryFile = join(root, 'retry.jsonl');
    await writeFile(retryFile, `${failedIds.map((id) => requestLine(id)).join('\n')}\n`);
    await addChunks(jobDir, [retryFile]);
    emu.setFaults({ expireAfterLines: 2 });
    let summary;
    try {
      summary = await resumeJob(jobDir, { client, ...fast, maxResubmits: 10 });
    } finally {
      emu.setFaults(null);
    }
    const manifest = await loadManifest(jobDir);
    expect(manifest.parts[1]).toMatchObject({ kind: 'retry', status: 'expired', resubmittedAs: '00003' });
    expect(manifest.parts[2]).toMatchObject({ kind: 'resubmit', parent: '00002' });
    expect(summary).toMatchObject({ state: 'completed', succeeded: 10, failed: 0, pending: 0 });
    const results = [];
    for await (const r of readJobResults(jobDir)) results.push(r);
    expect(results.map((r) => r.custom_id).sort()).toEqual([...ids].sort());
    expect(results.every((r) => r.response?.status_code === 200)).toBe(true);
  });

  async function jobFiles(jobId: string): Promise<string[]> {
    const names: string[] = [];
    for await (const f of emulatorClient(emu.baseURL).files.list({ purpose: 'batch' })) if (f.filename.startsWith(`${jobId}-part-`)) names.push(f.filename);
    return names.sort();
  }

  it('deletes each uploaded input file once its batch finished and its results are downloaded (expired parts too)', async () => {
    const { dir, ids, root } = await writeChunks(2, 6);
    emu.setFaults({ expireAfterLines: 4 });
    let summary;
    try {
      summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), ...fast });
    } finally {
      emu.setFaults(null);
    }
    expect(summary.state).toBe('completed');
    const manifest = await loadManifest(summary.jobDir);
    expect(manifest.parts).toHaveLength(4);
    for (const p of manifest.parts) expect(p.fileDeletedAt).toBeDefined();
    expect(await jobFiles(manifest.jobId)).toEqual([]);
    expect(await resultIds(summary.jobDir)).toEqual([...ids].sort());
  });

  it('deletes the files an upload retried after a lost answer left on the server', async () => {
    const { dir, ids, root } = await writeChunks(6, 2);
    emu.setFaults({ loseResponseRate: 0.5, routes: ['POST /v1/files'] });
    const events: JobEvent[] = [];
    let summary;
    try {
      summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL, 0), ...fast, uploadAttempts: 20, keepFiles: true, onProgress: (e) => events.push(e) });
    } finally {
      emu.setFaults(null);
    }
    // The fault did lose an answer to an upload the server kept (6 uploads at 1 in 2: all pass 1 time in 64), and that file was deleted.
    expect(events.some((e) => e.type === 'retry' && e.operation === 'upload')).toBe(true);
    expect(events.some((e) => e.type === 'warning' && /^deleted [1-9]\d* input file\(s\) left on the server/.test(e.message))).toBe(true);
    const manifest = await loadManifest(summary.jobDir);
    expect(await jobFiles(manifest.jobId)).toEqual(manifest.parts.map((p) => `${manifest.jobId}-part-${p.index}.jsonl`));
    expect(await resultIds(summary.jobDir)).toEqual([...ids].sort());
  });

  it('keeps the uploaded input files with keepFiles', async () => {
    const { dir, root } = await writeChunks(2, 3);
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(emu.baseURL), ...fast, keepFiles: true });
    const manifest = await loadManifest(summary.jobDir);
    expect(manifest.parts.every((p) => p.fileDeletedAt === undefined)).toBe(true);
    expect(await jobFiles(manifest.jobId)).toEqual([`${manifest.jobId}-part-00001.jsonl`, `${manifest.jobId}-part-00002.jsonl`]);
  });

  it('on resume deletes an input file whose upload finished unrecorded, never one a part records', async () => {
    const { dir, ids, root } = await writeChunks(2, 3);
    const jobDir = join(root, 'job');
    const client = emulatorClient(emu.baseURL);
    const { manifest } = await createJob({ chunks: [dir], jobDir });
    // What a crash between the server's answer and the manifest write leaves: the file exists, the part does not name it.
    const orphan = await uploadFile(client, join(jobDir, manifest.parts[0]!.path), { purpose: 'batch', filename: `${manifest.jobId}-part-00001.jsonl` });
    manifest.parts[0]!.uploadStartedAt = new Date().toISOString();
    manifest.parts[0]!.uploadAttempts = 1;
    await writeManifest(jobDir, manifest);
    const events: JobEvent[] = [];
    const summary = await resumeJob(jobDir, { client, ...fast, keepFiles: true, onProgress: (e) => events.push(e) });
    expect(summary.state).toBe('completed');
    const after = await loadManifest(jobDir);
    const names = [];
    for await (const f of client.files.list({ purpose: 'batch' })) if (f.filename.startsWith(`${manifest.jobId}-part-`)) names.push(f.id);
    expect(names.sort()).toEqual(after.parts.map((p) => p.fileId!).sort());
    expect(names).not.toContain(orphan.id);
    expect(events.some((e) => e.type === 'warning' && e.message.includes(orphan.id))).toBe(true);
    expect(await resultIds(jobDir)).toEqual([...ids].sort());
  });

  it('on resume keeps an unrecorded file named after the job that a batch uses (a copied job directory), and says so', async () => {
    const { dir, root } = await writeChunks(1, 3);
    const jobDir = join(root, 'job');
    const client = emulatorClient(emu.baseURL);
    const { manifest } = await createJob({ chunks: [dir], jobDir });
    // A copy of this job directory uploaded and created its batch; this one crashed during its own upload.
    const twin = await uploadFile(client, join(jobDir, manifest.parts[0]!.path), { purpose: 'batch', filename: `${manifest.jobId}-part-00001.jsonl` });
    const twinBatch = await client.batches.create({ input_file_id: twin.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    manifest.parts[0]!.uploadStartedAt = new Date().toISOString();
    manifest.parts[0]!.uploadAttempts = 1;
    await writeManifest(jobDir, manifest);
    const events: JobEvent[] = [];
    const summary = await resumeJob(jobDir, { client, ...fast, keepFiles: true, onProgress: (e) => events.push(e) });
    expect(summary.state).toBe('completed');
    const names = [];
    for await (const f of client.files.list({ purpose: 'batch' })) names.push(f.id);
    expect(names).toContain(twin.id);
    expect(events.some((e) => e.type === 'warning' && e.message.includes(`${twin.id} by ${twinBatch.id}`))).toBe(true);
  });

  it('repairs on resume a job that two simultaneous expiries left with one resubmit index and one overwritten chunk', async () => {
    const { dir, ids, root } = await writeChunks(2, 5);
    const jobDir = join(root, 'job');
    const client = emulatorClient(emu.baseURL);
    emu.setFaults({ expireAfterLines: 2 });
    try {
      await runBatchJob({ chunks: [dir], jobDir, client, ...fast, noResubmit: true });
    } finally {
      emu.setFaults(null);
    }
    // The state the racing code left: both parents resubmitted as 00003, the file holding the second one's requests.
    const manifest = await loadManifest(jobDir);
    const leftovers = [ids.slice(2, 5), ids.slice(7, 10)];
    const texts = leftovers.map((l) => `${l.map((id) => requestLine(id)).join('\n')}\n`);
    const racing = [];
    for (const [i, text] of texts.entries()) {
      const file = join(root, `leftovers-${i}.jsonl`);
      await writeFile(file, text);
      const { sha256, bytes } = await scanFile(file);
      manifest.parts[i]!.resubmittedAs = '00003';
      // A resubmitting finish counts none of them failed (--no-resubmit, used to get here, counted them).
      manifest.parts[i]!.failed = 0;
      racing.push({ index: '00003', kind: 'resubmit' as const, parent: manifest.parts[i]!.index, path: join('chunks', 'part-00003.jsonl'), sha256, requests: 3, bytes, uploadAttempts: 1, uploadStartedAt: new Date().toISOString(), createAttempts: 0, downloadAttempts: 0, done: false });
    }
    manifest.parts.push(...racing);
    await writeFile(join(jobDir, 'chunks', 'part-00003.jsonl'), texts[1]!);
    await writeManifest(jobDir, manifest);
    const created = emu.stats().batchesCreated;
    const events: JobEvent[] = [];
    const summary = await resumeJob(jobDir, { client, ...fast, onProgress: (e) => events.push(e) });
    expect(summary).toMatchObject({ state: 'completed', succeeded: 10, failed: 0, pending: 0 });
    expect(emu.stats().batchesCreated - created).toBe(2);
    const repaired = await loadManifest(jobDir);
    expect(repaired.parts.map((p) => [p.index, p.parent ?? null])).toEqual([['00001', null], ['00002', null], ['00004', '00001'], ['00003', '00002']]);
    expect(repaired.parts.map((p) => p.resubmittedAs ?? null)).toEqual(['00004', '00003', null, null]);
    expect(await resultIds(jobDir)).toEqual([...ids].sort());
    expect(events.some((e) => e.type === 'warning' && /part 00003 of part 00001 was damaged.*rebuilt as part 00004 with 3/.test(e.message))).toBe(true);
  });

  it('stops creating batches when cancelJob runs while another process holds the job', async () => {
    const { dir, root } = await writeChunks(3, 5);
    const jobDir = join(root, 'job');
    const real = emulatorClient(emu.baseURL);
    let reached!: () => void;
    const firstCreate = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let creates = 0;
    const client = Object.assign(Object.create(real) as typeof real, {
      batches: Object.assign(Object.create(real.batches) as typeof real.batches, {
        create: async (...args: Parameters<typeof real.batches.create>) => {
          if (creates++ === 0) {
            reached();
            await gate;
          }
          return real.batches.create(...args);
        },
      }),
    });
    const created = emu.stats().batchesCreated;
    const run = runBatchJob({ chunks: [dir], jobDir, client, ...fast, concurrency: 1 });
    await firstCreate;
    await cancelJob(jobDir, { client: real });
    release();
    const summary = await run;
    expect(emu.stats().batchesCreated - created).toBe(1);
    expect(summary.state).toBe('cancelled');
    expect(summary.parts.map((p) => p.status)).toEqual([expect.stringMatching(/cancel|completed/), 'not_submitted', 'not_submitted']);
  });

  it('with cancelOnInterrupt, finds and cancels a batch whose create was in flight at Ctrl-C', async () => {
    const slow = await startEmulator({ timeScale: 0.01, seed: 6, validationMs: 10, lineMs: 50, finalizingMs: 10 });
    try {
      const { dir, root } = await writeChunks(1, 20);
      const jobDir = join(root, 'job');
      const real = emulatorClient(slow.baseURL);
      const controller = new AbortController();
      const client = Object.assign(Object.create(real) as typeof real, {
        batches: Object.assign(Object.create(real.batches) as typeof real.batches, {
          // The server creates the batch, but the answer is lost to the interrupt.
          create: async (body: Parameters<typeof real.batches.create>[0], opts?: { signal?: AbortSignal | null }) => {
            await real.batches.create(body);
            controller.abort();
            await new Promise((r) => setTimeout(r, 10));
            if (opts?.signal?.aborted) throw new APIUserAbortError();
            throw new Error('expected the signal to be aborted');
          },
        }),
      });
      const err = await catchError(() => runBatchJob({ chunks: [dir], jobDir, client, ...fast, signal: controller.signal, cancelOnInterrupt: true }));
      expectKbatchError(err, { code: 'ABORTED', message: /cancelled/ });
      const part = (await loadManifest(jobDir)).parts[0]!;
      expect(part).toMatchObject({ adopted: true, cancelRequested: true });
      const batch = await real.batches.retrieve(part.batchId!);
      expect(['cancelling', 'cancelled']).toContain(batch.status);
      expect(slow.stats().batchesCreated).toBe(1);
    } finally {
      await slow.close();
    }
  });

  it('refuses with JOB_MISMATCH to upload a chunk edited in place after the job recorded it', async () => {
    const { dir, root } = await writeChunks(1, 3);
    const jobDir = join(root, 'job');
    await createJob({ chunks: [dir], jobDir });
    // The job hard-links the user's file: an in-place edit changes the job's chunk too.
    await appendFile(join(dir, 'part-00001.jsonl'), `${requestLine('late')}\n`);
    const created = emu.stats().filesCreated;
    expectKbatchError(await catchError(() => resumeJob(jobDir, { client: emulatorClient(emu.baseURL), ...fast })), { code: 'JOB_MISMATCH' });
    expect(emu.stats().filesCreated).toBe(created);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createClient } from '../../src/client/create-kluster-client.js';
import { resumeJob } from '../../src/job/batch-job.js';
import { createJob } from '../../src/job/create-job.js';
import { partMetadata } from '../../src/job/part-metadata.js';
import type { JobClient, JobEvent } from '../../src/job/job-types.js';
import { writeManifest, type JobManifest } from '../../src/state/manifest.js';
import { uploadFile } from '../../src/client/upload-file.js';
import { watchAbortListeners } from '../helpers/listeners.js';
import { emulatorClient, writeChunks } from './fixtures.js';

const KEY = 'AIza-orphans';
const MODEL = 'gemini-2.5-flash';
const fast = { pollIntervalMs: 50, retryBaseMs: 10, keepFiles: true };

/** A job of one Gemini chunk whose upload "crashed" unrecorded (uploadStartedAt, no fileId), as a SIGKILL leaves it. */
async function crashedJob(): Promise<{ jobDir: string; manifest: JobManifest; chunk: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-orphans-'));
  await mkdir(join(root, 'chunks'));
  const lines = ['a', 'b'].map((id) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: `Answer with one of these labels: yes, no. ${id}` }] } }));
  await writeFile(join(root, 'chunks', 'part-00001.jsonl'), `${lines.join('\n')}\n`);
  const jobDir = join(root, 'job');
  const { manifest } = await createJob({ chunks: [join(root, 'chunks')], jobDir, provider: 'gemini' });
  manifest.parts[0]!.uploadStartedAt = new Date().toISOString();
  manifest.parts[0]!.uploadAttempts = 1;
  await writeManifest(jobDir, manifest);
  return { jobDir, manifest, chunk: join(jobDir, manifest.parts[0]!.path) };
}

describe('deleteOrphanUploads on Gemini (its batches name their input file in another form than its file listing)', () => {
  let emu: Emulator;
  let client: JobClient;
  const files = async () => ((await (await fetch(`${emu.baseURL}/v1beta/files?pageSize=100`, { headers: { 'x-goog-api-key': KEY } })).json()) as { files?: Array<{ name: string; displayName: string }> }).files ?? [];
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'gemini', apiKey: KEY, timeScale: 0.001, seed: 8, validationMs: 10, lineMs: 0, finalizingMs: 10 });
    client = createClient({ provider: 'gemini', apiKey: KEY, baseURL: emu.baseURL, maxRetries: 0 }) as unknown as JobClient;
  });
  afterAll(async () => {
    await emu.close();
  });

  it("lists kbatch's uploads with the ids kbatch records, and the upload's name as filename", async () => {
    const { chunk, manifest } = await crashedJob();
    const uploaded = await client.uploadBatchInput!(chunk, { filename: `${manifest.jobId}-part-00001.jsonl` });
    const listed = [];
    for await (const file of client.files.list!({ purpose: 'batch' })) listed.push(file);
    expect(listed.find((f) => f.id === uploaded.id)).toMatchObject({ id: expect.stringMatching(new RegExp(`^files/.+#model=${MODEL}$`)), filename: `${manifest.jobId}-part-00001.jsonl`, object: 'file', created_at: expect.any(Number) });
  });

  it('deletes on resume the upload a crash left unrecorded, once no batch of its part exists but the one the part records', async () => {
    const { jobDir, manifest, chunk } = await crashedJob();
    const orphan = await client.uploadBatchInput!(chunk, { filename: `${manifest.jobId}-part-00001.jsonl` });
    const events: JobEvent[] = [];
    const summary = await resumeJob(jobDir, { client: client as never, ...fast, onProgress: (e) => events.push(e) });
    expect(summary.state).toBe('completed');
    const names = (await files()).map((f) => f.name);
    expect(names).not.toContain(orphan.id.split('#')[0]);
    expect(events.some((e) => e.type === 'warning' && e.message.includes(`deleted 1 input file(s)`) && e.message.includes(orphan.id))).toBe(true);
  });

  it("keeps an unrecorded upload of a part whose batch another copy of the job created (found by the part in the batch's metadata), and says so", async () => {
    const { jobDir, manifest, chunk } = await crashedJob();
    const twin = await client.uploadBatchInput!(chunk, { filename: `${manifest.jobId}-part-00001.jsonl` });
    const twinBatch = await client.batches.create({ input_file_id: twin.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: partMetadata(manifest.jobId, manifest.parts[0]!) });
    const events: JobEvent[] = [];
    await resumeJob(jobDir, { client: client as never, ...fast, onProgress: (e) => events.push(e) });
    expect((await files()).map((f) => f.name)).toContain(twin.id.split('#')[0]);
    expect(events.some((e) => e.type === 'warning' && e.message.includes(`${twin.id} by ${twinBatch.id}`))).toBe(true);
  });

  it('never takes for an orphan a file named after the job without kbatch\'s model mark (uploaded elsewhere, or by an older kbatch)', async () => {
    const { jobDir, manifest } = await crashedJob();
    const start = await fetch(`${emu.baseURL}/upload/v1beta/files`, { method: 'POST', headers: { 'x-goog-api-key': KEY, 'x-goog-upload-protocol': 'resumable', 'x-goog-upload-command': 'start', 'content-type': 'application/json' }, body: JSON.stringify({ file: { displayName: `${manifest.jobId}-part-00001.jsonl`, mimeType: 'application/jsonl' } }) });
    const done = await fetch(start.headers.get('x-goog-upload-url')!, { method: 'POST', headers: { 'x-goog-api-key': KEY, 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' }, body: '{}\n' });
    const foreign = ((await done.json()) as { file: { name: string } }).file.name;
    await resumeJob(jobDir, { client: client as never, ...fast });
    expect((await files()).map((f) => f.name)).toContain(foreign);
  });
});

describe('deleteOrphanUploads on an openai-compatible provider', () => {
  it("lists the account's files and deletes the orphan a crashed upload left, leaving no abort listener on the caller's signal", async () => {
    const emu = await startEmulator({ timeScale: 0.001, seed: 2, validationMs: 10, lineMs: 0, finalizingMs: 10 });
    try {
      const { dir, root } = await writeChunks(1, 2);
      const jobDir = join(root, 'job');
      const { manifest } = await createJob({ chunks: [dir], jobDir });
      manifest.parts[0]!.uploadStartedAt = new Date().toISOString();
      manifest.parts[0]!.uploadAttempts = 1;
      await writeManifest(jobDir, manifest);
      const client = emulatorClient(emu.baseURL);
      const orphan = await uploadFile(client, join(jobDir, manifest.parts[0]!.path), { filename: `${manifest.jobId}-part-00001.jsonl` });
      const caller = new AbortController();
      const watch = watchAbortListeners(caller.signal);
      const events: JobEvent[] = [];
      await resumeJob(jobDir, { client, ...fast, signal: caller.signal, onProgress: (e) => events.push(e) });
      expect(events.some((e) => e.type === 'warning' && e.message.includes(`deleted 1 input file(s)`) && e.message.includes(orphan.id))).toBe(true);
      expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
    } finally {
      await emu.close();
    }
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import OpenAI, { APIConnectionError, toFile } from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFineTuneJob } from '../../src/finetune/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { watchAbortListeners } from '../helpers/listeners.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kbatch-ftc-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fakeClient() {
  const created: Record<string, unknown>[] = [];
  const uploads: string[] = [];
  return {
    created,
    uploads,
    upload: async (path: string) => {
      uploads.push(path);
      return { id: `file-${uploads.length}` };
    },
    fineTuning: {
      jobs: {
        create: async (body: Record<string, unknown>) => {
          created.push(body);
          return { id: 'ftjob-1', object: 'fine_tuning.job', status: 'queued', created_at: 1739489717, ...body };
        },
        list: async () => ({ data: [], has_more: false }),
      },
    },
  };
}

describe('createFineTuneJob', () => {
  it('uploads local files and creates the job with hyperparameters and nickname', async () => {
    const client = fakeClient();
    await writeFile(join(dir, 'train.jsonl'), '{}\n');
    await writeFile(join(dir, 'val.jsonl'), '{}\n');
    const uploaded: string[] = [];
    const job = await createFineTuneJob({
      client,
      upload: client.upload,
      cwd: dir,
      trainingFile: 'train.jsonl',
      validationFile: 'val.jsonl',
      model: MODEL,
      epochs: 3,
      batchSize: 4,
      learningRateMultiplier: 0.5,
      nickname: 'sentiment',
      onUpload: (u) => uploaded.push(`${u.role}:${u.fileId}`),
    });
    expect(job).toMatchObject({ id: 'ftjob-1', status: 'queued', training_file: 'file-1', validation_file: 'file-2' });
    expect(client.uploads).toEqual([join(dir, 'train.jsonl'), join(dir, 'val.jsonl')]);
    expect(uploaded).toEqual(['training:file-1', 'validation:file-2']);
    expect(client.created[0]).toEqual({
      model: MODEL,
      training_file: 'file-1',
      validation_file: 'file-2',
      hyperparameters: { batch_size: 4, learning_rate_multiplier: 0.5, n_epochs: 3 },
      nickname: 'sentiment',
    });
  });

  it('uses a file id as is when no such local file exists', async () => {
    const client = fakeClient();
    await createFineTuneJob({ client, upload: client.upload, cwd: dir, trainingFile: '67ae81587772e8a89c8fd5cf', model: MODEL });
    expect(client.uploads).toEqual([]);
    expect(client.created[0]).toEqual({ model: MODEL, training_file: '67ae81587772e8a89c8fd5cf' });
  });

  it('reports a missing local .jsonl path as INPUT_NOT_FOUND', async () => {
    const client = fakeClient();
    const err = await catchError(() => createFineTuneJob({ client, upload: client.upload, cwd: dir, trainingFile: 'nope.jsonl', model: MODEL }));
    expectKbatchError(err, { code: 'INPUT_NOT_FOUND', file: 'nope.jsonl' });
  });

  it('refuses a model that cannot be fine-tuned before uploading anything', async () => {
    const client = fakeClient();
    await writeFile(join(dir, 'train.jsonl'), '{}\n');
    const err = await catchError(() => createFineTuneJob({ client, upload: client.upload, cwd: dir, trainingFile: 'train.jsonl', model: 'gpt-4o' }));
    expectKbatchError(err, { code: 'FINETUNE_MODEL_UNSUPPORTED', message: /klusterai\/Meta-Llama-3.3-70B-Instruct-Turbo/ });
    expect(client.uploads).toEqual([]);
  });

  it('validates hyperparameters with OPTION_INVALID', async () => {
    const client = fakeClient();
    const err = await catchError(() => createFineTuneJob({ client, trainingFile: 'f', model: MODEL, epochs: 0 }));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: 'Invalid option `epochs`: must be a positive integer, got 0' });
  });
});

describe('createFineTuneJob (lost answers, over HTTP)', () => {
  const ROUTE = 'POST /v1/fine_tuning/jobs';
  let emu: Emulator;
  let client: OpenAI;
  let trainingFile: string;
  beforeEach(async () => {
    emu = await startEmulator({ seed: 3, ftStepMs: 50 });
    // SDK retries on, as in real use: createFineTuneJob must switch them off for the create itself.
    client = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL, maxRetries: 2 });
    const text = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }) + '\n';
    trainingFile = (await client.files.create({ file: await toFile(Buffer.from(text), 'train.jsonl'), purpose: 'fine-tune' })).id;
  });
  afterEach(() => emu.close());

  const jobsOnServer = async () => (await client.fineTuning.jobs.list({ limit: 100 })).data;

  it('adopts the job the server created when the create answer is lost (exactly one job)', async () => {
    emu.setFaults({ loseResponseRate: 1, routes: [ROUTE] });
    const job = await createFineTuneJob({ client, trainingFile, model: MODEL, retryBaseMs: 1 });
    const jobs = await jobsOnServer();
    expect(jobs.map((j) => j.id)).toEqual([job.id]);
    expect(job).toMatchObject({ training_file: trainingFile, model: MODEL });
    expect(emu.stats().requests[ROUTE]).toBe(1);
  });

  it('creates again when the failed attempt never reached the server (dropped before processing)', async () => {
    emu.setFaults({ dropRate: 1, routes: [ROUTE] });
    const create = client.fineTuning.jobs.create.bind(client.fineTuning.jobs);
    const flaky = {
      fineTuning: {
        jobs: {
          list: client.fineTuning.jobs.list.bind(client.fineTuning.jobs),
          create: ((body: never, options: never) => create(body, options).finally(() => emu.setFaults(null))) as typeof create,
        },
      },
    };
    const job = await createFineTuneJob({ client: flaky, trainingFile, model: MODEL, retryBaseMs: 1 });
    expect((await jobsOnServer()).map((j) => j.id)).toEqual([job.id]);
    expect(emu.stats().requests[ROUTE]).toBe(2);
  });

  it("uploads through files.create, loses the create answer and adopts the job, leaving no abort listener on the caller's signal", async () => {
    emu.setFaults({ loseResponseRate: 1, routes: [ROUTE] });
    const path = join(dir, 'train.jsonl');
    await writeFile(path, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }) + '\n');
    const caller = new AbortController();
    const watch = watchAbortListeners(caller.signal);
    // No connection settings: the upload takes the SDK's files.create.
    const job = await createFineTuneJob({ client: { files: client.files, fineTuning: client.fineTuning }, trainingFile: path, model: MODEL, retryBaseMs: 1, signal: caller.signal });
    expect((await jobsOnServer()).map((j) => j.id)).toEqual([job.id]);
    expect(emu.stats().requests['GET /v1/fine_tuning/jobs']).toBeGreaterThanOrEqual(1);
    expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
  });

  it('does not adopt an older job with the same training file and model', async () => {
    const older = await client.fineTuning.jobs.create({ model: MODEL, training_file: trainingFile });
    await new Promise((r) => setTimeout(r, 1100)); // created_at has second resolution
    emu.setFaults({ loseResponseRate: 1, routes: [ROUTE] });
    const job = await createFineTuneJob({ client, trainingFile, model: MODEL, retryBaseMs: 1 });
    expect(job.id).not.toBe(older.id);
    expect((await jobsOnServer()).map((j) => j.id).sort()).toEqual([older.id, job.id].sort());
  });

  it('gives up after maxAttempts with the transient error, never creating more than one job per look-up', async () => {
    emu.setFaults({ dropRate: 1, routes: [ROUTE] });
    const err = await catchError(() => createFineTuneJob({ client, trainingFile, model: MODEL, retryBaseMs: 1, maxAttempts: 3 }));
    expect(err).toBeInstanceOf(APIConnectionError);
    expect(emu.stats().requests[ROUTE]).toBe(3);
    expect(emu.stats().requests['GET /v1/fine_tuning/jobs']).toBe(2);
    expect(await jobsOnServer()).toEqual([]);
  });

  it('does not retry a 4xx answer', async () => {
    const err = await catchError(() => createFineTuneJob({ client, trainingFile: 'file-missing', model: MODEL, retryBaseMs: 1 }));
    expect(err).toMatchObject({ status: 404 });
    expect(emu.stats().requests[ROUTE]).toBe(1);
  });
});

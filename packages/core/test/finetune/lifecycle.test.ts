import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelFineTuneJob,
  createFineTuneJob,
  getFineTuneJob,
  listFineTuneJobs,
  prepareTrainingData,
  waitForFineTuneJob,
  type FineTuneJob,
} from '../../src/finetune/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
let emu: Emulator;
let client: OpenAI;
let dir: string;
let train: string;

beforeAll(async () => {
  emu = await startEmulator({ seed: 1, ftStepMs: 20 });
  client = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL, maxRetries: 0 });
  dir = await mkdtemp(join(tmpdir(), 'kbatch-ftl-'));
  train = join(dir, 'train.jsonl');
  const records = ['good film', 'awful plot', 'loved it', 'boring'].map((text, i) => ({
    index: i + 1,
    line: i + 2,
    data: { text, label: i % 2 === 0 ? 'positive' : 'negative' },
  }));
  await prepareTrainingData({
    records: Readable.from(records),
    prompt: 'Sentiment of: {{text}}',
    system: 'Answer positive or negative.',
    completionColumn: 'label',
    model: MODEL,
    out: train,
  });
});

afterAll(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

const fast = { pollIntervalMs: 10, maxPollIntervalMs: 40, timeoutMs: 20_000 };

describe('fine-tuning against the emulator', () => {
  it('uploads, runs queued → running → succeeded, and the fine-tuned model answers chat completions', async () => {
    const job = await createFineTuneJob({ client, trainingFile: train, validationFile: train, model: MODEL, epochs: 2, nickname: 'sent' });
    expect(job.status).toBe('queued');
    expect(job.training_file).toBeTruthy();
    const file = await client.files.retrieve(job.training_file!);
    expect(file.purpose).toBe('fine-tune');

    const statuses: string[] = [];
    const done = await waitForFineTuneJob({ client, jobId: job.id, ...fast, onStatus: (j: FineTuneJob) => statuses.push(j.status) });
    expect(statuses.at(-1)).toBe('succeeded');
    expect(statuses).toContain('running');
    expect(done.fine_tuned_model).toMatch(/^ft:/);
    expect(done.hyperparameters?.n_epochs).toBe(2);

    const chat = await client.chat.completions.create({
      model: done.fine_tuned_model!,
      messages: [{ role: 'user', content: 'Sentiment of: great' }],
    });
    expect(chat.choices[0]!.message.content).toBeTruthy();
    expect((await getFineTuneJob(client, job.id)).status).toBe('succeeded');
  });

  it('keeps waiting through 5xx and 429 answers on the job route', async () => {
    const job = await createFineTuneJob({ client, trainingFile: train, model: MODEL, epochs: 1 });
    emu.setFaults({ rate5xx: 0.3, rate429: 0.2, retryAfterSeconds: 0, routes: ['GET /v1/fine_tuning/jobs/:id'] });
    try {
      const done = await waitForFineTuneJob({ client, jobId: job.id, ...fast, maxConsecutiveErrors: 50 });
      expect(done.status).toBe('succeeded');
    } finally {
      emu.setFaults(null);
    }
  });

  it('reports a job that fails on a bad training file as FINETUNE_FAILED with the server reason', async () => {
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n{"prompt":"x"}\n');
    const job = await createFineTuneJob({ client, trainingFile: bad, model: MODEL });
    const err = await catchError(() => waitForFineTuneJob({ client, jobId: job.id, ...fast }));
    expectKbatchError(err, { code: 'FINETUNE_FAILED', message: /invalid_training_file: Line 2/ });
  });

  it('cancels a running job (cancelling → cancelled) and wait reports it', async () => {
    const job = await createFineTuneJob({ client, trainingFile: train, model: MODEL, epochs: 50 });
    const cancelling = await cancelFineTuneJob(client, job.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const err = await catchError(() => waitForFineTuneJob({ client, jobId: job.id, ...fast }));
    expectKbatchError(err, { code: 'FINETUNE_CANCELLED', message: /was cancelled/ });
    expect((await getFineTuneJob(client, job.id)).status).toBe('cancelled');
  });

  it('lets the server refuse a model it cannot tune when the local list is overridden', async () => {
    const err = await catchError(() =>
      createFineTuneJob({ client, trainingFile: train, model: 'klusterai/Meta-Llama-3.1-405B-Instruct-Turbo', models: { 'klusterai/Meta-Llama-3.1-405B-Instruct-Turbo': 1 } }),
    );
    expect((err as { status?: number }).status).toBe(400);
  });

  it('lists every job across pages, newest first', async () => {
    const created: string[] = [];
    for (let i = 0; i < 3; i++) created.push((await createFineTuneJob({ client, trainingFile: train, model: MODEL, epochs: 1 })).id);
    const ids: string[] = [];
    for await (const job of listFineTuneJobs(client, { pageSize: 2 })) ids.push(job.id);
    expect(ids.length).toBeGreaterThanOrEqual(6);
    expect(ids.slice(0, 3)).toEqual([...created].reverse());
    expect(new Set(ids).size).toBe(ids.length);
    expect(emu.stats().requests['GET /v1/fine_tuning/jobs']).toBeGreaterThanOrEqual(3);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { createBatch, readJsonl, requestLine, setup, uploadJsonl, waitForBatch } from '../helpers/emulator.js';
import type { Emulator } from '../../src/index.js';

const example = (q: string, a: string) => ({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });

async function waitForJob(client: OpenAI, id: string, statuses = ['succeeded', 'failed', 'cancelled']) {
  for (;;) {
    const job = await client.fineTuning.jobs.retrieve(id);
    if (statuses.includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('fine-tuning jobs', () => {
  let emu: Emulator;
  let client: OpenAI;
  beforeAll(async () => ({ emu, client } = await setup({ ftStepMs: 20 })));
  afterAll(() => emu.close());

  it('runs queued → running → succeeded; the fine-tuned model works in models, chat and batches', async () => {
    const file = await uploadJsonl(client, [example('hi', 'hello'), example('bye', 'goodbye')], 'fine-tune');
    const job = await client.fineTuning.jobs.create({ training_file: file.id, model: 'meta-llama/Meta-Llama-3.1-8B-Instruct', hyperparameters: { n_epochs: 2, batch_size: 1, learning_rate_multiplier: 1 } });
    expect(job).toMatchObject({ object: 'fine_tuning.job', status: 'queued', fine_tuned_model: null, training_file: file.id, hyperparameters: { n_epochs: 2, batch_size: 1 }, method: { type: 'supervised' }, result_files: [], integrations: [] });
    expect((await waitForJob(client, job.id, ['running', 'succeeded'])).status).toMatch(/running|succeeded/);
    const done = await waitForJob(client, job.id);
    expect(done.status).toBe('succeeded');
    expect(done.fine_tuned_model).toMatch(/^ft:Meta-Llama-3\.1-8B-Instruct:personal:[0-9a-f]{8}$/);
    expect(done.trained_tokens).toBeGreaterThan(0);
    expect(done.finished_at).toBeGreaterThanOrEqual(done.created_at);
    const model = done.fine_tuned_model!;
    expect((await client.models.list()).data.map((m) => m.id)).toContain(model);
    const chat = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    expect(chat.model).toBe(model);
    const b = await waitForBatch(client, (await createBatch(client, [requestLine('a', 'x', { model })])).id);
    expect(b.status).toBe('completed');
    expect((await readJsonl(client, b.output_file_id!))[0].response.body.model).toBe(model);
  });

  it('fails a job whose training file has invalid lines', async () => {
    const file = await uploadJsonl(client, [example('a', 'b'), '{"prompt":"no messages"}'], 'fine-tune');
    const job = await client.fineTuning.jobs.create({ training_file: file.id, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' });
    const done = await waitForJob(client, job.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'invalid_training_file', param: 'training_file', message: expect.stringContaining('Line 2') });
    expect(done.fine_tuned_model).toBeNull();
  });

  it('cancels a job: cancelling → cancelled', async () => {
    const file = await uploadJsonl(client, [example('a', 'b')], 'fine-tune');
    const job = await client.fineTuning.jobs.create({ training_file: file.id, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', hyperparameters: { n_epochs: 50 } });
    const cancelling = await client.fineTuning.jobs.cancel(job.id);
    expect(cancelling.status).toBe('cancelling');
    expect((await waitForJob(client, job.id)).status).toBe('cancelled');
    await expect(client.fineTuning.jobs.cancel(job.id)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('lists jobs newest first with pagination', async () => {
    const page = await client.fineTuning.jobs.list({ limit: 2 });
    expect(page.data).toHaveLength(2);
    expect(page.has_more).toBe(true);
    const all = [];
    for await (const j of client.fineTuning.jobs.list({ limit: 1 })) all.push(j.id);
    expect(all).toHaveLength(3);
    expect(all[0]).toBe(page.data[0]!.id);
  });

  it('rejects a non-fine-tunable model, a missing file and a batch-purpose file', async () => {
    const batchFile = await uploadJsonl(client, [example('a', 'b')]);
    await expect(client.fineTuning.jobs.create({ training_file: batchFile.id, model: 'deepseek-ai/DeepSeek-R1' })).rejects.toMatchObject({ status: 400, error: { param: 'model' } });
    await expect(client.fineTuning.jobs.create({ training_file: 'file-x', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' })).rejects.toMatchObject({ status: 404 });
    await expect(client.fineTuning.jobs.create({ training_file: batchFile.id, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' })).rejects.toMatchObject({ status: 400, error: { param: 'training_file' } });
    await expect(client.fineTuning.jobs.retrieve('ftjob-missing')).rejects.toMatchObject({ status: 404 });
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { createBatch, readJsonl, requestLine, uploadJsonl, waitForBatch, FAST } from './helpers/emulator.js';
import { startEmulator } from '../src/index.js';

describe('persistence with dataDir', () => {
  it('keeps files, batches and jobs across a restart and finishes an in-flight batch', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'emu-persist-'));
    try {
      const first = await startEmulator({ ...FAST, dataDir, lineMs: 10 });
      let client = new OpenAI({ baseURL: first.baseURL, apiKey: 'x', maxRetries: 0 });
      const lines = Array.from({ length: 50 }, (_, i) => requestLine(`r${i}`, `q${i}`));
      const batch = await createBatch(client, lines);
      await waitForBatch(client, batch.id, ['in_progress']);
      const kept = await uploadJsonl(client, [{ keep: true }]);
      await first.close();

      const second = await startEmulator({ ...FAST, dataDir, lineMs: 0 });
      client = new OpenAI({ baseURL: second.baseURL, apiKey: 'x', maxRetries: 0 });
      try {
        expect(await (await client.files.content(kept.id)).text()).toBe('{"keep":true}\n');
        const done = await waitForBatch(client, batch.id);
        expect(done.status).toBe('completed');
        expect(done.request_counts).toEqual({ total: 50, completed: 50, failed: 0 });
        expect((await readJsonl(client, done.output_file_id!)).map((o) => o.custom_id).sort()).toEqual(lines.map((l) => l.custom_id).sort());
        expect(second.dataDir).toBe(dataDir);
      } finally {
        await second.close();
      }
      // A third start sees the finished batch as it was.
      const third = await startEmulator({ ...FAST, dataDir });
      try {
        const c3 = new OpenAI({ baseURL: third.baseURL, apiKey: 'x', maxRetries: 0 });
        expect((await c3.batches.retrieve(batch.id)).status).toBe('completed');
      } finally {
        await third.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('resumes a fine-tuning job after a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'emu-persist-ft-'));
    try {
      const first = await startEmulator({ ...FAST, dataDir, ftStepMs: 50 });
      let client = new OpenAI({ baseURL: first.baseURL, apiKey: 'x', maxRetries: 0 });
      const file = await uploadJsonl(client, [{ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] }], 'fine-tune');
      const job = await client.fineTuning.jobs.create({ training_file: file.id, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', hyperparameters: { n_epochs: 2 } });
      await first.close();
      const second = await startEmulator({ ...FAST, dataDir });
      client = new OpenAI({ baseURL: second.baseURL, apiKey: 'x', maxRetries: 0 });
      try {
        let cur = await client.fineTuning.jobs.retrieve(job.id);
        while (cur.status !== 'succeeded') {
          expect(['queued', 'running']).toContain(cur.status);
          await new Promise((r) => setTimeout(r, 10));
          cur = await client.fineTuning.jobs.retrieve(job.id);
        }
        expect((await client.models.list()).data.map((m) => m.id)).toContain(cur.fine_tuned_model);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('removes its temp data dir on close when no dataDir was given', async () => {
    const emu = await startEmulator(FAST);
    const dir = emu.dataDir;
    await emu.close();
    await expect(import('node:fs/promises').then((fs) => fs.stat(dir))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

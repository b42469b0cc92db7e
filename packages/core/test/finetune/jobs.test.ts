import { describe, expect, it } from 'vitest';
import { cancelFineTuneJob, getFineTuneJob, listFineTuneJobs, parseFineTuneJob } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { watchAbortListeners } from '../helpers/listeners.js';
import { startEmulator } from '@kbatch/emulator';
import OpenAI, { toFile } from 'openai';

const job = (id: string, extra: Record<string, unknown> = {}) => ({ object: 'fine_tuning.job', id, model: 'm', status: 'running', created_at: 1, ...extra });

describe('parseFineTuneJob', () => {
  it('accepts int and string timestamps, nulls and extra fields', () => {
    const parsed = parseFineTuneJob(
      job('a', { created_at: '1739489717', finished_at: '2025-02-13T23:35:17Z', fine_tuned_model: null, error: {}, integrations: [], hyperparameters: { n_epochs: 'auto' } }),
    );
    expect(parsed).toMatchObject({ id: 'a', created_at: 1739489717, finished_at: 1739489717, fine_tuned_model: null, error: null, integrations: [] });
    expect(parseFineTuneJob(job('b', { created_at: 5, trained_tokens: '3065' })).trained_tokens).toBe(3065);
  });

  it('turns a non-job into RESPONSE_INVALID', async () => {
    expectKbatchError(await catchError(() => parseFineTuneJob({ status: 'x' })), { code: 'RESPONSE_INVALID', message: /`id`/ });
  });
});

describe('getFineTuneJob / cancelFineTuneJob', () => {
  it('retrieve and cancel through the narrow client capability', async () => {
    const client = {
      fineTuning: {
        jobs: {
          retrieve: async (id: string) => job(id, { status: 'running' }),
          cancel: async (id: string) => job(id, { status: 'cancelling' }),
        },
      },
    };
    expect((await getFineTuneJob(client as never, 'j1')).status).toBe('running');
    expect((await cancelFineTuneJob(client as never, 'j1')).status).toBe('cancelling');
  });
});

describe('listFineTuneJobs', () => {
  const all = Array.from({ length: 5 }, (_, i) => job(`j${i + 1}`));
  const calls: unknown[] = [];
  const client = {
    fineTuning: {
      jobs: {
        list: async (query: { after?: string; limit: number }) => {
          calls.push(query);
          const start = query.after ? all.findIndex((j) => j.id === query.after) + 1 : 0;
          const data = all.slice(start, start + query.limit);
          return { data, has_more: start + query.limit < all.length };
        },
      },
    },
  };

  it('pages through with after and has_more', async () => {
    calls.length = 0;
    const ids: string[] = [];
    for await (const j of listFineTuneJobs(client as never, { pageSize: 2 })) ids.push(j.id);
    expect(ids).toEqual(['j1', 'j2', 'j3', 'j4', 'j5']);
    expect(calls).toEqual([{ limit: 2 }, { limit: 2, after: 'j2' }, { limit: 2, after: 'j4' }]);
  });

  it('stops after limit jobs and starts after a cursor', async () => {
    const ids: string[] = [];
    for await (const j of listFineTuneJobs(client as never, { pageSize: 2, limit: 3, after: 'j1' })) ids.push(j.id);
    expect(ids).toEqual(['j2', 'j3', 'j4']);
  });

  it('validates pageSize with OPTION_INVALID', async () => {
    const err = await catchError(async () => {
      for await (const _ of listFineTuneJobs(client as never, { pageSize: 500 })) void _;
    });
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'pageSize' });
  });
});

describe('fine-tuning jobs over HTTP under a long-lived signal', () => {
  it('retrieves, lists page by page and cancels without leaving an abort listener on the signal', async () => {
    const emu = await startEmulator({ seed: 4, ftStepMs: 50 });
    try {
      const client = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL });
      const text = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }) + '\n';
      const file = await client.files.create({ file: await toFile(Buffer.from(text), 'train.jsonl'), purpose: 'fine-tune' });
      const created = [];
      for (let i = 0; i < 3; i++) created.push(await client.fineTuning.jobs.create({ model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', training_file: file.id }));
      const caller = new AbortController();
      const watch = watchAbortListeners(caller.signal);
      const listed = [];
      for await (const job of listFineTuneJobs(client, { pageSize: 1, signal: caller.signal })) listed.push(job.id);
      expect(listed.sort()).toEqual(created.map((j) => j.id).sort());
      expect((await getFineTuneJob(client, created[0]!.id, { signal: caller.signal })).id).toBe(created[0]!.id);
      expect((await cancelFineTuneJob(client, created[0]!.id, { signal: caller.signal })).id).toBe(created[0]!.id);
      expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
    } finally {
      await emu.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import OpenAI from 'openai';
import { startEmulator } from '@kbatch/emulator';
import { withRequestSignal, withRequestSignalEach } from '../../src/internal/request-signal.js';
import { retrieveBatch } from '../../src/batch/create-batch.js';
import { leakListener, watchAbortListeners } from '../helpers/listeners.js';

describe('withRequestSignal', () => {
  it('leaves no listener on the long-lived signal after each request', async () => {
    const outer = new AbortController();
    for (let i = 0; i < 20; i++) await withRequestSignal(outer.signal, async (s) => s?.addEventListener('abort', () => {}));
    expect(getEventListeners(outer.signal, 'abort')).toHaveLength(0);
  });

  it('aborts the request when the long-lived signal aborts, with its reason', async () => {
    const outer = new AbortController();
    const seen = withRequestSignal(outer.signal, (s) => new Promise((_, reject) => s!.addEventListener('abort', () => reject(s!.reason))));
    outer.abort(new Error('stop'));
    await expect(seen).rejects.toThrow('stop');
  });

  it('passes an already aborted signal on as aborted', async () => {
    const reason = await withRequestSignal(AbortSignal.abort('gone'), async (s) => s?.aborted && s.reason);
    expect(reason).toBe('gone');
  });

  it('lets one call add a listener per HTTP try (a listing of many pages, retries) without Node warning', async () => {
    const watch = watchAbortListeners(new AbortController().signal);
    await withRequestSignal(new AbortController().signal, async (s) => {
      for (let page = 0; page < 30; page++) leakListener(s);
    });
    expect((await watch.stop()).warnings).toEqual([]);
  });
});

describe('withRequestSignalEach', () => {
  async function* pieces(signal: AbortSignal | undefined, seen: Array<AbortSignal | undefined>) {
    seen.push(signal);
    signal?.addEventListener('abort', () => {});
    yield 1;
    yield 2;
  }

  it('leaves no listener on the long-lived signal once the items are read, or when the reader stops early', async () => {
    const outer = new AbortController();
    const seen: Array<AbortSignal | undefined> = [];
    for (let i = 0; i < 20; i++) for await (const _ of withRequestSignalEach(outer.signal, (s) => pieces(s, seen)));
    for await (const _ of withRequestSignalEach(outer.signal, (s) => pieces(s, seen))) break;
    expect(getEventListeners(outer.signal, 'abort')).toHaveLength(0);
    expect(seen.every((s) => s !== outer.signal)).toBe(true);
  });

  it('aborts the request while its items are read when the long-lived signal aborts, with its reason', async () => {
    const outer = new AbortController();
    const seen: Array<AbortSignal | undefined> = [];
    for await (const _ of withRequestSignalEach(outer.signal, async (s) => pieces(s, seen))) outer.abort('stop');
    expect([seen[0]!.aborted, seen[0]!.reason]).toEqual([true, 'stop']);
  });

  it('passes no signal when given none', async () => {
    const seen: Array<AbortSignal | undefined> = [];
    const items = [];
    for await (const item of withRequestSignalEach(undefined, (s) => pieces(s, seen))) items.push(item);
    expect([items, seen]).toEqual([[1, 2], [undefined]]);
  });
});

describe('retrieveBatch under a job-long signal', () => {
  it('does not pile up abort listeners across polls (the openai client never removes its own)', async () => {
    const emu = await startEmulator({ validationMs: 0, lineMs: 0, finalizingMs: 0 });
    try {
      const client = new OpenAI({ baseURL: emu.baseURL, apiKey: 'k' });
      const file = await client.files.create({ file: new File(['{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"klusterai/Meta-Llama-3.1-8B-Instruct-Turbo","messages":[{"role":"user","content":"hi"}]}}\n'], 'a.jsonl'), purpose: 'batch' });
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const job = new AbortController();
      for (let i = 0; i < 15; i++) await retrieveBatch(client.batches, batch.id, { signal: job.signal });
      expect(getEventListeners(job.signal, 'abort')).toHaveLength(0);
    } finally {
      await emu.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { setup, MODEL } from '../helpers/emulator.js';
import { tokenize, type Emulator } from '../../src/index.js';

const LABELS = 'Classify the review. Answer with exactly one of these labels: positive, negative, neutral.';

describe('chat completions', () => {
  let emu: Emulator;
  let client: OpenAI;
  beforeAll(async () => ({ emu, client } = await setup({ responder: undefined })));
  afterAll(() => emu.close());

  it('answers with the reference Chat completion object and consistent usage', async () => {
    const c = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is the capital of Argentina?' }] });
    expect(c).toMatchObject({ object: 'chat.completion', model: MODEL, prompt_logprobs: null, choices: [{ index: 0, finish_reason: 'stop', stop_reason: null, logprobs: null, message: { role: 'assistant', tool_calls: [] } }] });
    expect(c.id).toMatch(/^chatcmpl-/);
    expect(c.choices[0]!.message.content).toBe('Echo: What is the capital of Argentina?');
    expect(c.usage!.completion_tokens).toBe(tokenize(c.choices[0]!.message.content!).length);
    expect(c.usage!.total_tokens).toBe(c.usage!.prompt_tokens + c.usage!.completion_tokens);
  });

  it('is deterministic (same request, same answer)', async () => {
    const req = { model: MODEL, messages: [{ role: 'user' as const, content: `${LABELS}\nReview: it was fine I guess` }], seed: 5 };
    const a = await client.chat.completions.create(req);
    const b = await client.chat.completions.create(req);
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
    expect(a.system_fingerprint).toBe('emu-5');
  });

  it('streams SSE chunks that add up to the non-streamed answer and end with [DONE]', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me about streams, please.' }];
    const full = await client.chat.completions.create({ model: MODEL, messages });
    const stream = await client.chat.completions.create({ model: MODEL, messages, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(full.choices[0]!.message.content);
    expect(finish).toBe('stop');
    expect(usage).toEqual(full.usage);
    const raw = await (await fetch(`${emu.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages, stream: true }) })).text();
    expect(raw.startsWith('data: {')).toBe(true);
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('returns logprobs with top_logprobs; the first token of a label answer ranks the other labels', async () => {
    const c = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `${LABELS}\nReview: I loved it, great food` }], logprobs: true, top_logprobs: 3 });
    expect(c.choices[0]!.message.content).toBe('positive');
    const first = c.choices[0]!.logprobs!.content![0]!;
    expect(first.token).toBe('positive');
    expect(first.logprob).toBeLessThan(0);
    expect(Math.exp(first.logprob)).toBeGreaterThan(0.5);
    expect(first.top_logprobs.map((t) => t.token)).toEqual(['positive', 'negative', 'neutral']);
    expect(first.top_logprobs[1]!.logprob).toBeLessThan(first.logprob);
  });

  it('stops at a stop sequence', async () => {
    const c = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'one two three four' }], stop: [' three'] });
    expect(c.choices[0]).toMatchObject({ finish_reason: 'stop', stop_reason: ' three', message: { content: 'Echo: one two' } });
  });

  it('cuts at max_completion_tokens with finish_reason "length" (streamed too)', async () => {
    const req = { model: MODEL, messages: [{ role: 'user' as const, content: 'a b c d e f g' }], max_completion_tokens: 3 };
    const c = await client.chat.completions.create(req);
    expect(c.choices[0]!.finish_reason).toBe('length');
    expect(c.usage!.completion_tokens).toBe(3);
    expect(c.choices[0]!.message.content).toBe('Echo: a');
    let finish;
    for await (const chunk of await client.chat.completions.create({ ...req, stream: true })) finish = chunk.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe('length');
  });

  it('rejects an unknown model with 404 model_not_found and a bad body with 400', async () => {
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, error: { code: 'model_not_found', param: 'model' } });
    await expect(client.chat.completions.create({ model: MODEL, messages: [] })).rejects.toMatchObject({ status: 400, error: { param: 'messages' } });
    await expect(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 })).rejects.toMatchObject({ status: 400, error: { param: 'logprobs' } });
    const res = await fetch(`${emu.baseURL}/chat/completions`, { method: 'POST', body: '{oops' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_json', type: 'invalid_request_error' } });
  });

  it('counts chat requests and peak concurrency in stats()', async () => {
    expect(emu.stats().chatRequests).toBeGreaterThan(5);
    expect(emu.stats().maxConcurrentChat).toBeGreaterThanOrEqual(1);
  });

  it('uses a custom responder when given', async () => {
    const { emu: e2, client: c2 } = await setup({ responder: (body) => `custom for ${body.model}` });
    try {
      const c = await c2.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] });
      expect(c.choices[0]!.message.content).toBe(`custom for ${MODEL}`);
    } finally {
      await e2.close();
    }
  });
});

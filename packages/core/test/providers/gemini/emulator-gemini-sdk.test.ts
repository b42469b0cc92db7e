import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, GoogleGenAI } from '@google/genai';
import { startEmulator, type Emulator } from '@kbatch/emulator';

const MODEL = 'gemini-2.5-flash';

// The personality is judged by the official client: what @google/genai sends and parses, the emulator must speak.
describe('the emulator\'s Gemini personality, driven by @google/genai 2.32', () => {
  let emu: Emulator;
  let ai: GoogleGenAI;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'gemini', apiKey: 'g-key', timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 3 });
    ai = new GoogleGenAI({ apiKey: 'g-key', httpOptions: { baseUrl: emu.baseURL } });
    dir = await mkdtemp(join(tmpdir(), 'kbatch-gemini-sdk-'));
  });
  afterAll(async () => {
    await emu.close();
  });

  async function finished(name: string): Promise<Awaited<ReturnType<GoogleGenAI['batches']['get']>>> {
    for (;;) {
      const batch = await ai.batches.get({ name });
      if (batch.state && !['JOB_STATE_PENDING', 'JOB_STATE_RUNNING'].includes(batch.state)) return batch;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('uploads a JSONL file (resumable), runs a batch on it to SUCCEEDED and serves its responses file by key', async () => {
    const lines = ['k-1', 'k-2', 'k-3'].map((key, i) => JSON.stringify({ key, request: { contents: [{ role: 'user', parts: [{ text: `Label as one of: positive, negative. Review ${i}: ${i === 1 ? 'awful' : 'great'} ünï "q"` }] }], generationConfig: { maxOutputTokens: 5 } } }));
    const path = join(dir, 'in.jsonl');
    await writeFile(path, `${lines.join('\n')}\n`);
    const file = await ai.files.upload({ file: path, config: { mimeType: 'application/jsonl', displayName: 'in.jsonl' } });
    expect(file).toMatchObject({ name: expect.stringMatching(/^files\//), state: 'ACTIVE', displayName: 'in.jsonl' });
    expect((await ai.files.get({ name: file.name! })).sizeBytes).toBe(String((await readFile(path)).length));
    const created = await ai.batches.create({ model: MODEL, src: file.name!, config: { displayName: 'kbatch?kbatch_job=j1' } });
    expect(created).toMatchObject({ name: expect.stringMatching(/^batches\//), displayName: 'kbatch?kbatch_job=j1', state: 'JOB_STATE_PENDING', model: `models/${MODEL}` });
    const done = await finished(created.name!);
    expect(done.state).toBe('JOB_STATE_SUCCEEDED');
    expect(done.dest?.fileName).toMatch(/^files\/responses-/);
    const out = join(dir, 'out.jsonl');
    await ai.files.download({ file: done.dest!.fileName!, downloadPath: out });
    const results = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { key: string; response: { candidates: Array<{ content: { parts: Array<{ text: string }> }; finishReason: string }>; usageMetadata: { totalTokenCount: number } } });
    expect(results.map((r) => r.key).sort()).toEqual(['k-1', 'k-2', 'k-3']);
    const text = Object.fromEntries(results.map((r) => [r.key, r.response.candidates[0]!.content.parts[0]!.text]));
    expect(text).toEqual({ 'k-1': 'positive', 'k-2': 'negative', 'k-3': 'positive' });
    expect(results[0]!.response.usageMetadata.totalTokenCount).toBeGreaterThan(0);
  });

  it('sends BATCH_STATE_* and batchStats as int64 strings on the wire (the SDK renames and drops them)', async () => {
    const [batch] = (await (await fetch(`${emu.baseURL}/v1beta/batches?pageSize=1`, { headers: { 'x-goog-api-key': 'g-key' } })).json()).operations as Array<{ metadata: { state: string; batchStats: Record<string, string> } }>;
    expect(batch!.metadata).toMatchObject({ state: 'BATCH_STATE_SUCCEEDED', batchStats: { requestCount: '3', successfulRequestCount: '3', failedRequestCount: '0', pendingRequestCount: '0' } });
  });

  it('lists batches newest first in pages (pageToken), and cancels a running one to CANCELLED', async () => {
    const path = join(dir, 'slow.jsonl');
    await writeFile(path, `${Array.from({ length: 50 }, (_, i) => JSON.stringify({ key: `s${i}`, request: { contents: [{ parts: [{ text: 'hi' }] }] } })).join('\n')}\n`);
    emu.setFaults({ slowTailLines: 45, slowTailMs: 60_000 });
    const file = await ai.files.upload({ file: path, config: { mimeType: 'application/jsonl' } });
    const created = await ai.batches.create({ model: MODEL, src: file.name!, config: { displayName: 'slow' } });
    const names: string[] = [];
    for await (const batch of await ai.batches.list({ config: { pageSize: 1 } })) names.push(batch.displayName!);
    expect(names).toEqual(['slow', 'kbatch?kbatch_job=j1']);
    await ai.batches.cancel({ name: created.name! });
    const done = await finished(created.name!);
    emu.setFaults(null);
    expect(done.state).toBe('JOB_STATE_CANCELLED');
  });

  it('answers generateContent (system instruction, logprobs) and refuses an unknown model, a missing key and a missing displayName in Google\'s error shape', async () => {
    const res = await ai.models.generateContent({ model: MODEL, contents: 'Label as one of: positive, negative. Review: I love it', config: { systemInstruction: 'You label.', responseLogprobs: true, logprobs: 2 } });
    expect(res.text).toBe('positive');
    expect(res.candidates![0]!.logprobsResult!.topCandidates![0]!.candidates).toHaveLength(2);
    const unknown = await ai.models.generateContent({ model: 'nope-1', contents: 'x' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ApiError);
    expect((unknown as ApiError).status).toBe(404);
    const denied = await new GoogleGenAI({ apiKey: 'wrong', httpOptions: { baseUrl: emu.baseURL } }).models.generateContent({ model: MODEL, contents: 'x' }).catch((e: unknown) => e);
    expect((denied as ApiError).status).toBe(401);
    const raw = await fetch(`${emu.baseURL}/v1beta/models/${MODEL}:batchGenerateContent`, { method: 'POST', headers: { 'x-goog-api-key': 'g-key', 'content-type': 'application/json' }, body: JSON.stringify({ batch: { inputConfig: { fileName: 'files/x' } } }) });
    expect([raw.status, await raw.json()]).toEqual([400, { error: { code: 400, message: expect.stringContaining('display_name is required'), status: 'INVALID_ARGUMENT' } }]);
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator, type EmulatorOptions } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { cancelJob, loadManifest, readJobResults } from '../../src/internal.js';
import { loadRunState, runJob, type RunEvent, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const FAST: EmulatorOptions = { timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5 };
const LABELS = ['positive', 'negative', 'neutral'];

async function reviews(n: number): Promise<{ dir: string; input: string; ids: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-stragglers-'));
  const ids = Array.from({ length: n }, (_, i) => `r${i + 1}`);
  await writeFile(join(dir, 'in.jsonl'), ids.map((id, i) => JSON.stringify({ id, text: i % 2 ? 'great, I love it' : 'awful and broken' })).join('\n') + '\n');
  return { dir, input: join(dir, 'in.jsonl'), ids };
}

async function rows(file: string): Promise<Array<Record<string, unknown>>> {
  return (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('runJob finishRealtime stragglers', () => {
  const emulators: Emulator[] = [];
  async function setup(options: EmulatorOptions) {
    const emu = await startEmulator({ ...FAST, seed: 5, ...options });
    emulators.push(emu);
    const events: RunEvent[] = [];
    const base: RunJobOptions = {
      client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }),
      model: MODEL,
      prompt: 'Review: {{text}}',
      labels: LABELS,
      pollIntervalMs: 20,
      onProgress: (e) => events.push(e),
    };
    return { emu, base, events };
  }
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });

  it('cancels a stalled batch, keeps what it answered and sends only the requests without a result realtime, even with retries 0', async () => {
    // OpenAI-style never-run markers: they must be neither failures nor results.
    const { emu, base, events } = await setup({ unrunErrorLines: true, faults: { slowTailLines: 3, slowTailMs: 60_000 } });
    const { dir, input, ids } = await reviews(20);
    const out = join(dir, 'out.jsonl');
    const jobDir = join(dir, 'job');
    const summary = await runJob({ ...base, input, output: out, jobDir, retries: 0, finishRealtime: true, stragglerThreshold: 5, stragglerWaitMs: 100 });
    // 17 answered, the 18th was in flight at the cancel and finished; 19 and 20 went realtime.
    expect(emu.stats()).toMatchObject({ batchesCreated: 1, chatRequests: 2 });
    expect(summary).toMatchObject({ records: 20, succeeded: 20, failed: 0, retried: 0, rounds: 0, batches: 1, realtimeRequests: 2, stragglerRequests: 2, duplicateResults: 0, unknownResults: 0 });
    const written = await rows(out);
    expect(written.map((r) => r.id)).toEqual(ids);
    expect(written.every((r) => r.error === null && LABELS.includes(r.label as string))).toBe(true);
    const manifest = await loadManifest(jobDir);
    expect(manifest.parts).toHaveLength(1);
    expect(manifest.parts[0]).toMatchObject({ status: 'cancelled', cancelRequested: true, straggler: { remaining: 3, total: 20 }, succeeded: 18, failed: 0 });
    expect(manifest.parts[0]!.resubmittedAs).toBeUndefined();
    expect(summary.job!.parts[0]).toMatchObject({ straggler: true, status: 'cancelled' });
    const state = await loadRunState(jobDir);
    expect(state!.stragglers).toEqual([expect.objectContaining({ part: manifest.parts[0]!.index, requests: 2, finished: true })]);
    const straggler = events.find((e) => e.type === 'stragglers');
    expect(straggler).toMatchObject({ remaining: 3, total: 20, batchId: manifest.parts[0]!.batchId });
    expect((straggler as { message: string }).message).toMatch(/^batch \S+: 3 stragglers of 20 left after \d+ s without progress; cancelling it and finishing them realtime$/);
    expect(events).toContainEqual(expect.objectContaining({ type: 'phase', phase: 'stragglers', message: expect.stringContaining('finishing 2 stragglers of batch') }));
    // The job's own view: each request once, the markers skipped (the realtime answers live in the run).
    const jobIds: string[] = [];
    for await (const r of readJobResults(jobDir)) jobIds.push(r.custom_id);
    expect(new Set(jobIds).size).toBe(jobIds.length);
    expect(jobIds).toHaveLength(18);
  });

  it('uses 1% of the batch as the default threshold (kluster style: the unrun requests are in neither file)', async () => {
    const { emu, base } = await setup({ faults: { slowTailLines: 2, slowTailMs: 60_000 } });
    const { dir, input, ids } = await reviews(200);
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...base, input, output: out, jobDir: join(dir, 'job'), finishRealtime: true, stragglerWaitMs: 100 });
    expect(emu.stats()).toMatchObject({ batchesCreated: 1, chatRequests: 1 });
    expect(summary).toMatchObject({ succeeded: 200, failed: 0, stragglerRequests: 1, retried: 0 });
    expect((await rows(out)).map((r) => r.id)).toEqual(ids);
  });

  it('leaves a batch alone that finishes within the wait, and never cancels without finishRealtime', async () => {
    const { emu, base } = await setup({ faults: { slowTailLines: 2, slowTailMs: 40 } });
    const { dir, input } = await reviews(10);
    const a = await runJob({ cache: false, ...base, input, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a'), finishRealtime: true, stragglerThreshold: 5, stragglerWaitMs: 5_000 });
    const b = await runJob({ cache: false, ...base, input, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b'), stragglerThreshold: 5, stragglerWaitMs: 10 });
    expect(a).toMatchObject({ succeeded: 10, stragglerRequests: 0 });
    expect(b).toMatchObject({ succeeded: 10, stragglerRequests: 0 });
    expect(emu.stats()).toMatchObject({ batchesCreated: 2, chatRequests: 0 });
    expect((await loadManifest(join(dir, 'b'))).parts[0]).toMatchObject({ status: 'completed' });
    expect((await loadManifest(join(dir, 'a'))).parts[0]!.straggler).toBeUndefined();
  });

  it('retries a straggler that failed realtime in the next round (the batch answer stays)', async () => {
    const { emu, base } = await setup({ faults: { slowTailLines: 2, slowTailMs: 60_000 } });
    const { dir, input, ids } = await reviews(10);
    emu.setFaults({ rate5xx: 1, routes: ['POST /v1/chat/completions'] });
    const onProgress = base.onProgress!;
    const summary = await runJob({
      ...base,
      input,
      output: join(dir, 'out.jsonl'),
      jobDir: join(dir, 'job'),
      finishRealtime: true,
      stragglerThreshold: 5,
      stragglerWaitMs: 100,
      requestRetries: 0,
      retries: 1,
      onProgress: (e) => {
        onProgress(e);
        // The straggler's realtime attempt fails; the retry round's succeeds.
        if (e.type === 'retry-round') emu.setFaults({ rate5xx: 0 });
      },
    });
    expect(summary).toMatchObject({ succeeded: 10, failed: 0, stragglerRequests: 1, retryRequests: 1, rounds: 1, batches: 1 });
    expect((await rows(join(dir, 'out.jsonl'))).map((r) => r.id)).toEqual(ids);
  });

  it('sends no straggler realtime when the cancelled batch reports completed requests it has no output for (they go to the retry rounds)', async () => {
    const { emu, base, events } = await setup({ faults: { slowTailLines: 2, slowTailMs: 60_000 } });
    const { dir, input } = await reviews(10);
    // Fault: the server never hands out the cancelled batch's output file, though it counts completed requests.
    const client = createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL });
    const retrieve = client.batches.retrieve.bind(client.batches);
    client.batches.retrieve = ((id: string, options?: unknown) =>
      retrieve(id, options as never).then((b) => (b.status === 'cancelled' ? { ...b, output_file_id: null } : b))) as typeof client.batches.retrieve;
    const summary = await runJob({ ...base, client, input, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job'), retries: 0, finishRealtime: true, stragglerThreshold: 5, stragglerWaitMs: 100 });
    expect(emu.stats().chatRequests).toBe(0);
    expect(events).toContainEqual(expect.objectContaining({ type: 'warning', message: expect.stringMatching(/completed but 0 output lines; its stragglers are left to the retry rounds/) }));
    expect(summary).toMatchObject({ records: 10, succeeded: 0, failed: 10, stragglerRequests: 0 });
  });

  it('leaves a batch the user cancels (kbatch cancel) as before: no straggler round, nothing sent realtime', async () => {
    const { emu, base, events } = await setup({ faults: { slowTailLines: 3, slowTailMs: 60_000 } });
    const { dir, input } = await reviews(20);
    const jobDir = join(dir, 'job');
    const run = runJob({ ...base, input, output: join(dir, 'out.jsonl'), jobDir, finishRealtime: true, stragglerThreshold: 5, stragglerWaitMs: 60_000 });
    const client = createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL });
    for (let i = 0; i < 500; i++) {
      const { data } = await client.batches.list();
      if (data[0]?.request_counts?.completed === 17) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await cancelJob(jobDir, { client })).toBe(1);
    const summary = await run;
    expect(summary).toMatchObject({ records: 20, succeeded: 18, failed: 2, missing: 2, stragglerRequests: 0, realtimeRequests: 0, rounds: 0 });
    expect(emu.stats().chatRequests).toBe(0);
    const manifest = await loadManifest(jobDir);
    expect(manifest.cancelledAt).toBeDefined();
    expect(manifest.parts[0]).toMatchObject({ status: 'cancelled' });
    expect(manifest.parts[0]!.straggler).toBeUndefined();
    expect((await loadRunState(jobDir))!.stragglers).toEqual([]);
    expect(events.some((e) => e.type === 'stragglers')).toBe(false);
  });

  it('rejects a bad stragglerThreshold / stragglerWaitMs with OPTION_INVALID', async () => {
    const { base } = await setup({});
    const { input } = await reviews(1);
    expectKbatchError(await catchError(() => runJob({ ...base, input, stragglerThreshold: 0 })), { code: 'OPTION_INVALID', message: /stragglerThreshold/ });
    expectKbatchError(await catchError(() => runJob({ ...base, input, stragglerWaitMs: -1 })), { code: 'OPTION_INVALID', message: /stragglerWaitMs/ });
  });
});

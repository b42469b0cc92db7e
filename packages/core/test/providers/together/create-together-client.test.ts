import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { startEmulator, type Emulator, type EmulatorOptions } from '@kbatch/emulator';
import { createClient } from '../../../src/client/index.js';
import { loadManifest, runJob, type RunJobOptions } from '../../../src/internal.js';
import { cancelJob, runBatchJob } from '../../../src/job/index.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';
import { readJsonl as jsonl } from '../../helpers/files.js';
import { reviewsCsv } from '../../helpers/inputs.js';
import { watchAbortListeners } from '../../helpers/listeners.js';
import { writeChunks } from '../../job/fixtures.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const KEY = 't-key';
const FAST: EmulatorOptions = { provider: 'together', bearerOnly: true, timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, apiKey: KEY, seed: 6 };
const LABELS = ['positive', 'negative'];

const reviews = (n = 0) => reviewsCsv(n, 'kbatch-together-');

describe("createTogetherClient over HTTP (the emulator's together personality)", () => {
  const emulators: Emulator[] = [];
  async function emulator(options: EmulatorOptions = {}): Promise<{ emu: Emulator; base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs' | 'provider'> }> {
    const emu = await startEmulator({ ...FAST, ...options });
    emulators.push(emu);
    return { emu, base: { client: createClient({ provider: 'together', apiKey: KEY, baseURL: emu.baseURL }), provider: 'together', model: MODEL, pollIntervalMs: 20 } };
  }
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });

  let shared: Awaited<ReturnType<typeof emulator>>;
  beforeAll(async () => {
    shared = await emulator();
  });

  it('runs a labelled job over several batches: every record once, in input order (presigned uploads, purpose batch-api)', async () => {
    const { dir, input, ids } = await reviews(5);
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ cache: false, ...shared.base, input, prompt: 'Label as one of: positive, negative. Review: {{text}}', labels: LABELS, maxRequests: 3, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 9, succeeded: 9, failed: 0, batches: 3, mode: 'batch', duplicateResults: 0, unknownResults: 0 });
    const rows = await jsonl(out);
    expect(rows.map((r) => r['id'])).toEqual(ids);
    expect(rows[1]!['text']).toBe('line one\nline two — terrible');
    expect(rows[2]!['text']).toBe(`${'long é '.repeat(2_000)}great`);
    expect(rows.slice(0, 4).map((r) => r['label'])).toEqual(['positive', 'negative', 'positive', 'negative']);
    const { parts } = await loadManifest(join(dir, 'job'));
    expect(parts.map((p) => p.status)).toEqual(['completed', 'completed', 'completed']);
    expect(shared.emu.stats().requests['PUT /together-upload/:id']).toBe(3);
  });

  it('runs a job with a schema: answers validated and their fields added', async () => {
    const { dir, input, ids } = await reviews();
    const schema = z.object({ sentiment: z.enum(['positive', 'negative']), score: z.number() });
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ cache: false, ...shared.base, input, prompt: 'Review: {{text}}', schema, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 4, succeeded: 4 });
    const rows = await jsonl(out);
    expect(rows.map((r) => r['id'])).toEqual(ids);
    for (const row of rows) expect(schema.safeParse({ sentiment: row['sentiment'], score: row['score'] }).success).toBe(true);
  });

  it('adopts the batch whose create answer was lost (found by its input_file_id, no metadata): no second batch', async () => {
    const { emu, base } = await emulator({ faults: { loseResponseRate: 1, routes: ['POST /v1/batches'] } });
    const { dir, input } = await reviews();
    const events: string[] = [];
    const warnings: string[] = [];
    const summary = await runJob({
      ...base,
      input,
      prompt: 'Review: {{text}}',
      labels: LABELS,
      output: join(dir, 'out.jsonl'),
      jobDir: join(dir, 'job'),
      retryBaseMs: 1,
      onProgress: (e) => {
        if (e.type === 'created') events.push(`${e.type}:${String(e.adopted)}`);
        if (e.type === 'warning') warnings.push(e.message);
      },
    } as RunJobOptions);
    expect(summary).toMatchObject({ records: 4, succeeded: 4 });
    expect(events).toEqual(['created:true']);
    expect(emu.stats().batchesCreated).toBe(1);
    const { parts } = await loadManifest(join(dir, 'job'));
    expect(warnings).toContain(`adopted batch ${parts[0]!.batchId} after a lost create: the provider keeps no batch metadata, and its input file is this part's upload ${parts[0]!.fileId}`);
  });

  it('resends failed lines in a retry round, and keeps an expired batch\'s finished answers, resending only the rest', async () => {
    const failing = await emulator({ faults: { lineFailureRate: 0.5, lineFailureStatus: 503 } });
    const one = await reviews(6);
    const retried = await runJob({ cache: false, ...failing.base, input: one.input, prompt: 'Review: {{text}}', labels: LABELS, output: join(one.dir, 'out.jsonl'), jobDir: join(one.dir, 'job'), retries: 5, retryBaseMs: 1 });
    expect(retried).toMatchObject({ records: 10, succeeded: 10, failed: 0 });
    expect((await jsonl(join(one.dir, 'out.jsonl'))).map((r) => r['id'])).toEqual(one.ids);
    expect(failing.emu.stats().batchesCreated).toBeGreaterThan(1);

    const expiring = await emulator({ faults: { expireAfterLines: 3 } });
    const two = await reviews(4);
    const summary = await runJob({ cache: false, ...expiring.base, input: two.input, prompt: 'Review: {{text}}', labels: LABELS, output: join(two.dir, 'out.jsonl'), jobDir: join(two.dir, 'job') });
    expect(summary).toMatchObject({ records: 8, succeeded: 8 });
    expect((await jsonl(join(two.dir, 'out.jsonl'))).map((r) => r['id'])).toEqual(two.ids);
    const { parts } = await loadManifest(join(two.dir, 'job'));
    expect([parts[0]!.status, parts[0]!.succeeded, parts[0]!.requests]).toEqual(['expired', 3, 8]);
    expect(parts.find((p) => p.parent === parts[0]!.index)!.requests).toBe(5);
  });

  it('waits for an output file named after the error file: no request sent again, every record exactly once', async () => {
    // The batch reads COMPLETED with only its error file for a few polls: its answered requests are not "missing".
    const { emu, base } = await emulator({ faults: { lineFailureRate: 0.5, lineFailureStatus: 400, outputFileLagReads: 4 } });
    const { dir, input, ids } = await reviews(4);
    const out = join(dir, 'out.jsonl');
    const warnings: string[] = [];
    const summary = await runJob({ cache: false, ...base, input, prompt: 'Review: {{text}}', labels: LABELS, output: out, jobDir: join(dir, 'job'), retries: 0, onProgress: (e) => void (e.type === 'warning' && warnings.push(e.message)) });
    expect(emu.stats().batchesCreated).toBe(1);
    expect(summary.records).toBe(8);
    expect(summary.succeeded).toBeGreaterThan(0);
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.succeeded + summary.failed).toBe(8);
    expect((await jsonl(out)).map((r) => r['id'])).toEqual(ids);
    const { parts } = await loadManifest(join(dir, 'job'));
    expect([parts.length, parts[0]!.succeeded! + parts[0]!.failed!]).toEqual([1, 8]);
    expect(warnings).toContain(`batch ${parts[0]!.batchId} is completed and names its error file but not yet its output file; waiting up to 600s for it`);
  });

  it("leaves no abort listener on the caller's signal after a job of several batches whose uploads are read back and error files counted", async () => {
    const { emu, base } = await emulator({ faults: { lineFailureRate: 0.5, lineFailureStatus: 400, outputFileLagReads: 2 } });
    const { dir, root } = await writeChunks(4, 2);
    const caller = new AbortController();
    const watch = watchAbortListeners(caller.signal);
    const warnings: string[] = [];
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: base.client, provider: 'together', pollIntervalMs: 20, signal: caller.signal, onProgress: (e) => void (e.type === 'warning' && warnings.push(e.message)) });
    expect(summary.succeeded + summary.failed).toBe(8);
    expect(emu.stats().batchesCreated).toBe(4);
    expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
    // The error-file count ran (the path whose call the listener check is about).
    expect(warnings.some((w) => w.includes('names its error file but not yet its output file'))).toBe(true);
  });

  it('reads a batch whose error file answers every request as wholly failed at once, output file or not', async () => {
    const { emu, base } = await emulator({ faults: { lineFailureRate: 1, lineFailureStatus: 400, outputFileLagReads: 1_000_000 } });
    const { dir, input } = await reviews();
    const summary = await runJob({ cache: false, ...base, input, prompt: 'Review: {{text}}', output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job'), retries: 0, resultFileGraceMs: 60_000 });
    expect(summary).toMatchObject({ records: 4, succeeded: 0, failed: 4 });
    expect(emu.stats().batchesCreated).toBe(1);
  });

  it('stops with BATCH_OUTPUT_MISSING when the output file is still not named after the grace, sending nothing again', async () => {
    const { emu, base } = await emulator({ faults: { lineFailureRate: 0.5, lineFailureStatus: 400, outputFileLagReads: 1_000_000 } });
    const { dir } = await reviews();
    const chunk = join(dir, 'part-00001.jsonl');
    const lines = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: id }] } }));
    await writeFile(chunk, `${lines.join('\n')}\n`);
    const jobDir = join(dir, 'job');
    const error = await catchError(() => runBatchJob({ chunks: [chunk], jobDir, client: base.client!, pollIntervalMs: 20, resultFileGraceMs: 300 }));
    const { parts } = await loadManifest(jobDir);
    expectKbatchError(error, { code: 'BATCH_OUTPUT_MISSING', batchId: parts[0]!.batchId, message: `continue with: kbatch resume ${jobDir}` });
    expect((error as Error).message).toContain(`fewer than its 6 requests`);
    expect([parts.length, parts[0]!.done, emu.stats().batchesCreated]).toEqual([1, false, 1]);
    // Once the output file is named, a resume finishes the same batch: every request answered or failed once.
    emu.setFaults({ outputFileLagReads: 0 });
    const summary = await runBatchJob({ jobDir, client: base.client!, pollIntervalMs: 20 });
    expect([summary.state, summary.succeeded + summary.failed, emu.stats().batchesCreated]).toEqual(['partial', 6, 1]);
  });

  async function chunkOf(ids: string[]): Promise<{ chunk: string; jobDir: string }> {
    const { dir } = await reviews();
    const chunk = join(dir, 'part-00001.jsonl');
    const lines = ids.map((id) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: id }] } }));
    await writeFile(chunk, `${lines.join('\n')}\n`);
    return { chunk, jobDir: join(dir, 'job') };
  }

  it('stops an EXPIRED batch naming only its error file with BATCH_OUTPUT_MISSING naming --accept-missing-output; with acceptMissingOutput its unanswered requests are resubmitted once', async () => {
    const { emu, base } = await emulator({ faults: { lineFailureRate: 1, lineFailureStatus: 400, expireAfterLines: 2 } });
    const { chunk, jobDir } = await chunkOf(['a', 'b', 'c', 'd', 'e', 'f']);
    const error = await catchError(() => runBatchJob({ chunks: [chunk], jobDir, client: base.client!, pollIntervalMs: 20, resultFileGraceMs: 300 }));
    expectKbatchError(error, { code: 'BATCH_OUTPUT_MISSING', message: `kbatch resume ${jobDir} --accept-missing-output` });
    expect((error as Error).message).toContain('pays twice for any answer the provider did produce');
    // A plain resume stops the same way: nothing is sent again without the user's word.
    expectKbatchError(await catchError(() => runBatchJob({ jobDir, client: base.client!, pollIntervalMs: 20, resultFileGraceMs: 300 })), { code: 'BATCH_OUTPUT_MISSING' });
    expect(emu.stats().batchesCreated).toBe(1);
    emu.setFaults({ lineFailureRate: 0, expireAfterLines: 1_000 });
    const warnings: string[] = [];
    const summary = await runBatchJob({ jobDir, client: base.client!, pollIntervalMs: 20, acceptMissingOutput: true, onProgress: (e) => void (e.type === 'warning' && warnings.push(e.message)) });
    const { parts } = await loadManifest(jobDir);
    expect(parts.map((p) => [p.status, p.requests, p.succeeded, p.failed])).toEqual([['expired', 6, 0, 2], ['completed', 4, 4, 0]]);
    expect([summary.succeeded, summary.failed, emu.stats().batchesCreated]).toEqual([4, 2, 2]);
    expect(warnings.some((w) => w.includes('finished as it stands (acceptMissingOutput)'))).toBe(true);
  });

  it('settles a cancelled Together job whose batch names only its error file: BATCH_OUTPUT_MISSING, then with acceptMissingOutput the job ends cancelled, nothing resent', async () => {
    const { emu, base } = await emulator({ faults: { lineFailureRate: 1, lineFailureStatus: 400, slowTailLines: 3, slowTailMs: 60_000 } });
    const { chunk, jobDir } = await chunkOf(['a', 'b', 'c', 'd', 'e', 'f']);
    const running = catchError(() => runBatchJob({ chunks: [chunk], jobDir, client: base.client!, pollIntervalMs: 20, resultFileGraceMs: 300 }));
    // Together sends no counts: its progress says when the first 3 lines have run (and failed).
    const progress = async () => {
      const batchId = (await loadManifest(jobDir).catch(() => undefined))?.parts[0]?.batchId;
      return batchId ? Number((await base.client!.batches.retrieve(batchId))['progress' as 'id']) : 0;
    };
    for (let i = 0; i < 500 && (await progress()) < 50; i++) await new Promise((r) => setTimeout(r, 10));
    await cancelJob(jobDir, { client: base.client! });
    expectKbatchError(await running, { code: 'BATCH_OUTPUT_MISSING', message: '--accept-missing-output' });
    const summary = await runBatchJob({ jobDir, client: base.client!, pollIntervalMs: 20, acceptMissingOutput: true });
    const { parts } = await loadManifest(jobDir);
    expect([summary.state, parts.length, parts[0]!.status, parts[0]!.done, emu.stats().batchesCreated]).toEqual(['cancelled', 1, 'cancelled', true, 1]);
  });

  it.each([
    ['a 5xx', { rate5xx: 1 }],
    ['a dropped connection', { dropRate: 1 }],
  ])('reads %s on the error file (counting its ids) as not settled yet: polls again, and the job finishes once it passes', async (_name, fault) => {
    const { emu } = await emulator({ faults: { lineFailureRate: 0.5, lineFailureStatus: 400, outputFileLagReads: 1_000_000, routes: ['GET /v1/files/:id/content'], ...fault } });
    // No SDK retries: the passing error reaches kbatch's own poll rules.
    const client = createClient({ provider: 'together', apiKey: KEY, baseURL: emu.baseURL, maxRetries: 0 });
    const { chunk, jobDir } = await chunkOf(['a', 'b', 'c', 'd', 'e', 'f']);
    const retries: string[] = [];
    const summary = await runBatchJob({
      chunks: [chunk],
      jobDir,
      client,
      pollIntervalMs: 20,
      retryBaseMs: 1,
      onProgress: (e) => {
        if (e.type !== 'retry' || e.operation !== 'poll') return;
        retries.push(e.message);
        if (retries.length === 2) emu.setFaults({ rate5xx: 0, dropRate: 0, outputFileLagReads: 0 });
      },
    });
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect([summary.succeeded + summary.failed, emu.stats().batchesCreated]).toEqual([6, 1]);
  });

  it('cancels a running job: its batch reads cancelled (CANCELLED on the wire) and the job ends cancelled', async () => {
    const { base } = await emulator({ faults: { slowTailLines: 2, slowTailMs: 60_000 } });
    const { dir } = await reviews(4);
    const chunk = join(dir, 'part-00001.jsonl');
    const lines = ['a', 'b', 'c'].map((id) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: id }] } }));
    await writeFile(chunk, `${lines.join('\n')}\n`);
    const jobDir = join(dir, 'job');
    const running = runBatchJob({ chunks: [chunk], jobDir, client: base.client!, pollIntervalMs: 20 });
    for (let i = 0; i < 200 && !(await loadManifest(jobDir).catch(() => undefined))?.parts[0]?.batchId; i++) await new Promise((r) => setTimeout(r, 10));
    await cancelJob(jobDir, { client: base.client! });
    const summary = await running;
    expect(summary.state).toBe('cancelled');
    const { parts } = await loadManifest(jobDir);
    expect(parts[0]!.status).toBe('cancelled');
  });

  it("maps Together's errors to the openai SDK's error of that status (429 keeps Retry-After), and keeps the key off the presigned URL", async () => {
    const { emu } = await emulator({ faults: { rate429: 1, retryAfterSeconds: 7, routes: ['GET /v1/batches/:id'] } });
    const limited = createClient({ provider: 'together', apiKey: KEY, baseURL: emu.baseURL, maxRetries: 0 });
    const rate = (await catchError(() => limited.batches.retrieve('b-1'))) as { status: number; headers: Headers; constructor: { name: string } };
    expect([rate.status, rate.headers.get('retry-after'), rate.constructor.name]).toEqual([429, '7', 'RateLimitError']);
    const denied = createClient({ provider: 'together', apiKey: 'wrong', baseURL: emu.baseURL, maxRetries: 0 });
    expect(((await catchError(() => denied.batches.list())) as { status: number }).status).toBe(401);
  });
});

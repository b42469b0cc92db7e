import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import OpenAI from 'openai';
import { createClient, createKlusterClient } from '../../src/client/index.js';
import { runJob, type RunEvent, type RunJobOptions } from '../../src/run/index.js';
import { fingerprintFile } from '../../src/run/input-fingerprint.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const LABELS = ['positive', 'negative'];

async function jsonl(n: number): Promise<{ cwd: string; input: string; text: string }> {
  const cwd = await mkdtemp(join(tmpdir(), 'kbatch-identity-'));
  const text = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i + 1}`, text: i % 2 ? 'awful, broken' : 'great, love it' })).join('\n') + '\n';
  await writeFile(join(cwd, 'in.jsonl'), text);
  return { cwd, input: join(cwd, 'in.jsonl'), text };
}

describe('deriveJobDir (runJob without a jobDir)', () => {
  let emu: Emulator;
  let base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs' | 'labels' | 'prompt'>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 5, validationMs: 5, lineMs: 0, finalizingMs: 5 });
    base = { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20, labels: LABELS, prompt: '{{text}}' };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('continues an unfinished run when the same call is made again: same job directory, no batch created twice, says so', async () => {
    const { cwd, input } = await jsonl(6);
    const stop = new AbortController();
    // Stop the first call once its first batch exists (as a crash during the wait would).
    const first = await catchError(() =>
      runJob({ ...base, input, cwd, maxRequests: 2, concurrency: 1, output: join(cwd, 'out.jsonl'), signal: stop.signal, onProgress: (e) => e.type === 'created' && stop.abort() }),
    );
    expectKbatchError(first, { code: 'ABORTED' });
    const jobs = await readdir(join(cwd, '.kbatch', 'jobs'));
    expect(jobs).toEqual([expect.stringMatching(/^kb-in-[0-9a-f]{16}$/)]);
    const created = emu.stats().batchesCreated;
    const events: RunEvent[] = [];
    const summary = await runJob({ ...base, input, cwd, maxRequests: 2, concurrency: 1, output: join(cwd, 'out.jsonl'), onProgress: (e) => events.push(e) });
    expect(summary.jobDir).toBe(join(cwd, '.kbatch', 'jobs', jobs[0]!));
    expect(summary.resumed).toBe(true);
    expect(events).toContainEqual({ type: 'phase', phase: 'continue', message: expect.stringMatching(new RegExp(`^continuing job ${summary.jobDir} \\(started .+; 1 batch already created\\)$`)) });
    // Three chunks of two: the one created before the stop is not created again.
    expect(emu.stats().batchesCreated - created).toBe(2);
    expect(summary.batches).toBe(3);
    const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(rows.every((r) => r.error === null)).toBe(true);
  });

  it('writes a finished run again from its saved results, sending nothing, and says so', async () => {
    const { cwd, input } = await jsonl(3);
    const first = await runJob({ ...base, input, cwd, output: join(cwd, 'a.jsonl') });
    const created = emu.stats().batchesCreated;
    const messages: string[] = [];
    const again = await runJob({ ...base, input, cwd, output: join(cwd, 'b.jsonl'), onProgress: (e) => e.type === 'phase' && messages.push(e.message) });
    expect(again.jobDir).toBe(first.jobDir);
    expect(emu.stats().batchesCreated).toBe(created);
    expect(messages).toContain(`job ${first.jobDir} already finished (started ${JSON.parse(await readFile(join(first.jobDir, 'run.json'), 'utf8')).createdAt}; 1 batch already created): writing its saved results again`);
    expect(await readFile(join(cwd, 'b.jsonl'), 'utf8')).toBe(await readFile(join(cwd, 'a.jsonl'), 'utf8'));
  });

  it("makes a new job for another provider on the same server, the same one for kluster as for an unnamed client (kluster's hashes unchanged)", async () => {
    const { cwd, input } = await jsonl(2);
    const kluster = await runJob({ ...base, input, cwd, output: join(cwd, 'k.jsonl') });
    const openai = await runJob({ ...base, client: createClient({ provider: 'openai', apiKey: 'k', baseURL: emu.baseURL }), input, cwd, output: join(cwd, 'o.jsonl') });
    expect(openai.jobDir).not.toBe(kluster.jobDir);
    expect(openai.resumed).toBe(false);
    const unnamed = await runJob({ ...base, client: new OpenAI({ apiKey: 'k', baseURL: emu.baseURL }), input, cwd, output: join(cwd, 'u.jsonl') });
    expect(unnamed.jobDir).toBe(kluster.jobDir);
  });

  it('names the job directory when a rerun names another provider than the recorded one (JOB_MISMATCH)', async () => {
    const { cwd, input } = await jsonl(2);
    const jobDir = join(cwd, 'job');
    await runJob({ ...base, input, cwd, jobDir, output: join(cwd, 'k.jsonl') });
    const err = await catchError(() => runJob({ ...base, client: createClient({ provider: 'groq', apiKey: 'k', baseURL: emu.baseURL }), input, cwd, jobDir }));
    expectKbatchError(err, { code: 'JOB_MISMATCH', file: jobDir, message: `the job in ${jobDir} was started with provider kluster` });
  });

  it('makes a new job for other input bytes or other request options, the same one for the same stdin bytes', async () => {
    const { cwd, input, text } = await jsonl(2);
    const a = await runJob({ ...base, input, cwd });
    const prompt = await runJob({ ...base, input, cwd, prompt: 'Review: {{text}}' });
    const labels = await runJob({ ...base, input, cwd, labels: ['good', 'bad'] });
    await writeFile(input, text.replace('great', 'fine'));
    const changed = await runJob({ ...base, input, cwd });
    expect(new Set([a.jobDir, prompt.jobDir, labels.jobDir, changed.jobDir]).size).toBe(4);
    const s1 = await runJob({ ...base, input: '-', stdin: Readable.from([Buffer.from(text)]), cwd });
    const created = emu.stats().batchesCreated;
    const s2 = await runJob({ ...base, input: '-', stdin: Readable.from([Buffer.from(text)]), cwd });
    expect(s2.jobDir).toBe(s1.jobDir);
    expect(s1.jobDir).toMatch(/kb-stdin-[0-9a-f]{16}$/);
    expect(s2.resumed).toBe(true);
    expect(emu.stats().batchesCreated).toBe(created);
    // The staging directory of the second stdin is gone; the job keeps its one saved copy.
    expect((await readdir(join(cwd, '.kbatch', 'jobs'))).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(await readFile(join(s1.jobDir, 'input.jsonl'), 'utf8')).toBe(text);
  });

  it('makes a new job for another --encoding, so a UTF-8 rerun never returns the latin1 run\'s rows', async () => {
    const { cwd, input } = await jsonl(2);
    const latin1 = await runJob({ ...base, input, cwd, encoding: 'latin1' });
    const utf8 = await runJob({ ...base, input, cwd });
    expect(utf8.jobDir).not.toBe(latin1.jobDir);
    expect(utf8.resumed).toBe(false);
    // utf8 is the default: giving it is the same run as not giving it.
    expect((await runJob({ ...base, input, cwd, encoding: 'utf8' })).jobDir).toBe(utf8.jobDir);
  });

  it('finds the job of a renamed input file by its hash and continues it, creating no batch twice', async () => {
    const { cwd, input } = await jsonl(6);
    const stop = new AbortController();
    const first = await catchError(() =>
      runJob({ ...base, input, cwd, maxRequests: 2, concurrency: 1, signal: stop.signal, onProgress: (e) => e.type === 'created' && stop.abort() }),
    );
    expectKbatchError(first, { code: 'ABORTED' });
    const jobs = await readdir(join(cwd, '.kbatch', 'jobs'));
    await rename(input, join(cwd, 'in-v1.jsonl'));
    const created = emu.stats().batchesCreated;
    const summary = await runJob({ ...base, input: join(cwd, 'in-v1.jsonl'), cwd, maxRequests: 2, concurrency: 1, output: join(cwd, 'out.jsonl') });
    expect(summary.jobDir).toBe(join(cwd, '.kbatch', 'jobs', jobs[0]!));
    expect(summary.resumed).toBe(true);
    expect(emu.stats().batchesCreated - created).toBe(2);
    expect(summary.succeeded).toBe(6);
    // The same bytes from stdin are another run (a stream, not that file).
    const s = await runJob({ ...base, input: '-', stdin: Readable.from([await readFile(join(cwd, 'in-v1.jsonl'))]), cwd, maxRequests: 2 });
    expect(s.jobDir).not.toBe(summary.jobDir);
  });

  it('stops hashing the input as soon as the signal aborts, with ABORTED', async () => {
    const { input } = await jsonl(2);
    expectKbatchError(await catchError(() => fingerprintFile(input, AbortSignal.abort())), { code: 'ABORTED', file: input });
  });

  it('reads a template file once per call (a FIFO can be read only once): the prompt hashed is the prompt stored', async () => {
    const { cwd, input } = await jsonl(2);
    const fifo = join(cwd, 'prompt.fifo');
    execFileSync('mkfifo', [fifo]);
    // The writer gives the text once; a second read of the template would wait forever.
    const writer = writeFile(fifo, 'Review: {{text}}\n');
    const summary = await runJob({ ...base, prompt: undefined, templateFile: fifo, input, cwd } as RunJobOptions);
    await writer;
    expect(summary.succeeded).toBe(2);
    const again = await runJob({ ...base, input, cwd, prompt: 'Review: {{text}}' });
    expect(again.jobDir).toBe(summary.jobDir);
  }, 15_000);

  it('keeps an explicit jobDir as given', async () => {
    const { cwd, input } = await jsonl(2);
    const summary = await runJob({ ...base, input, cwd, jobDir: 'mine' });
    expect(summary.jobDir).toBe(join(cwd, 'mine'));
    await expect(readdir(join(cwd, '.kbatch'))).rejects.toThrow(/ENOENT/);
  });
});

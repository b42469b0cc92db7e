import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '@kbatch/emulator';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUndiciFetch } from '../../src/client/undici-fetch.js';
import { acquireJobLock, LOCK_FILE } from '../../src/state/lock.js';
import { parseResultLine } from '../../src/join/result-line.js';
import { loadAnsweredIds } from '../../src/state/answers-log.js';
import { realtimeClientFor } from '../../src/realtime/fast-client.js';
import { finishRealtime, realtimeAnswersLog, realtimeResultFile, runRealtimeJob, REALTIME_ANSWERS_FILE, REALTIME_DIR } from '../../src/realtime/run-realtime-job.js';
import type { BatchRequestLine } from '../../src/request/request-line.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

// Integration over real HTTP: requests are counted on the emulator side.
type Emulator = Awaited<ReturnType<typeof startEmulator>>;
const CHAT = 'POST /v1/chat/completions';
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';

const lines = (n: number, prefix: string): BatchRequestLine[] =>
  Array.from({ length: n }, (_, i) => ({
    custom_id: `${prefix}${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: `question ${prefix}${i}` }] },
  }));
const toJsonl = (ls: BatchRequestLine[]) => ls.map((l) => `${JSON.stringify(l)}\n`).join('');
const readLines = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
const chatAttempts = (emu: Emulator) => emu.stats().requests[CHAT] ?? 0;

describe('runRealtimeJob', () => {
  let emu: Emulator;
  let openai: OpenAI;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ seed: 11 });
    openai = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL });
    dir = await mkdtemp(join(tmpdir(), 'kbatch-rtjob-'));
  });
  afterAll(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function chunkFiles(name: string, sizes: number[]): Promise<{ jobDir: string; files: string[]; all: BatchRequestLine[][] }> {
    const jobDir = join(dir, name);
    const all = sizes.map((n, k) => lines(n, `${name}-c${k}-`));
    const files = all.map((_, k) => join(dir, `${name}-part-${k}.jsonl`));
    for (let k = 0; k < files.length; k++) await writeFile(files[k]!, toJsonl(all[k]!));
    return { jobDir, files, all };
  }

  it('writes one results file per request file, in the batch output shape the join parses', async () => {
    const { jobDir, files, all } = await chunkFiles('shape', [7, 0, 12]);
    const sent = chatAttempts(emu);
    const summary = await runRealtimeJob({ jobDir, requestFiles: files, client: openai, concurrency: 4 });
    expect(chatAttempts(emu) - sent).toBe(19);
    expect(summary).toMatchObject({ requests: 19, succeeded: 19, failed: 0, retried: 0, replayed: 0 });
    expect(summary.promptTokens).toBeGreaterThan(0);
    expect(summary.completionTokens).toBeGreaterThan(0);
    expect(summary.answersLog).toBe(join(jobDir, REALTIME_DIR, 'answers-00001.jsonl'));
    expect(summary.chunks.map((c) => c.answersLog)).toEqual(files.map((_, k) => realtimeAnswersLog(jobDir, k)));
    expect(summary.chunks.map((c) => [c.requestFile, c.resultFile, c.requests, c.succeeded])).toEqual(
      files.map((f, k) => [f, realtimeResultFile(jobDir, k), all[k]!.length, all[k]!.length]),
    );
    for (let k = 0; k < files.length; k++) {
      const results = (await readLines(summary.chunks[k]!.resultFile)).map((text) => parseResultLine(text));
      expect(results.map((r) => r.customId).sort()).toEqual(all[k]!.map((l) => l.custom_id).sort());
      expect(results.every((r) => r.ok && r.statusCode === 200 && typeof r.response === 'string')).toBe(true);
      expect(existsSync(`${summary.chunks[k]!.resultFile}.tmp`)).toBe(false);
    }
  });

  it('counts retries and final failures, and writes failures as error lines', async () => {
    const { jobDir, files } = await chunkFiles('faults', [30]);
    emu.setFaults({ rate5xx: 0.5, routes: [CHAT] });
    try {
      const summary = await runRealtimeJob({ jobDir, requestFiles: files, client: openai, concurrency: 4, retries: 1, retryBaseMs: 1, retryMaxMs: 2 });
      expect(summary.requests).toBe(30);
      expect(summary.retried).toBeGreaterThan(0);
      expect(summary.failed).toBeGreaterThan(0);
      expect(summary.succeeded + summary.failed).toBe(30);
      const results = (await readLines(summary.chunks[0]!.resultFile)).map((text) => parseResultLine(text));
      expect(results.filter((r) => !r.ok)).toHaveLength(summary.failed);
      expect(results.filter((r) => !r.ok).every((r) => (r.statusCode ?? 0) >= 500)).toBe(true);
      // Final failures are logged: a rerun of the same round (e.g. after a crash past this phase) sends nothing again.
      emu.setFaults(null);
      let sent = chatAttempts(emu);
      const again = await runRealtimeJob({ jobDir, requestFiles: files, client: openai, concurrency: 4 });
      expect(chatAttempts(emu) - sent).toBe(0);
      expect(again).toMatchObject({ requests: 30, succeeded: summary.succeeded, failed: summary.failed, replayed: summary.succeeded });
      const replayed = (await readLines(again.chunks[0]!.resultFile)).map((text) => parseResultLine(text));
      expect(replayed.filter((r) => !r.ok).map((r) => r.customId).sort()).toEqual(results.filter((r) => !r.ok).map((r) => r.customId).sort());
      // A new round, with its own answers log, sends its requests again.
      sent = chatAttempts(emu);
      const round = await runRealtimeJob({
        jobDir,
        requestFiles: files,
        resultFiles: [join(jobDir, 'retry-1', 'results.jsonl')],
        answersLog: join(jobDir, 'retry-1', REALTIME_ANSWERS_FILE),
        client: openai,
        concurrency: 4,
      });
      expect(chatAttempts(emu) - sent).toBe(30);
      expect(round).toMatchObject({ requests: 30, succeeded: 30, failed: 0, replayed: 0, answersLog: join(jobDir, 'retry-1', REALTIME_ANSWERS_FILE) });
    } finally {
      emu.setFaults(null);
    }
  });

  it('resumes after the process is killed: the rerun sends only unanswered requests', async () => {
    const local = await startEmulator({ faults: { latencyMs: 30, routes: [CHAT] } });
    try {
      const { jobDir, files, all } = await chunkFiles('killed', [20, 20]);
      const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/realtime-job-child.mjs', import.meta.url)), local.baseURL, jobDir, ...files], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      let answers = 0;
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          answers += chunk.length;
          if (answers >= 8) resolve();
        });
      });
      child.kill('SIGKILL');
      await exited;
      // One answers log per request file.
      const answered = { size: 0 };
      for (let k = 0; k < 2; k++) answered.size += (await loadAnsweredIds(realtimeAnswersLog(jobDir, k))).size;
      expect(answered.size).toBeGreaterThanOrEqual(8);
      expect(answered.size).toBeLessThan(40);
      const sentByChild = chatAttempts(local);
      const client = new OpenAI({ apiKey: 'test', baseURL: local.baseURL });
      const summary = await runRealtimeJob({ jobDir, requestFiles: files, client, concurrency: 8 });
      expect(chatAttempts(local) - sentByChild).toBe(40 - answered.size);
      expect(summary).toMatchObject({ requests: 40, succeeded: 40, failed: 0, replayed: answered.size });
      for (let k = 0; k < 2; k++) {
        const ids = (await readLines(realtimeResultFile(jobDir, k))).map((t) => (JSON.parse(t) as { custom_id: string }).custom_id);
        expect(ids.sort()).toEqual(all[k]!.map((l) => l.custom_id).sort());
      }
    } finally {
      await local.close();
    }
  });

  it('calls onFileDone for each request file once its results file is complete, in file order', async () => {
    const { jobDir, files, all } = await chunkFiles('filedone', [3, 0, 5, 4]);
    const seen: { index: number; requests: number; lines: number; tmp: boolean }[] = [];
    const summary = await runRealtimeJob({
      jobDir,
      requestFiles: files,
      client: openai,
      concurrency: 8,
      onFileDone: async (chunk, index) => {
        // The results file is in place and complete when the callback runs.
        seen.push({ index, requests: chunk.requests, lines: (await readLines(chunk.resultFile)).length, tmp: existsSync(`${chunk.resultFile}.tmp`) });
        expect(chunk.resultFile).toBe(realtimeResultFile(jobDir, index));
      },
    });
    expect(seen).toEqual(all.map((l, index) => ({ index, requests: l.length, lines: l.length, tmp: false })));
    expect(summary.chunks.map((c) => c.requests)).toEqual([3, 0, 5, 4]);
  });

  it("keeps one answers log per request file and loads a file's log only when that file's turn comes", async () => {
    const { jobDir, files } = await chunkFiles('perfile', [4, 4, 4]);
    // The third file's log is unreadable: the first two files are answered (and done) before it is opened.
    await mkdir(join(jobDir, REALTIME_DIR), { recursive: true });
    await writeFile(realtimeAnswersLog(jobDir, 2), 'not json\n{"custom_id":"x"}\n');
    const done: number[] = [];
    const err = await catchError(() => runRealtimeJob({ jobDir, requestFiles: files, client: openai, concurrency: 2, window: 2, onFileDone: (_c, i) => void done.push(i) }));
    expectKbatchError(err, { code: 'JOB_INVALID' });
    expect(done).toEqual([0, 1]);
    for (let k = 0; k < 2; k++) expect((await loadAnsweredIds(realtimeAnswersLog(jobDir, k))).size).toBe(4);
  });

  it('derives one log per request file from an explicit answersLog given with several files', async () => {
    const { jobDir, files } = await chunkFiles('derived', [2, 3]);
    const answersLog = join(jobDir, 'retry-1', 'answers.jsonl');
    const summary = await runRealtimeJob({ jobDir, requestFiles: files, answersLog, client: openai });
    const logs = [join(jobDir, 'retry-1', 'answers-00001.jsonl'), join(jobDir, 'retry-1', 'answers-00002.jsonl')];
    expect(summary.chunks.map((c) => c.answersLog)).toEqual(logs);
    expect((await loadAnsweredIds(logs[0]!)).size).toBe(2);
    expect((await loadAnsweredIds(logs[1]!)).size).toBe(3);
    expect(existsSync(answersLog)).toBe(false);
  });

  it('takes the job lock (JOB_LOCKED while another holder has it) unless lockHeld', async () => {
    const { jobDir, files } = await chunkFiles('locked', [2]);
    await mkdir(jobDir, { recursive: true });
    const lock = await acquireJobLock(jobDir);
    try {
      const sent = chatAttempts(emu);
      expectKbatchError(await catchError(() => runRealtimeJob({ jobDir, requestFiles: files, client: openai })), { code: 'JOB_LOCKED' });
      expect(chatAttempts(emu) - sent).toBe(0);
      // `kbatch run` holds the lock itself and says so.
      expect(await runRealtimeJob({ jobDir, requestFiles: files, client: openai, lockHeld: true })).toMatchObject({ succeeded: 2 });
    } finally {
      await lock.release();
    }
    await runRealtimeJob({ jobDir, requestFiles: files, client: openai });
    expect(existsSync(join(jobDir, LOCK_FILE))).toBe(false); // released after the run
  });

  it('rejects a request file line that is not JSON with LINE_INVALID', async () => {
    const jobDir = join(dir, 'badline');
    const file = join(dir, 'badline.jsonl');
    await writeFile(file, `${toJsonl(lines(1, 'ok'))}{not json\n`);
    const err = await catchError(() => runRealtimeJob({ jobDir, requestFiles: [file], client: openai }));
    expectKbatchError(err, { code: 'LINE_INVALID', file, line: 2 });
  });

  it('rejects invalid options with OPTION_INVALID', async () => {
    const err = await catchError(() => runRealtimeJob({ jobDir: dir, requestFiles: 'x' as unknown as string[], client: openai }));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: /requestFiles/ });
    const noClient = await catchError(() => runRealtimeJob({ jobDir: dir, requestFiles: [], client: {} as OpenAI }));
    expectKbatchError(noClient, { code: 'OPTION_INVALID', message: /client/ });
  });
});

describe('finishRealtime', () => {
  let emu: Emulator;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ seed: 12 });
    dir = await mkdtemp(join(tmpdir(), 'kbatch-finish-'));
  });
  afterAll(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs leftover request lines (iterable or file) into one results file, resumable by its answers log', async () => {
    const openai = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL });
    const resultFile = join(dir, 'stragglers.results.jsonl');
    const requests = lines(9, 'straggler');
    const summary = await finishRealtime({ requests, resultFile, client: openai.chat.completions, concurrency: 3 });
    expect(summary).toMatchObject({ requests: 9, succeeded: 9, failed: 0, answersLog: `${resultFile}.answers.jsonl` });
    expect((await readLines(resultFile)).map((t) => parseResultLine(t).customId).sort()).toEqual(requests.map((l) => l.custom_id).sort());

    const file = join(dir, 'retry.jsonl');
    await writeFile(file, toJsonl(requests));
    const sent = chatAttempts(emu);
    const again = await finishRealtime({ requests: file, resultFile, client: openai, concurrency: 3 });
    expect(chatAttempts(emu) - sent).toBe(0);
    expect(again).toMatchObject({ requests: 9, succeeded: 9, replayed: 9, chunks: [{ requestFile: file, resultFile }] });
  });

  it('rejects a missing resultFile with OPTION_INVALID', async () => {
    const err = await catchError(() => finishRealtime({ requests: [], client: { create: async () => ({}) } } as never));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: /resultFile/ });
  });
});

describe('realtimeClientFor', () => {
  it('sends a plain client directly by default, over createUndiciFetch or as given on request, and leaves others as given', async () => {
    const platform = new OpenAI({ apiKey: 'x', baseURL: 'http://127.0.0.1:9/v1' });
    const direct = realtimeClientFor(platform, { connections: 4 });
    expect(direct.transport).toBe('direct');
    expect(direct.client).not.toBe(platform.chat.completions);
    await direct.close();
    const fetched = realtimeClientFor(platform, { connections: 4, transport: 'undici-fetch' });
    expect(fetched.transport).toBe('undici-fetch');
    expect(fetched.client).not.toBe(platform.chat.completions);
    await fetched.close();
    expect(realtimeClientFor(platform, { connections: 4, transport: 'sdk' })).toMatchObject({ client: platform.chat.completions, transport: 'sdk' });
    const own = createUndiciFetch();
    const custom = new OpenAI({ apiKey: 'x', baseURL: 'http://127.0.0.1:9/v1', fetch: own });
    expect(realtimeClientFor(custom, { connections: 4 })).toMatchObject({ client: custom.chat.completions, transport: 'sdk' });
    await own.close();
    const bare = { create: async () => ({}) } as never;
    expect(realtimeClientFor(bare, { connections: 4 }).client).toBe(bare);
  });

  it('keeps the SDK path for an apiKey function, which the SDK calls for every request', async () => {
    const emu = await startEmulator({ apiKey: 'token-2' });
    let n = 0;
    const openai = new OpenAI({ apiKey: async () => `token-${++n}`, baseURL: emu.baseURL, maxRetries: 0 });
    const { client, transport, close } = realtimeClientFor(openai, { connections: 2 });
    try {
      expect(transport).toBe('undici-fetch');
      const body = { model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', messages: [{ role: 'user' as const, content: 'q' }] };
      await expect(client.create(body)).rejects.toMatchObject({ status: 401 }); // token-1
      await expect(client.create(body)).resolves.toMatchObject({ object: 'chat.completion' }); // token-2
    } finally {
      await close();
      await emu.close();
    }
  });

  it('rejects an unknown transport with OPTION_INVALID naming the allowed values', async () => {
    const err = await catchError(() => runRealtimeJob({ jobDir: '/tmp/none', requestFiles: [], client: { create: async () => ({}) }, transport: 'carrier-pigeon' } as never));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: /transport.*direct, undici-fetch, sdk/ });
  });
});

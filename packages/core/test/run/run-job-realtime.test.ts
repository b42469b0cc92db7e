import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { startEmulator, respond, type Emulator, type EmulatorOptions, chatSettled } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { loadAnsweredIds, runRealtimeJob } from '../../src/internal.js';
import { formatRunSummary, loadRunState, REALTIME_MAX_REQUESTS, resumeRun, runJob, runRecords, type RunEvent, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const FAST: EmulatorOptions = { timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5 };
const LABELS = ['positive', 'negative', 'neutral'];
const TEXTS = ['I love it, great', 'terrible, broken, awful', 'it is a thing', 'amazing and wonderful', 'bad and poor'];
const CHAT = 'POST /v1/chat/completions';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kbatch-run-rt-'));
}

/** A CSV of `n` reviews with ids r1..rn (one text has a quote, a comma and a newline). */
async function reviewsCsv(dir: string, n: number): Promise<string> {
  const rows = ['id,text'];
  for (let i = 1; i <= n; i++) rows.push(`r${i},"${i === 3 ? 'multi\nline, ""quoted"" ' : ''}${TEXTS[i % TEXTS.length]}"`);
  const file = join(dir, 'reviews.csv');
  await writeFile(file, `${rows.join('\n')}\n`);
  return file;
}

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

const lines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

/** Answers "maybe?" the first time a prompt is seen, a proper label afterwards (invalid answers, then valid ones). */
function pickyResponder() {
  const seen = new Map<string, number>();
  return (body: Parameters<typeof respond>[0]) => {
    const key = JSON.stringify(body.messages);
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return n === 1 ? 'maybe?' : String(respond(body).content);
  };
}


/** Answers "maybe?" the first time a prompt containing HOLD is seen (an invalid answer), a proper label otherwise; `seen` resets it. */
function holdResponder() {
  const seen = new Set<string>();
  const responder = (body: Parameters<typeof respond>[0]) => {
    const key = JSON.stringify(body.messages);
    if (key.includes('HOLD') && !seen.has(key)) {
      seen.add(key);
      return 'maybe?';
    }
    return String(respond(body).content);
  };
  return { responder, seen };
}

/** Answers logged in a job's realtime answers log(s) (one per request file, or one for all; a torn last line is not one). */
async function loggedAnswers(jobDir: string): Promise<number> {
  let n = 0;
  for (const file of (await readdir(join(jobDir, 'realtime'))).filter((f) => /^answers.*\.jsonl$/.test(f))) n += (await loadAnsweredIds(join(jobDir, 'realtime', file))).size;
  return n;
}

describe('runJob (realtime mode)', () => {
  const emulators: Emulator[] = [];
  async function emulator(options: EmulatorOptions = {}): Promise<{ emu: Emulator; base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs' | 'retryBaseMs'> }> {
    const emu = await startEmulator({ ...FAST, seed: 11, ...options });
    emulators.push(emu);
    return { emu, base: { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20, retryBaseMs: 5 } };
  }
  let shared: Awaited<ReturnType<typeof emulator>>;
  beforeAll(async () => {
    shared = await emulator();
  });
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });

  it('joins realtime answers exactly like a batch run: same CSV bytes, input order, no batch created', async () => {
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 23);
    const batch = await emulator();
    const realtime = await emulator();
    const events: RunEvent[] = [];
    const common = { input, prompt: 'Review: {{text}}', labels: LABELS, maxRequests: 10 } as const;
    const b = await runJob({ cache: false, ...batch.base, ...common, output: join(dir, 'batch.csv'), jobDir: join(dir, 'b') });
    const r = await runJob({ cache: false, ...realtime.base, ...common, mode: 'realtime', output: join(dir, 'realtime.csv'), jobDir: join(dir, 'r'), onProgress: (e) => events.push(e) });
    expect(realtime.emu.stats()).toMatchObject({ batchesCreated: 0, filesCreated: 0, chatRequests: 23 });
    expect(batch.emu.stats().chatRequests).toBe(0);
    expect(r).toMatchObject({ mode: 'realtime', records: 23, succeeded: 23, failed: 0, batches: 0, realtimeRequests: 23, job: null });
    expect(b).toMatchObject({ mode: 'batch', realtimeRequests: 0 });
    expect([r.promptTokens, r.completionTokens]).toEqual([b.promptTokens, b.completionTokens]);
    const csv = await readFile(join(dir, 'realtime.csv'), 'utf8');
    expect(csv).toBe(await readFile(join(dir, 'batch.csv'), 'utf8'));
    const rows = parse(csv, { columns: true }) as Record<string, string>[];
    expect(rows.map((row) => row.id)).toEqual(Array.from({ length: 23 }, (_, i) => `r${i + 1}`));
    expect(rows[2]!.text).toContain('multi\nline, "quoted"');
    expect(rows.every((row) => LABELS.includes(row.label!) && row.error === '')).toBe(true);
    const progress = events.filter((e): e is Extract<RunEvent, { type: 'realtime' }> => e.type === 'realtime');
    expect(progress.at(-1)).toMatchObject({ done: 23, failed: 0, total: 23 });
    expect(formatRunSummary(r)).toContain('0 batches + 23 realtime requests');
    expect(await loadRunState(join(dir, 'r'))).toMatchObject({ mode: 'realtime', phase: 'joined', settings: { mode: 'realtime' } });
  });

  it('mode auto runs realtime below autoThreshold and batch from it up', async () => {
    const dir = await tempDir();
    const small = await emulator();
    const large = await emulator();
    const run = (env: typeof small, n: number, name: string) =>
      reviewsCsv(join(dir), n).then((input) =>
        runJob({ cache: false, ...env.base, input, prompt: 'Review: {{text}}', labels: LABELS, mode: 'auto', autoThreshold: 5, output: join(dir, `${name}.jsonl`), jobDir: join(dir, name) }),
      );
    const below = await run(small, 4, 'below');
    expect(below).toMatchObject({ mode: 'realtime', succeeded: 4 });
    expect(small.emu.stats()).toMatchObject({ batchesCreated: 0, chatRequests: 4 });
    const above = await run(large, 5, 'above');
    expect(above).toMatchObject({ mode: 'batch', succeeded: 5, batches: 1 });
    expect(large.emu.stats()).toMatchObject({ batchesCreated: 1, chatRequests: 0 });
    expect((await loadRunState(join(dir, 'above')))?.mode).toBe('batch');
  });

  it('retries invalid answers in realtime retry rounds (re-sent, not replayed from the answers log)', async () => {
    const { emu, base } = await emulator({ responder: pickyResponder() });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 6);
    const out = sink();
    const events: RunEvent[] = [];
    const summary = await runJob({ ...base, input, prompt: 'Review {{id}}: {{text}}', labels: LABELS, mode: 'realtime', output: out.stream, jobDir: join(dir, 'job'), onProgress: (e) => events.push(e) });
    expect(summary).toMatchObject({ records: 6, succeeded: 6, retried: 6, rounds: 1, retryRequests: 6, realtimeRequests: 12, batches: 0 });
    expect(emu.stats()).toMatchObject({ chatRequests: 12, batchesCreated: 0 });
    expect(events).toContainEqual({ type: 'retry-round', round: 1, requests: 6, parts: 1, via: 'realtime' });
    const rows = lines(out.text());
    expect(rows.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(rows.every((r) => LABELS.includes(r.label as string) && r.error === null)).toBe(true);
    // Tokens count every attempt, the invalid first answers included.
    expect(summary.promptTokens).toBeGreaterThan(rows.reduce((n, r) => n + (r.prompt_tokens as number), 0));
  });

  it('retries requests whose realtime retries ran out (HTTP faults on chat) in later rounds, over several chunks', async () => {
    const { emu, base } = await emulator({ seed: 4, faults: { rate5xx: 0.3, routes: [CHAT] } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 30);
    const out = sink();
    const summary = await runJob({ ...base, input, prompt: 'Review: {{text}}', labels: LABELS, mode: 'realtime', requestRetries: 0, retries: 8, maxRequests: 10, output: out.stream, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 30, succeeded: 30, failed: 0 });
    expect(summary.retried).toBeGreaterThan(0);
    expect(summary.rounds).toBeGreaterThanOrEqual(1);
    // Every attempt reached the emulator (requestRetries 0: one per request and round); each record was answered once.
    expect(emu.stats().requests[CHAT]).toBe(30 + summary.retryRequests);
    expect(emu.stats().chatRequests).toBe(30);
    expect(summary.realtimeRequests).toBe(30 + summary.retryRequests);
    const rows = lines(out.text());
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => `r${i + 1}`));
    expect(rows.every((r) => r.error === null)).toBe(true);
    const state = await loadRunState(join(dir, 'job'));
    expect(state?.rounds.every((r) => r.via === 'realtime' && r.parts.every((p) => p.part === null && p.results !== undefined))).toBe(true);
  });

  it('emits what still fails with its HTTP error and counts it as a request error (rejects written)', async () => {
    const { base } = await emulator({ faults: { rate5xx: 1, routes: [CHAT] } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 3);
    const out = sink();
    const rejects = sink();
    const summary = await runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, mode: 'realtime', requestRetries: 1, retries: 1, output: out.stream, rejects: rejects.stream, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 3, succeeded: 0, failed: 3, requestErrors: 3, retried: 3, rounds: 1 });
    const rows = lines(out.text());
    expect(rows.map((r) => r.id)).toEqual(['r1', 'r2', 'r3']);
    expect(String(rows[0]!.error)).toMatch(/^HTTP 5\d\d/);
    expect(lines(rejects.text())).toEqual(rows);
  });

  it('finishes a small retry round realtime with finishRealtime instead of a new batch', async () => {
    const { emu, base } = await emulator({ responder: pickyResponder() });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 6);
    const out = sink();
    const summary = await runJob({ cache: false, ...base, input, prompt: 'Review {{id}}: {{text}}', labels: LABELS, finishRealtime: true, output: out.stream, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ mode: 'batch', records: 6, succeeded: 6, retried: 6, rounds: 1, batches: 1, realtimeRequests: 6 });
    expect(emu.stats()).toMatchObject({ batchesCreated: 1, chatRequests: 6 });
    expect(lines(out.text()).every((r) => LABELS.includes(r.label as string))).toBe(true);
    expect((await loadRunState(join(dir, 'job')))?.rounds[0]).toMatchObject({ via: 'realtime', finished: true });

    // At or above the threshold the round stays a batch.
    const other = await emulator({ responder: pickyResponder() });
    const big = await runJob({ cache: false, ...other.base, input, prompt: 'Review {{id}}: {{text}}', labels: LABELS, finishRealtime: true, autoThreshold: 6, output: sink().stream, jobDir: join(dir, 'job2') });
    expect(big).toMatchObject({ succeeded: 6, batches: 2, realtimeRequests: 0 });
    expect(other.emu.stats().chatRequests).toBe(0);
  });

  it('paces requests under rpm (every request counted by the emulator)', async () => {
    const { emu, base } = await emulator();
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 11);
    const started = Date.now();
    const summary = await runJob({ ...base, input, prompt: '{{text}}', mode: 'realtime', rpm: 1200, concurrency: 8, output: sink().stream, jobDir: join(dir, 'job') });
    const elapsed = Date.now() - started;
    expect(summary.succeeded).toBe(11);
    expect(emu.stats().chatRequests).toBe(11);
    // 1,200 rpm spaces attempts 50 ms apart: 11 requests cannot all start in less than 10 × 50 ms.
    expect(elapsed).toBeGreaterThanOrEqual(450);
  });

  it('keeps the settled mode on a rerun (warning) and streams rows with runRecords', async () => {
    const { emu, base } = await emulator();
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 4);
    const jobDir = join(dir, 'job');
    const first = await runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, mode: 'realtime', output: sink().stream, jobDir });
    const warnings: string[] = [];
    const gen = runRecords({ ...base, input, prompt: '{{text}}', labels: LABELS, mode: 'batch', jobDir, onWarning: (w) => warnings.push(w) });
    const rows: Array<Record<string, unknown>> = [];
    let next = await gen.next();
    while (!next.done) {
      rows.push(next.value);
      next = await gen.next();
    }
    expect(next.value).toMatchObject({ mode: 'realtime', resumed: true, succeeded: 4 });
    expect(warnings.join('\n')).toContain('realtime mode');
    expect(rows.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(emu.stats()).toMatchObject({ chatRequests: 4, batchesCreated: 0 });
    expect(first.mode).toBe('realtime');
  });

  it('stops with ABORTED naming the resume command, and the rerun sends only the unanswered requests', async () => {
    const { emu, base } = await emulator({ faults: { latencyMs: 20, routes: [CHAT] } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 12);
    const jobDir = join(dir, 'job');
    const controller = new AbortController();
    const options = { ...base, input, prompt: '{{text}}', labels: LABELS, mode: 'realtime', concurrency: 2, jobDir } as const;
    const err = await catchError(() =>
      runJob({ ...options, output: sink().stream, signal: controller.signal, onProgress: (e) => e.type === 'realtime' && e.done === 3 && controller.abort() }),
    );
    expectKbatchError(err, { code: 'ABORTED', message: `kbatch resume ${jobDir}` });
    const before = await chatSettled(emu); // requests in flight at the abort still reach the emulator
    const answered = await loggedAnswers(jobDir);
    const out = sink();
    const summary = await runJob({ ...options, output: out.stream });
    expect(summary).toMatchObject({ resumed: true, succeeded: 12 });
    expect(emu.stats().chatRequests - before).toBe(12 - answered);
    expect(lines(out.text()).map((r) => r.id)).toEqual(Array.from({ length: 12 }, (_, i) => `r${i + 1}`));
  });

  it('fails with ABORTED, not a crash, when aborted while results files are being written, and resumes to the same rows', async () => {
    const { base } = await emulator({ faults: { latencyMs: 3, routes: [CHAT] } });
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    await writeFile(input, Array.from({ length: 95 }, (_, i) => JSON.stringify({ n: i + 1, q: TEXTS[i % TEXTS.length] })).join('\n'));
    const options: RunJobOptions = { ...base, input, prompt: '{{q}}', labels: LABELS, mode: 'realtime', maxRequests: 10, concurrency: 4, jobDir: join(dir, 'job') };
    for (const abortAt of [80, 85, 90]) {
      const controller = new AbortController();
      const onProgress = (e: RunEvent) => e.type === 'realtime' && e.done === abortAt && controller.abort();
      const err = await catchError(() => runJob({ ...options, output: sink().stream, signal: controller.signal, onProgress }));
      expectKbatchError(err, { code: 'ABORTED' });
    }
    const out = sink();
    expect(await runJob({ ...options, output: out.stream })).toMatchObject({ records: 95, succeeded: 95 });
    expect(lines(out.text()).map((r) => r.n)).toEqual(Array.from({ length: 95 }, (_, i) => i + 1));
  });

  it('keeps concurrency and requestTimeoutMs in run.json, so resumeRun paces the rest the same way', async () => {
    const { emu, base } = await emulator({ faults: { latencyMs: 20, routes: [CHAT] } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 12);
    const jobDir = join(dir, 'job');
    const controller = new AbortController();
    const err = await catchError(() =>
      runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, mode: 'realtime', concurrency: 1, requestTimeoutMs: 30_000, jobDir, output: sink().stream, signal: controller.signal, onProgress: (e) => e.type === 'realtime' && e.done === 2 && controller.abort() }),
    );
    expectKbatchError(err, { code: 'ABORTED' });
    expect((await loadRunState(jobDir))?.settings).toMatchObject({ concurrency: 1, requestTimeoutMs: 30_000 });
    const summary = await resumeRun(jobDir, { client: base.client, output: sink().stream });
    expect(summary).toMatchObject({ succeeded: 12 });
    expect(emu.stats().maxConcurrentChat).toBe(1);
  });

  it('writes each chunk\'s rows as soon as its answers are final, while later chunks are still being sent', async () => {
    const { emu, base } = await emulator({ faults: { latencyMs: 10, routes: [CHAT] } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 12);
    const controller = new AbortController();
    const out = new PassThrough();
    let first = '';
    // Stop the run when the first row arrives: with rows written only after everything was sent, nothing would be left to stop.
    out.once('data', (d: Buffer) => {
      first = d.toString('utf8');
      controller.abort();
    });
    const err = await catchError(() =>
      runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, mode: 'realtime', maxRequests: 2, concurrency: 1, jobDir: join(dir, 'job'), output: out, signal: controller.signal }),
    );
    expectKbatchError(err, { code: 'ABORTED' });
    expect(JSON.parse(first.split('\n')[0]!)).toMatchObject({ id: 'r1', error: null });
    expect(await chatSettled(emu)).toBeLessThan(12);
    // Unset, realtime chunks hold 1,000 requests (batch mode keeps 50,000).
    await runJob({ ...base, input, prompt: '{{text}}', mode: 'realtime', output: sink().stream, jobDir: join(dir, 'job2') });
    expect((await loadRunState(join(dir, 'job2')))?.settings.maxRequests).toBe(REALTIME_MAX_REQUESTS);
  });

  it('writes each row as soon as its answer is final, within one chunk; a row waiting for its retry round holds back the ones after it', async () => {
    let sentAtFirstRow = -1;
    // Record 4's first answer is not a label: rows 1-3 go out as answered, 4 onwards after retry round 1.
    const { responder, seen } = holdResponder();
    const { emu, base } = await emulator({ responder, faults: { latencyMs: 10, routes: [CHAT] } });
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    const texts = ['great', 'awful', 'lovely', 'HOLD great', 'broken', 'nice', 'poor', 'fine', 'bad', 'superb', 'awful', 'great'];
    await writeFile(input, texts.map((q, i) => JSON.stringify({ n: i + 1, q })).join('\n'));
    const out = new PassThrough();
    const written: string[] = [];
    out.on('data', (d: Buffer) => {
      if (sentAtFirstRow < 0) sentAtFirstRow = emu.stats().chatRequests;
      written.push(d.toString('utf8'));
    });
    const events: RunEvent[] = [];
    const summary = await runJob({ cache: false, ...base, input, prompt: '{{q}}', labels: LABELS, mode: 'realtime', concurrency: 1, jobDir: join(dir, 'job'), output: out, onProgress: (e) => events.push(e) });
    expect(summary).toMatchObject({ records: 12, succeeded: 12, rounds: 1 });
    // One chunk of 12: the first row went out while most requests were still unsent.
    expect((await loadRunState(join(dir, 'job')))?.chunks).toHaveLength(1);
    expect(sentAtFirstRow).toBeGreaterThan(0);
    expect(sentAtFirstRow).toBeLessThan(12);
    const rows = lines(written.join(''));
    expect(rows.map((r) => r.n)).toEqual(texts.map((_, i) => i + 1));
    expect(rows.every((r) => r.error === null && LABELS.includes(String(r.label)))).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'phase', phase: 'join', message: 'writing results as they finish' }));
    // Unordered: every row as soon as its answer is final, so the one waiting for its retry round comes last.
    seen.clear();
    sentAtFirstRow = -1;
    const before = emu.stats().chatRequests;
    written.length = 0;
    const out2 = new PassThrough();
    out2.on('data', (d: Buffer) => {
      if (sentAtFirstRow < 0) sentAtFirstRow = emu.stats().chatRequests - before;
      written.push(d.toString('utf8'));
    });
    const s2 = await runJob({ cache: false, ...base, input, prompt: '{{q}}', labels: LABELS, mode: 'realtime', concurrency: 1, unordered: true, jobDir: join(dir, 'job2'), output: out2 });
    expect(s2).toMatchObject({ records: 12, succeeded: 12, rounds: 1 });
    expect(sentAtFirstRow).toBeGreaterThan(0);
    expect(sentAtFirstRow).toBeLessThan(12);
    expect(lines(written.join('')).map((r) => r.n)).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 4]);
  });

  it('over several chunks: in order, rows flow up to the one waiting for its retry round; unordered, every final row flows at once', async () => {
    const { responder, seen } = holdResponder();
    const { emu, base } = await emulator({ responder, faults: { latencyMs: 5, routes: [CHAT] } });
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    // Chunks of 2; records 1, 3 and 5 (chunks 1-3) wait for retry round 1, chunks 4 and 5 are final at once.
    const texts = ['HOLD great', 'awful', 'HOLD lovely', 'broken', 'HOLD nice', 'poor', 'fine', 'bad', 'superb', 'great'];
    await writeFile(input, texts.map((q, i) => JSON.stringify({ n: i + 1, q })).join('\n'));
    const options = { ...base, input, prompt: '{{q}}', labels: LABELS, mode: 'realtime', maxRequests: 2, concurrency: 1 } as const;
    const unordered = sink();
    // Without the cache: an unordered run now stores its answers, and the ordered run below must send its own.
    expect(await runJob({ cache: false, ...options, unordered: true, output: unordered.stream, jobDir: join(dir, 'job') })).toMatchObject({ records: 10, succeeded: 10, rounds: 1 });
    expect(lines(unordered.text()).map((r) => r.n)).toEqual([2, 4, 6, 7, 8, 9, 10, 1, 3, 5]);
    seen.clear();
    const before = emu.stats().chatRequests;
    let sentAtFirstRow = -1;
    const ordered = new PassThrough();
    const written: string[] = [];
    ordered.on('data', (d: Buffer) => {
      if (sentAtFirstRow < 0) sentAtFirstRow = emu.stats().chatRequests - before;
      written.push(d.toString('utf8'));
    });
    // In order: only record 6 (chunk 3) waits for its retry round; rows 1-5 go out during round 0.
    const input2 = join(dir, 'in2.jsonl');
    await writeFile(input2, texts.map((q, i) => JSON.stringify({ n: i + 1, q: i === 5 ? 'HOLD poor' : q.replace('HOLD ', '') })).join('\n'));
    const s2 = await runJob({ ...options, input: input2, output: ordered, jobDir: join(dir, 'job2') });
    expect(s2).toMatchObject({ records: 10, succeeded: 10, rounds: 1 });
    expect(lines(written.join('')).map((r) => r.n)).toEqual(texts.map((_, i) => i + 1));
    expect(sentAtFirstRow).toBeGreaterThan(0);
    expect(sentAtFirstRow).toBeLessThan(10);
  });

  it('unordered: writes each chunk as soon as it is final, so a chunk waiting for its retry round comes last', async () => {
    // The first answer to a HOLD prompt is not a label: chunk 1 waits for retry round 1, chunks 2 and 3 do not.
    const { responder, seen } = holdResponder();
    const { base } = await emulator({ responder });
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    const texts = ['HOLD great', 'HOLD awful', 'great', 'awful', 'lovely', 'broken'];
    await writeFile(input, texts.map((q, i) => JSON.stringify({ n: i + 1, q })).join('\n'));
    const options = { ...base, input, prompt: '{{q}}', labels: LABELS, mode: 'realtime', maxRequests: 2, concurrency: 1 } as const;
    const out = sink();
    const summary = await runJob({ cache: false, ...options, unordered: true, output: out.stream, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 6, succeeded: 6, rounds: 1 });
    const rows = lines(out.text());
    expect(rows.map((r) => r.n)).toEqual([3, 4, 5, 6, 1, 2]);
    seen.clear();
    const ordered = sink();
    await runJob({ cache: false, ...options, output: ordered.stream, jobDir: join(dir, 'job2') });
    expect(lines(ordered.text()).map((r) => r.n)).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...rows].sort((a, b) => Number(a.n) - Number(b.n))).toEqual(lines(ordered.text()));
    // Skipped records are final from the start: they come first, and every record read is one row.
    await writeFile(input, ['{"n":1,"q":"great"}', 'not json', '{"n":3}', '{"n":4,"q":"awful"}'].join('\n'));
    const mixed = sink();
    const s2 = await runJob({ cache: false, ...options, unordered: true, onInvalidRecord: 'skip', output: mixed.stream, jobDir: join(dir, 'job3') });
    expect(s2).toMatchObject({ records: 4, succeeded: 2, skipped: 2 });
    const mixedRows = lines(mixed.text());
    expect(mixedRows.map((r) => [r.n ?? null, String(r.error ?? '').split(':')[0]])).toEqual([[null, 'RECORD_INVALID'], [3, 'TEMPLATE_FIELD_MISSING'], [1, ''], [4, '']]);
  });

  it('rejects an unknown mode and a bad autoThreshold with OPTION_INVALID naming the allowed values', async () => {
    const { base } = shared;
    const err = await catchError(() => runJob({ ...base, input: 'x.csv', prompt: 'x', mode: 'fast' as 'batch' }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'mode', message: 'must be one of batch, realtime, auto' });
    expectKbatchError(await catchError(() => runJob({ ...base, input: 'x.csv', prompt: 'x', autoThreshold: 0 })), { code: 'OPTION_INVALID', field: 'autoThreshold' });
    expectKbatchError(await catchError(() => runJob({ ...base, input: 'x.csv', prompt: 'x', rpm: -1 })), { code: 'OPTION_INVALID', field: 'rpm' });
  });
});

describe('runRealtimeJob (resultFiles, answersLog)', () => {
  it('rejects resultFiles that do not pair with requestFiles (OPTION_INVALID)', async () => {
    const err = await catchError(() => runRealtimeJob({ jobDir: '/tmp/x', requestFiles: ['a.jsonl', 'b.jsonl'], resultFiles: ['a.out.jsonl'], client: { create: async () => ({}) } as never }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'resultFiles' });
  });

  it('stops sending at --max-cost in auto mode (a small job runs realtime): BUDGET_EXCEEDED, nothing over the cap sent', async () => {
    const emu = await startEmulator({ ...FAST, seed: 11 });
    const base = { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20, retryBaseMs: 5 };
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 30);
    const before = emu.stats().requests[CHAT] ?? 0;
    const err = await catchError(() =>
      runJob({ cache: false, ...base, input, prompt: 'Review: {{text}}', labels: LABELS, mode: 'auto', maxCost: 1e-7, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job') }),
    );
    expectKbatchError(err, { code: 'BUDGET_EXCEEDED' });
    // One request's worst case is above the cap: none is sent.
    expect((emu.stats().requests[CHAT] ?? 0) - before).toBe(0);
    await emu.close();
  });
});

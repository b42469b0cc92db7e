import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { respond, startEmulator, type Emulator, type EmulatorOptions } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { loadManifest } from '../../src/internal.js';
import { estimateLineTokens } from '../../src/chunk/line-tokens.js';
import { formatRunSummary, runJob, type RunEvent, type RunJobOptions } from '../../src/run/index.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const FAST: EmulatorOptions = { timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5 };
const LABELS = ['positive', 'negative', 'neutral'];

/** A JSONL file of `n` reviews with ids r1..rn; `long` makes one record's text that many characters. */
async function reviews(n: number, long?: { id: string; chars: number }): Promise<{ dir: string; input: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-retry-'));
  const lines = Array.from({ length: n }, (_, i) => {
    const id = `r${i + 1}`;
    return JSON.stringify({ id, text: long?.id === id ? 'great '.repeat(Math.ceil(long.chars / 6)) : i % 2 ? 'awful, broken' : 'great, love it' });
  });
  const input = join(dir, 'in.jsonl');
  await writeFile(input, `${lines.join('\n')}\n`);
  return { dir, input };
}

async function rowsOf(file: string): Promise<Array<Record<string, unknown>>> {
  return (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('retry rounds', () => {
  const emulators: Emulator[] = [];
  async function emulator(options: EmulatorOptions): Promise<{ emu: Emulator; base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs' | 'prompt' | 'labels'> }> {
    const emu = await startEmulator({ ...FAST, seed: 7, ...options });
    emulators.push(emu);
    return { emu, base: { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20, prompt: 'Review {{id}}: {{text}}', labels: LABELS } };
  }
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });

  it('does not resend requests that failed with HTTP 400, and says so in the summary (notRetried)', async () => {
    const { emu, base } = await emulator({ faults: { lineFailureRate: 1, lineFailureStatus: 400 } });
    const { dir, input } = await reviews(6);
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...base, input, maxRequests: 3, retries: 2, output: out, jobDir: join(dir, 'job') });
    expect(emu.stats().batchesCreated).toBe(2);
    expect(summary).toMatchObject({ records: 6, succeeded: 0, requestErrors: 6, rounds: 0, retried: 0, notRetried: { http_400: 6 } });
    expect(formatRunSummary(summary)).toContain('not retried: 6 requests whose failure a retry cannot change (http_400: 6)');
    expect((await rowsOf(out)).every((r) => String(r.error).startsWith('HTTP 400'))).toBe(true);
  });

  it('counts in notRetried a failure first seen in the last round, and never resends a billed 2xx that is not a chat completion', async () => {
    const tries = new Map<string, number>();
    // r1: a 500 the first time, then a 200 whose body is not a chat completion (billed, final).
    const { emu, base } = await emulator({
      responder: (body) => {
        const id = /Review (r\d+):/.exec(JSON.stringify(body.messages))?.[1] ?? '';
        const n = (tries.get(id) ?? 0) + 1;
        tries.set(id, n);
        if (id === 'r1' && n === 1) throw new Error('boom');
        if (id === 'r1') return { object: 'list', data: [] };
        return respond(body).content as string;
      },
    });
    const { dir, input } = await reviews(3);
    const summary = await runJob({ ...base, input, retries: 2, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job') });
    expect(tries.get('r1')).toBe(2);
    expect(emu.stats().batchesCreated).toBe(2);
    expect(summary).toMatchObject({ succeeded: 2, requestErrors: 1, rounds: 1, notRetried: { invalid_response: 1 } });
    tries.clear();
    const last = await runJob({ ...base, input, retries: 1, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(last).toMatchObject({ succeeded: 2, rounds: 1, notRetried: { invalid_response: 1 } });
  });

  it('resends 5xx failures in every round (nothing counted as not retried)', async () => {
    const { emu, base } = await emulator({ faults: { lineFailureRate: 1, lineFailureStatus: 503 } });
    const { dir, input } = await reviews(4);
    const summary = await runJob({ ...base, input, maxRequests: 2, retries: 2, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job') });
    // Two batches per round (4 requests, at most 2 per batch), three rounds.
    expect(emu.stats().batchesCreated).toBe(6);
    expect(summary).toMatchObject({ succeeded: 0, rounds: 2, retryRequests: 8, notRetried: {} });
    expect(formatRunSummary(summary)).not.toContain('not retried');
  });

  it('packs a retry round within maxBatchTokens as its chunks were (estimated prompt tokens)', async () => {
    const { emu, base } = await emulator({ faults: { lineFailureRate: 1, lineFailureStatus: 503 } });
    const { dir, input } = await reviews(4);
    // A run without a budget shows each request's estimate: the budget then holds two of these near-equal requests, never three.
    await runJob({ ...base, input, retries: 0, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    const chunk = (await loadManifest(join(dir, 'a'))).parts[0]!.path;
    const lines = (await readFile(join(dir, 'a', chunk), 'utf8')).trim().split('\n');
    const budget = 2 * Math.max(...lines.map((line) => estimateLineTokens(Buffer.from(line))));
    const before = emu.stats().batchesCreated;
    const summary = await runJob({ ...base, input, maxBatchTokens: budget, retries: 1, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(summary).toMatchObject({ rounds: 1, retryRequests: 4 });
    expect((await loadManifest(join(dir, 'b'))).parts.map((p) => [p.kind, p.requests])).toEqual([['chunk', 2], ['chunk', 2], ['retry', 2], ['retry', 2]]);
    expect(emu.stats().batchesCreated - before).toBe(4);
  });

  it('merges a round\'s failures from 3 parts into 1 batch, and notes that a changed prompt would help invalid answers', async () => {
    const seen = new Set<string>();
    // r1, r4 and r7 (one per part of 3) answer "maybe?" the first time, a label afterwards.
    const { emu, base } = await emulator({
      responder: (body) => {
        const text = JSON.stringify(body.messages);
        const id = /Review (r\d+):/.exec(text)?.[1] ?? '';
        if (['r1', 'r4', 'r7'].includes(id) && !seen.has(id)) {
          seen.add(id);
          return 'maybe?';
        }
        return respond(body).content as string;
      },
    });
    const { dir, input } = await reviews(9);
    const events: RunEvent[] = [];
    const summary = await runJob({ cache: false, ...base, input, maxRequests: 3, retries: 2, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job'), onProgress: (e) => events.push(e) });
    expect(summary).toMatchObject({ records: 9, succeeded: 9, retried: 3, rounds: 1 });
    expect(events.filter((e) => e.type === 'retry-round')).toEqual([{ type: 'retry-round', round: 1, requests: 3, parts: 1, via: 'batch' }]);
    const manifest = await loadManifest(join(dir, 'job'));
    expect(manifest.parts.filter((p) => p.kind === 'retry').map((p) => p.requests)).toEqual([3]);
    expect(emu.stats().batchesCreated).toBe(4);
    const rows = await rowsOf(join(dir, 'out.jsonl'));
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 9 }, (_, i) => `r${i + 1}`));
    expect(rows.every((r) => r.error === null && LABELS.includes(r.label as string))).toBe(true);
    // Retries run out: the summary says what would help.
    seen.clear();
    const failed = await runJob({ cache: false, ...base, input, maxRequests: 3, retries: 0, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(failed.invalidAnswers).toBe(3);
    expect(formatRunSummary(failed)).toContain('invalid answers: 3; a changed prompt (or labels/schema) would help more than retrying it');
  });

  it('puts a batch validation error (model_not_found) in every row, sends the batch once, and reports its cause', async () => {
    const { emu, base } = await emulator({});
    const { dir, input } = await reviews(3);
    const out = join(dir, 'out.jsonl');
    const events: RunEvent[] = [];
    const summary = await runJob({ ...base, model: 'no/such-model', input, retries: 2, output: out, jobDir: join(dir, 'job'), onProgress: (e) => events.push(e) });
    expect(emu.stats().batchesCreated).toBe(1);
    expect(summary).toMatchObject({ succeeded: 0, requestErrors: 3, missing: 0, rounds: 0, notRetried: { model_not_found: 3 } });
    const rows = await rowsOf(out);
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.error).toMatch(/^request failed \(model_not_found\): batch \S+ failed validation: line \d \(custom_id \S+\): model_not_found: Line \d: the model "no\/such-model" does not exist$/);
    const finished = events.find((e) => e.type === 'finished');
    expect(finished).toMatchObject({ status: 'failed', causes: [{ code: 'model_not_found', requests: 3 }] });
    expect((finished as { lineErrors: unknown[] }).lineErrors).toHaveLength(3);
  });

  it('gives all 1,200 requests of a batch with an unknown model model_not_found although the server lists 1,000, and sends it once', async () => {
    const { emu, base } = await emulator({});
    const { dir, input } = await reviews(1200);
    const out = join(dir, 'out.jsonl');
    const events: RunEvent[] = [];
    const summary = await runJob({ ...base, model: 'no/such-model', input, retries: 2, output: out, jobDir: join(dir, 'job'), onProgress: (e) => events.push(e) });
    expect(emu.stats().batchesCreated).toBe(1);
    expect(events.find((e) => e.type === 'finished')).toMatchObject({ status: 'failed', causes: [{ code: 'model_not_found', requests: 1200 }] });
    expect(summary).toMatchObject({ records: 1200, succeeded: 0, requestErrors: 1200, rounds: 0, notRetried: { model_not_found: 1200 } });
    const rows = await rowsOf(out);
    expect(rows[999]!.error).toMatch(/^request failed \(model_not_found\): batch \S+ failed validation: line 1000 /);
    expect(rows[1000]!.error).toMatch(/^request failed \(model_not_found\): batch \S+ failed validation: model_not_found: not listed \(the server lists at most 1000 errors, all model_not_found; e\.g\. Line 1: the model "no\/such-model" does not exist\)$/);
  });

  it('resubmits the innocent rows of a batch with a line too long (even with --retries 0: they never ran); the long row gets line_too_long', async () => {
    for (const retries of [2, 0]) {
      const { emu, base } = await emulator({ maxLineBytes: 1000 });
      const { dir, input } = await reviews(5, { id: 'r3', chars: 1200 });
      const out = join(dir, 'out.jsonl');
      const events: RunEvent[] = [];
      const summary = await runJob({ cache: false, ...base, input, retries, output: out, jobDir: join(dir, 'job'), onProgress: (e) => events.push(e) });
      expect(emu.stats().batchesCreated).toBe(2);
      expect(summary).toMatchObject({ records: 5, succeeded: 4, requestErrors: 1, missing: 0, rounds: 0, notRetried: { line_too_long: 1 } });
      expect(events.filter((e) => e.type === 'resubmitted')).toEqual([{ type: 'resubmitted', part: '00001', newPart: '00002', requests: 4 }]);
      const rows = await rowsOf(out);
      expect(rows.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
      expect(rows.filter((r) => r.id !== 'r3').every((r) => r.error === null && LABELS.includes(r.label as string))).toBe(true);
      expect(rows[2]!.error).toMatch(/^request failed \(line_too_long\): batch \S+ failed validation: line 3 \(custom_id \S+\): line_too_long: Line 3 has \d+ bytes; the limit is 1000 bytes per line$/);
    }
  });

  it('gives every request of a batch over the server\'s request limit too_many_requests (a batch-level error), sends it once and never retries it', async () => {
    // The server takes 3 requests per batch, kbatch sends 5: the batch fails as a whole (no line), like OpenAI's file-level errors.
    const { emu, base } = await emulator({ maxRequestsPerBatch: 3 });
    const { dir, input } = await reviews(5);
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...base, input, maxRequests: 5, retries: 2, output: out, jobDir: join(dir, 'job') });
    expect(emu.stats().batchesCreated).toBe(1);
    expect((await loadManifest(join(dir, 'job'))).parts).toHaveLength(1);
    expect(summary).toMatchObject({ succeeded: 0, requestErrors: 5, rounds: 0, notRetried: { too_many_requests: 5 } });
    const rows = await rowsOf(out);
    for (const row of rows) expect(row.error).toBe(`request failed (too_many_requests): batch ${String(row.error).split(' ')[4]} failed validation: too_many_requests: The input file has more than 3 requests`);
  });
});

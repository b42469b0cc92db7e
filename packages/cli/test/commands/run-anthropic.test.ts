import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from '../helpers/spawn.js';
import { spawnCli } from './job-fixtures.js';
import { readAllText } from '../../../core/test/helpers/files.js';

const MODEL = 'claude-haiku-5-5';
// A prompt of its own per run: batches of identical chunks would answer each other's (see adoption below).
let runs = 0;
const args = () => ['--provider', 'anthropic', '--model', MODEL, '--prompt', `Review ${++runs}: {{text}}`, '--poll-interval', '50ms', '--quiet'];
const KEY = 'sk-ant-secret-0123456789';
const ENV = { ANTHROPIC_API_KEY: KEY };

/** A CSV with quotes, an embedded newline, non-ASCII and a long field. */
async function input(): Promise<{ root: string; file: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-anthropic-cli-'));
  const file = join(root, 'reviews.csv');
  await writeFile(file, `id,text\nr1,"I love it, ""great"""\nr2,"line one\nline two — terrible"\nr3,"${'long é '.repeat(2_000)}"\n`);
  return { root, file };
}

const rowsOf = async (root: string) => (await readFile(join(root, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('kbatch run --provider anthropic (Message Batches through the emulator)', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'anthropic', apiKey: KEY, timeScale: 0.001, seed: 13, validationMs: 10, lineMs: 0, finalizingMs: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('labels every record once, in input order, on one inline batch; the key reaches no file and no output', async () => {
    const { root, file } = await input();
    const created = emu.stats().batchesCreated;
    const run = await runCli(['run', file, ...args(), '--labels', 'positive,negative', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: ENV });
    expect([run.code, run.stderr]).toEqual([0, '']);
    const rows = await rowsOf(root);
    expect(rows.map((r) => [r['id'], r['label'], r['finish_reason']])).toEqual([['r1', 'positive', 'stop'], ['r2', 'negative', 'stop'], ['r3', rows[2]!['label'], 'stop']]);
    expect(rows[1]!['text']).toBe('line one\nline two — terrible');
    expect(emu.stats().batchesCreated - created).toBe(1);
    expect(await readAllText(root)).not.toContain(KEY);
    expect(run.stdout + run.stderr).not.toContain(KEY);
  });

  it('answers a --schema run with ids from a column Anthropic would refuse (mapped reversibly), every record once', async () => {
    const { root } = await input();
    await writeFile(join(root, 'odd.csv'), 'key,text\n"a b/é",good stuff\n__x,bad stuff\nrow-9,"multi\nline"\n');
    await writeFile(join(root, 's.json'), JSON.stringify({ type: 'object', properties: { sentiment: { type: 'string' } }, required: ['sentiment'] }));
    const run = await runCli(['run', 'odd.csv', ...args(), '--id-column', 'key', '--schema', 's.json', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: ENV });
    expect([run.code, run.stderr]).toEqual([0, '']);
    const rows = await rowsOf(root);
    expect(rows.map((r) => [r['key'], typeof r['sentiment'], r['error']])).toEqual([['a b/é', 'string', null], ['__x', 'string', null], ['row-9', 'string', null]]);
  });

  it('refuses --temperature before anything is sent (LINT_FAILED naming the parameter and provider; the emulator saw no request)', async () => {
    const { root, file } = await input();
    const before = JSON.stringify(emu.stats().requests);
    for (const mode of ['batch', 'realtime']) {
      const run = await runCli(['run', file, ...args(), '--mode', mode, '--temperature', '0.2', '--base-url', emu.baseURL, '--job-dir', `job-${mode}`, '--output', 'out.jsonl'], { cwd: root, env: ENV });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error \[LINT_FAILED\]: 3 request line problems for provider anthropic; nothing was uploaded/);
      expect(run.stderr).toContain('sets `temperature`, which provider anthropic does not support [param_unsupported]');
    }
    expect(JSON.stringify(emu.stats().requests)).toBe(before);
  });

  it('keeps the finished answers of an expired batch and resends only the rest', async () => {
    const { root, file } = await input();
    const created = emu.stats().batchesCreated;
    emu.setFaults({ expireAfterLines: 2 });
    try {
      const run = await runCli(['run', file, ...args(), '--labels', 'positive,negative', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: ENV });
      expect(run.code).toBe(0);
    } finally {
      emu.setFaults(null);
    }
    expect((await rowsOf(root)).map((r) => [r['id'], r['error']])).toEqual([['r1', null], ['r2', null], ['r3', null]]);
    const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as { parts: Array<{ kind: string; requests: number; status: string }> };
    expect(manifest.parts.map((p) => [p.kind, p.requests, p.status])).toEqual([['chunk', 3, 'expired'], ['resubmit', 1, 'completed']]);
    expect(emu.stats().batchesCreated - created).toBe(2);
  });

  it('runs --mode realtime through POST /v1/messages, and kbatch chat answers through it', async () => {
    const { root, file } = await input();
    const run = await runCli(['run', file, ...args(), '--mode', 'realtime', '--labels', 'positive,negative', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: ENV });
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect((await rowsOf(root)).map((r) => [r['id'], r['error']])).toEqual([['r1', null], ['r2', null], ['r3', null]]);
    const chat = await runCli(['chat', '--provider', 'anthropic', '--base-url', emu.baseURL, '-m', MODEL, '-s', 'Be brief.', 'Answer with one of these labels: positive, negative. Great!'], { cwd: root, env: ENV });
    expect([chat.code, chat.stdout.trim()]).toEqual([0, 'positive']);
  });
});

// A real kbatch run SIGKILLs itself at a named point; Anthropic batches carry no metadata, so a resume after a kill
// between create and its record finds the batch by request count, creation time and (once ended) custom_ids.
describe('kbatch resume after a crash on anthropic', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'anthropic', apiKey: KEY, timeScale: 0.001, seed: 14, validationMs: 20, lineMs: 2, finalizingMs: 20 });
  });
  afterAll(async () => {
    await emu.close();
  });

  /** Until every batch of the emulator's account has ended. */
  async function allEnded(): Promise<void> {
    const list = async () => ((await (await fetch(`${emu.baseURL}/v1/messages/batches?limit=100`, { headers: { 'x-api-key': KEY } })).json()) as { data: Array<{ processing_status: string }> }).data;
    while ((await list()).some((b) => b.processing_status !== 'ended')) await new Promise((r) => setTimeout(r, 50));
  }

  for (const point of ['after-upload', 'before-create-sent', 'after-create', 'during-wait']) {
    it(`killed ${point}, resumed with one batch and every record once`, async () => {
      const { root, file } = await input();
      const created = emu.stats().batchesCreated;
      const crashed = await spawnCli(['run', file, ...args(), '--labels', 'positive,negative', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...ENV, KBATCH_TEST_CRASH_AT: point }, root);
      expect(crashed.signal).toBe('SIGKILL');
      // A batch found without metadata is adopted only once ended (its results verify): wait for it as a user would.
      if (point === 'after-create') await allEnded();
      const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], ENV, root);
      expect(resumed.code).toBe(0);
      const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as { parts: Array<{ adopted?: boolean }> };
      expect(manifest.parts.map((p) => p.adopted ?? false)).toEqual([point === 'after-create']);
      expect(emu.stats().batchesCreated - created).toBe(1);
      expect((await rowsOf(root)).map((r) => r['id'])).toEqual(['r1', 'r2', 'r3']);
    });
  }

  // The last case is a manifest written before staged ids were relative: its absolute path is empty after the move.
  for (const [point, absolute] of [['after-upload', false], ['before-create-sent', false], ['after-upload', true]] as const) {
    it(`killed ${point}, with the job directory then moved, resumes from the new place with one batch and every record once${absolute ? ' (an absolute staged path, as kbatch recorded it before)' : ''}`, async () => {
      const { root, file } = await input();
      const created = emu.stats().batchesCreated;
      const crashed = await spawnCli(['run', file, ...args(), '--labels', 'positive,negative', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...ENV, KBATCH_TEST_CRASH_AT: point }, root);
      expect(crashed.signal).toBe('SIGKILL');
      const manifestPath = join(root, 'job', 'manifest.json');
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { parts: Array<{ fileId: string }> };
      expect(manifest.parts[0]!.fileId).toMatch(/^local-chunk:[0-9a-f]{64}:chunks[/\\]/);
      if (absolute) {
        manifest.parts[0]!.fileId = manifest.parts[0]!.fileId.replace(/^(local-chunk:[0-9a-f]{64}:)/, `$1${join(root, 'job')}/`);
        await writeFile(manifestPath, JSON.stringify(manifest));
      }
      await rename(join(root, 'job'), join(root, 'moved'));
      const resumed = await spawnCli(['resume', 'moved', '--poll-interval', '50ms', '--quiet'], ENV, root);
      expect([resumed.code, resumed.stderr]).toEqual([0, expect.not.stringContaining('error')]);
      expect(emu.stats().batchesCreated - created).toBe(1);
      expect((await rowsOf(root)).map((r) => r['id'])).toEqual(['r1', 'r2', 'r3']);
    });
  }

  it('stops with ADOPTION_UNCERTAIN while the lost batch runs (naming it), then adopts it once ended, with one batch in all', async () => {
    const { root, file } = await input();
    const created = emu.stats().batchesCreated;
    emu.setFaults({ slowTailLines: 1, slowTailMs: 8_000 });
    try {
      const crashed = await spawnCli(['run', file, ...args(), '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...ENV, KBATCH_TEST_CRASH_AT: 'after-create' }, root);
      expect(crashed.signal).toBe('SIGKILL');
      const early = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], ENV, root);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/^error \[ADOPTION_UNCERTAIN\]: Part 00001 \(3 requests\) may have a batch created before a crash .* msgbatch_\S+ \(created \S+, 3 requests, still running\)/m);
      expect(early.stderr).toContain('Resume once it has ended and can be read');
    } finally {
      emu.setFaults(null);
    }
    await allEnded();
    const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], ENV, root);
    expect(resumed.code).toBe(0);
    expect(emu.stats().batchesCreated - created).toBe(1);
    const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as { parts: Array<{ adopted?: boolean }> };
    expect(manifest.parts.map((p) => p.adopted)).toEqual([true]);
    expect((await rowsOf(root)).map((r) => r['id'])).toEqual(['r1', 'r2', 'r3']);
  });

  it('in a cancelled job, warns naming a running batch found by count alone instead of cancelling it', async () => {
    const { root, file } = await input();
    emu.setFaults({ slowTailLines: 1, slowTailMs: 60_000 });
    try {
      const crashed = await spawnCli(['run', file, ...args(), '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...ENV, KBATCH_TEST_CRASH_AT: 'after-create' }, root);
      expect(crashed.signal).toBe('SIGKILL');
      const newest = async () => ((await (await fetch(`${emu.baseURL}/v1/messages/batches?limit=1`, { headers: { 'x-api-key': KEY } })).json()) as { data: Array<{ id: string; processing_status: string }> }).data[0]!;
      const lost = await newest();
      const created = emu.stats().batchesCreated;
      expect((await spawnCli(['cancel', 'job'], ENV, root)).code).toBe(0);
      const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms'], ENV, root);
      expect(resumed.stderr).toContain(`not cancelled, not adopted: Part 00001 (3 requests) may have a batch created before a crash`);
      expect(resumed.stderr).toContain(`${lost.id} (created`);
      expect([emu.stats().batchesCreated, (await newest()).processing_status]).toEqual([created, 'in_progress']);
      // Cancelled here, as its user would: a batch left running would be a candidate for the next tests' parts.
      await fetch(`${emu.baseURL}/v1/messages/batches/${lost.id}/cancel`, { method: 'POST', headers: { 'x-api-key': KEY } });
      await allEnded();
    } finally {
      emu.setFaults(null);
    }
  });

  it("adopts, among ended batches, the one whose results carry this chunk's ids and tag (not a stranger with the same ids)", async () => {
    const { root, file } = await input();
    const crashed = await spawnCli(['run', file, ...args(), '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...ENV, KBATCH_TEST_CRASH_AT: 'after-create' }, root);
    expect(crashed.signal).toBe('SIGKILL');
    // The same decoded custom_ids (row-1…3) under another chunk's tag: only the tag tells the batches apart.
    const request = (id: string) => ({ custom_id: `deadbeef_${id}`, params: { model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: id }] } });
    const stranger = await fetch(`${emu.baseURL}/v1/messages/batches`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ requests: [request('row-1'), request('row-2'), request('row-3')] }),
    });
    const strangerId = ((await stranger.json()) as { id: string }).id;
    const list = async () => ((await (await fetch(`${emu.baseURL}/v1/messages/batches?limit=2`, { headers: { 'x-api-key': KEY } })).json()) as { data: Array<{ processing_status: string }> }).data;
    while ((await list()).some((b) => b.processing_status !== 'ended')) await new Promise((r) => setTimeout(r, 50));
    const created = emu.stats().batchesCreated;
    const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], ENV, root);
    expect(resumed.code).toBe(0);
    expect(emu.stats().batchesCreated).toBe(created);
    const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as { parts: Array<{ adopted?: boolean; batchId: string }> };
    expect(manifest.parts.map((p) => [p.adopted, p.batchId === strangerId])).toEqual([[true, false]]);
    expect((await rowsOf(root)).map((r) => [r['id'], r['error']])).toEqual([['r1', null], ['r2', null], ['r3', null]]);
  });

  it('stops with ADOPTION_UNCERTAIN naming the candidates when two running batches match, and creates none', async () => {
    const { root, file } = await input();
    // Both batches stay running: the part's own (lost by the kill) and a stranger's with the same request count.
    emu.setFaults({ slowTailLines: 1, slowTailMs: 60_000 });
    try {
      const crashed = await spawnCli(['run', file, ...args(), '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...ENV, KBATCH_TEST_CRASH_AT: 'after-create' }, root);
      expect(crashed.signal).toBe('SIGKILL');
      const request = (id: string) => ({ custom_id: id, params: { model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: id }] } });
      const stranger = await fetch(`${emu.baseURL}/v1/messages/batches`, {
        method: 'POST',
        headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'anthropic-version': '2026-10-21' },
        body: JSON.stringify({ requests: [request('s1'), request('s2'), request('s3')] }),
      });
      const strangerId = ((await stranger.json()) as { id: string }).id;
      const created = emu.stats().batchesCreated;
      const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], ENV, root);
      expect(resumed.code).toBe(1);
      expect(resumed.stderr).toMatch(/^error \[ADOPTION_UNCERTAIN\]: Part 00001 \(3 requests\) may have a batch created before a crash/m);
      expect(resumed.stderr).toContain(strangerId);
      expect(emu.stats().batchesCreated).toBe(created);
    } finally {
      emu.setFaults(null);
    }
  });
});

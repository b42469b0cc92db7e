import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from '../helpers/spawn.js';
import { spawnCli } from './job-fixtures.js';
import { readAllText, readJsonl } from '../../../core/test/helpers/files.js';
import { reviewsCsv } from '../../../core/test/helpers/inputs.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const ARGS = ['--provider', 'together', '--model', MODEL, '--prompt', 'Review: {{text}}', '--poll-interval', '50ms', '--quiet'];
const KEY = 'tgp-together-secret-0123456789';
const ENV = { TOGETHER_API_KEY: KEY };

/** The reviews CSV (quotes, an embedded newline, non-ASCII, a long field) in a fresh directory. */
async function input(): Promise<{ root: string; file: string; ids: string[] }> {
  const { dir, input: file, ids } = await reviewsCsv(0, 'kbatch-together-cli-');
  return { root: dir, file, ids };
}

const rowsOf = readJsonl;
type Manifest = { provider: string; baseURL: string; parts: Array<{ batchId: string; fileId: string; adopted?: boolean }> };

describe('kbatch run --provider together (its Batch API through the emulator)', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'together', bearerOnly: true, apiKey: KEY, timeScale: 0.001, seed: 4, validationMs: 20, lineMs: 2, finalizingMs: 20 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('runs a batch job with --labels and with --schema: every record once, in order; the key reaches no file and no output', async () => {
    const { root, file, ids } = await input();
    const labelled = await runCli(['run', file, ...ARGS, '--labels', 'positive,negative', '--mode', 'batch', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: ENV });
    expect([labelled.code, labelled.stderr]).toEqual([0, '']);
    const rows = await rowsOf(join(root, 'out.jsonl'));
    expect(rows.map((r) => r['id'])).toEqual(ids);
    expect(rows[1]!['text']).toBe('line one\nline two — terrible');
    expect(rows.map((r) => r['label'])).toEqual(['positive', 'negative', 'positive', 'negative']);
    const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as Manifest;
    expect([manifest.provider, manifest.baseURL, manifest.parts[0]!.fileId]).toEqual(['together', emu.baseURL, expect.stringMatching(/^file-/)]);
    await writeFile(join(root, 'schema.json'), JSON.stringify({ type: 'object', properties: { sentiment: { type: 'string', enum: ['positive', 'negative'] } }, required: ['sentiment'] }));
    const schema = await runCli(['run', file, ...ARGS, '--schema', 'schema.json', '--mode', 'batch', '--base-url', emu.baseURL, '--job-dir', 'job2', '--output', 'out2.jsonl'], { cwd: root, env: ENV });
    expect([schema.code, schema.stderr]).toEqual([0, '']);
    const answers = await rowsOf(join(root, 'out2.jsonl'));
    expect(answers.map((r) => r['id'])).toEqual(ids);
    for (const row of answers) expect(['positive', 'negative']).toContain(row['sentiment']);
    expect(await readAllText(root)).not.toContain(KEY);
    expect(labelled.stdout + schema.stdout).not.toContain(KEY);
  });

  // A real kbatch run SIGKILLs itself at each point; Together keeps no metadata, so a batch created before the kill is found by its input_file_id.
  for (const point of ['after-upload-unrecorded', 'after-upload', 'before-create-sent', 'after-create', 'during-wait']) {
    it(`killed ${point}, resumed with one batch and every record once`, async () => {
      const { root, file, ids } = await input();
      const created = emu.stats().batchesCreated;
      const crashed = await spawnCli(['run', file, ...ARGS, '--labels', 'positive,negative', '--mode', 'batch', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...ENV, KBATCH_TEST_CRASH_AT: point }, root);
      expect(crashed.signal).toBe('SIGKILL');
      const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], ENV, root);
      expect(resumed.code).toBe(0);
      const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as Manifest;
      expect(manifest.parts.map((p) => p.adopted ?? false)).toEqual([point === 'after-create']);
      expect(emu.stats().batchesCreated - created).toBe(1);
      expect((await rowsOf(join(root, 'out.jsonl'))).map((r) => r['id'])).toEqual(ids);
      // The upload nobody recorded (after-upload-unrecorded) is deleted as an orphan, the used one once its part finished.
      const jobId = (JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as { jobId: string }).jobId;
      const files = (await (await fetch(`${emu.baseURL}/files`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { data: Array<{ filename: string }> };
      expect(files.data.filter((f) => f.filename.startsWith(`${jobId}-part-`))).toEqual([]);
    });
  }

  it('stops with BATCH_OUTPUT_MISSING (exit 1) when a batch names its error file and, past --result-file-grace, no output file; the resume, once it is named, sends nothing again', async () => {
    const { root, file, ids } = await input();
    const created = emu.stats().batchesCreated;
    emu.setFaults({ lineFailureRate: 0.5, lineFailureStatus: 400, outputFileLagReads: 1_000_000 });
    try {
      const stopped = await runCli(['run', file, ...ARGS, '--mode', 'batch', '--retries', '0', '--result-file-grace', '500ms', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: ENV });
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toMatch(/^error \[BATCH_OUTPUT_MISSING\]: Batch \S+ \(part 00001\) is completed and names its error file .* continue with: kbatch resume /m);
    } finally {
      emu.setFaults(null);
    }
    const resumed = await runCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], { cwd: root, env: ENV });
    expect(resumed.code).toBe(3);
    expect(emu.stats().batchesCreated - created).toBe(1);
    expect((await rowsOf(join(root, 'out.jsonl'))).map((r) => r['id'])).toEqual(ids);
  });

  it('names --accept-missing-output when an EXPIRED batch names only its error file; `kbatch resume --accept-missing-output` resends its unanswered requests once', async () => {
    const { root, file, ids } = await input();
    const created = emu.stats().batchesCreated;
    emu.setFaults({ lineFailureRate: 1, lineFailureStatus: 400, expireAfterLines: 2 });
    try {
      const stopped = await runCli(['run', file, ...ARGS, '--mode', 'batch', '--retries', '0', '--result-file-grace', '300ms', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: ENV });
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toMatch(/^error \[BATCH_OUTPUT_MISSING\]: Batch \S+ \(part 00001\) is expired .* continue with: kbatch resume \S+ --accept-missing-output /m);
    } finally {
      emu.setFaults(null);
    }
    const resumed = await runCli(['resume', 'job', '--accept-missing-output', '--poll-interval', '50ms', '--quiet'], { cwd: root, env: ENV });
    // The 2 lines that failed with a 400 stay failed (exit 3); the 2 that never ran are answered by one new batch.
    expect(resumed.code).toBe(3);
    expect(emu.stats().batchesCreated - created).toBe(2);
    const rows = await rowsOf(join(root, 'out.jsonl'));
    expect(rows.map((r) => r['id'])).toEqual(ids);
    expect(rows.filter((r) => r['error'] === null || r['error'] === undefined)).toHaveLength(2);
  });

  it('runs --local with the together personality (no key, no server)', async () => {
    const { root, file, ids } = await input();
    const run = await runCli(['run', file, ...ARGS, '--labels', 'positive,negative', '--mode', 'batch', '--local', '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root });
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect((await rowsOf(join(root, 'out.jsonl'))).map((r) => r['id'])).toEqual(ids);
    expect(JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8'))).toMatchObject({ provider: 'together', parts: [{ status: 'completed' }] });
  });
});

describe('kbatch emulator --provider together', () => {
  const bin = fileURLToPath(new URL('../../bin/kbatch.js', import.meta.url));
  it("serves Together's Batch API at a /v1 base URL (a bare-array list, the key only as Bearer)", async () => {
    const child = spawn(process.execPath, [bin, 'emulator', '--provider', 'together', '--api-key', KEY], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
        child.once('error', reject);
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      // Together's own wire: a bare-array list, and the key only as Bearer.
      expect(await (await fetch(`${url}/batches`, { headers: { authorization: `Bearer ${KEY}` } })).json()).toEqual([]);
      expect((await fetch(`${url}/batches`, { headers: { authorization: KEY } })).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

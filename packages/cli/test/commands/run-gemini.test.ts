import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from '../helpers/spawn.js';
import { spawnCli } from './job-fixtures.js';
import { readAllText } from '../../../core/test/helpers/files.js';

const MODEL = 'gemini-2.5-flash';
const ARGS = ['--provider', 'gemini', '--model', MODEL, '--prompt', 'Review: {{text}}', '--poll-interval', '50ms', '--quiet'];
const KEY = 'AIza-gemini-secret-0123456789';

/** A CSV with quotes, an embedded newline, non-ASCII and a long field. */
async function input(): Promise<{ root: string; file: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-gemini-cli-'));
  const file = join(root, 'reviews.csv');
  await writeFile(file, `id,text\nr1,"I love it, ""great"""\nr2,"line one\nline two — terrible"\nr3,"${'long é '.repeat(2_000)}"\n`);
  return { root, file };
}

const rowsOf = async (path: string) => (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('kbatch run --provider gemini', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'gemini', apiKey: KEY, timeScale: 0.001, seed: 4, validationMs: 20, lineMs: 2, finalizingMs: 20 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('runs a batch job with --labels and with --schema (GEMINI_API_KEY): every record once, in order; the key reaches no file and no output', async () => {
    const { root, file } = await input();
    const labelled = await runCli(['run', file, ...ARGS, '--labels', 'positive,negative', '--mode', 'batch', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: { GEMINI_API_KEY: KEY } });
    expect([labelled.code, labelled.stderr]).toEqual([0, '']);
    const rows = await rowsOf(join(root, 'out.jsonl'));
    expect(rows.map((r) => r['id'])).toEqual(['r1', 'r2', 'r3']);
    expect(rows[1]!['text']).toBe('line one\nline two — terrible');
    expect(rows.map((r) => r['label'])).toEqual(['positive', 'negative', expect.any(String)]);
    const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as { provider: string; baseURL: string; parts: Array<{ batchId: string; fileId: string }> };
    expect([manifest.provider, manifest.baseURL, manifest.parts[0]!.batchId]).toEqual(['gemini', emu.baseURL, expect.stringMatching(/^batches\//)]);
    await writeFile(join(root, 'schema.json'), JSON.stringify({ type: 'object', properties: { sentiment: { type: 'string', enum: ['positive', 'negative'] } }, required: ['sentiment'] }));
    const schema = await runCli(['run', file, ...ARGS, '--schema', 'schema.json', '--mode', 'batch', '--base-url', emu.baseURL, '--job-dir', 'job2', '--output', 'out2.jsonl'], { cwd: root, env: { GOOGLE_API_KEY: KEY } });
    expect([schema.code, schema.stderr]).toEqual([0, '']);
    const answers = await rowsOf(join(root, 'out2.jsonl'));
    expect(answers.map((r) => r['id'])).toEqual(['r1', 'r2', 'r3']);
    for (const row of answers) expect(['positive', 'negative']).toContain(row['sentiment']);
    expect(await readAllText(root)).not.toContain(KEY);
    expect(labelled.stdout + schema.stdout).not.toContain(KEY);
  });

  for (const point of ['after-upload-unrecorded', 'after-upload', 'after-create', 'during-wait']) {
    it(`killed ${point}, resumed with one batch and every record once`, async () => {
      const { root, file } = await input();
      const env = { GEMINI_API_KEY: KEY };
      const created = emu.stats().batchesCreated;
      const crashed = await spawnCli(['run', file, ...ARGS, '--labels', 'positive,negative', '--mode', 'batch', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...env, KBATCH_TEST_CRASH_AT: point }, root);
      expect(crashed.signal).toBe('SIGKILL');
      const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], env, root);
      expect([resumed.code, resumed.stderr]).toEqual([0, `note: using the base URL recorded in job: ${emu.baseURL} (--base-url overrides it)\n`]);
      expect(emu.stats().batchesCreated - created).toBe(1);
      expect((await rowsOf(join(root, 'out.jsonl'))).map((r) => r['id'])).toEqual(['r1', 'r2', 'r3']);
    });
  }

  it('killed after an upload finished unrecorded, the resume deletes that upload (found by the part name in its displayName) and keeps the recorded one', async () => {
    const { root, file } = await input();
    const env = { GEMINI_API_KEY: KEY };
    const files = async () => ((await (await fetch(`${emu.baseURL}/v1beta/files?pageSize=100`, { headers: { 'x-goog-api-key': KEY } })).json()) as { files?: Array<{ name: string; displayName: string }> }).files ?? [];
    const before = new Set((await files()).map((f) => f.name));
    const crashed = await spawnCli(['run', file, ...ARGS, '--labels', 'positive,negative', '--mode', 'batch', '--keep-files', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...env, KBATCH_TEST_CRASH_AT: 'after-upload-unrecorded' }, root);
    expect(crashed.signal).toBe('SIGKILL');
    const orphans = (await files()).filter((f) => !before.has(f.name));
    expect(orphans.map((f) => f.displayName)).toEqual([expect.stringMatching(new RegExp(`-part-00001\\.jsonl#model=${MODEL}$`))]);
    const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--keep-files'], env, root);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`deleted 1 input file(s) left on the server by an interrupted upload (${orphans[0]!.name}#model=${MODEL})`);
    const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as { parts: Array<{ fileId: string }> };
    const now = (await files()).filter((f) => !before.has(f.name)).map((f) => `${f.name}#model=${MODEL}`);
    expect(now).toEqual([manifest.parts[0]!.fileId]);
    expect((await rowsOf(join(root, 'out.jsonl'))).map((r) => r['id'])).toEqual(['r1', 'r2', 'r3']);
  });

  it('refuses --logit-bias before anything is sent (PARAM_UNSUPPORTED, exit 1)', async () => {
    const { root, file } = await input();
    const before = emu.stats().requests;
    const run = await runCli(['run', file, ...ARGS, '--logit-bias', '42:5', '--base-url', emu.baseURL, '--output', 'out.jsonl'], { cwd: root, env: { GEMINI_API_KEY: KEY } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error [PARAM_UNSUPPORTED]: Request line 1 (custom_id row-1): Parameter `logit_bias` is not supported by provider gemini');
    expect(emu.stats().requests).toEqual(before);
  });

  it('runs --mode realtime through generateContent', async () => {
    const { root, file } = await input();
    const run = await runCli(['run', file, ...ARGS, '--labels', 'positive,negative', '--mode', 'realtime', '--base-url', emu.baseURL, '--output', 'out.jsonl'], { cwd: root, env: { GEMINI_API_KEY: KEY } });
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect((await rowsOf(join(root, 'out.jsonl'))).map((r) => [r['id'], r['label']])).toEqual([['r1', 'positive'], ['r2', 'negative'], ['r3', expect.any(String)]]);
  });
});

describe('kbatch emulator --provider gemini and kbatch chat --provider gemini', () => {
  const bin = fileURLToPath(new URL('../../bin/kbatch.js', import.meta.url));
  it('serves the Gemini API at its bare origin, and kbatch chat asks it through generateContent', async () => {
    const child = spawn(process.execPath, [bin, 'emulator', '--provider', 'gemini', '--api-key', KEY], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
        child.once('error', reject);
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const answer = await runCli(['chat', 'Label as one of: positive, negative. Review: I love it', '--provider', 'gemini', '--model', MODEL, '--base-url', url], { env: { GOOGLE_API_KEY: KEY } });
      expect([answer.code, answer.stdout, answer.stderr]).toEqual([0, 'positive\n', '']);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

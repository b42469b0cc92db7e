import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from '../helpers/spawn.js';
import { spawnCli } from './job-fixtures.js';
import { readAllText } from '../../../core/test/helpers/files.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative', '--poll-interval', '50ms', '--quiet'];
const KEY_ENV: Record<string, string> = {
  kluster: 'KLUSTER_API_KEY',
  'kluster-2025': 'KLUSTER_API_KEY',
  openai: 'OPENAI_API_KEY',
  together: 'TOGETHER_API_KEY',
  groq: 'GROQ_API_KEY',
  'openai-compatible': 'OPENAI_COMPATIBLE_API_KEY',
};

/** A CSV with quotes, an embedded newline, non-ASCII and a long field. */
async function input(): Promise<{ root: string; file: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-providers-cli-'));
  const file = join(root, 'reviews.csv');
  await writeFile(file, `id,text\nr1,"I love it, ""great"""\nr2,"line one\nline two — terrible"\nr3,"${'long é '.repeat(2_000)}"\n`);
  return { root, file };
}

describe('kbatch run --provider', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 9, validationMs: 10, lineMs: 0, finalizingMs: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  for (const [provider, keyEnv] of Object.entries(KEY_ENV)) {
    // Together's Batch API is not OpenAI-shaped (this kluster emulator does not speak it): its run here is realtime.
    const mode = provider === 'together' ? 'realtime' : 'batch';
    it(`runs on ${provider} (${mode}) with ${keyEnv}, records the provider and base URL, and the key reaches no file and no output`, async () => {
      const { root, file } = await input();
      const key = `sk-${provider}-secret-0123456789`;
      const run = await runCli(['run', file, ...ARGS, '--mode', mode, '--provider', provider, '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env: { [keyEnv]: key } });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const rows = (await readFile(join(root, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; text: string });
      expect(rows.map((r) => r.id)).toEqual(['r1', 'r2', 'r3']);
      expect(rows[1]!.text).toBe('line one\nline two — terrible');
      const state = JSON.parse(await readFile(join(root, 'job', 'run.json'), 'utf8')) as { settings: { provider: string; baseURL: string } };
      const manifest = JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8')) as { provider: string; baseURL: string };
      expect([state.settings.provider, state.settings.baseURL, manifest.provider, manifest.baseURL]).toEqual([provider, emu.baseURL, provider, emu.baseURL]);
      expect(await readAllText(root)).not.toContain(key);
      expect(run.stdout + run.stderr).not.toContain(key);
    });
  }

  it('refuses a window the provider does not offer before anything is written (OPTION_INVALID naming the provider, exit 2)', async () => {
    const { root, file } = await input();
    const run = await runCli(['run', file, ...ARGS, '--provider', 'openai', '--window', '1h', '--base-url', emu.baseURL], { cwd: root, env: { OPENAI_API_KEY: 'sk-w' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error [OPTION_INVALID]: Invalid option `--window`: must be one of 24h (the completion windows provider openai offers), got "1h"');
    expect(await readdir(root)).toEqual(['reviews.csv']);
  });

  it('runs kluster-2025 with a 48h window (on an emulator offering its windows) and refuses 48h on kluster', async () => {
    const { root, file } = await input();
    const run = await runCli(['run', file, ...ARGS, '--provider', 'kluster', '--window', '48h', '--base-url', emu.baseURL], { cwd: root, env: { KLUSTER_API_KEY: 'k' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('must be one of 1h, 3h, 6h, 12h, 24h (the completion windows provider kluster offers), got "48h"');
    const emu2025 = await startEmulator({ timeScale: 0.001, seed: 9, validationMs: 10, lineMs: 0, finalizingMs: 10, completionWindows: ['24h', '48h', '72h'] });
    try {
      const ok = await runCli(['run', file, ...ARGS, '--provider', 'kluster-2025', '--window', '48h', '--base-url', emu2025.baseURL, '--job-dir', 'job'], { cwd: root, env: { KLUSTER_API_KEY: 'k' } });
      expect(ok.code).toBe(0);
      expect(JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8'))).toMatchObject({ window: '48h', provider: 'kluster-2025' });
    } finally {
      await emu2025.close();
    }
  });

  it('rejects an unknown provider listing the names, and openai-compatible without a base URL (OPTION_INVALID, exit 2)', async () => {
    const { root, file } = await input();
    const unknown = await runCli(['run', file, ...ARGS, '--provider', 'gemeni'], { cwd: root, env: { OPENAI_API_KEY: 'k' } });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('must be one of kluster, kluster-2025, openai, together, groq, openai-compatible, anthropic, gemini, got "gemeni"');
    const compatible = await runCli(['run', file, ...ARGS, '--provider', 'openai-compatible'], { cwd: root, env: { OPENAI_COMPATIBLE_API_KEY: 'k' } });
    expect(compatible.code).toBe(2);
    expect(compatible.stderr).toContain('provider openai-compatible needs the server\'s base URL (--base-url, or OPENAI_COMPATIBLE_BASE_URL)');
  });

  // Together's batches go through its own adapter now (see run-together.test.ts); kbatch's refusal of a shape it does not speak is tested in core (job-provider.test.ts).
  it("sends together's batches through its adapter: a server that does not speak Together's API stops it at the upload announcement, with no file and no batch created (exit 1)", async () => {
    const { root, file } = await input();
    const env = { TOGETHER_API_KEY: 'tg' };
    const before = emu.stats();
    const run = await runCli(['run', file, ...ARGS, '--provider', 'together', '--base-url', emu.baseURL], { cwd: root, env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Uploads must be multipart/form-data');
    const chunk = join(root, 'part.jsonl');
    await writeFile(chunk, `${JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [] } })}\n`);
    const submit = await runCli(['submit', chunk, '--provider', 'together', '--base-url', emu.baseURL, '--job-dir', 'job'], { cwd: root, env });
    expect(submit.code).toBe(1);
    expect([emu.stats().filesCreated, emu.stats().batchesCreated]).toEqual([before.filesCreated, before.batchesCreated]);
    expect(await readdir(root)).toContain('reviews.csv');
  });

  it("runs --local with the provider's personality (kluster-2025's 48h window)", async () => {
    const { root, file } = await input();
    const run = await runCli(['run', file, ...ARGS, '--local', '--provider', 'kluster-2025', '--window', '48h', '--job-dir', 'job'], { cwd: root });
    expect(run.code).toBe(0);
    expect(JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8'))).toMatchObject({ window: '48h', provider: 'kluster-2025' });
    // The in-process emulator's ephemeral port is gone: a later plain resume must not be pointed at it.
    expect(JSON.parse(await readFile(join(root, 'job', 'manifest.json'), 'utf8'))).not.toHaveProperty('baseURL');
    expect((JSON.parse(await readFile(join(root, 'job', 'run.json'), 'utf8')) as { settings: object }).settings).not.toHaveProperty('baseURL');
  });

  it("runs --local groq with a window inside its range (36h) and openai with --output-expires-after and --max-batch-tokens, recorded", async () => {
    const { root, file } = await input();
    const groq = await runCli(['run', file, ...ARGS, '--local', '--provider', 'groq', '--window', '36h', '--job-dir', 'groq'], { cwd: root });
    expect(groq.code).toBe(0);
    expect(JSON.parse(await readFile(join(root, 'groq', 'manifest.json'), 'utf8'))).toMatchObject({ window: '36h', provider: 'groq' });
    const openai = await runCli(['run', file, ...ARGS, '--local', '--provider', 'openai', '--output-expires-after', '7d', '--max-batch-tokens', '900000', '--job-dir', 'openai'], { cwd: root });
    expect(openai.code).toBe(0);
    expect(JSON.parse(await readFile(join(root, 'openai', 'manifest.json'), 'utf8'))).toMatchObject({ outputExpiresAfter: 604_800, provider: 'openai' });
    expect(JSON.parse(await readFile(join(root, 'openai', 'run.json'), 'utf8'))).toMatchObject({ settings: { maxBatchTokens: 900_000, outputExpiresAfter: 604_800 } });
  });

  it('refuses --output-expires-after on a provider without it, and a groq window outside its range, naming the flag (OPTION_INVALID, exit 2)', async () => {
    const { root, file } = await input();
    const expiry = await runCli(['run', file, ...ARGS, '--provider', 'groq', '--output-expires-after', '7d', '--base-url', emu.baseURL], { cwd: root, env: { GROQ_API_KEY: 'g' } });
    expect(expiry.code).toBe(2);
    expect(expiry.stderr).toContain('error [OPTION_INVALID]: Invalid option `--output-expires-after`: provider groq does not document an output expiry for batches (openai does), got 604800 seconds');
    const window = await runCli(['run', file, ...ARGS, '--provider', 'groq', '--window', '8d', '--base-url', emu.baseURL], { cwd: root, env: { GROQ_API_KEY: 'g' } });
    expect(window.code).toBe(2);
    expect(window.stderr).toContain('Invalid option `--window`: must be from 24h to 7d (any whole number of hours or days) (the completion windows provider groq offers), got "8d"');
    expect(await readdir(root)).toEqual(['reviews.csv']);
  });

  it("names the provider's key variable when it is missing (API_KEY_MISSING)", async () => {
    const { root, file } = await input();
    const run = await runCli(['run', file, ...ARGS, '--provider', 'groq', '--base-url', emu.baseURL], { cwd: root, env: { KLUSTER_API_KEY: 'k' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error [API_KEY_MISSING]: No API key: set the GROQ_API_KEY environment variable');
  });
});

describe('a job remembers its provider', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 10, validationMs: 10, lineMs: 0, finalizingMs: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('wait and status use the recorded provider and base URL; a conflicting --provider is JOB_MISMATCH naming the recorded one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-provider-resume-'));
    const chunk = join(root, 'part-00001.jsonl');
    await writeFile(chunk, `${JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] } })}\n`);
    const env = { GROQ_API_KEY: 'gsk-resume-secret' };
    const submit = await runCli(['submit', chunk, '--provider', 'groq', '--base-url', emu.baseURL, '--job-dir', 'job', '--quiet'], { cwd: root, env });
    expect(submit.code).toBe(0);
    const conflict = await runCli(['wait', 'job', '--provider', 'openai'], { cwd: root, env: { OPENAI_API_KEY: 'sk' } });
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('error [JOB_MISMATCH]: the job in job was started with provider groq (recorded in the job directory), not openai');
    // No --provider and no --base-url: GROQ_API_KEY and the recorded emulator URL are used.
    const wait = await runCli(['wait', 'job', '--poll-interval', '50ms', '--quiet'], { cwd: root, env });
    expect(wait.code).toBe(0);
    const status = await runCli(['status', 'job', '--json'], { cwd: root, env });
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'completed', succeeded: 1 });
    expect((await runCli(['status', 'job'], { cwd: root, env: {} })).stderr).toContain('note: no API key, showing the saved state (set GROQ_API_KEY for live counts)');
    expect(await readAllText(root)).not.toContain('gsk-resume-secret');
  });

  it('reads a job directory with no recorded provider (made before providers) as kluster: wait --provider openai is JOB_MISMATCH', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-provider-old-'));
    const chunk = join(root, 'part-00001.jsonl');
    await writeFile(chunk, `${JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] } })}\n`);
    const submit = await runCli(['submit', chunk, '--base-url', emu.baseURL, '--job-dir', 'job', '--quiet'], { cwd: root, env: { KLUSTER_API_KEY: 'k' } });
    expect(submit.code).toBe(0);
    const manifestFile = join(root, 'job', 'manifest.json');
    const { provider: _provider, baseURL: _baseURL, ...old } = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestFile, JSON.stringify(old));
    const conflict = await runCli(['wait', 'job', '--provider', 'openai', '--base-url', emu.baseURL], { cwd: root, env: { OPENAI_API_KEY: 'sk' } });
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('error [JOB_MISMATCH]: the job in job was started with provider kluster (recorded in the job directory), not openai');
  });

  it('kbatch resume of a run refuses another --provider and continues on the recorded one', async () => {
    const { root, file } = await input();
    const env = { OPENAI_API_KEY: 'sk-secret' };
    const run = await runCli(['run', file, ...ARGS, '--provider', 'openai', '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { cwd: root, env });
    expect(run.code).toBe(0);
    const conflict = await runCli(['resume', 'job', '--provider', 'kluster'], { cwd: root, env: { KLUSTER_API_KEY: 'k' } });
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('was started with provider openai');
    const resume = await runCli(['resume', 'job', '--quiet'], { cwd: root, env });
    expect(resume.code).toBe(0);
  });
});

describe('kbatch split --provider', () => {
  it("cuts chunks at the provider's request limit unless --max-requests says otherwise", async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-split-provider-'));
    const lines = Array.from({ length: 1_200 }, (_, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [] } }));
    await writeFile(join(root, 'requests.jsonl'), `${lines.join('\n')}\n`);
    const split = await runCli(['split', 'requests.jsonl', '--out-dir', 'chunks', '--provider', 'kluster-2025', '--json'], { cwd: root });
    expect(split.code).toBe(0);
    expect(split.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { requests: number }).requests)).toEqual([1_000, 200]);
    const wide = await runCli(['split', 'requests.jsonl', '--out-dir', 'wide', '--provider', 'kluster-2025', '--max-requests', '5000', '--json'], { cwd: root });
    expect(wide.stdout.trim().split('\n')).toHaveLength(1);
  });
});

// A real kbatch run SIGKILLs itself at a named point (test-only hook); `kbatch resume` with only the provider's key
// (no --provider, no --base-url: both recorded) finishes it without a second batch, every record once, in order.
describe('kbatch resume after a crash, per provider', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 12, validationMs: 20, lineMs: 2, finalizingMs: 20 });
  });
  afterAll(async () => {
    await emu.close();
  });

  for (const provider of ['kluster-2025', 'openai', 'groq', 'openai-compatible']) {
    for (const point of ['after-upload', 'after-create', 'during-wait']) {
      it(`${provider}: killed ${point}, resumed on the recorded provider with one batch and every record once`, async () => {
        const { root, file } = await input();
        const env = { [KEY_ENV[provider]!]: `sk-${provider}-crash` };
        const created = emu.stats().batchesCreated;
        const crashed = await spawnCli(['run', file, ...ARGS, '--provider', provider, '--base-url', emu.baseURL, '--job-dir', 'job', '--output', 'out.jsonl'], { ...env, KBATCH_TEST_CRASH_AT: point }, root);
        expect(crashed.signal).toBe('SIGKILL');
        const resumed = await spawnCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], env, root);
        // --quiet silences progress, not the one line naming the recorded server the key is sent to.
        expect([resumed.code, resumed.stderr]).toEqual([0, `note: using the base URL recorded in job: ${emu.baseURL} (--base-url overrides it)\n`]);
        expect(emu.stats().batchesCreated - created).toBe(1);
        const rows = (await readFile(join(root, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; label: string | null });
        expect(rows.map((r) => r.id)).toEqual(['r1', 'r2', 'r3']);
      });
    }
  }
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from '../helpers/spawn.js';

const line = (id: string, model: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content: `hi ${id}` }] } });

async function requests(lines: string[]): Promise<{ root: string; file: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-lint-cli-'));
  const file = join(root, 'requests.jsonl');
  await writeFile(file, `${lines.join('\n')}\n`);
  return { root, file };
}

describe('kbatch lint', () => {
  it("refuses a mixed-model file for openai (exit 1, line and custom_id on stderr) and passes it for kluster", async () => {
    const { root, file } = await requests([line('a', 'gpt-4o-mini'), line('b', 'gpt-4o'), line('c', 'gpt-4o-mini')]);
    const openai = await runCli(['lint', 'requests.jsonl', '--provider', 'openai'], { cwd: root });
    expect(openai.code).toBe(1);
    expect(openai.stderr).toContain(`${file} line 2 (custom_id b): uses model gpt-4o but line 1 uses gpt-4o-mini: provider openai takes one model per file [mixed_models]`);
    const kluster = await runCli(['lint', file], { cwd: root });
    expect(kluster.code).toBe(0);
    expect(kluster.stderr).toContain(`${file}: 3 requests`);
  });

  it('prints a JSON report per file with --json and checks the limits the flags give', async () => {
    const { root, file } = await requests([line('a', 'm'), line('a', 'm'), line('c', 'm')]);
    const run = await runCli(['lint', file, '--provider', 'kluster-2025', '--max-requests', '2', '--json'], { cwd: root });
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { requests: number; problems: Array<{ line: number; customId: string; rule: string }> };
    expect(report.requests).toBe(3);
    expect(report.problems.map((p) => [p.line, p.customId, p.rule])).toEqual([
      [2, 'a', 'custom_id_duplicate'],
      [3, 'c', 'too_many_requests'],
    ]);
  });

  it("refuses limits the chunker's schemas refuse, naming the flag (OPTION_INVALID, exit 2)", async () => {
    const { root, file } = await requests([line('a', 'm')]);
    const requests0 = await runCli(['lint', file, '--max-requests', '0'], { cwd: root });
    expect([requests0.code, requests0.stderr]).toEqual([2, 'error [OPTION_INVALID]: Invalid option `--max-requests`: must be a positive integer, got 0\n']);
    const bytes = await runCli(['lint', file, '--max-bytes', '6 parsecs'], { cwd: root });
    expect(bytes.code).toBe(2);
    expect(bytes.stderr).toContain('error [OPTION_INVALID]: Invalid option `--max-bytes`: must be a positive whole number of bytes');
  });

  it('reports per line the parameters and custom_ids provider anthropic would refuse (param_unsupported, custom_id_invalid)', async () => {
    const { root, file } = await requests([line('ok', 'claude-haiku-5-5'), JSON.stringify({ custom_id: 'é'.repeat(30), method: 'POST', url: '/v1/chat/completions', body: { model: 'claude-haiku-5-5', messages: [], temperature: 0 } })]);
    const run = await runCli(['lint', file, '--provider', 'anthropic'], { cwd: root });
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toContain('line 2');
    expect(run.stdout + run.stderr).toContain('[custom_id_invalid]');
    expect(run.stdout + run.stderr).toContain('sets `temperature`, which provider anthropic does not support [param_unsupported]');
  });

  it('applies --max-batch-tokens as the chunker does: a line over it named by file, line, custom_id, its tokens and the budget (exit 1)', async () => {
    const long = JSON.stringify({ custom_id: 'big', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(400) }] } });
    const { root, file } = await requests([line('a', 'm'), long, line('c', 'm')]);
    const run = await runCli(['lint', 'requests.jsonl', '--max-batch-tokens', '100'], { cwd: root });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`${file} line 2 (custom_id big): is an estimated 104 prompt tokens, more than the batch token budget of 100 (--max-batch-tokens) on its own: no batch can take it (LINE_OVER_TOKEN_BUDGET); raise the budget or shorten the request [line_over_token_budget]\n`);
    expect((await runCli(['lint', 'requests.jsonl', '--max-batch-tokens', '120'], { cwd: root })).code).toBe(0);
    const bad = await runCli(['lint', file, '--max-batch-tokens', '0'], { cwd: root });
    expect([bad.code, bad.stderr]).toEqual([2, 'error [OPTION_INVALID]: Invalid option `--max-batch-tokens`: must be a positive integer, got 0\n']);
  });

  it('rejects an unknown provider with OPTION_INVALID listing the names (exit 2)', async () => {
    const { root, file } = await requests([line('a', 'm')]);
    const run = await runCli(['lint', file, '--provider', 'mistral'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error [OPTION_INVALID]: Invalid option `--provider`: must be one of kluster, kluster-2025, openai, together, groq, openai-compatible, anthropic, gemini, got "mistral"');
  });
});

describe('kbatch submit lints before paying', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 5, validationMs: 10, lineMs: 0, finalizingMs: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('refuses a mixed-model file for openai with LINT_FAILED before any upload', async () => {
    const { root, file } = await requests([line('a', 'gpt-4o-mini'), line('b', 'gpt-4o')]);
    const run = await runCli(['submit', file, '--provider', 'openai', '--base-url', emu.baseURL, '--quiet'], { cwd: root, env: { OPENAI_API_KEY: 'sk-lint' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error [LINT_FAILED]: 1 request line problem for provider openai; nothing was uploaded:');
    expect(run.stderr).toContain('line 2 (custom_id b): uses model gpt-4o');
    expect(run.stdout).toBe('');
    expect(emu.stats().filesCreated).toBe(0);
  });

  it('refuses with LINT_FAILED, before any upload, a file with a line over --max-batch-tokens (naming line, custom_id, tokens and budget)', async () => {
    const long = JSON.stringify({ custom_id: 'big', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(400) }] } });
    const { root, file } = await requests([line('a', 'm'), long]);
    const run = await runCli(['submit', file, '--max-batch-tokens', '100', '--base-url', emu.baseURL, '--quiet'], { cwd: root, env: { KLUSTER_API_KEY: 'sk-lint' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error [LINT_FAILED]: 1 request line problem for provider kluster; nothing was uploaded:');
    expect(run.stderr).toContain(`${file} line 2 (custom_id big): is an estimated 104 prompt tokens, more than the batch token budget of 100 (--max-batch-tokens) on its own`);
    expect(run.stdout).toBe('');
    expect(emu.stats().filesCreated).toBe(0);
  });
});

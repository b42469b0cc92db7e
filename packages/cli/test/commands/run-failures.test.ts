import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator, type EmulatorOptions } from '@kbatch/emulator';
import { runCli } from './job-fixtures.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const ARGS = ['--prompt', 'Review: {{text}}', '--labels', 'positive,negative', '--poll-interval', '20ms', '--job-dir', 'job'];

/** A directory with `in.jsonl` of three reviews. */
async function input(): Promise<string> {
  const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-failures-'));
  await writeFile(join(cwd, 'in.jsonl'), '{"text":"great, love it"}\n{"text":"awful, broken"}\n{"text":"nice"}\n');
  return cwd;
}

describe('kbatch run: requests a retry cannot fix', () => {
  const started: Emulator[] = [];
  async function emulator(options: EmulatorOptions = {}) {
    const emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 2, ...options });
    started.push(emu);
    return { emu, env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL } };
  }
  afterAll(async () => {
    await Promise.all(started.map((e) => e.close()));
  });

  it('--model no/such-model: prints the cause, puts model_not_found in every row, sends the batch once (exit 3)', async () => {
    const { emu, env } = await emulator();
    const cwd = await input();
    const run = await runCli(['run', 'in.jsonl', '--model', 'no/such-model', ...ARGS, '--progress', 'plain'], { env, cwd });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/part 00001: failed — model_not_found: Line 1: the model "no\/such-model" does not exist \(3 requests\)\n  line 1 \(custom_id \S+\): model_not_found\n/);
    expect(run.stderr).toContain('not retried: 3 requests whose failure a retry cannot change (model_not_found: 3)');
    expect(run.stderr).not.toContain('JOIN_MISSING_RESULT');
    const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error: string });
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.error).toMatch(/^request failed \(model_not_found\): /);
    expect(emu.stats().batchesCreated).toBe(1);
  });

  it('--progress json: the summary lists what was not retried per cause (HTTP 400 lines are sent once)', async () => {
    const { emu, env } = await emulator({ faults: { lineFailureRate: 1, lineFailureStatus: 400 } });
    const cwd = await input();
    const run = await runCli(['run', 'in.jsonl', '--model', MODEL, ...ARGS, '--progress', 'json'], { env, cwd });
    expect(run.code).toBe(3);
    const summary = JSON.parse(run.stderr.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ type: 'summary', failed: 3, rounds: 0, notRetried: { http_400: 3 } });
    expect(emu.stats().batchesCreated).toBe(1);
  });
});

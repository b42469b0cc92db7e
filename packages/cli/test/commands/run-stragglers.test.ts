import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator, type EmulatorOptions, chatSettled } from '@kbatch/emulator';
import { runCli, spawnCli } from './job-fixtures.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const LABEL_ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral'];
// 30 reviews, one batch whose last 3 lines stall: 27 answered, the 28th finishes while the batch is cancelled, 2 go realtime.
const STRAGGLER_ARGS = ['--finish-realtime', '--straggler-threshold', '5', '--straggler-wait', '100ms', '--retries', '0', '--poll-interval', '20ms'];
const IDS = Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);


/** Answers logged by the straggler round (a torn last line is skipped). */
async function loggedStragglers(jobDir: string): Promise<number> {
  const dir = join(jobDir, 'realtime', 'stragglers');
  let n = 0;
  for (const file of (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.answers.jsonl'))) {
    for (const line of (await readFile(join(dir, file), 'utf8')).split('\n')) {
      try {
        if (typeof JSON.parse(line).custom_id === 'string') n++;
      } catch {
        // a torn last line
      }
    }
  }
  return n;
}

describe('kbatch run --finish-realtime (stragglers)', () => {
  const started: Emulator[] = [];
  async function emulator(options: EmulatorOptions = {}) {
    const emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 4, faults: { slowTailLines: 3, slowTailMs: 60_000 }, ...options });
    started.push(emu);
    return { emu, env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL } };
  }
  afterAll(async () => {
    await Promise.all(started.map((e) => e.close()));
  });

  it('cancels the stalled batch and finishes its stragglers realtime, saying so on stderr (exit 0, each record once)', async () => {
    const { emu, env } = await emulator();
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-stragglers-'));
    const run = await runCli(['run', REVIEWS, ...LABEL_ARGS, ...STRAGGLER_ARGS, '--progress', 'plain'], { env, cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/batch \S+: 3 stragglers of 30 left after \d+ s without progress; cancelling it and finishing them realtime/);
    expect(run.stderr).toMatch(/finishing 2 stragglers of batch \S+ realtime/);
    expect(run.stderr).toContain('1 batch + 2 realtime requests (2 stragglers)');
    expect(emu.stats()).toMatchObject({ batchesCreated: 1, chatRequests: 2 });
    const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(IDS);
    expect(rows.every((r) => r.error === null && ['positive', 'negative', 'neutral'].includes(r.label))).toBe(true);
  });

  for (const point of ['after-straggler-mark', 'after-straggler-cancel', 'run-after-straggler-plan', 'run-during-realtime:1']) {
    it(`continues after a SIGKILL at ${point}: one batch, no request answered twice, full output`, async () => {
      const { emu, env } = await emulator();
      const cwd = await mkdtemp(join(tmpdir(), 'kbatch-stragglers-'));
      const args = ['run', REVIEWS, ...LABEL_ARGS, ...STRAGGLER_ARGS, '--concurrency', '1', '--job-dir', 'job', '--output', 'out.jsonl', '--quiet'];
      const crashed = await spawnCli(args, { ...env, KBATCH_TEST_CRASH_AT: point }, cwd);
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
      const manifest = JSON.parse(await readFile(join(cwd, 'job', 'manifest.json'), 'utf8'));
      expect(manifest.parts[0].straggler).toMatchObject({ remaining: 3, total: 30 });
      const cancels = () => emu.stats().requests['POST /v1/batches/:id/cancel'] ?? 0;
      // Killed between the saved decision and the cancel, or between the cancel and its record.
      if (point === 'after-straggler-mark') expect(cancels()).toBe(0);
      if (point === 'after-straggler-cancel') expect([cancels(), manifest.parts[0].cancelRequested]).toEqual([1, undefined]);
      const logged = await loggedStragglers(join(cwd, 'job'));
      const before = await chatSettled(emu);
      const resumed = await spawnCli(args, env, cwd);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(emu.stats().batchesCreated).toBe(1);
      // The resume sends only the stragglers without a logged answer.
      expect(emu.stats().chatRequests - before).toBe(2 - logged);
      if (point.startsWith('run-during-realtime')) expect(logged).toBe(1);
      else expect(before).toBe(0);
      const state = JSON.parse(await readFile(join(cwd, 'job', 'run.json'), 'utf8'));
      expect(state.stragglers).toEqual([expect.objectContaining({ requests: 2, finished: true })]);
      const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(rows.map((r) => r.id)).toEqual(IDS);
      expect(rows.every((r) => r.error === null)).toBe(true);
    });
  }

  it('names the flags in option errors and documents them in --help', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-stragglers-'));
    const bad = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--finish-realtime', '--straggler-threshold', '0'], { env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: 'http://127.0.0.1:9/v1' }, cwd });
    expect(bad.code).toBe(2);
    expect(String((bad.error as Error).message)).toMatch(/--straggler-threshold.*must be a positive integer/);
    const wait = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--straggler-wait', 'soon'], { env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: 'http://127.0.0.1:9/v1' }, cwd });
    expect(String((wait.error as Error).message)).toMatch(/--straggler-wait.*must be a duration/);
    const help = await runCli(['run', '--help'], { cwd });
    expect(help.stdout).toContain('--straggler-threshold <n>');
    expect(help.stdout).toContain('--straggler-wait <duration>');
    expect(help.stdout).toContain('--timeout bounds the whole run');
  });
});

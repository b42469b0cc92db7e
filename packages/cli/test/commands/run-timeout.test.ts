import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator, chatSettled } from '@kbatch/emulator';
import { spawnCli } from './job-fixtures.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const LABEL_ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral'];

/** custom_ids in the realtime answers logs of a job. */
async function loggedIds(jobDir: string): Promise<string[]> {
  const ids: string[] = [];
  for (const file of (await readdir(join(jobDir, 'realtime'))).filter((f) => /^answers.*\.jsonl$/.test(f))) {
    for (const line of (await readFile(join(jobDir, 'realtime', file), 'utf8')).split('\n')) {
      try {
        const id = JSON.parse(line).custom_id;
        if (typeof id === 'string') ids.push(id);
      } catch {
        // a torn last line
      }
    }
  }
  return ids;
}


describe('kbatch run --timeout', () => {
  let emu: Emulator | undefined;
  afterAll(async () => {
    await emu?.close();
  });

  it('bounds a realtime run: exit 1 with error [AWAIT_TIMEOUT] and the resume command; kbatch resume sends only the unanswered', async () => {
    emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 6, faults: { latencyMs: 100, routes: ['POST /v1/chat/completions'] } });
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-timeout-'));
    const run = await spawnCli(['run', REVIEWS, ...LABEL_ARGS, '--mode', 'realtime', '--concurrency', '2', '--timeout', '700ms', '--job-dir', 'job', '--output', 'out.jsonl', '--quiet'], env, cwd);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(`error [AWAIT_TIMEOUT]: Realtime requests still unanswered after 0.7s (the answers received are saved); continue with: kbatch resume ${join(cwd, 'job')}`);
    const logged = await loggedIds(join(cwd, 'job'));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.length).toBeLessThan(30);
    const before = await chatSettled(emu);
    emu.setFaults(null);
    const resumed = await spawnCli(['resume', 'job', '--quiet'], env, cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(emu.stats().chatRequests - before).toBe(30 - logged.length);
    const all = await loggedIds(join(cwd, 'job'));
    // Each request answered exactly once over both processes.
    expect(all).toHaveLength(30);
    expect(new Set(all).size).toBe(30);
    const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`));
    expect(rows.every((r) => r.error === null)).toBe(true);
  });
});

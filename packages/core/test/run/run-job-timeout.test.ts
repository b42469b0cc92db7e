import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator, type EmulatorOptions, chatSettled } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { loadRunState, runJob, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const FAST: EmulatorOptions = { timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5 };
const CHAT = 'POST /v1/chat/completions';

async function reviews(n: number): Promise<{ dir: string; input: string; ids: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-timeout-'));
  const ids = Array.from({ length: n }, (_, i) => `r${i + 1}`);
  await writeFile(join(dir, 'in.jsonl'), ids.map((id) => JSON.stringify({ id, text: `review ${id}` })).join('\n') + '\n');
  return { dir, input: join(dir, 'in.jsonl'), ids };
}

/** custom_ids logged as answered in every answers log under `<jobDir>/realtime` (a torn last line is skipped). */
async function loggedIds(jobDir: string): Promise<string[]> {
  const ids: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await walk(join(dir, entry.name));
      else if (/answers.*\.jsonl$/.test(entry.name)) {
        for (const line of (await readFile(join(dir, entry.name), 'utf8')).split('\n')) {
          try {
            const id = (JSON.parse(line) as { custom_id?: unknown }).custom_id;
            if (typeof id === 'string') ids.push(id);
          } catch {
            // a torn last line
          }
        }
      }
    }
  };
  await walk(join(jobDir, 'realtime'));
  return ids;
}


describe('runJob timeoutMs', () => {
  const emulators: Emulator[] = [];
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });
  async function setup(options: EmulatorOptions = {}) {
    const emu = await startEmulator({ ...FAST, seed: 2, ...options });
    emulators.push(emu);
    const base: RunJobOptions = { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, prompt: 'Echo {{text}}', pollIntervalMs: 20 };
    return { emu, base };
  }

  it('bounds realtime mode: AWAIT_TIMEOUT with the resume command, answers kept; a resume sends only the unanswered, each answered once', async () => {
    const { emu, base } = await setup({ faults: { latencyMs: 60, routes: [CHAT] } });
    const { dir, input, ids } = await reviews(24);
    const jobDir = join(dir, 'job');
    const options: RunJobOptions = { ...base, input, output: join(dir, 'out.jsonl'), jobDir, mode: 'realtime', concurrency: 2, requestRetries: 0 };
    const err = await catchError(() => runJob({ ...options, timeoutMs: 400 }));
    expectKbatchError(err, { code: 'AWAIT_TIMEOUT', message: `Realtime requests still unanswered after 0.4s (the answers received are saved); continue with: kbatch resume ${jobDir}` });
    await expect(readFile(join(dir, 'out.jsonl'))).rejects.toThrow(/ENOENT/);
    const logged = await loggedIds(jobDir);
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.length).toBeLessThan(24);
    const before = await chatSettled(emu);
    emu.setFaults(null);
    const summary = await runJob(options);
    expect(summary).toMatchObject({ records: 24, succeeded: 24, failed: 0, resumed: true });
    // Only the requests without a logged answer were sent again.
    expect(emu.stats().chatRequests - before).toBe(24 - logged.length);
    // Each request answered exactly once over both calls (custom_ids are row-N: no id column).
    const answered = await loggedIds(jobDir);
    expect(answered).toHaveLength(24);
    expect(new Set(answered).size).toBe(24);
    const rows = (await readFile(join(dir, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; error: unknown });
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.every((r) => r.error === null)).toBe(true);
  });

  it('bounds batch mode and its realtime straggler round together (one deadline for the whole run)', async () => {
    const { emu, base } = await setup({ faults: { slowTailLines: 2, slowTailMs: 60_000 } });
    const { dir, input, ids } = await reviews(10);
    const jobDir = join(dir, 'job');
    const options: RunJobOptions = { ...base, input, output: join(dir, 'out.jsonl'), jobDir, finishRealtime: true, stragglerThreshold: 5, stragglerWaitMs: 100 };
    // The batch stalls with 2 left: the straggler round starts, and its requests hang past the deadline.
    emu.setFaults({ slowTailLines: 2, slowTailMs: 60_000, latencyMs: 5_000, routes: [CHAT] });
    const err = await catchError(() => runJob({ ...options, timeoutMs: 2_500 }));
    expectKbatchError(err, { code: 'AWAIT_TIMEOUT', message: /^Realtime requests still unanswered after 2\.5s .*kbatch resume / });
    const state = await loadRunState(jobDir);
    expect(state!.stragglers).toEqual([expect.objectContaining({ requests: 1, finished: false })]);
    emu.setFaults(null);
    const summary = await runJob(options);
    expect(summary).toMatchObject({ succeeded: 10, stragglerRequests: 1, batches: 1 });
    expect((await readFile(join(dir, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(ids);
  });

  it('bounds the uploads too: no new upload starts once the time is up, and a resume creates each batch once', async () => {
    const { emu, base } = await setup({ faults: { latencyMs: 600, routes: ['POST /v1/files'] } });
    const { dir, input, ids } = await reviews(30);
    const jobDir = join(dir, 'job');
    const options: RunJobOptions = { ...base, input, jobDir, output: join(dir, 'out.jsonl'), maxRequests: 10, concurrency: 1 };
    const err = await catchError(() => runJob({ ...options, timeoutMs: 300 }));
    expectKbatchError(err, { code: 'AWAIT_TIMEOUT', message: `Batches still running after 0.3s; continue with: kbatch resume ${jobDir}` });
    // The upload under way when the time ran out finished; the other two never started.
    expect(emu.stats().requests['POST /v1/files']).toBe(1);
    emu.setFaults(null);
    const summary = await runJob(options);
    expect(summary).toMatchObject({ records: 30, succeeded: 30, batches: 3 });
    expect(emu.stats().requests['POST /v1/batches']).toBe(3);
    expect((await readFile(join(dir, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(ids);
  });

  it('bounds the batches with the run-wide message', async () => {
    const { base } = await setup({ lineMs: 200 });
    const { dir, input } = await reviews(10);
    const jobDir = join(dir, 'job');
    const err = await catchError(() => runJob({ ...base, input, jobDir, output: join(dir, 'out.jsonl'), timeoutMs: 200 }));
    expectKbatchError(err, { code: 'AWAIT_TIMEOUT', message: `Batches still running after 0.2s; continue with: kbatch resume ${jobDir}` });
  });
});

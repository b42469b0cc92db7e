import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { openAnswerCache, requestKey } from '@kbatch/core';
import { runCli } from '../helpers/spawn.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral', '--poll-interval', '50ms', '--progress', 'json'];

/** The summary event of a `--progress json` run's stderr. */
function summaryOf(stderr: string): Record<string, unknown> {
  return JSON.parse(stderr.trim().split('\n').filter((l) => l.includes('"type":"summary"')).pop()!);
}

describe('kbatch cache and the cache flags of kbatch run', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 3, validationMs: 5, lineMs: 0, finalizingMs: 5 });
    env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('answers a second run from --cache-dir (no batch, same rows), honours KBATCH_CACHE_DIR, and sends again with --no-cache', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-cache-cli-'));
    const first = await runCli(['run', REVIEWS, ...ARGS, '--cache-dir', 'c', '--job-dir', 'a', '--output', 'a.csv'], { env, cwd });
    expect(first.code).toBe(0);
    const records = summaryOf(first.stderr)['records'] as number;
    expect(summaryOf(first.stderr)).toMatchObject({ cached: 0, batches: 1 });
    const batches = emu.stats().batchesCreated;
    const second = await runCli(['run', REVIEWS, ...ARGS, '--cache-dir', 'c', '--job-dir', 'b', '--output', 'b.csv'], { env, cwd });
    expect(summaryOf(second.stderr)).toMatchObject({ cached: records, succeeded: records, batches: 0 });
    expect(emu.stats().batchesCreated).toBe(batches);
    expect(await readFile(join(cwd, 'b.csv'), 'utf8')).toBe(await readFile(join(cwd, 'a.csv'), 'utf8'));
    // KBATCH_CACHE_DIR names the same cache; --no-cache leaves it alone.
    const fromEnv = await runCli(['run', REVIEWS, ...ARGS, '--job-dir', 'e', '--output', 'e.csv', '--quiet'], { env: { ...env, KBATCH_CACHE_DIR: join(cwd, 'c') }, cwd });
    expect(fromEnv.code).toBe(0);
    expect(emu.stats().batchesCreated).toBe(batches);
    const fresh = await runCli(['run', REVIEWS, ...ARGS, '--no-cache', '--job-dir', 'n', '--output', 'n.csv'], { env, cwd });
    expect(summaryOf(fresh.stderr)).toMatchObject({ cached: 0, batches: 1 });
  }, 60_000);

  it('stats, prunes and clears the cache (--cache-dir or KBATCH_CACHE_DIR); a bad --older-than is OPTION_INVALID', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-cache-cli-'));
    const cache = await openAnswerCache(join(cwd, 'c'));
    const records = 3;
    for (let i = 0; i < records; i++) cache.put(requestKey({ provider: 'kluster', body: { model: MODEL, messages: [{ role: 'user', content: String(i) }] } }), '{"choices":[]}');
    await cache.close();
    const stats = await runCli(['cache', 'stats', '--json', '--cache-dir', 'c'], { cwd });
    expect(JSON.parse(stats.stdout)).toMatchObject({ dir: join(cwd, 'c'), entries: records });
    expect((await runCli(['cache', 'stats', '--cache-dir', 'c'], { cwd })).stdout).toMatch(new RegExp(`^entries: ${records}$`, 'm'));
    expect((await runCli(['cache', 'prune', '--older-than', '30d', '--cache-dir', 'c'], { cwd })).stdout).toBe('removed 0 entries older than 30d\n');
    const bad = await runCli(['cache', 'prune', '--older-than', 'soon', '--cache-dir', 'c'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/error \[OPTION_INVALID\]: Invalid option `--older-than`/);
    expect((await runCli(['cache', 'clear'], { cwd, env: { KBATCH_CACHE_DIR: join(cwd, 'c') } })).stdout).toBe(`removed ${records} entries\n`);
    expect(JSON.parse((await runCli(['cache', 'stats', '--json', '--cache-dir', 'c'], { cwd })).stdout)).toMatchObject({ entries: 0 });
  }, 60_000);
});

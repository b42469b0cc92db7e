import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { CommanderError } from 'commander';
import OpenAI from 'openai';
import { runCli, writeChunks } from './job-fixtures.js';

describe('kbatch batches / files / models', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 9, validationMs: 10, lineMs: 0, finalizingMs: 10 });
    env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('uploads a file, shows it and streams its content', async () => {
    const { root, dir } = await writeChunks(1, 2);
    const up = await runCli(['files', 'upload', join(dir, 'part-00001.jsonl')], { env, cwd: root });
    expect(up.code).toBe(0);
    const id = up.stdout.trim();
    expect(id).toMatch(/^file-/);
    const get = await runCli(['files', 'get', id, '--json'], { env });
    expect(JSON.parse(get.stdout)).toMatchObject({ id, purpose: 'batch' });
    const content = await runCli(['files', 'content', id], { env });
    expect(content.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('lists, shows and cancels batches', async () => {
    const { root, dir } = await writeChunks(1, 2);
    const sub = await runCli(['submit', dir, '--wait', '--poll-interval', '50ms', '--quiet'], { env, cwd: root });
    expect(sub.code).toBe(0);
    const list = await runCli(['batches', 'list', '--json', '--limit', '5'], { env });
    const batches = list.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(batches.length).toBeGreaterThan(0);
    const id = batches[0].id as string;
    const get = await runCli(['batches', 'get', id], { env });
    expect(get.stdout).toContain(`id:           ${id}`);
    expect(get.stdout).toMatch(/status:\s+completed/);
    const raw = await runCli(['batches', 'get', id, '--json'], { env });
    expect(JSON.parse(raw.stdout).id).toBe(id);
    const table = await runCli(['batches', 'list'], { env });
    expect(table.stdout).toContain(id);
  });

  it('prints the raw server objects with batches list --json', async () => {
    const { root, dir } = await writeChunks(1, 1);
    // Waited for, so the batch cannot move between the two listings compared below.
    await runCli(['submit', dir, '--wait', '--poll-interval', '50ms', '--quiet'], { env, cwd: root });
    const page = await new OpenAI({ apiKey: 'k', baseURL: emu.baseURL }).batches.list({ limit: 1 });
    const list = await runCli(['batches', 'list', '--json', '--limit', '1'], { env });
    expect(JSON.parse(list.stdout)).toEqual(JSON.parse(JSON.stringify(page.data[0])));
  });

  it('rejects a bad --limit as a usage error', async () => {
    for (const bad of ['0', 'ten', '2.5']) {
      const run = await runCli(['batches', 'list', '--limit', bad], { env });
      expect(run.error, bad).toBeInstanceOf(CommanderError);
      expect((run.error as CommanderError).code).toBe('commander.invalidArgument');
      expect(run.stderr).toContain('must be a positive integer');
    }
  });

  it('lists models', async () => {
    const models = await runCli(['models'], { env });
    expect(models.stdout).toContain('klusterai/Meta-Llama-3.1-8B-Instruct-Turbo');
    const json = await runCli(['models', '--json'], { env });
    expect(JSON.parse(json.stdout.split('\n')[0]!)).toHaveProperty('owned_by');
  });

  it('prints help with an example for every job command', async () => {
    for (const cmd of ['submit', 'status', 'wait', 'resume', 'results', 'cancel', 'batches', 'files', 'models']) {
      const help = await runCli([cmd, '--help']);
      expect(help.stdout, cmd).toMatch(/Examples?:\n\s+\$ kbatch/);
    }
  });
});

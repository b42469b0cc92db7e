import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { BIN, spawnCli } from './job-fixtures.js';
import { runCli as runBin } from '../helpers/spawn.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const LABEL_ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral'];
const IDS = Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);

async function root(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kbatch-run-identity-'));
}

const jsonRows = async (file: string) => (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const temps = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.tmp'));

describe('kbatch run: the job a rerun finds, its input and its output files', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 4, validationMs: 10, lineMs: 1, finalizingMs: 10 });
    env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('continues the job of the identical command after a SIGKILL during the wait, without --job-dir: each batch created once, says so', async () => {
    const cwd = await root();
    const args = ['run', REVIEWS, ...LABEL_ARGS, '--max-requests', '10', '--output', 'out.jsonl', '--poll-interval', '50ms', '--progress', 'plain'];
    const created = emu.stats().batchesCreated;
    const crashed = await spawnCli(args, { ...env, KBATCH_TEST_CRASH_AT: 'during-wait' }, cwd);
    expect(crashed.signal).toBe('SIGKILL');
    const [job] = await readdir(join(cwd, '.kbatch', 'jobs'));
    const before = emu.stats().batchesCreated - created;
    expect(before).toBeGreaterThan(0);
    const rerun = await spawnCli(args, env, cwd);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain(`continuing job ${join(cwd, '.kbatch', 'jobs', job!)} (started `);
    expect(rerun.stderr).toContain(`; ${before} ${before === 1 ? 'batch' : 'batches'} already created)`);
    expect(await readdir(join(cwd, '.kbatch', 'jobs'))).toEqual([job]);
    expect(emu.stats().batchesCreated - created).toBe(3);
    const rows = await jsonRows(join(cwd, 'out.jsonl'));
    expect(rows.map((r) => r.id)).toEqual(IDS);
    expect(rows.every((r) => r.error === null)).toBe(true);
    // The identical command once more: the saved results again, nothing sent.
    const third = await spawnCli(args, env, cwd);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toContain('already finished');
    expect(emu.stats().batchesCreated - created).toBe(3);
  });

  it('refuses other stdin bytes into a finished job directory: exit 1, JOB_MISMATCH, nothing written to --output', async () => {
    const cwd = await root();
    const all = await readFile(REVIEWS, 'utf8');
    const args = ['run', '-', '--format', 'csv', ...LABEL_ARGS, '--job-dir', 'job', '--poll-interval', '50ms', '--quiet'];
    const first = await runBin([...args, '--output', 'all.jsonl'], { cwd, env, stdin: all });
    expect(first.code, first.stderr).toBe(0);
    const head = all.split('\n').slice(0, 6).join('\n') + '\n';
    const second = await runBin([...args, '--output', 'head.jsonl'], { cwd, env, stdin: head });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^error \[JOB_MISMATCH\]: .*other input than this stdin/m);
    expect(second.stdout).toBe('');
    await expect(readFile(join(cwd, 'head.jsonl'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses an --output that is the input file (exit 2, OPTION_INVALID), leaving the input intact', async () => {
    const cwd = await root();
    const input = join(cwd, 'in.csv');
    const text = await readFile(REVIEWS, 'utf8');
    await writeFile(input, text);
    const created = emu.stats().batchesCreated;
    const run = await runBin(['run', 'in.csv', ...LABEL_ARGS, '--output', './in.csv', '--quiet'], { cwd, env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error [OPTION_INVALID]: Invalid option \`--output\``);
    expect(run.stderr).toContain(`it is the input file ${input}`);
    expect(await readFile(input, 'utf8')).toBe(text);
    expect(emu.stats().batchesCreated).toBe(created);
  });

  it('leaves no temp file of a SIGKILLed join or stdin spool after the rerun succeeds', async () => {
    const cwd = await root();
    const args = ['run', REVIEWS, ...LABEL_ARGS, '--max-requests', '10', '--job-dir', 'job', '--output', 'out.jsonl', '--poll-interval', '50ms', '--quiet'];
    const crashed = await spawnCli(args, { ...env, KBATCH_TEST_CRASH_AT: 'run-during-join:5' }, cwd);
    expect(crashed.signal).toBe('SIGKILL');
    expect(await temps(cwd)).toEqual([expect.stringMatching(/^\.out\.jsonl\.\d+\.tmp$/)]);
    const rerun = await spawnCli(args, env, cwd);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await temps(cwd)).toEqual([]);
    expect((await jsonRows(join(cwd, 'out.jsonl'))).map((r) => r.id)).toEqual(IDS);

    // Killed while stdin is being saved: input.<pid>.tmp stays in the job directory until the rerun.
    const stdinArgs = ['run', '-', '--format', 'csv', ...LABEL_ARGS, '--job-dir', 'job2', '--output', 'out2.jsonl', '--poll-interval', '50ms', '--quiet'];
    const child = spawn(process.execPath, [BIN, ...stdinArgs], { cwd, env: { PATH: process.env['PATH'] ?? '', KBATCH_CACHE_DIR: process.env['KBATCH_CACHE_DIR'] ?? '', ...env }, stdio: ['pipe', 'ignore', 'ignore'] });
    const closed = new Promise((resolve) => child.on('close', resolve));
    child.stdin.on('error', () => {});
    child.stdin.write('id,text\n'); // stdin stays open: the spool is still writing
    for (let i = 0; i < 400 && (await temps(join(cwd, 'job2'))).length === 0; i++) await delay(10);
    child.kill('SIGKILL');
    await closed;
    expect(await temps(join(cwd, 'job2'))).toEqual([expect.stringMatching(/^input\.\d+\.tmp$/)]);
    const again = await runBin(stdinArgs, { cwd, env, stdin: await readFile(REVIEWS) });
    expect(again.code, again.stderr).toBe(0);
    expect(await temps(join(cwd, 'job2'))).toEqual([]);
  });

  it('fails fast with exit 1 (OUTPUT_UNWRITABLE) naming the path for --output /proc/nope/x.csv and for a missing directory tree; creates a missing last level and says so', async () => {
    const cwd = await root();
    const proc = await runBin(['run', REVIEWS, ...LABEL_ARGS, '--output', '/proc/nope/x.csv'], { cwd, env });
    // The file system refuses the path: exit 1, not bad usage.
    expect(proc.code).toBe(1);
    expect(proc.stderr).toMatch(/^error \[OUTPUT_UNWRITABLE\]: cannot write the output file "\/proc\/nope\/x\.csv" \(cannot create the directory \/proc\/nope/m);
    const tree = await runBin(['run', REVIEWS, ...LABEL_ARGS, '--rejects', 'a/b/r.jsonl', '--job-dir', 'job'], { cwd, env });
    expect(tree.code).toBe(1);
    expect(tree.stderr).toContain('error [OUTPUT_UNWRITABLE]: cannot write the rejects file');
    const jobDir = await runBin(['run', REVIEWS, ...LABEL_ARGS, '--job-dir', '/proc/nope/job'], { cwd, env });
    expect(jobDir.code).toBe(1);
    expect(jobDir.stderr).toContain('error [OUTPUT_UNWRITABLE]: cannot create the job directory /proc/nope/job');
    const same = await runBin(['run', REVIEWS, ...LABEL_ARGS, '--output', 'o.jsonl', '--rejects', 'o.jsonl', '--job-dir', 'job'], { cwd, env });
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/^error \[OPTION_INVALID\]: Invalid option `(--)?rejects`.*it is the output file /m);
    expect(tree.stderr).toContain(`the directory ${join(cwd, 'a', 'b')} does not exist, nor does its parent ${join(cwd, 'a')}`);
    await expect(readdir(join(cwd, 'a'))).rejects.toThrow(/ENOENT/);
    const shallow = await runBin(['run', REVIEWS, ...LABEL_ARGS, '--output', 'new/out.csv', '--poll-interval', '50ms', '--progress', 'plain'], { cwd, env });
    expect(shallow.code, shallow.stderr).toBe(0);
    expect(shallow.stderr).toContain(`created the directory ${join(cwd, 'new')} for the output file`);
    expect(await readdir(join(cwd, 'new'))).toEqual(['out.csv']);
  });

  it('puts the default rejects file of --on-invalid skip beside --output (out.rejects.jsonl), not in the current directory', async () => {
    const cwd = await root();
    await writeFile(join(cwd, 'in.jsonl'), '{"q":"great, love it"}\nnot json\n{"q":"awful, broken"}\n');
    const run = await runBin(['run', 'in.jsonl', '--model', MODEL, '--prompt', '{{q}}', '--labels', 'positive,negative', '--on-invalid', 'skip', '--output', 'sub/out.csv', '--poll-interval', '50ms', '--quiet'], {
      cwd,
      env,
    });
    expect(run.code).toBe(3);
    const rejects = await jsonRows(join(cwd, 'sub', 'out.rejects.jsonl'));
    expect(rejects).toHaveLength(1);
    expect(String(rejects[0]!.error)).toMatch(/^RECORD_INVALID/);
    expect(await readdir(cwd)).not.toContain('rejects.jsonl');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { recordStream, type SourceRecord } from '@kbatch/core';
import { loadAnsweredIds } from '@kbatch/core/internal';
import OpenAI from 'openai';
import { respond, startEmulator, type Emulator, chatSettled } from '@kbatch/emulator';
import { BIN, runCli, spawnChild, spawnCli } from './job-fixtures.js';
import { runCli as runBin } from '../helpers/spawn.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const LABEL_ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral'];

/** Parse CSV text with core's RFC 4180 reader (the cli package has no csv-parse; core's reader is tested against it). */
async function parse(text: string | Buffer, _options?: { columns: true }): Promise<Record<string, string>[]> {
  const rows: Record<string, string>[] = [];
  for await (const record of recordStream({ input: Readable.from([Buffer.from(text)]), format: 'csv' }) as AsyncIterable<SourceRecord>) {
    rows.push(record.data as Record<string, string>);
  }
  return rows;
}

async function root(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kbatch-run-cli-'));
}


/** Answers logged in a job's realtime answers log(s) (one per request file, or one for all; a torn last line is not one). */
async function loggedAnswers(jobDir: string): Promise<number> {
  let n = 0;
  for (const file of (await readdir(join(jobDir, 'realtime'))).filter((f) => /^answers.*\.jsonl$/.test(f))) n += (await loadAnsweredIds(join(jobDir, 'realtime', file))).size;
  return n;
}

describe('kbatch run', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 21, validationMs: 10, lineMs: 1, finalizingMs: 10 });
    env = { KLUSTER_API_KEY: 'secret-run-key', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('runs the README quick start with --local: a labeled CSV on stdout, the summary on stderr, exit 0', async () => {
    const cwd = await root();
    const run = await runBin(['run', REVIEWS, '--local', ...LABEL_ARGS, '--output-format', 'csv'], { cwd });
    expect(run.stderr).toContain('records 30: 30 succeeded, 0 failed');
    expect(run.code).toBe(0);
    const rows = await parse(run.stdout, { columns: true }) as Record<string, string>[];
    const source = await parse(await readFile(REVIEWS), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r.id, r.text])).toEqual(source.map((r) => [r.id, r.text]));
    expect(new Set(rows.map((r) => r.label))).toEqual(new Set(['positive', 'negative', 'neutral']));
    expect(rows.find((r) => r.id === 'r07')!.label).toBe('negative');
  });

  it('reads --labels like kbatch join: labels trimmed, empty ones dropped', async () => {
    const cwd = await root();
    const run = await runBin(['run', REVIEWS, '--local', '--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', ' positive,,negative, neutral,'], { cwd });
    expect(run.code).toBe(0);
    const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { label: string });
    expect(new Set(rows.map((r) => r.label))).toEqual(new Set(['positive', 'negative', 'neutral']));
  });

  it('reads records from stdin and writes --output in the format of its extension', async () => {
    const cwd = await root();
    const stdin = '{"q":"great, love it"}\n{"q":"awful, broken"}\n';
    const run = await runBin(['run', '-', ...LABEL_ARGS.slice(0, 2), '--prompt', '{{q}}', '--labels', 'positive,negative', '--output', 'out.json', '--job-dir', 'job', '--poll-interval', '50ms', '--quiet'], {
      cwd,
      env,
      stdin,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const rows = JSON.parse(await readFile(join(cwd, 'out.json'), 'utf8'));
    expect(rows.map((r: { label: string }) => r.label)).toEqual(['positive', 'negative']);
    expect(await readFile(join(cwd, 'job', 'input.jsonl'), 'utf8')).toBe(stdin);
    expect(await readFile(join(cwd, 'job', 'run.json'), 'utf8')).not.toContain('secret-run-key');
  });

  it('exits 3 when records still fail after --retries, writing them to --rejects', async () => {
    const broken = await startEmulator({ timeScale: 0.001, seed: 1, validationMs: 5, lineMs: 0, finalizingMs: 5, faults: { lineFailureRate: 1 } });
    try {
      const cwd = await root();
      const run = await runCli(
        ['run', REVIEWS, ...LABEL_ARGS, '--retries', '1', '--rejects', 'rejects.jsonl', '--max-requests', '20', '--poll-interval', '50ms', '--progress', 'none', '--job-dir', 'job'],
        { env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: broken.baseURL }, cwd },
      );
      expect(run.code).toBe(3);
      expect(run.stderr).toMatch(/records 30: 0 succeeded, 30 failed \(30 request errors/);
      expect(run.stderr).toContain('30 retried in 1 round');
      expect(run.stderr).toContain('4 batches');
      const rejects = (await readFile(join(cwd, 'rejects.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(rejects).toHaveLength(30);
      expect(rejects[0].error).toMatch(/^HTTP 500/);
      expect(run.stdout.trim().split('\n')).toHaveLength(30);
    } finally {
      await broken.close();
    }
  });

  it('keeps the failure summary with --quiet (exit 3), and writes it as one JSON line with --progress json', async () => {
    const cwd = await root();
    await writeFile(join(cwd, 'in.jsonl'), '{"q":"great, love it"}\nnot json\n{"q":"awful, broken"}\n');
    const args = ['run', 'in.jsonl', '--model', MODEL, '--prompt', '{{q}}', '--labels', 'positive,negative', '--on-invalid', 'skip', '--poll-interval', '50ms'];
    const quiet = await runCli([...args, '--quiet', '--job-dir', 'job'], { env, cwd });
    expect(quiet.code).toBe(3);
    expect(quiet.stderr).toContain('records 3: 2 succeeded, 1 failed');
    const rows = quiet.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.label)).toEqual(['positive', null, 'negative']);
    expect(rows[1].error).toMatch(/^RECORD_INVALID/);
    const json = await runCli([...args, '--progress', 'json', '--job-dir', 'job'], { env, cwd });
    expect(json.code).toBe(3);
    const events = json.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ type: 'summary', records: 3, succeeded: 2, failed: 1, skipped: 1 });
    expect(json.stderr).not.toContain('records 3:');
  });

  it('exits 2 (bad usage) with a flag-named error for bad option values, 1 when the job cannot run', async () => {
    const cwd = await root();
    const noModel = await runCli(['run', REVIEWS, '--prompt', 'x'], { env, cwd });
    expect(noModel.code).toBe(2);
    expect((noModel.error as { code?: string }).code).toBe('OPTION_INVALID');
    const badRetries = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--retries', 'many'], { env, cwd });
    expect((badRetries.error as Error).message).toContain('`--retries`');
    const badWindow = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--window', '5h', '--job-dir', 'job5h'], { env, cwd });
    expect(badWindow.code).toBe(2);
    expect((badWindow.error as { code?: string }).code).toBe('OPTION_INVALID');
    expect((badWindow.error as Error).message).toContain('`--window`');
    await expect(readFile(join(cwd, 'job5h', 'run.json'))).rejects.toThrow(/ENOENT/);
    const created = emu.stats().batchesCreated;
    await writeFile(join(cwd, 'a-file'), '');
    // A path the file system refuses (under a file) is not bad usage: exit 1.
    const badOutput = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--output', 'a-file/out.csv', '--job-dir', 'job-out'], { env, cwd });
    expect(badOutput.code).toBe(1);
    expect((badOutput.error as { code?: string }).code).toBe('OUTPUT_UNWRITABLE');
    expect((badOutput.error as Error).message).toContain('cannot write the output file');
    expect((badOutput.error as Error).message).toContain(join(cwd, 'a-file', 'out.csv'));
    expect(emu.stats().batchesCreated).toBe(created);
    const noKey = await runCli(['run', REVIEWS, ...LABEL_ARGS], { env: {}, cwd });
    expect((noKey.error as { code?: string }).code).toBe('API_KEY_MISSING');
    expect(noKey.code).toBe(1);
  });

  it.each([
    [['--concurrency', '0'], 'Invalid option `--concurrency`'],
    [['--retries', '-1'], 'Invalid option `--retries`'],
    [['--labels', 'positive'], 'Invalid option `--labels`: must list at least two labels'],
    [['--max-bytes', '0'], 'Invalid option `--max-bytes`: must be a positive whole number of bytes, optionally with a unit (KB, MB, GB, KiB, MiB, GiB)'],
  ])('exits 2 (bad usage, as the README says) for the bad option value %j, before anything is sent', async (flags, message) => {
    const cwd = await root();
    const created = emu.stats().batchesCreated;
    const run = await runBin(['run', REVIEWS, ...LABEL_ARGS, ...flags, '--job-dir', 'job'], { env, cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error [OPTION_INVALID]: ${message}`);
    expect(emu.stats().batchesCreated).toBe(created);
  });

  it('prints the server\'s message of a 401, not its raw JSON body', async () => {
    const locked = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, apiKey: 'the-right-key' });
    try {
      const run = await runBin(['run', REVIEWS, ...LABEL_ARGS, '--job-dir', 'job', '--progress', 'none'], { env: { KLUSTER_API_KEY: 'a-wrong-key', KLUSTER_BASE_URL: locked.baseURL }, cwd: await root() });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('error [HTTP_401]: Invalid or missing API key');
      expect(run.stderr).not.toContain('{"error"');
      expect(run.stderr).not.toContain('a-wrong-key');
    } finally {
      await locked.close();
    }
  });

  it('parses --schema answers into columns (CSV, nested fields flattened) with --prefix', async () => {
    const cwd = await root();
    await writeFile(join(cwd, 'in.csv'), 'id,body\n1,invoice wrong\n2,app crashes\n');
    await writeFile(
      join(cwd, 'schema.json'),
      JSON.stringify({ type: 'object', properties: { category: { type: 'string', enum: ['billing', 'bug'] }, meta: { type: 'object', properties: { urgent: { type: 'boolean' } }, required: ['urgent'] } }, required: ['category', 'meta'] }),
    );
    const run = await runCli(['run', 'in.csv', '--model', MODEL, '--prompt', '{{body}}', '--schema', 'schema.json', '--prefix', 'kb_', '--output-format', 'csv', '--quiet', '--poll-interval', '50ms'], { env, cwd });
    expect(run.code).toBe(0);
    const rows = await parse(run.stdout, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual(expect.arrayContaining(['id', 'body', 'kb_custom_id', 'kb_category', 'kb_meta.urgent', 'kb_error']));
    expect(rows.every((r) => ['billing', 'bug'].includes(r.kb_category!) && ['true', 'false'].includes(r['kb_meta.urgent']!))).toBe(true);
  });

  it('leaves none of its uploaded input files on the server after a run (--keep-files keeps them)', async () => {
    const cwd = await root();
    const client = new OpenAI({ apiKey: 'k', baseURL: emu.baseURL });
    const filesOf = async (job: string) => {
      const { jobId } = JSON.parse(await readFile(join(cwd, job, 'manifest.json'), 'utf8')) as { jobId: string };
      const names: string[] = [];
      for await (const f of client.files.list({ purpose: 'batch' })) if (f.filename.startsWith(`${jobId}-part-`)) names.push(f.filename);
      return names;
    };
    for (const [job, extra] of [['job', []], ['kept', ['--keep-files']]] as const) {
      const run = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--no-cache', '--max-requests', '10', '--job-dir', job, '--output', `${job}.csv`, '--poll-interval', '50ms', '--quiet', ...extra], { env, cwd });
      expect(run.code).toBe(0);
    }
    expect(await filesOf('job')).toEqual([]);
    expect(await filesOf('kept')).toHaveLength(3);
  });

  it('continues after a SIGKILL when rerun with the same --job-dir: one batch per chunk, full output', async () => {
    const cwd = await root();
    const args = ['run', REVIEWS, ...LABEL_ARGS, '--max-requests', '10', '--job-dir', 'job', '--output', 'out.csv', '--poll-interval', '50ms', '--concurrency', '1', '--quiet'];
    const created = emu.stats().batchesCreated;
    const crashed = await spawnCli(args, { ...env, KBATCH_TEST_CRASH_AT: 'after-create:2' }, cwd);
    expect(crashed.signal).toBe('SIGKILL');
    expect(JSON.parse(await readFile(join(cwd, 'job', 'run.json'), 'utf8')).phase).toBe('prepared');
    const resumed = await spawnCli(args, env, cwd);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(emu.stats().batchesCreated - created).toBe(3);
    const rows = await parse(await readFile(join(cwd, 'out.csv')), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`));
    expect(rows.every((r) => r.error === '')).toBe(true);
  });

  for (const point of ['run-after-prepare', 'run-after-add-retries', 'run-during-join:5']) {
    it(`continues after a SIGKILL at ${point}: no duplicate batches or retry parts, full output`, async () => {
      const flaky = await startEmulator({ timeScale: 0.001, seed: 9, validationMs: 5, lineMs: 0, finalizingMs: 5, faults: { lineFailureRate: 0.3 } });
      try {
        const cwd = await root();
        const flakyEnv = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: flaky.baseURL };
        const args = ['run', REVIEWS, ...LABEL_ARGS, '--max-requests', '10', '--retries', '8', '--job-dir', 'job', '--output', 'out.jsonl', '--poll-interval', '50ms', '--quiet'];
        const crashed = await spawnCli(args, { ...flakyEnv, KBATCH_TEST_CRASH_AT: point }, cwd);
        expect(crashed.signal).toBe('SIGKILL');
        // The output is written to a temp file and renamed at the end: a kill never leaves a truncated one.
        await expect(readFile(join(cwd, 'out.jsonl'))).rejects.toThrow(/ENOENT/);
        const resumed = await spawnCli(args, flakyEnv, cwd);
        expect(resumed.code, resumed.stderr).toBe(0);
        const manifest = JSON.parse(await readFile(join(cwd, 'job', 'manifest.json'), 'utf8'));
        const state = JSON.parse(await readFile(join(cwd, 'job', 'run.json'), 'utf8'));
        // A round's requests share batches across chunks: one job part per batch, however many chunk entries.
        const retryParts = new Set(state.rounds.flatMap((r: { parts: Array<{ part: string }> }) => r.parts.map((p) => p.part)));
        expect(retryParts.size).toBeGreaterThan(0);
        expect(manifest.parts.filter((p: { kind: string }) => p.kind === 'retry')).toHaveLength(retryParts.size);
        expect(manifest.parts.filter((p: { kind: string }) => p.kind === 'chunk')).toHaveLength(3);
        expect(flaky.stats().batchesCreated).toBe(manifest.parts.length);
        const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
        expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`));
        expect(rows.every((r) => r.error === null)).toBe(true);
      } finally {
        await flaky.close();
      }
    });
  }

  it('continues a stdin run after a SIGKILL given the same stdin again; an empty stdin is JOB_MISMATCH pointing to kbatch resume', async () => {
    const cwd = await root();
    const stdin = (await readFile(REVIEWS, 'utf8'));
    const args = ['run', '-', ...LABEL_ARGS, '--format', 'csv', '--max-requests', '10', '--job-dir', 'job', '--output', 'out.csv', '--poll-interval', '50ms', '--quiet'];
    const spawnWith = (extra: Record<string, string>, input: string) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
        const hooks = extra['KBATCH_TEST_CRASH_AT'] ? { KBATCH_TEST_HOOKS: '1' } : {};
        const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '', KBATCH_CACHE_DIR: process.env['KBATCH_CACHE_DIR'] ?? '', ...env, ...hooks, ...extra }, stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal, stderr }));
        child.stdin.on('error', () => {}); // a killed child may close stdin early
        child.stdin.end(input);
      });
    const crashed = await spawnWith({ KBATCH_TEST_CRASH_AT: 'after-create:2' }, stdin);
    expect(crashed.signal).toBe('SIGKILL');
    expect(await readFile(join(cwd, 'job', 'input.csv'), 'utf8')).toBe(stdin);
    const empty = await spawnWith({}, '');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain(`error [JOB_MISMATCH]: stdin was empty, but the job directory holds a run of ${Buffer.byteLength(stdin)} saved bytes; to continue that run use: kbatch resume ${join(cwd, 'job')}`);
    const resumed = await spawnWith({}, stdin);
    expect(resumed.code, resumed.stderr).toBe(0);
    const rows = (await parse(await readFile(join(cwd, 'out.csv')))) as Record<string, string>[];
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`));
    expect(rows.every((r) => r.error === '' && r.label !== '')).toBe(true);
  });

  it('is continued as a whole run by `kbatch resume DIR`, output to stdout', async () => {
    const cwd = await root();
    const first = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--job-dir', 'job', '--poll-interval', '50ms', '--quiet'], { env, cwd });
    expect(first.code).toBe(0);
    const created = emu.stats().batchesCreated;
    const resumed = await runCli(['resume', 'job', '--poll-interval', '50ms', '--quiet'], { env, cwd });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toBe(first.stdout);
    expect(emu.stats().batchesCreated).toBe(created);
  });

  it('stops on Ctrl-C with exit 130 and the command to continue', async () => {
    const slow = await startEmulator({ timeScale: 0.01, seed: 3, validationMs: 10, lineMs: 30, finalizingMs: 10 });
    try {
      const cwd = await root();
      const child = spawnChild(['run', REVIEWS, ...LABEL_ARGS, '--job-dir', 'job', '--poll-interval', '50ms', '--quiet'], { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: slow.baseURL }, cwd);
      for (let i = 0; i < 200 && slow.stats().batchesCreated < 1; i++) await new Promise((r) => setTimeout(r, 25));
      child.process.kill('SIGINT');
      const interrupted = await child.done;
      expect(interrupted.code).toBe(130);
      expect(interrupted.stderr).toContain(`kbatch resume ${join(cwd, 'job')}`);
    } finally {
      await slow.close();
    }
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('stops on %s during the join with exit %i and the resume hint, leaves no output file, and resume completes', async (signal, exitCode) => {
    const cwd = await root();
    const args = ['run', REVIEWS, ...LABEL_ARGS, '--job-dir', 'job', '--output', 'out.jsonl', '--poll-interval', '50ms', '--progress', 'plain'];
    // The pause hook holds the join after its first row until the signal arrives (a real signal, sent by this test).
    const child = spawnChild(args, { ...env, KBATCH_TEST_HOOKS: '1', KBATCH_TEST_PAUSE_AT: 'run-during-join' }, cwd);
    let stderr = '';
    child.process.stderr.on('data', (d) => (stderr += d));
    for (let i = 0; i < 2000 && !stderr.includes('paused at run-during-join'); i++) await delay(10);
    expect(stderr).toContain('paused at run-during-join');
    child.process.kill(signal);
    const stopped = await child.done;
    expect(stopped.code).toBe(exitCode);
    expect(stopped.stderr).toContain(`kbatch resume ${join(cwd, 'job')}`);
    expect(stopped.stderr).not.toContain('records 30:');
    expect((await readdir(cwd)).filter((f) => f.includes('out'))).toEqual([]);
    const created = emu.stats().batchesCreated;
    const resumed = await runBin(['resume', 'job', '--progress', 'none'], { env, cwd });
    expect(resumed.code, resumed.stderr).toBe(0);
    const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; label: string });
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`));
    expect(rows.every((r) => typeof r.label === 'string')).toBe(true);
    expect(emu.stats().batchesCreated).toBe(created);
  });

  it('stops on Ctrl-C while stdin is still being saved: exit 130, no stack, no temp file left', async () => {
    const cwd = await root();
    const child = spawn(process.execPath, [BIN, 'run', '-', ...LABEL_ARGS.slice(0, 2), '--prompt', '{{q}}', '--job-dir', 'job'], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', KBATCH_CACHE_DIR: process.env['KBATCH_CACHE_DIR'] ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdin.write('{"q":"great"}\n'); // stdin stays open: the spool is still reading
    const temp = async () => (await readdir(join(cwd, 'job')).catch(() => [] as string[])).filter((f) => f.endsWith('.tmp'));
    for (let i = 0; i < 400 && (await temp()).length === 0; i++) await delay(10);
    expect(await temp()).toHaveLength(1);
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    expect(stderr).toContain('Interrupted while saving the input');
    expect(stderr).not.toContain('internal error');
    expect(await temp()).toEqual([]);
    child.stdin.destroy();
  });

  it('shows an example in --help', async () => {
    const help = await runCli(['run', '--help'], { cwd: await root() });
    expect(help.stdout).toContain('kbatch run reviews.csv');
    expect(help.stdout).toContain('--labels');
    expect(help.stdout).toContain('--local');
    expect(help.stdout).toContain('--rpm 30 --model M \\\n      --prompt');
  });
});

describe('kbatch run --mode realtime|auto', () => {
  const FAST = { timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5 };
  const CHAT = 'POST /v1/chat/completions';
  const started: Emulator[] = [];
  async function emulator(options: Parameters<typeof startEmulator>[0] = {}): Promise<{ emu: Emulator; env: Record<string, string> }> {
    const emu = await startEmulator({ ...FAST, seed: 7, ...options });
    started.push(emu);
    return { emu, env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL } };
  }
  afterAll(async () => {
    await Promise.all(started.map((e) => e.close()));
  });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);

  it('--mode realtime labels a CSV through /v1/chat/completions: CSV out in input order, no batch, progress and summary on stderr', async () => {
    const { emu, env } = await emulator();
    const cwd = await root();
    const run = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--mode', 'realtime', '--output', 'out.csv', '--job-dir', 'job', '--progress', 'plain'], { env, cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(emu.stats()).toMatchObject({ batchesCreated: 0, filesCreated: 0, chatRequests: 30 });
    expect(run.stderr).toContain('(realtime)');
    expect(run.stderr).toContain('realtime: 30/30 done, 0 failed');
    expect(run.stderr.match(/^realtime: \d+\/30 done/gm)!.length).toBeLessThanOrEqual(11);
    expect(run.stderr).toContain('0 batches + 30 realtime requests');
    const rows = (await parse(await readFile(join(cwd, 'out.csv')), { columns: true })) as Record<string, string>[];
    const source = (await parse(await readFile(REVIEWS), { columns: true })) as Record<string, string>[];
    expect(rows.map((r) => [r.id, r.text])).toEqual(source.map((r) => [r.id, r.text]));
    expect(Object.keys(rows[0]!)).toEqual([...Object.keys(source[0]!), 'custom_id', 'label', 'response', 'finish_reason', 'prompt_tokens', 'completion_tokens', 'error']);
    expect(new Set(rows.map((r) => r.label))).toEqual(new Set(['positive', 'negative', 'neutral']));
    expect(rows.find((r) => r.id === 'r07')!.label).toBe('negative');
    const csv = await readFile(join(cwd, 'out.csv'), 'utf8');
    const resumed = await runCli(['resume', 'job', '--quiet'], { env, cwd });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(emu.stats().chatRequests).toBe(30);
    expect(await readFile(join(cwd, 'out.csv'), 'utf8')).toBe(csv);
  });

  it('--unordered writes each realtime row as its answer arrives: every record once, each row the same as in order', async () => {
    const { env } = await emulator();
    const cwd = await root();
    const run = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--mode', 'realtime', '--unordered', '--max-requests', '10', '--concurrency', '4', '--quiet'], { env, cwd });
    expect(run.code, run.stderr).toBe(0);
    const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string });
    expect([...rows.map((r) => r.id)].sort()).toEqual(ids(30));
    const ordered = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--mode', 'realtime', '--max-requests', '10', '--concurrency', '4', '--quiet'], { env, cwd });
    expect(ordered.code, ordered.stderr).toBe(0);
    const inOrder = ordered.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string });
    expect(inOrder.map((r) => r.id)).toEqual(ids(30));
    expect([...rows].sort((a, b) => a.id.localeCompare(b.id))).toEqual(inOrder);
    const help = await runCli(['run', '--help'], { cwd });
    expect(help.stdout).toContain('--unordered');
  });

  it('--mode auto runs realtime below --auto-threshold and batches from it up', async () => {
    const below = await emulator();
    const cwd = await root();
    const a = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--no-cache', '--mode', 'auto', '--auto-threshold', '31', '--quiet'], { env: below.env, cwd });
    expect(a.code, a.stderr).toBe(0);
    expect(below.emu.stats()).toMatchObject({ batchesCreated: 0, chatRequests: 30 });
    const above = await emulator();
    const b = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--no-cache', '--mode', 'auto', '--auto-threshold', '30', '--poll-interval', '50ms', '--quiet'], { env: above.env, cwd });
    expect(b.code, b.stderr).toBe(0);
    expect(above.emu.stats()).toMatchObject({ batchesCreated: 1, chatRequests: 0 });
    expect(b.stdout).toBe(a.stdout);
  });

  it('retries realtime failures in realtime rounds (--request-retries 0, 5xx on chat), exit 0 when all recover', async () => {
    const { emu, env } = await emulator({ seed: 3, faults: { rate5xx: 0.3, routes: [CHAT] } });
    const cwd = await root();
    const run = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--mode', 'realtime', '--request-retries', '0', '--retries', '8', '--job-dir', 'job', '--progress', 'plain'], { env, cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/retry round 1: \d+ requests realtime/);
    expect(emu.stats().chatRequests).toBe(30);
    expect(emu.stats().batchesCreated).toBe(0);
    const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(ids(30));
    expect(rows.every((r) => r.error === null)).toBe(true);
  });

  it('sends only the unanswered requests when rerun after a SIGKILL mid-realtime', async () => {
    const { emu, env } = await emulator();
    const cwd = await root();
    const args = ['run', REVIEWS, ...LABEL_ARGS, '--mode', 'realtime', '--concurrency', '2', '--job-dir', 'job', '--output', 'out.jsonl', '--quiet'];
    const crashed = await spawnCli(args, { ...env, KBATCH_TEST_CRASH_AT: 'run-during-realtime:10' }, cwd);
    expect(crashed.signal).toBe('SIGKILL');
    const logged = await loggedAnswers(join(cwd, 'job'));
    expect(logged).toBeGreaterThanOrEqual(10);
    expect(logged).toBeLessThan(30);
    const before = await chatSettled(emu); // any request the killed process had in flight is counted first
    const resumed = await spawnCli(args, env, cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(emu.stats().chatRequests - before).toBe(30 - logged);
    expect(emu.stats().batchesCreated).toBe(0);
    const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(ids(30));
    expect(rows.every((r) => r.error === null && typeof r.label === 'string')).toBe(true);
  });

  it('shows a batch retry round\'s progress as its own (never past its total), and its line once', async () => {
    const seen = new Set<string>();
    // The first answer to each prompt is not a label (an invalid answer), later ones are: one batch retry round of 30.
    const { env } = await emulator({
      responder: (body) => {
        const key = JSON.stringify(body.messages);
        if (seen.has(key)) return String(respond(body).content);
        seen.add(key);
        return 'hmm, hard to say';
      },
    });
    const run = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--poll-interval', '50ms', '--progress', 'plain'], { env, cwd: await root() });
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stderr.split('\n');
    expect(lines.filter((l) => l.startsWith('retry round 1: 30 requests'))).toEqual(['retry round 1: 30 requests in 1 batch']);
    const counted = lines.map((l) => /^(progress|retry round \d+): (\d+)\/(\d+) completed/.exec(l)).filter((m) => m !== null);
    expect(counted.some((m) => m![1] === 'retry round 1' && m![3] === '30')).toBe(true);
    for (const m of counted) expect(Number(m![2])).toBeLessThanOrEqual(Number(m![3]));
  });

  it('--finish-realtime runs a small retry round realtime instead of a new batch', async () => {
    const seen = new Set<string>();
    // The first answer to each prompt is not a label (an invalid answer), later ones are.
    const { emu, env } = await emulator({
      responder: (body) => {
        const key = JSON.stringify(body.messages);
        if (seen.has(key)) return String(respond(body).content);
        seen.add(key);
        return 'hmm, hard to say';
      },
    });
    const cwd = await root();
    const run = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--finish-realtime', '--poll-interval', '50ms', '--progress', 'plain'], { env, cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('retry round 1: 30 requests realtime');
    expect(run.stderr).toContain('1 batch + 30 realtime requests');
    expect(emu.stats()).toMatchObject({ batchesCreated: 1, chatRequests: 30 });
    const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.every((r) => ['positive', 'negative', 'neutral'].includes(r.label))).toBe(true);
  });

  it('respects --rpm (every request counted by the emulator; lower bound on elapsed time)', async () => {
    const { emu, env } = await emulator();
    const cwd = await root();
    await writeFile(join(cwd, 'in.jsonl'), Array.from({ length: 11 }, (_, i) => JSON.stringify({ q: `item ${i}` })).join('\n'));
    const t0 = Date.now();
    const run = await runCli(['run', 'in.jsonl', '--model', MODEL, '--prompt', '{{q}}', '--mode', 'realtime', '--rpm', '1200', '--concurrency', '8', '--quiet'], { env, cwd });
    const elapsed = Date.now() - t0;
    expect(run.code, run.stderr).toBe(0);
    expect(emu.stats().requests[CHAT]).toBe(11);
    // 1,200 per minute = one request every 50 ms: 11 requests span at least 10 intervals.
    expect(elapsed).toBeGreaterThanOrEqual(450);
  });

  it('names the flag in option errors and documents the modes in --help', async () => {
    const cwd = await root();
    const badMode = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--mode', 'fast'], { env: {}, cwd });
    expect(badMode.code).toBe(2);
    expect(String((badMode.error as Error).message)).toMatch(/batch, realtime, auto/);
    const badThreshold = await runCli(['run', REVIEWS, ...LABEL_ARGS, '--mode', 'auto', '--auto-threshold', '0'], { env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: 'http://127.0.0.1:9/v1' }, cwd });
    expect((badThreshold.error as { code?: string }).code).toBe('OPTION_INVALID');
    expect((badThreshold.error as Error).message).toContain('`--auto-threshold`');
    const help = await runCli(['run', '--help'], { cwd });
    for (const flag of ['--mode', '--auto-threshold', '--rpm', '--tpm', '--request-retries', '--request-timeout', '--finish-realtime', '--mode realtime']) expect(help.stdout).toContain(flag);
  });
});

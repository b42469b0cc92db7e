import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { loadRunState, runJob, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const lines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i + 1}`, text: i % 2 ? 'awful' : 'great' })).join('\n') + '\n';
const stdin = (text: string) => Readable.from([Buffer.from(text)]);

/** A pid no process has any more (a child that already exited). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

describe('openRun (a rerun into an existing job directory)', () => {
  let emu: Emulator;
  let base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs' | 'labels' | 'prompt'>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 8, validationMs: 5, lineMs: 0, finalizingMs: 5 });
    base = { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20, labels: ['positive', 'negative'], prompt: '{{text}}' };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('refuses other stdin bytes for a finished stdin run with JOB_MISMATCH, writing nothing; the same stdin or none continues, an empty one points to kbatch resume', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-open-'));
    const jobDir = join(cwd, 'job');
    await runJob({ ...base, input: '-', stdin: stdin(lines(6)), jobDir, output: join(cwd, 'a.jsonl') });
    const created = emu.stats().batchesCreated;
    const err = await catchError(() => runJob({ ...base, input: '-', stdin: stdin(lines(2)), jobDir, output: join(cwd, 'new.jsonl') }));
    expectKbatchError(err, { code: 'JOB_MISMATCH', field: 'input', message: 'other input than this stdin' });
    await expect(readFile(join(cwd, 'new.jsonl'))).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(jobDir, 'input.jsonl'), 'utf8')).toBe(lines(6));
    expect((await readdir(jobDir)).filter((n) => n.startsWith('.incoming'))).toEqual([]);
    // The same bytes, or no stdin at all (a terminal), continue; an empty stdin is other input, not "continue".
    for (const again of [stdin(lines(6)), Object.assign(stdin(''), { isTTY: true })]) {
      const summary = await runJob({ ...base, input: '-', stdin: again, jobDir, output: join(cwd, 'b.jsonl') });
      expect(summary.records).toBe(6);
      expect(await readFile(join(cwd, 'b.jsonl'), 'utf8')).toBe(await readFile(join(cwd, 'a.jsonl'), 'utf8'));
    }
    const empty = await catchError(() => runJob({ ...base, input: '-', stdin: stdin(''), jobDir, output: join(cwd, 'today.jsonl') }));
    expectKbatchError(empty, { code: 'JOB_MISMATCH', field: 'input', message: `kbatch resume ${jobDir}` });
    await expect(readFile(join(cwd, 'today.jsonl'))).rejects.toThrow(/ENOENT/);
    expect(emu.stats().batchesCreated).toBe(created);
    // A file run given stdin bytes is refused too.
    const fileRun = join(cwd, 'in.jsonl');
    await writeFile(fileRun, lines(2));
    await runJob({ ...base, input: fileRun, jobDir: join(cwd, 'job2') });
    expectKbatchError(await catchError(() => runJob({ ...base, input: '-', stdin: stdin(lines(2)), jobDir: join(cwd, 'job2') })), { code: 'JOB_MISMATCH', message: 'its input file' });
  });

  it('starts a run over with new options while nothing was sent (after TEMPLATE_FIELD_MISSING), not once a batch was uploaded', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-open-'));
    const jobDir = join(cwd, 'job');
    const created = emu.stats().batchesCreated;
    const typo = await catchError(() => runJob({ ...base, input: '-', stdin: stdin(lines(3)), prompt: '{{txet}}', jobDir }));
    expectKbatchError(typo, { code: 'TEMPLATE_FIELD_MISSING' });
    expect(emu.stats().batchesCreated).toBe(created);
    const messages: string[] = [];
    // The fixed prompt; no stdin (a terminal), so the run starts over from the input it saved.
    const fixed = await runJob({ ...base, input: '-', stdin: Object.assign(stdin(''), { isTTY: true }), jobDir, output: join(cwd, 'out.jsonl'), onProgress: (e) => e.type === 'phase' && messages.push(e.message) });
    expect(messages).toContain(`job ${jobDir} had sent nothing yet: starting it over with the new options`);
    expect(fixed.resumed).toBe(false);
    expect(fixed.records).toBe(3);
    expect(fixed.succeeded).toBe(3);
    expect((await loadRunState(jobDir))!.settings.request['prompt']).toBe('{{text}}');
    const later = await catchError(() => runJob({ ...base, input: '-', stdin: stdin(''), prompt: 'Review: {{text}}', jobDir }));
    expectKbatchError(later, { code: 'JOB_MISMATCH', field: 'prompt' });
  });

  it('starts over from a new input FILE given after a stdin run that sent nothing, never from the saved stdin', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-open-'));
    const jobDir = join(cwd, 'job');
    const typo = await catchError(() => runJob({ ...base, input: '-', stdin: stdin(lines(3)), prompt: '{{nope}}', jobDir }));
    expectKbatchError(typo, { code: 'TEMPLATE_FIELD_MISSING' });
    const file = join(cwd, 'b.jsonl');
    await writeFile(file, lines(5));
    const summary = await runJob({ ...base, input: file, jobDir, output: join(cwd, 'out.jsonl') });
    expect(summary.records).toBe(5);
    const settings = (await loadRunState(jobDir))!.settings;
    expect(settings.input).toBe(file);
    expect(settings.spooled).toBe(false);
    expect((await readdir(jobDir)).filter((n) => n.startsWith('input.'))).toEqual([]);
  });

  it('never removes a user\'s own dotted-number .tmp files or directories from a job directory, on a first run or a rerun', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-open-'));
    const input = join(cwd, 'in.jsonl');
    await writeFile(input, lines(2));
    const dead = deadPid();
    const mine = [`thesis.${dead}.tmp`, `notes.v2.${dead}.tmp`, `photos.${dead}.tmp`];
    await writeFile(join(cwd, mine[0]!), 'my thesis');
    await writeFile(join(cwd, mine[1]!), 'my notes');
    await mkdir(join(cwd, mine[2]!));
    await writeFile(join(cwd, mine[2]!, 'a.jpg'), 'photo');
    // A first run into a directory that is not a job yet, then a rerun (now it holds run.json).
    await runJob({ ...base, input, jobDir: cwd, output: join(cwd, 'out.jsonl') });
    await writeFile(join(cwd, `run.json.${dead}.tmp`), 'partial');
    await runJob({ ...base, input, jobDir: cwd, output: join(cwd, 'out.jsonl') });
    const names = await readdir(cwd);
    expect(names.filter((n) => n.endsWith('.tmp')).sort()).toEqual([...mine].sort());
    expect(await readFile(join(cwd, mine[2]!, 'a.jpg'), 'utf8')).toBe('photo');
  });

  it('leaves no staging directory behind when a run that sent nothing is started over with an empty stdin', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-open-'));
    const jobDir = join(cwd, 'job');
    expectKbatchError(await catchError(() => runJob({ ...base, input: '-', stdin: stdin(lines(3)), prompt: '{{nope}}', jobDir })), { code: 'TEMPLATE_FIELD_MISSING' });
    await runJob({ ...base, input: '-', stdin: stdin(''), jobDir, output: join(cwd, 'out.jsonl') });
    expect((await readdir(jobDir)).filter((n) => n.startsWith('.incoming'))).toEqual([]);
  });

  it('refuses a rerun with another delimiter, format, encoding or --on-invalid with JOB_MISMATCH naming it', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-open-'));
    const input = join(cwd, 'in.csv');
    await writeFile(input, 'id;text\n1;great\n2;awful\n');
    const jobDir = join(cwd, 'job');
    await runJob({ ...base, input, jobDir, delimiter: ';' });
    const created = emu.stats().batchesCreated;
    for (const [field, change] of [
      ['delimiter', { delimiter: undefined }],
      ['delimiter', { delimiter: ',' }],
      ['format', { format: 'tsv' }],
      ['encoding', { encoding: 'latin1' }],
      ['onInvalidRecord', { onInvalidRecord: 'skip' }],
    ] as const) {
      const err = await catchError(() => runJob({ ...base, input, jobDir, delimiter: ';', ...change }));
      expectKbatchError(err, { code: 'JOB_MISMATCH', field: `\`${field}\`` });
    }
    // The same options, or a resume stating none of them, continue.
    expect((await runJob({ ...base, input, jobDir, delimiter: ';', format: 'csv', encoding: 'utf8' })).resumed).toBe(true);
    expect((await runJob({ ...base, jobDir } as RunJobOptions)).resumed).toBe(true);
    expect(emu.stats().batchesCreated).toBe(created);
  });

  it('fails fast with OUTPUT_UNWRITABLE for a job directory under /proc, and for stdin saved under a /proc cwd', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-open-'));
    const input = join(cwd, 'in.jsonl');
    await writeFile(input, lines(2));
    expectKbatchError(await catchError(() => runJob({ ...base, input, jobDir: '/proc/nope/job' })), { code: 'OUTPUT_UNWRITABLE', message: 'job directory /proc/nope/job' });
    expectKbatchError(await catchError(() => runJob({ ...base, input: '-', stdin: stdin(lines(2)), cwd: '/proc/nope', output: join(cwd, 'o.jsonl') })), { code: 'OUTPUT_UNWRITABLE', message: '/proc/nope/.kbatch/jobs' });
  }, 10_000);

  /** A job of 2 records run to its end in a fresh directory: its input, job directory and output. */
  async function finishedJob(): Promise<{ cwd: string; input: string; jobDir: string; out: string }> {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-open-'));
    const input = join(cwd, 'in.jsonl');
    await writeFile(input, lines(2));
    const jobDir = join(cwd, 'job');
    const out = join(cwd, 'out.jsonl');
    await runJob({ ...base, input, jobDir, output: out });
    return { cwd, input, jobDir, out };
  }

  it('removes temp files a killed process left in the job directory and beside the output, never a live writer\'s', async () => {
    const { cwd, input, jobDir, out } = await finishedJob();
    const dead = deadPid();
    const stale = [join(jobDir, `input.${dead}.tmp`), join(jobDir, `run.json.${dead}.tmp`), join(cwd, `.out.jsonl.${dead}.tmp`)];
    const kept = [join(cwd, `.out.jsonl.${process.ppid}.tmp`), join(cwd, `.other.jsonl.${dead}.tmp`), join(cwd, `out.jsonl.${dead}.tmp`)];
    for (const file of [...stale, ...kept]) await writeFile(file, 'partial');
    await runJob({ ...base, input, jobDir, output: out });
    const left = [...(await readdir(cwd)), ...(await readdir(jobDir))].filter((n) => n.endsWith('.tmp'));
    expect(left.sort()).toEqual(kept.map((f) => f.slice(cwd.length + 1)).sort());
  });
  it('removes the answer spool a killed join left in run/answers-spool/, never a live process\'s or a look-alike', async () => {
    const { input, jobDir, out } = await finishedJob();
    const spools = join(jobDir, 'run', 'answers-spool');
    const dead = deadPid();
    const stale = `${dead}.0a1b2c3d`;
    const kept = [`${process.ppid}.0a1b2c3d`, `${dead}.notahex0`, `mine-${dead}`];
    for (const name of [stale, ...kept]) {
      await mkdir(join(spools, name, '0'), { recursive: true });
      await writeFile(join(spools, name, '0', '000.bin'), 'spooled');
    }
    await runJob({ ...base, input, jobDir, output: out });
    expect((await readdir(spools)).sort()).toEqual([...kept].sort());
  });

  it('removes writeFileAtomic temps a killed process left in chunks/, results/ and run/retry-N/, never a live writer\'s or a look-alike', async () => {
    const { input, jobDir, out } = await finishedJob();
    await mkdir(join(jobDir, 'run', 'retry-1'), { recursive: true });
    const dead = deadPid();
    const stale = [join('chunks', `part-00002.jsonl.${dead}.0a1b2c3d.tmp`), join('results', `part-00001.error.jsonl.${dead}.deadbeef.tmp`), join('results', `part-00001.output.jsonl.${dead}.01234567.tmp`), join('run', 'retry-1', `batch-1.jsonl.${dead}.89abcdef.tmp`)];
    const kept = [join('chunks', `part-00002.jsonl.${process.ppid}.0a1b2c3d.tmp`), join('chunks', `notes.jsonl.${dead}.0a1b2c3d.tmp`), join('results', `part-00001.error.jsonl.${dead}.tmp`), join('run', 'retry-1', `batch-1.jsonl.${dead}.nothex00.tmp`)];
    for (const file of [...stale, ...kept]) await writeFile(join(jobDir, file), 'partial');
    await runJob({ ...base, input, jobDir, output: out });
    const left = [];
    for (const dir of ['chunks', 'results', join('run', 'retry-1')]) left.push(...(await readdir(join(jobDir, dir))).filter((n) => n.endsWith('.tmp')).map((n) => join(dir, n)));
    expect(left.sort()).toEqual([...kept].sort());
  });
});

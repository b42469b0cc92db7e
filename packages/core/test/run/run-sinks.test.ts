import { describe, expect, it } from 'vitest';
import { link, mkdir, mkdtemp, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSinkTargets } from '../../src/run/run-sinks.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('checkSinkTargets', () => {
  it('refuses an output or rejects path that is the input (also through a symlink or a hard link) with OPTION_INVALID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-sinks-'));
    const input = join(dir, 'in.csv');
    await writeFile(input, 'id\n1\n');
    await symlink(input, join(dir, 'alias.csv'));
    await link(input, join(dir, 'hard.csv'));
    await mkdir(join(dir, 'sub'));
    for (const [field, target] of [
      ['output', input],
      ['output', join(dir, 'sub', '..', 'in.csv')],
      ['rejects', join(dir, 'alias.csv')],
      ['output', join(dir, 'hard.csv')],
    ] as const) {
      const err = await catchError(() => checkSinkTargets({ output: null, rejects: null, [field]: target }, { input }));
      expectKbatchError(err, { code: 'OPTION_INVALID', field, file: target, message: `it is the input file ${input}` });
    }
    await checkSinkTargets({ output: join(dir, 'out.csv'), rejects: null }, { input });
  });

  it('refuses a rejects path that is the output file (also through a symlink) with OPTION_INVALID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-sinks-'));
    const out = join(dir, 'o.jsonl');
    await writeFile(out, '');
    await symlink(out, join(dir, 'alias.jsonl'));
    for (const rejects of [out, join(dir, 'alias.jsonl'), join(dir, 'sub-missing', '..', 'o.jsonl')]) {
      const err = await catchError(() => checkSinkTargets({ output: out, rejects }));
      expectKbatchError(err, { code: 'OPTION_INVALID', field: 'rejects', file: rejects, message: `it is the output file ${out}` });
    }
    await checkSinkTargets({ output: out, rejects: join(dir, 'o.rejects.jsonl') });
  });

  it("refuses the job directory's own files, allows its default output.<format>", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-sinks-'));
    const jobDir = join(dir, 'job');
    await mkdir(join(jobDir, 'chunks'), { recursive: true });
    for (const name of ['run.json', 'manifest.json', 'input.jsonl', join('chunks', 'part-00001.jsonl')]) {
      const err = await catchError(() => checkSinkTargets({ output: join(jobDir, name), rejects: null }, { jobDir }));
      expectKbatchError(err, { code: 'OPTION_INVALID', field: 'output', message: `it is a file of the job directory ${jobDir}` });
    }
    await checkSinkTargets({ output: join(jobDir, 'output.csv'), rejects: null }, { jobDir });
  });

  it('fails fast with OUTPUT_UNWRITABLE (not bad usage) for an output under /proc and a missing directory tree; creates only a missing last level', async () => {
    const err = await catchError(() => checkSinkTargets({ output: '/proc/nope/x.csv', rejects: null }));
    expectKbatchError(err, { code: 'OUTPUT_UNWRITABLE', field: 'output', file: '/proc/nope/x.csv', message: 'cannot create the directory /proc/nope' });
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-sinks-'));
    const deep = join(dir, 'a', 'b', 'r.jsonl');
    expectKbatchError(await catchError(() => checkSinkTargets({ output: null, rejects: deep })), {
      code: 'OUTPUT_UNWRITABLE',
      field: 'rejects',
      message: `the directory ${join(dir, 'a', 'b')} does not exist, nor does its parent ${join(dir, 'a')}`,
    });
    expect(await readdir(dir)).toEqual([]);
    const told: string[] = [];
    await checkSinkTargets({ output: join(dir, 'a', 'o.csv'), rejects: null }, { notify: (m) => told.push(m) });
    expect(told).toEqual([`created the directory ${join(dir, 'a')} for the output file`]);
    expect(await readdir(join(dir, 'a'))).toEqual([]);
    // A directory given as the file is a bad value: usage.
    expectKbatchError(await catchError(() => checkSinkTargets({ output: join(dir, 'a'), rejects: null })), { code: 'OPTION_INVALID', field: 'output', message: 'is a directory' });
  });
});

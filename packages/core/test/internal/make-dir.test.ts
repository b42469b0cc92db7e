import { describe, expect, it } from 'vitest';
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDir } from '../../src/internal/make-dir.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('makeDir', () => {
  it('creates a missing tree level by level, and accepts one that exists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-mkdir-'));
    await makeDir(join(dir, 'a', 'b', 'c'), 'job directory');
    expect((await stat(join(dir, 'a', 'b', 'c'))).isDirectory()).toBe(true);
    await makeDir(join(dir, 'a', 'b', 'c'), 'job directory');
  });

  it('fails fast with OUTPUT_UNWRITABLE under /proc and below a file, naming the path', async () => {
    expectKbatchError(await catchError(() => makeDir('/proc/nope/job/run', 'job directory')), {
      code: 'OUTPUT_UNWRITABLE',
      file: '/proc/nope/job/run',
      message: 'cannot create the job directory /proc/nope/job/run',
    });
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-mkdir-'));
    await writeFile(join(dir, 'file'), 'x');
    expectKbatchError(await catchError(() => makeDir(join(dir, 'file', 'job'), 'job directory')), { code: 'OUTPUT_UNWRITABLE', message: 'ENOTDIR' });
  });
});

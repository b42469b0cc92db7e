import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../commands/job-fixtures.js';

// Never reached: the refusal comes before any connection.
const env = { KLUSTER_API_KEY: 'k', KBATCH_DATABASE_URL: 'postgres://kbatch@127.0.0.1:1/kbatch' };

describe('databaseUrl', () => {
  it('says plainly that a job directory was given while KBATCH_DATABASE_URL names jobs by id (OPTION_INVALID), for resume, status, wait, results and cancel', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-db-flags-'));
    await mkdir(join(root, 'job'));
    await writeFile(join(root, 'job', 'manifest.json'), '{}');
    for (const command of ['resume', 'status', 'wait', 'results', 'cancel']) {
      const run = await runCli([command, 'job'], { env, cwd: root });
      expect(run.error, command).toMatchObject({ code: 'OPTION_INVALID', field: '--database-url' });
      expect(String((run.error as Error).message)).toContain('"job" is a job directory, but with a database (--database-url or KBATCH_DATABASE_URL) jobs are named by their id');
    }
  });

  it("takes a name that is only a job's files folder (no state file in it, as under --storage) as an id", async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-db-flags-'));
    await mkdir(join(root, 'kb-1', 'chunks'), { recursive: true });
    const run = await runCli(['status', 'kb-1'], { env, cwd: root });
    // Past the directory check: the next rule (a database needs --storage) answers.
    expect(run.error).toMatchObject({ code: 'OPTION_INVALID', field: '--storage' });
  });
});

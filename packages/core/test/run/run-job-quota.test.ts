import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { resumeRun, runJob, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';

describe('runJob maxEnqueuedTokens with a local job directory', () => {
  let emu: Emulator | undefined;
  afterAll(async () => {
    await emu?.close();
  });
  async function setup() {
    emu ??= await startEmulator({ timeScale: 0.001, seed: 3, validationMs: 5, lineMs: 0, finalizingMs: 5 });
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-run-quota-'));
    await writeFile(join(dir, 'in.jsonl'), ['a', 'b', 'c'].map((id) => JSON.stringify({ id, text: `review ${id}` })).join('\n') + '\n');
    const options: RunJobOptions = { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, prompt: 'Echo {{text}}', pollIntervalMs: 20, input: join(dir, 'in.jsonl'), output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job'), mode: 'batch' };
    return { dir, options };
  }

  it('refuses it before anything is prepared (the quota needs a database), OPTION_INVALID', async () => {
    const { dir, options } = await setup();
    const created = emu!.stats().batchesCreated;
    expectKbatchError(await catchError(() => runJob({ ...options, maxEnqueuedTokens: 100 })), {
      code: 'OPTION_INVALID',
      message: 'Invalid option `maxEnqueuedTokens`: needs the job state in a database',
    });
    expect(existsSync(join(dir, 'job'))).toBe(false);
    expect(emu!.stats().batchesCreated).toBe(created);
  });

  it('resumes a local run whose run.json holds one (saved by an older kbatch), ignoring it', async () => {
    const { dir, options } = await setup();
    await runJob({ ...options, timeoutMs: 1 }).catch(() => undefined);
    const runFile = join(dir, 'job', 'run.json');
    const state = JSON.parse(await readFile(runFile, 'utf8')) as { settings: Record<string, unknown> };
    state.settings.maxEnqueuedTokens = 100;
    await writeFile(runFile, JSON.stringify(state));
    const { client, pollIntervalMs } = options;
    const summary = await resumeRun(join(dir, 'job'), { client, pollIntervalMs });
    expect(summary.succeeded).toBe(3);
  });
});

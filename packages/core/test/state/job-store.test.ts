import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directoryStore } from '../../src/state/job-store.js';
import { jobStoreContract, sampleManifest, sampleRunState } from './job-store-contract.js';

jobStoreContract('directoryStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-store-'));
  return {
    store: directoryStore(dir),
    corrupt: (what) => writeFile(join(dir, what === 'manifest' ? 'manifest.json' : 'run.json'), '{"version": 1'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('directoryStore', () => {
  it("keeps the state in the job directory's files under their usual names", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-store-'));
    const store = directoryStore(dir);
    await store.writeManifest(sampleManifest());
    await store.writeRunState(sampleRunState());
    await store.requestCancel();
    const lock = await store.lock();
    const runLock = await store.lock('run');
    const { log } = await store.openAnswersLog('answers.jsonl');
    await log.close();
    expect((await readdir(dir)).sort()).toEqual(['answers.jsonl', 'cancel-requested', 'job.lock', 'manifest.json', 'run', 'run.json']);
    expect(await readdir(join(dir, 'run'))).toEqual(['job.lock']);
    expect(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))).toEqual(sampleManifest());
    expect(JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')).kind).toBe('kbatch-run');
    await lock.release();
    await runLock.release();
    await rm(dir, { recursive: true, force: true });
  });

  it('opens an answers log given by absolute path where it is', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-store-'));
    const elsewhere = await mkdtemp(join(tmpdir(), 'kbatch-store-log-'));
    const { log } = await directoryStore(dir).openAnswersLog(join(elsewhere, 'mine.jsonl'));
    await log.close();
    expect(await readdir(elsewhere)).toEqual(['mine.jsonl']);
    expect(await readdir(dir)).toEqual([]);
    await rm(dir, { recursive: true, force: true });
    await rm(elsewhere, { recursive: true, force: true });
  });
});

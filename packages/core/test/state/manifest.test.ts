import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ancestorsOf, loadManifest, rootOf, writeManifest, ManifestStore, type JobManifest } from '../../src/state/manifest.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const manifest = (): JobManifest => ({
  version: 1,
  jobId: 'kb-test',
  createdAt: 'now',
  updatedAt: 'now',
  endpoint: '/v1/chat/completions',
  window: '24h',
  parts: [
    { index: '00001', kind: 'chunk', path: 'chunks/part-00001.jsonl', sha256: 'x', requests: 2, bytes: 10, uploadAttempts: 0, createAttempts: 0, downloadAttempts: 0, done: false },
  ],
});

describe('writeManifest', () => {
  it('writes atomically and leaves no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-manifest-'));
    await writeManifest(dir, manifest());
    expect(await readdir(dir)).toEqual(['manifest.json']);
    expect((await loadManifest(dir)).parts[0]!.index).toBe('00001');
  });
});

describe('loadManifest', () => {
  it('rejects a missing manifest with JOB_NOT_FOUND', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-manifest-'));
    expectKbatchError(await catchError(() => loadManifest(dir)), { code: 'JOB_NOT_FOUND' });
  });

  it('rejects a broken manifest with JOB_INVALID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-manifest-'));
    await writeFile(join(dir, 'manifest.json'), '{"version": 1');
    expectKbatchError(await catchError(() => loadManifest(dir)), { code: 'JOB_INVALID' });
    await writeFile(join(dir, 'manifest.json'), '{"version": 2}');
    expectKbatchError(await catchError(() => loadManifest(dir)), { code: 'JOB_INVALID', message: /version/ });
  });
});

describe('ManifestStore', () => {
  it('serializes concurrent saves so the last state wins', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-manifest-'));
    await writeManifest(dir, manifest());
    const store = await ManifestStore.open(dir);
    const saves = [];
    for (let i = 0; i < 20; i++) {
      store.manifest.parts[0]!.uploadAttempts = i;
      saves.push(store.save());
    }
    await Promise.all(saves);
    expect((await loadManifest(dir)).parts[0]!.uploadAttempts).toBe(19);
    expect(store.nextIndex()).toBe('00002');
  });

  it('rejects an unknown part index with JOB_INVALID', () => {
    const store = new ManifestStore('/nowhere', manifest());
    expect(store.part('00001').index).toBe('00001');
    expectKbatchError(catchErrorSync(() => store.part('00009')), { code: 'JOB_INVALID', message: 'no part 00009' });
  });
});

function catchErrorSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

describe('ancestorsOf', () => {
  it('walks a resubmit part up to its root, and ends on a damaged manifest whose parents form a cycle', () => {
    const m = manifest();
    const base = m.parts[0]!;
    m.parts.push({ ...base, index: '00002', kind: 'resubmit', parent: '00001' }, { ...base, index: '00003', kind: 'resubmit', parent: '00002' });
    expect(ancestorsOf(m, m.parts[2]!).map((p) => p.index)).toEqual(['00002', '00001']);
    expect(rootOf(m, m.parts[2]!).index).toBe('00001');
    const cycle = manifest();
    cycle.parts = [{ ...base, index: '00004', kind: 'resubmit', parent: '00005' }, { ...base, index: '00005', kind: 'resubmit', parent: '00004' }];
    expect(ancestorsOf(cycle, cycle.parts[0]!)).toHaveLength(2);
  });
});

// The behaviour every JobStore must have; each store's test file runs it (today the directory store).
import { afterEach, describe, expect, it } from 'vitest';
import type { JobStore } from '../../src/state/job-store.js';
import { ManifestStore, type JobManifest } from '../../src/state/manifest.js';
import type { RunState } from '../../src/state/run-state.js';
import type { RealtimeResultLine } from '../../src/realtime/realtime-types.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

/** A fresh, empty store for one test, a way to damage its saved state, and its cleanup. */
export interface StoreUnderTest {
  store: JobStore;
  /** Replace the saved manifest or run state with something unreadable. */
  corrupt(what: 'manifest' | 'runState'): Promise<void>;
  cleanup(): Promise<void>;
}

export const sampleManifest = (): JobManifest => ({
  version: 1,
  jobId: 'kb-contract',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  endpoint: '/v1/chat/completions',
  window: '24h',
  parts: [
    { index: '00001', kind: 'chunk', path: 'chunks/part-00001.jsonl', sha256: 'x', requests: 2, bytes: 10, uploadAttempts: 0, createAttempts: 0, downloadAttempts: 0, done: false },
  ],
});

export const sampleRunState = (): RunState => ({
  version: 1,
  kind: 'kbatch-run',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  settings: {
    input: '/data/in.csv',
    spooled: false,
    format: 'csv',
    onInvalidRecord: 'error',
    request: { model: 'm' },
    confidence: false,
    retries: 0,
    window: '24h',
    output: null,
    outputFormat: 'jsonl',
    rejects: null,
    prefix: '',
    keepRaw: false,
    mode: 'batch',
    finishRealtime: false,
  },
  phase: 'init',
  chunks: [],
  recordsRead: 0,
  skipped: 0,
  rounds: [],
  stragglers: [],
  retriesDone: false,
});

const success = (id: string): RealtimeResultLine => ({
  id: `r-${id}`,
  custom_id: id,
  response: { status_code: 200, request_id: `q-${id}`, body: { choices: [{ message: { content: `answer ${id}` } }] } },
  error: null,
});

/** Run the JobStore contract against the stores `make` opens. */
export function jobStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`${name} (JobStore contract)`, () => {
    let current: StoreUnderTest | undefined;
    const open = async () => (current = await make()).store;
    afterEach(async () => {
      await current?.cleanup();
      current = undefined;
    });

    it('reports a missing manifest with JOB_NOT_FOUND, and no run state, cancel request or manifest', async () => {
      const store = await open();
      expectKbatchError(await catchError(() => store.readManifest()), { code: 'JOB_NOT_FOUND' });
      expect(await store.hasManifest()).toBe(false);
      expect(await store.readRunState()).toBeNull();
      expect(await store.cancelRequested()).toBeUndefined();
    });

    it('reads back the manifest it wrote, the last write winning', async () => {
      const store = await open();
      await store.writeManifest(sampleManifest());
      expect(await store.hasManifest()).toBe(true);
      expect(await store.readManifest()).toEqual(sampleManifest());
      await store.writeManifest({ ...sampleManifest(), window: '48h' });
      expect((await store.readManifest()).window).toBe('48h');
    });

    it('forgets a removed manifest (removing twice is fine)', async () => {
      const store = await open();
      await store.writeManifest(sampleManifest());
      await store.removeManifest();
      await store.removeManifest();
      expect(await store.hasManifest()).toBe(false);
      expectKbatchError(await catchError(() => store.readManifest()), { code: 'JOB_NOT_FOUND' });
    });

    it('rejects an unreadable manifest or run state with JOB_INVALID', async () => {
      const store = await open();
      await store.writeManifest(sampleManifest());
      await store.writeRunState(sampleRunState());
      await current!.corrupt('manifest');
      expectKbatchError(await catchError(() => store.readManifest()), { code: 'JOB_INVALID' });
      await current!.corrupt('runState');
      expectKbatchError(await catchError(() => store.readRunState()), { code: 'JOB_INVALID' });
    });

    it('reads back the run state it wrote, stamped with the time of the write', async () => {
      const store = await open();
      const state = sampleRunState();
      await store.writeRunState(state);
      expect(state.updatedAt).not.toBe('2026-01-01T00:00:00.000Z');
      expect(await store.readRunState()).toEqual(state);
      state.phase = 'prepared';
      await store.writeRunState(state);
      expect((await store.readRunState())!.phase).toBe('prepared');
    });

    it('keeps answers logs by name: appends, failure markers and reads back', async () => {
      const store = await open();
      expect((await store.readAnsweredIds('a.jsonl')).size).toBe(0);
      const first = await store.openAnswersLog('a.jsonl');
      expect(first.answered.size).toBe(0);
      await first.log.append(success('r1'));
      await first.log.appendFailure({ ...success('r2'), response: null, error: { message: 'bad', code: 'x' } } as RealtimeResultLine);
      await first.log.close();
      const answered = await store.readAnsweredIds('a.jsonl');
      expect([...answered.keys()]).toEqual(['r1', 'r2']);
      expect((await store.readAnsweredIds('b.jsonl')).size).toBe(0);
      const again = await store.openAnswersLog('a.jsonl');
      expect(await again.log.read(again.answered.get('r1')!)).toEqual(success('r1'));
      expect((await again.log.read(again.answered.get('r2')!)).error).toEqual({ message: 'bad', code: 'x' });
      await again.log.close();
    });

    it('lets one holder have each lock at a time (JOB_LOCKED), the job and the run lock apart', async () => {
      const store = await open();
      const job = await store.lock();
      expectKbatchError(await catchError(() => store.lock()), { code: 'JOB_LOCKED' });
      const run = await store.lock('run');
      expectKbatchError(await catchError(() => store.lock('run')), { code: 'JOB_LOCKED' });
      await job.release();
      await run.release();
      await (await store.lock()).release();
      await (await store.lock('run')).release();
    });

    it('records a cancel request and reports its time', async () => {
      const store = await open();
      const at = await store.requestCancel();
      expect(await store.cancelRequested()).toBe(at);
    });

    it('backs a ManifestStore whose queued saves keep the last state', async () => {
      const store = await open();
      await store.writeManifest(sampleManifest());
      const manifests = await ManifestStore.open(store);
      expect(manifests.jobStore).toBe(store);
      manifests.manifest.parts[0]!.status = 'in_progress';
      const a = manifests.save();
      manifests.manifest.parts[0]!.status = 'completed';
      await Promise.all([a, manifests.save()]);
      expect((await store.readManifest()).parts[0]!.status).toBe('completed');
    });
  });
}

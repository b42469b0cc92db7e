import { rm } from 'node:fs/promises';
import type { Executor } from './executor.js';
import { newId, nowSeconds } from './internal/ids.js';
import { createRandom, hash32 } from './internal/random.js';
import { ShuffleWriter } from './internal/shuffle-writer.js';
import { Sleeper } from './internal/sleeper.js';
import type { ResolvedEmulatorOptions, ResolvedFaults } from './options.js';
import { processBatch, type Ending } from './process-batch.js';
import { commitFile, type BatchObject, type FileObject, type Store, type Stored } from './store.js';
import { validateBatchInput } from './validate-batch.js';

/** The hours of a window such as `24h` or `7d` (the `completionWindows` option allows only these shapes). */
export function windowHours(window: string): number {
  const n = Number.parseInt(window, 10);
  return window.endsWith('d') ? n * 24 : n;
}

const ENDED: ReadonlySet<string> = new Set(['completed', 'failed', 'expired', 'cancelled']);

interface RunState {
  cancelRequested: boolean;
}

/**
 * The batch state machine: validating → in_progress → finalizing → completed, or failed / expired / cancelling →
 * cancelled. One async driver per batch; state is persisted at each step (and progress every 200 ms) so a restarted
 * emulator resumes in-flight batches (an interrupted in_progress batch is re-run from its first line).
 */
export class BatchLifecycle {
  private readonly sleeper = new Sleeper();
  private readonly running = new Map<string, RunState>();
  private readonly drivers = new Set<Promise<void>>();
  /** The most batches not yet ended at once (see {@link activeBatches}). */
  maxActive = 0;

  constructor(
    private readonly store: Store,
    private readonly opts: ResolvedEmulatorOptions,
    private readonly executor: Executor,
    private readonly faults: () => ResolvedFaults,
  ) {}

  /** True when batches may be created with this completion window (listed, or within the range). */
  acceptsWindow(window: string): boolean {
    const windows = this.opts.completionWindows;
    if (Array.isArray(windows)) return windows.includes(window);
    return /^\d+[hd]$/.test(window) && windowHours(windows.min) <= windowHours(window) && windowHours(window) <= windowHours(windows.max);
  }

  /** The windows accepted, as the 400 names them: "one of 1h, 24h" or "from 24h to 7d". */
  describeWindows(): string {
    const windows = this.opts.completionWindows;
    return Array.isArray(windows) ? `one of ${windows.join(', ')}` : `from ${windows.min} to ${windows.max}`;
  }

  /** Create and start a batch (inputs already validated by the route). */
  async create(input: Pick<BatchObject, 'input_file_id' | 'endpoint' | 'completion_window' | 'metadata' | 'output_expires_after'>): Promise<Stored<BatchObject>> {
    const createdMs = Date.now();
    const created = Math.floor(createdMs / 1000);
    const hours = windowHours(input.completion_window);
    const rec: Stored<BatchObject> = {
      seq: this.store.nextSeq(),
      createdMs,
      value: {
        id: newId('batch_'),
        object: 'batch',
        endpoint: input.endpoint,
        errors: null,
        input_file_id: input.input_file_id,
        completion_window: input.completion_window,
        status: 'validating',
        output_file_id: null,
        error_file_id: null,
        created_at: created,
        in_progress_at: null,
        expires_at: created + Math.max(1, Math.ceil(hours * 3600 * this.opts.timeScale)),
        finalizing_at: null,
        completed_at: null,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
        request_counts: { total: 0, completed: 0, failed: 0 },
        metadata: input.metadata,
        ...(input.output_expires_after ? { output_expires_after: input.output_expires_after } : {}),
      },
    };
    this.store.batches.set(rec.value.id, rec);
    // The count can only rise at a create: taking the peak here misses none.
    this.maxActive = Math.max(this.maxActive, this.activeBatches());
    await this.store.save('batches', rec);
    this.drive(rec);
    return rec;
  }

  /** Batches not yet ended (any status but completed, failed, expired and cancelled), by their stored status. */
  activeBatches(): number {
    let active = 0;
    for (const rec of this.store.batches.values()) if (!ENDED.has(rec.value.status)) active++;
    return active;
  }

  /** Restart the drivers of batches that were not finished when the emulator stopped. */
  resumeAll(): void {
    for (const rec of this.store.batches.values()) {
      if (['validating', 'in_progress', 'finalizing', 'cancelling'].includes(rec.value.status)) this.drive(rec);
    }
  }

  /** Request cancellation: validating/in_progress → cancelling (then cancelled with partial output). */
  async cancel(rec: Stored<BatchObject>): Promise<'ok' | 'not-cancellable'> {
    const b = rec.value;
    if (b.status === 'cancelling' || b.status === 'cancelled') return 'ok';
    if (b.status !== 'validating' && b.status !== 'in_progress') return 'not-cancellable';
    b.status = 'cancelling';
    b.cancelling_at = nowSeconds();
    const state = this.running.get(b.id);
    if (state) state.cancelRequested = true;
    else this.drive(rec);
    await this.store.save('batches', rec);
    return 'ok';
  }

  /** Stop every driver (state on disk stays resumable). */
  async close(): Promise<void> {
    this.sleeper.close();
    await Promise.race([Promise.allSettled([...this.drivers]), new Promise((r) => setTimeout(r, 3000).unref())]);
  }

  private drive(rec: Stored<BatchObject>): void {
    if (this.running.has(rec.value.id) || this.sleeper.isClosed) return;
    const state: RunState = { cancelRequested: rec.value.status === 'cancelling' };
    this.running.set(rec.value.id, state);
    const p = this.run(rec, state)
      .catch((err: unknown) => {
        if (this.sleeper.isClosed) return;
        // An internal failure must not leave a batch in flight forever.
        const b = rec.value;
        b.status = 'failed';
        b.failed_at = nowSeconds();
        b.errors = { object: 'list', data: [{ code: 'internal_error', message: (err as Error).message, param: null, line: null }] };
        return this.store.save('batches', rec).catch(() => undefined);
      })
      .finally(() => {
        this.running.delete(rec.value.id);
        this.drivers.delete(p);
      });
    this.drivers.add(p);
  }

  private async run(rec: Stored<BatchObject>, state: RunState): Promise<void> {
    const b = rec.value;
    if (b.status === 'validating') {
      if (!(await this.sleeper.sleep(this.opts.validationMs))) return;
      if (state.cancelRequested) return this.finishCancel(rec, []);
      const errors = await validateBatchInput(b, {
        store: this.store,
        maxBatchBytes: this.opts.maxBatchBytes,
        maxRequestsPerBatch: this.opts.maxRequestsPerBatch,
        maxLineBytes: this.opts.maxLineBytes,
        oneModelPerFile: this.opts.oneModelPerFile,
        // The anthropic personality checked its models (claude-*) at create.
        checkModels: this.executor.upstream === undefined && this.opts.provider !== 'anthropic',
        isClosed: () => this.sleeper.isClosed,
      });
      if (this.sleeper.isClosed) return;
      if (state.cancelRequested) return this.finishCancel(rec, []);
      if (errors.errors.length > 0) {
        b.status = 'failed';
        b.failed_at = nowSeconds();
        b.errors = { object: 'list', data: errors.errors };
        await this.store.save('batches', rec);
        return;
      }
      b.status = 'in_progress';
      b.in_progress_at = nowSeconds();
      b.request_counts = { total: errors.total, completed: 0, failed: 0 };
      await this.store.save('batches', rec);
    } else if (b.status === 'cancelling') {
      return this.finishCancel(rec, []);
    } else {
      // Resumed after a restart: run every line again (the built-in responder is deterministic).
      b.status = 'in_progress';
      b.finalizing_at = null;
      b.request_counts = { total: b.request_counts.total, completed: 0, failed: 0 };
      await this.store.save('batches', rec);
    }

    // Seeded by creation order (not the random id) so the same run gives the same shuffles and line failures.
    const random = createRandom((this.opts.seed ^ hash32(`batch:${rec.seq}`)) >>> 0);
    const writers = [new ShuffleWriter(this.store.tmpPath(`${b.id}.out`), random), new ShuffleWriter(this.store.tmpPath(`${b.id}.err`), random)] as const;
    let ending: Ending;
    try {
      ending = await processBatch(rec, writers, {
        store: this.store,
        executor: this.executor,
        sleeper: this.sleeper,
        faults: this.faults,
        parallel: this.executor.upstream ? (this.opts.upstream?.concurrency ?? 1) : 1,
        lineMs: this.opts.lineMs,
        expiresMs: this.expiresMs(rec),
        unrunErrorLines: this.opts.unrunErrorLines,
        random,
        state,
      });
    } catch (err) {
      await Promise.all(writers.map((w) => w.abandon()));
      throw err;
    }
    if (ending === 'closed') {
      await Promise.all(writers.map((w) => w.abandon().then(() => rm(w.path, { force: true }))));
      return;
    }
    await Promise.all(writers.map((w) => w.finish()));
    if (ending === 'cancelled') return this.finishCancel(rec, writers);
    if (ending === 'expired') {
      await this.commitOutputs(rec, writers);
      b.status = 'expired';
      b.expired_at = nowSeconds();
      await this.store.save('batches', rec);
      return;
    }
    b.status = 'finalizing';
    b.finalizing_at = nowSeconds();
    await this.store.save('batches', rec);
    if (!(await this.sleeper.sleep(this.opts.finalizingMs))) return;
    await this.commitOutputs(rec, writers);
    b.status = 'completed';
    b.completed_at = nowSeconds();
    await this.store.save('batches', rec);
  }

  private async finishCancel(rec: Stored<BatchObject>, writers: readonly ShuffleWriter[]): Promise<void> {
    if (!(await this.sleeper.sleep(this.opts.finalizingMs))) return;
    await this.commitOutputs(rec, writers);
    rec.value.status = 'cancelled';
    rec.value.cancelled_at = nowSeconds();
    await this.store.save('batches', rec);
  }

  private expiresMs(rec: Stored<BatchObject>): number {
    return rec.createdMs + windowHours(rec.value.completion_window) * 3_600_000 * this.opts.timeScale;
  }

  private async commitOutputs(rec: Stored<BatchObject>, writers: readonly ShuffleWriter[]): Promise<void> {
    const b = rec.value;
    for (const [i, w] of writers.entries()) {
      if (w.count === 0) {
        await rm(w.path, { force: true });
        continue;
      }
      const id = newId('file-');
      await commitFile(w.path, this.store.dataPath(id));
      const created = nowSeconds();
      // OpenAI anchors output_expires_after at the output file's creation.
      const expires = b.output_expires_after ? { expires_at: created + b.output_expires_after.seconds } : {};
      const file: Stored<FileObject> = {
        seq: this.store.nextSeq(),
        createdMs: Date.now(),
        value: { id, object: 'file', bytes: w.bytes, created_at: created, filename: `${b.id}_${i === 0 ? 'output' : 'error'}.jsonl`, purpose: 'batch_output', ...expires },
      };
      this.store.files.set(id, file);
      await this.store.save('files', file);
      if (i === 0) b.output_file_id = id;
      else b.error_file_id = id;
    }
  }
}

import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { errorBody } from './errors.js';
import { chatBodyError, type Executor, type Outcome } from './executor.js';
import { newId, nowSeconds } from './internal/ids.js';
import { createRandom, hash32 } from './internal/random.js';
import { ShuffleWriter } from './internal/shuffle-writer.js';
import { Sleeper } from './internal/sleeper.js';
import { isKnownModel } from './models.js';
import type { ChatRequestBody, ResolvedEmulatorOptions, ResolvedFaults } from './options.js';
import { commitFile, type BatchErrorEntry, type BatchObject, type Store, type Stored } from './store.js';

/** Completion windows the reference accepts, in hours. */
export const COMPLETION_WINDOWS: Record<string, number> = { '1h': 1, '3h': 3, '6h': 6, '12h': 12, '24h': 24 };

const MAX_REPORTED_ERRORS = 1000;

interface RunState {
  cancelRequested: boolean;
}

type Ending = 'done' | 'expired' | 'cancelled' | 'closed';

/**
 * The batch state machine: validating → in_progress → finalizing → completed, or failed / expired / cancelling →
 * cancelled. One async driver per batch; state is persisted at each step (and progress every 200 ms) so a restarted
 * emulator resumes in-flight batches (an interrupted in_progress batch is re-run from its first line).
 */
export class BatchLifecycle {
  private readonly sleeper = new Sleeper();
  private readonly running = new Map<string, RunState>();
  private readonly drivers = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly opts: ResolvedEmulatorOptions,
    private readonly executor: Executor,
    private readonly faults: () => ResolvedFaults,
  ) {}

  /** Create and start a batch (inputs already validated by the route). */
  async create(input: { input_file_id: string; endpoint: string; completion_window: string; metadata: Record<string, string> }): Promise<Stored<BatchObject>> {
    const createdMs = Date.now();
    const created = Math.floor(createdMs / 1000);
    const hours = COMPLETION_WINDOWS[input.completion_window]!;
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
      },
    };
    this.store.batches.set(rec.value.id, rec);
    await this.store.save('batches', rec);
    this.drive(rec);
    return rec;
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
      const errors = await this.validate(b);
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
      ending = await this.process(rec, state, writers, random);
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
    return rec.createdMs + COMPLETION_WINDOWS[rec.value.completion_window]! * 3_600_000 * this.opts.timeScale;
  }

  private async validate(b: BatchObject): Promise<{ total: number; errors: BatchErrorEntry[] }> {
    const errors: BatchErrorEntry[] = [];
    const add = (e: BatchErrorEntry) => {
      if (errors.length < MAX_REPORTED_ERRORS) errors.push(e);
    };
    const path = this.store.dataPath(b.input_file_id);
    const size = (await stat(path)).size;
    if (size > this.opts.maxBatchBytes) {
      add({ code: 'file_too_large', message: `The input file has ${size} bytes; the limit is ${this.opts.maxBatchBytes} bytes`, param: 'input_file_id', line: null });
      return { total: 0, errors };
    }
    const checkModels = this.executor.upstream === undefined;
    const seen = new Set<string>();
    let total = 0;
    let lineNo = 0;
    const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    for await (const line of rl) {
      lineNo++;
      if (this.sleeper.isClosed) break;
      if (line.trim() === '') continue;
      total++;
      if (total > this.opts.maxRequestsPerBatch) {
        add({ code: 'too_many_requests', message: `The input file has more than ${this.opts.maxRequestsPerBatch} requests`, param: null, line: lineNo });
        break;
      }
      let req: unknown;
      try {
        req = JSON.parse(line);
      } catch {
        add({ code: 'invalid_json_line', message: `Line ${lineNo} is not valid JSON`, param: null, line: lineNo });
        continue;
      }
      if (!req || typeof req !== 'object' || Array.isArray(req)) {
        add({ code: 'invalid_json_line', message: `Line ${lineNo} is not a JSON object`, param: null, line: lineNo });
        continue;
      }
      const r = req as Record<string, unknown>;
      const id = r['custom_id'];
      if (typeof id !== 'string' || id === '') {
        add({ code: 'missing_custom_id', message: `Line ${lineNo} has no custom_id`, param: 'custom_id', line: lineNo });
      } else if (seen.has(id)) {
        add({ code: 'duplicate_custom_id', message: `The custom_id ${JSON.stringify(id)} on line ${lineNo} is already used by an earlier line`, param: 'custom_id', line: lineNo });
      } else {
        seen.add(id);
      }
      if (r['method'] !== 'POST') {
        add({ code: 'invalid_method', message: `Line ${lineNo}: method must be POST, got ${JSON.stringify(r['method'])}`, param: 'method', line: lineNo });
      }
      if (r['url'] !== b.endpoint) {
        add({ code: 'invalid_url', message: `Line ${lineNo}: url must be ${b.endpoint}, got ${JSON.stringify(r['url'])}`, param: 'url', line: lineNo });
      }
      const body = r['body'];
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        add({ code: 'missing_required_parameter', message: `Line ${lineNo} has no body object`, param: 'body', line: lineNo });
      } else if (checkModels && !isKnownModel(this.store, (body as { model?: unknown }).model)) {
        add({ code: 'model_not_found', message: `Line ${lineNo}: the model ${JSON.stringify((body as { model?: unknown }).model)} does not exist`, param: 'body.model', line: lineNo });
      }
    }
    rl.close();
    if (total === 0 && errors.length === 0) add({ code: 'empty_file', message: 'The input file has no requests', param: 'input_file_id', line: null });
    return { total, errors };
  }

  private async process(rec: Stored<BatchObject>, state: RunState, writers: readonly [ShuffleWriter, ShuffleWriter], random: () => number): Promise<Ending> {
    const b = rec.value;
    const parallel = this.executor.upstream ? (this.opts.upstream?.concurrency ?? 1) : 1;
    const inflight = new Set<Promise<void>>();
    const expiresMs = this.expiresMs(rec);
    const lineMs = this.opts.lineMs;
    let started = 0;
    let lastSave = Date.now();
    const startMs = Date.now();
    let ending: Ending = 'done';

    const record = async (customId: string, outcome: Outcome) => {
      const line = JSON.stringify({
        id: newId('batch_req_'),
        custom_id: customId,
        response: { status_code: outcome.status, request_id: newId('req_'), body: outcome.body },
        error: null,
      });
      if (outcome.status >= 200 && outcome.status < 300) {
        await writers[0].push(line);
        b.request_counts.completed++;
      } else {
        await writers[1].push(line);
        b.request_counts.failed++;
      }
      if (Date.now() - lastSave > 200) {
        lastSave = Date.now();
        this.store.save('batches', rec).catch(() => undefined);
      }
    };

    const rl = createInterface({ input: createReadStream(this.store.dataPath(b.input_file_id)), crlfDelay: Infinity });
    try {
      for await (const line of rl) {
        if (line.trim() === '') continue;
        const faults = this.faults();
        if (this.sleeper.isClosed) {
          ending = 'closed';
          break;
        }
        if (state.cancelRequested) {
          ending = 'cancelled';
          break;
        }
        if (Date.now() >= expiresMs || (faults.expireAfterLines !== undefined && started >= faults.expireAfterLines)) {
          ending = 'expired';
          break;
        }
        if (lineMs > 0) {
          const wait = startMs + (started + 1) * lineMs - Date.now();
          if (wait >= 1 && !(await this.sleeper.sleep(wait))) {
            ending = 'closed';
            break;
          }
        } else if (started % 500 === 499) {
          await new Promise((r) => setImmediate(r));
        }
        started++;
        const req = JSON.parse(line) as { custom_id: string; body: ChatRequestBody };
        const fail = faults.lineFailureRate !== undefined && random() < faults.lineFailureRate;
        const task = (async () => {
          let outcome: Outcome;
          const bodyError = chatBodyError(this.store, req.body, false);
          if (fail) outcome = { status: 500, body: errorBody(500, 'Injected failure (faults.lineFailureRate)', 'server_error') };
          else if (bodyError) outcome = { status: bodyError.status, body: errorBody(bodyError.status, bodyError.message, bodyError.code, bodyError.param) };
          else outcome = await this.executor.run(req.body);
          await record(req.custom_id, outcome);
        })();
        inflight.add(task);
        void task.finally(() => inflight.delete(task));
        if (inflight.size >= parallel) await Promise.race(inflight);
      }
    } finally {
      rl.close();
      await Promise.allSettled([...inflight]);
    }
    if (ending === 'done' && state.cancelRequested) ending = 'cancelled';
    return ending;
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
      const file: Stored<{ id: string; object: 'file'; bytes: number; created_at: number; filename: string; purpose: string }> = {
        seq: this.store.nextSeq(),
        createdMs: Date.now(),
        value: { id, object: 'file', bytes: w.bytes, created_at: nowSeconds(), filename: `${b.id}_${i === 0 ? 'output' : 'error'}.jsonl`, purpose: 'batch_output' },
      };
      this.store.files.set(id, file);
      await this.store.save('files', file);
      if (i === 0) b.output_file_id = id;
      else b.error_file_id = id;
    }
  }
}

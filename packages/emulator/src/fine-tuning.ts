import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { newId, nowSeconds } from './internal/ids.js';
import { hash32 } from './internal/random.js';
import { Sleeper } from './internal/sleeper.js';
import type { FineTuningJobObject, Store, Stored } from './store.js';

/**
 * Fine-tuning jobs: queued → (validate training file) → running → succeeded, or failed (invalid training lines) /
 * cancelling → cancelled. Each step lasts `ftStepMs`; running lasts one step per epoch.
 */
export class FineTuningLifecycle {
  private readonly sleeper = new Sleeper();
  private readonly running = new Set<string>();
  private readonly drivers = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly stepMs: number,
  ) {}

  /** Create and start a job (inputs validated by the route). */
  async create(input: {
    model: string;
    training_file: string;
    validation_file: string | null;
    hyperparameters: FineTuningJobObject['hyperparameters'];
    nickname: string | null;
    seed: number;
    metadata: Record<string, string> | null;
  }): Promise<Stored<FineTuningJobObject>> {
    const rec: Stored<FineTuningJobObject> = {
      seq: this.store.nextSeq(),
      createdMs: Date.now(),
      value: {
        object: 'fine_tuning.job',
        id: newId('ftjob-'),
        model: input.model,
        created_at: nowSeconds(),
        finished_at: null,
        fine_tuned_model: null,
        result_files: [],
        status: 'queued',
        training_file: input.training_file,
        validation_file: input.validation_file,
        hyperparameters: input.hyperparameters,
        method: { type: 'supervised', supervised: { ...input.hyperparameters } },
        trained_tokens: null,
        integrations: [],
        error: null,
        metadata: input.metadata,
        seed: input.seed,
        nickname: input.nickname,
      },
    };
    this.store.jobs.set(rec.value.id, rec);
    await this.store.save('jobs', rec);
    this.drive(rec);
    return rec;
  }

  /** Restart unfinished jobs after a restart. */
  resumeAll(): void {
    for (const rec of this.store.jobs.values()) if (['queued', 'running', 'cancelling'].includes(rec.value.status)) this.drive(rec);
  }

  /**
   * queued/running → cancelling (→ cancelled one step later).
   * @returns the job as the cancel left it (a copy: on a slow machine its driver may finish the cancel before the
   *   save below returns, and the answer must still say `cancelling`), or 'not-cancellable'
   */
  async cancel(rec: Stored<FineTuningJobObject>): Promise<FineTuningJobObject | 'not-cancellable'> {
    const j = rec.value;
    if (j.status === 'cancelling' || j.status === 'cancelled') return { ...j };
    if (j.status !== 'queued' && j.status !== 'running') return 'not-cancellable';
    j.status = 'cancelling';
    const answer = { ...j };
    await this.store.save('jobs', rec);
    if (!this.running.has(j.id)) this.drive(rec);
    return answer;
  }

  /** Stop every driver. */
  async close(): Promise<void> {
    this.sleeper.close();
    await Promise.allSettled([...this.drivers]);
  }

  private drive(rec: Stored<FineTuningJobObject>): void {
    if (this.running.has(rec.value.id) || this.sleeper.isClosed) return;
    this.running.add(rec.value.id);
    const p = this.run(rec)
      .catch(() => undefined)
      .finally(() => {
        this.running.delete(rec.value.id);
        this.drivers.delete(p);
      });
    this.drivers.add(p);
  }

  private async run(rec: Stored<FineTuningJobObject>): Promise<void> {
    const j = rec.value;
    const cancelled = () => (j.status as string) === 'cancelling';
    const finishCancel = async () => {
      if (!(await this.sleeper.sleep(this.stepMs))) return;
      j.status = 'cancelled';
      j.finished_at = nowSeconds();
      await this.store.save('jobs', rec);
    };
    if (cancelled()) return finishCancel();
    if (j.status === 'queued') {
      if (!(await this.sleeper.sleep(this.stepMs))) return;
      if (cancelled()) return finishCancel();
      const check = await this.validateTraining(j.training_file);
      if (this.sleeper.isClosed) return;
      if (cancelled()) return finishCancel();
      if (check.error) {
        j.status = 'failed';
        j.finished_at = nowSeconds();
        j.error = { code: 'invalid_training_file', message: check.error, param: 'training_file' };
        await this.store.save('jobs', rec);
        return;
      }
      j.status = 'running';
      j.trained_tokens = 0;
      (j as FineTuningJobObject & { _tokens?: number })._tokens = check.tokens;
      await this.store.save('jobs', rec);
    }
    const tokensPerEpoch = (j as FineTuningJobObject & { _tokens?: number })._tokens ?? 0;
    for (let epoch = 1; epoch <= j.hyperparameters.n_epochs; epoch++) {
      if (!(await this.sleeper.sleep(this.stepMs))) return;
      if (cancelled()) return finishCancel();
      j.trained_tokens = tokensPerEpoch * epoch;
      await this.store.save('jobs', rec);
    }
    const base = j.model.split('/').pop()!;
    const suffix = j.nickname ? `${j.nickname}:` : '';
    j.status = 'succeeded';
    j.finished_at = nowSeconds();
    j.fine_tuned_model = `ft:${base}:personal:${suffix}${hash32(j.id).toString(16).padStart(8, '0')}`;
    await this.store.save('jobs', rec);
  }

  /** Every non-blank line must be a JSON object with a non-empty `messages` array. */
  private async validateTraining(fileId: string): Promise<{ error?: string; tokens: number }> {
    let lineNo = 0;
    let count = 0;
    let chars = 0;
    const rl = createInterface({ input: createReadStream(this.store.dataPath(fileId)), crlfDelay: Infinity });
    try {
      for await (const line of rl) {
        lineNo++;
        if (line.trim() === '') continue;
        count++;
        chars += line.length;
        let row: unknown;
        try {
          row = JSON.parse(line);
        } catch {
          return { error: `Line ${lineNo} of the training file is not valid JSON`, tokens: 0 };
        }
        const messages = (row as { messages?: unknown } | null)?.messages;
        if (!Array.isArray(messages) || messages.length === 0) {
          return { error: `Line ${lineNo} of the training file has no non-empty \`messages\` array`, tokens: 0 };
        }
      }
    } finally {
      rl.close();
    }
    if (count === 0) return { error: 'The training file has no examples', tokens: 0 };
    return { tokens: Math.ceil(chars / 4) };
  }
}

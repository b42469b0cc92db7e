import { APIConnectionError, APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { waitForFineTuneJob, type FineTuneJob } from '../../src/finetune/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

/** A client whose job walks through the given states (the last one repeats). */
function scripted(states: (Record<string, unknown> | Error)[]) {
  let i = 0;
  const client = {
    calls: 0,
    fineTuning: {
      jobs: {
        retrieve: async (id: string) => {
          client.calls++;
          const state = states[Math.min(i++, states.length - 1)]!;
          if (state instanceof Error) throw state;
          return { id, object: 'fine_tuning.job', model: 'm', created_at: 1, ...state };
        },
      },
    },
  };
  return client;
}

const fast = { pollIntervalMs: 1, maxPollIntervalMs: 2 };

describe('waitForFineTuneJob', () => {
  it('resolves with the succeeded job and reports each status change once', async () => {
    const client = scripted([{ status: 'queued' }, { status: 'running' }, { status: 'running' }, { status: 'succeeded', fine_tuned_model: 'ft:m:x' }]);
    const statuses: string[] = [];
    const job = await waitForFineTuneJob({ client, jobId: 'j', ...fast, onStatus: (j: FineTuneJob) => statuses.push(j.status) });
    expect(job.fine_tuned_model).toBe('ft:m:x');
    expect(statuses).toEqual(['queued', 'running', 'succeeded']);
    expect(client.calls).toBe(4);
  });

  it('throws FINETUNE_FAILED with the job error when it fails', async () => {
    const client = scripted([{ status: 'running' }, { status: 'failed', error: { code: 'invalid_training_file', message: 'line 3: bad JSON' } }]);
    const err = await catchError(() => waitForFineTuneJob({ client, jobId: 'j', ...fast }));
    expectKbatchError(err, { code: 'FINETUNE_FAILED', message: 'fine-tuning job j failed: invalid_training_file: line 3: bad JSON' });
  });

  it('throws FINETUNE_CANCELLED when the job was cancelled', async () => {
    const err = await catchError(() => waitForFineTuneJob({ client: scripted([{ status: 'cancelled' }]), jobId: 'j', ...fast }));
    expectKbatchError(err, { code: 'FINETUNE_CANCELLED', message: /was cancelled/ });
  });

  it('treats success without fine_tuned_model as RESPONSE_INVALID', async () => {
    const err = await catchError(() => waitForFineTuneJob({ client: scripted([{ status: 'succeeded' }]), jobId: 'j', ...fast }));
    expectKbatchError(err, { code: 'RESPONSE_INVALID' });
  });

  it('rides out transient polling errors but not permanent ones', async () => {
    const e503 = new APIError(503, { message: 'busy' }, 'busy', new Headers());
    const ok = scripted([e503, e503, { status: 'succeeded', fine_tuned_model: 'ft' }]);
    expect((await waitForFineTuneJob({ client: ok, jobId: 'j', ...fast })).fine_tuned_model).toBe('ft');
    const e404 = new APIError(404, { message: 'no such job' }, 'no such job', new Headers());
    expect(await catchError(() => waitForFineTuneJob({ client: scripted([e404]), jobId: 'j', ...fast }))).toBe(e404);
    const tooMany = scripted([e503]);
    expect(await catchError(() => waitForFineTuneJob({ client: tooMany, jobId: 'j', ...fast, maxConsecutiveErrors: 2 }))).toBe(e503);
    expect(tooMany.calls).toBe(3);
  });

  it('rides out a dropped connection (a status-less SDK error)', async () => {
    const dropped = new APIConnectionError({ message: 'Connection error.' });
    const client = scripted([dropped, { status: 'succeeded', fine_tuned_model: 'ft' }]);
    expect((await waitForFineTuneJob({ client, jobId: 'j', ...fast })).fine_tuned_model).toBe('ft');
  });

  it('gives up with AWAIT_TIMEOUT after timeoutMs', async () => {
    const err = await catchError(() => waitForFineTuneJob({ client: scripted([{ status: 'running' }]), jobId: 'j', ...fast, timeoutMs: 20 }));
    expectKbatchError(err, { code: 'AWAIT_TIMEOUT', message: /still running/ });
  });

  it('stops with ABORTED when the signal aborts', async () => {
    const controller = new AbortController();
    const promise = waitForFineTuneJob({ client: scripted([{ status: 'running' }]), jobId: 'j', pollIntervalMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    expectKbatchError(await catchError(() => promise), { code: 'ABORTED', message: 'waiting for fine-tuning job j was aborted' });
  });

  it('validates options with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => waitForFineTuneJob({ client: scripted([]), jobId: 'j', pollIntervalMs: 0 })), {
      code: 'OPTION_INVALID',
      field: 'pollIntervalMs',
    });
    expectKbatchError(await catchError(() => waitForFineTuneJob({ client: {} as never, jobId: 'j' })), { code: 'OPTION_INVALID', field: 'client' });
  });
});

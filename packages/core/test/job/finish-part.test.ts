import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createJob } from '../../src/job/create-job.js';
import { ManifestStore, type JobPart } from '../../src/state/manifest.js';
import { scanFile } from '../../src/job/lines.js';
import { finishPart } from '../../src/job/finish-part.js';
import type { JobContext } from '../../src/job/context.js';
import type { JobClient, JobEvent } from '../../src/job/job-types.js';
import type { KBatch } from '../../src/client/schemas.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { failureCause } from '../../src/run/failure-cause.js';
import { validationResults } from '../../src/job/validation-results.js';
import { parseResultLine } from '../../src/join/result-line.js';
import { emulatorClient, requestLine } from './fixtures.js';

const ids = ['a1', 'a2', 'a3', 'a4', 'a5'];

function ok(id: string): string {
  return JSON.stringify({ id: `r-${id}`, custom_id: id, response: { status_code: 200, body: { choices: [] } }, error: null });
}
function expiredMarker(id: string): string {
  return JSON.stringify({ id: `r-${id}`, custom_id: id, response: null, error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' } });
}

function batch(fields: Partial<KBatch>): KBatch {
  return {
    id: 'batch_x',
    object: 'batch',
    endpoint: '/v1/chat/completions',
    status: 'expired',
    input_file_id: 'file_in',
    completion_window: '24h',
    output_file_id: 'file_out',
    error_file_id: 'file_err',
    request_counts: { total: 5, completed: 2, failed: 0 },
    ...fields,
  } as KBatch;
}

describe('finishPart', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 5, validationMs: 10, lineMs: 0, finalizingMs: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  async function setup(files: Record<string, string>) {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-finish-'));
    const chunk = join(root, 'chunk.jsonl');
    await writeFile(chunk, `${ids.map((id) => requestLine(id)).join('\n')}\n`);
    const { jobDir } = await createJob({ chunks: [chunk], jobDir: join(root, 'job') });
    const store = await ManifestStore.open(jobDir);
    const real = emulatorClient(emu.baseURL);
    const client = Object.assign(Object.create(real) as JobClient, {
      files: { content: async (id: string) => new Response(files[id] ?? '') },
    });
    const events: JobEvent[] = [];
    const ctx: JobContext = {
      store,
      client,
      limit: pLimit(2),
      emit: (e) => events.push(e),
      opts: { concurrency: 2, pollIntervalMs: 50, retryBaseMs: 1, noResubmit: false, maxResubmits: 3, downloadAttempts: 2 },
    };
    const part = store.manifest.parts[0]!;
    part.batchId = 'batch_x';
    return { ctx, store, part, events };
  }

  it('resubmits only the requests whose lines are never-run markers (batch_expired) or missing', async () => {
    const { ctx, store, part } = await setup({
      file_out: `${ok('a1')}\n${ok('a2')}\n`,
      file_err: `${expiredMarker('a3')}\n${expiredMarker('a4')}\n`,
    });
    const created = emu.stats().batchesCreated;
    const next = await finishPart(ctx, part, batch({}));
    expect(next).toMatchObject({ kind: 'resubmit', parent: '00001', requests: 3 });
    expect(part).toMatchObject({ done: true, succeeded: 2, failed: 0, resubmittedAs: next!.index });
    expect(store.manifest.parts).toHaveLength(2);
    expect(emu.stats().batchesCreated - created).toBe(1);
  });

  it('finishing a part again after a crash reuses its recorded resubmit part (no second part, no second batch)', async () => {
    const { ctx, store, part } = await setup({
      file_out: `${ok('a1')}\n${ok('a2')}\n`,
      file_err: `${expiredMarker('a3')}\n${expiredMarker('a4')}\n`,
    });
    const created = emu.stats().batchesCreated;
    const first = await finishPart(ctx, part, batch({}));
    part.done = false;
    const again = await finishPart(ctx, part, batch({}));
    expect(again).toBe(first);
    expect(store.manifest.parts.map((p) => p.index)).toEqual(['00001', first!.index]);
    expect(emu.stats().batchesCreated - created).toBe(1);
  });

  it('never resubmits a straggler batch, even one that expired before its cancel took; its markers are not failures', async () => {
    const { ctx, store, part } = await setup({
      file_out: `${ok('a1')}\n${ok('a2')}\n`,
      file_err: `${expiredMarker('a3')}\n${expiredMarker('a4')}\n`,
    });
    part.straggler = { at: new Date().toISOString(), remaining: 3, total: 5, idleMs: 60_000 };
    const created = emu.stats().batchesCreated;
    expect(await finishPart(ctx, part, batch({ request_counts: { total: 5, completed: 2, failed: 2 } }))).toBeUndefined();
    expect(part).toMatchObject({ done: true, succeeded: 2, failed: 0 });
    expect(part.resubmittedAs).toBeUndefined();
    expect(store.manifest.parts).toHaveLength(1);
    expect(emu.stats().batchesCreated).toBe(created);
  });

  it('downloads an expired batch strictly: a short output file is DOWNLOAD_INCOMPLETE, nothing resubmitted', async () => {
    const { ctx, store, part } = await setup({ file_out: `${ok('a1')}\n`, file_err: '' });
    const err = await catchError(() => finishPart(ctx, part, batch({ error_file_id: null })));
    expectKbatchError(err, { code: 'DOWNLOAD_INCOMPLETE' });
    expect(store.manifest.parts).toHaveLength(1);
    expect(part.done).toBe(false);
  });

  it('refuses to resubmit an expired batch whose completed results are not all there', async () => {
    const { ctx, store, part, events } = await setup({});
    await finishPart(ctx, part, batch({ output_file_id: null, error_file_id: null }));
    expect(store.manifest.parts).toHaveLength(1);
    expect(part.resubmittedAs).toBeUndefined();
    expect(events.some((e) => e.type === 'warning' && /batch batch_x \(expired\) counted 2 completed.*not resent/.test(e.message))).toBe(true);
  });

  it('marks the requests of a batch finished without the output it counted as result_missing, which no retry resends', async () => {
    const { ctx, store, part, events } = await setup({ file_err: `${expiredMarker('a5')}\n` });
    await finishPart(ctx, part, batch({ status: 'completed', output_file_id: null, request_counts: { total: 5, completed: 4, failed: 1 } }));
    expect(store.manifest.parts).toHaveLength(1);
    expect(part).toMatchObject({ done: true, succeeded: 0, failed: 5, errorLines: 5 });
    const lines = (await readFile(join(store.jobDir, part.errorPath!), 'utf8')).trim().split('\n');
    const codes = lines.map((l) => [JSON.parse(l).custom_id, JSON.parse(l).error.code]);
    expect(codes).toEqual([['a5', 'batch_expired'], ['a1', 'result_missing'], ['a2', 'result_missing'], ['a3', 'result_missing'], ['a4', 'result_missing']]);
    expect(JSON.parse(lines[1]!).error.message).toMatch(/batch batch_x counted 4 completed requests but its output held 0; this request may have run and been paid/);
    expect(failureCause(parseResultLine(lines[1]!), null)).toEqual({ cause: 'result_missing', retry: false });
    expect(events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message)).toEqual([
      'batch batch_x (completed) counted 4 completed requests but gave 0 output lines; 4 requests without a result are marked result_missing and not resent (they may have run and been paid: check the batch on the server)',
    ]);
  });

  it('with --no-resubmit gives an expired batch\'s requests without any line a batch_expired line, so no row lacks a result', async () => {
    const { ctx, store, part } = await setup({ file_out: `${ok('a1')}\n${ok('a2')}\n`, file_err: `${expiredMarker('a3')}\n` });
    ctx.opts.noResubmit = true;
    expect(await finishPart(ctx, part, batch({ request_counts: { total: 5, completed: 2, failed: 1 } }))).toBeUndefined();
    expect(part).toMatchObject({ done: true, succeeded: 2, failed: 3, errorLines: 3 });
    const lines = (await readFile(join(store.jobDir, part.errorPath!), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.custom_id, l.error.code])).toEqual([['a3', 'batch_expired'], ['a4', 'batch_expired'], ['a5', 'batch_expired']]);
    expect(lines[1].error.message).toBe('batch batch_x expired before this request ran; not resubmitted (--no-resubmit)');
  });

  it('past maxResubmits gives each never-run request one BATCH_EXPIRED error line (replacing the server markers) and warns', async () => {
    const { ctx, store, part, events } = await setup({
      file_out: `${ok('a1')}\n${ok('a2')}\n`,
      file_err: `${expiredMarker('a3')}\n${expiredMarker('a4')}\n`,
    });
    ctx.opts.maxResubmits = 0;
    expect(await finishPart(ctx, part, batch({}))).toBeUndefined();
    expect(store.manifest.parts).toHaveLength(1);
    expect(part).toMatchObject({ done: true, succeeded: 2, failed: 3, errorLines: 3 });
    const lines = (await readFile(join(store.jobDir, part.errorPath!), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.custom_id, l.error.code])).toEqual([['a3', 'BATCH_EXPIRED'], ['a4', 'BATCH_EXPIRED'], ['a5', 'BATCH_EXPIRED']]);
    expect(lines[0].error.message).toBe('expired once; not resubmitted after 0 resubmissions (limit --max-resubmits 0)');
    expect(events).toContainEqual({ type: 'warning', part: '00001', message: '3 requests expired once; not resubmitted (limit --max-resubmits 0)' });
  });

  it('gives two batches that expire at once distinct resubmit parts, each chunk holding its own never-run requests', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-finish-'));
    const chunks = ['a', 'b'].map((k) => join(root, `${k}.jsonl`));
    for (const [i, k] of ['a', 'b'].entries()) await writeFile(chunks[i]!, `${[1, 2, 3, 4, 5].map((n) => requestLine(`${k}${n}`)).join('\n')}\n`);
    const { jobDir } = await createJob({ chunks, jobDir: join(root, 'job') });
    const store = await ManifestStore.open(jobDir);
    // Both expiries are held until both have asked for their results, so they finish at the same moment.
    let release!: () => void;
    const bothAsked = new Promise<void>((r) => (release = r));
    let asked = 0;
    const real = emulatorClient(emu.baseURL);
    const client = Object.assign(Object.create(real) as JobClient, {
      files: {
        content: async (id: string) => {
          if (++asked === 2) release();
          await bothAsked;
          return new Response(`${ok(id === 'out_a' ? 'a1' : 'b1')}\n`);
        },
      },
    });
    const ctx: JobContext = {
      store,
      client,
      limit: pLimit(2),
      emit: () => {},
      opts: { concurrency: 2, pollIntervalMs: 50, retryBaseMs: 1, noResubmit: false, maxResubmits: 3, downloadAttempts: 2 },
    };
    const [pa, pb] = store.manifest.parts as [JobPart, JobPart];
    const expired = (k: string) => batch({ id: `batch_${k}`, output_file_id: `out_${k}`, error_file_id: null, request_counts: { total: 5, completed: 1, failed: 0 } });
    const [na, nb] = await Promise.all([finishPart(ctx, pa, expired('a')), finishPart(ctx, pb, expired('b'))]);
    expect(new Set(store.manifest.parts.map((p) => p.index)).size).toBe(4);
    for (const [parent, next, k] of [[pa, na!, 'a'], [pb, nb!, 'b']] as const) {
      expect(next).toMatchObject({ kind: 'resubmit', parent: parent.index, requests: 4 });
      expect(parent.resubmittedAs).toBe(next.index);
      const text = await readFile(join(jobDir, next.path), 'utf8');
      expect(text.trim().split('\n').map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual([2, 3, 4, 5].map((n) => `${k}${n}`));
      expect((await scanFile(join(jobDir, next.path))).sha256).toBe(next.sha256);
      expect(next.fileId).toBeDefined();
    }
    expect((await readdir(join(jobDir, 'chunks'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('never resubmits the requests of a failed batch that ran some (counted or gave results): they keep their results or get result_missing', async () => {
    const variants: Array<[Record<string, string>, Partial<KBatch>]> = [
      [{ file_out: `${ok('a1')}\n${ok('a2')}\n` }, { error_file_id: null, request_counts: { total: 5, completed: 2, failed: 0 } }],
      [{}, { output_file_id: null, error_file_id: null, request_counts: { total: 5, completed: 2, failed: 0 } }],
    ];
    for (const [files, fields] of variants) {
      const { ctx, store, part, events } = await setup(files);
      const created = emu.stats().batchesCreated;
      const failed = batch({ status: 'failed', errors: { object: 'list', data: [{ code: 'line_too_long', message: 'Line 3 is too long', line: 3 }] }, ...fields });
      expect(await finishPart(ctx, part, failed)).toBeUndefined();
      expect(store.manifest.parts).toHaveLength(1);
      expect(emu.stats().batchesCreated).toBe(created);
      const lines = (await readFile(join(store.jobDir, part.errorPath!), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      const kept = files.file_out ? ['a3', 'a4', 'a5'] : ids;
      expect(lines.map((l) => [l.custom_id, l.error.code])).toEqual(kept.map((id) => [id, 'result_missing']));
      expect(events.some((e) => e.type === 'warning' && /batch batch_x \(failed\).*marked result_missing and not resent/.test(e.message))).toBe(true);
    }
  });

  it('finishes a failed batch without counts that names only its error file (Together, accepted missing output): the unanswered requests get result_missing, none resent', async () => {
    const failedLine = (id: string) => JSON.stringify({ id: `r-${id}`, custom_id: id, response: { status_code: 400, body: { error: { message: 'bad', code: 'invalid_request' } } }, error: null });
    const { ctx, store, part } = await setup({ file_err: `${failedLine('a1')}\n${failedLine('a2')}\n` });
    const created = emu.stats().batchesCreated;
    const failed = batch({ status: 'failed', output_file_id: null, request_counts: { total: 0, completed: 0, failed: 0 }, errors: { object: 'list', data: [{ code: null, message: 'worker crashed', line: null }] } as KBatch['errors'] });
    expect(await finishPart(ctx, part, failed)).toBeUndefined();
    expect([store.manifest.parts.length, emu.stats().batchesCreated, part.succeeded, part.failed]).toEqual([1, created, 0, 5]);
    const lines = (await readFile(join(store.jobDir, part.errorPath!), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.error?.code === 'result_missing').map((l) => l.custom_id)).toEqual(['a3', 'a4', 'a5']);
  });

  it('never resends unchanged a failed batch whose errors name none of its requests: each gets the batch\'s error, final for the job', async () => {
    const cases: Array<[Array<{ code?: string; message: string; line?: number }>, string, string]> = [
      [[], 'batch_failed_no_cause', 'the batch failed and the server reported no error; not resubmitted unchanged'],
      [[{ code: 'invalid_request', message: 'bad', line: 99 }], 'invalid_request', 'the batch failed with 1 error naming no request (e.g. line 99: bad); not resubmitted unchanged'],
    ];
    for (const [data, code, message] of cases) {
      const { ctx, store, part, events } = await setup({});
      const created = emu.stats().batchesCreated;
      const failed = batch({ status: 'failed', output_file_id: null, error_file_id: null, errors: { object: 'list', data }, request_counts: { total: 0, completed: 0, failed: 0 } });
      expect(await finishPart(ctx, part, failed)).toBeUndefined();
      expect(store.manifest.parts).toHaveLength(1);
      expect(emu.stats().batchesCreated).toBe(created);
      expect(part).toMatchObject({ done: true, succeeded: 0, failed: 5 });
      expect(events.find((e) => e.type === 'finished')).toMatchObject({ causes: [{ code: data[0]?.code ?? null, requests: 5 }] });
      const rows = [];
      for await (const { line } of validationResults(store.jobDir, part)) rows.push(line);
      expect(rows.map((l) => [l.custom_id, l.error?.code])).toEqual(ids.map((id) => [id, code]));
      expect(rows[0]!.error?.message).toBe(`batch batch_x failed validation: ${data[0]?.code ?? 'error'}: ${message}`);
    }
    expect(failureCause(parseResultLine({ custom_id: 'a1', response: null, error: { code: 'batch_failed_no_cause', message: 'm' } }), null)).toEqual({ cause: 'batch_failed_no_cause', retry: true });
  });

  it('fails with RESPONSE_INVALID on a result line that is not JSON', async () => {
    const { ctx, part } = await setup({ file_out: `${ok('a1')}\nnot json\n` });
    expectKbatchError(await catchError(() => finishPart(ctx, part, batch({ error_file_id: null }))), { code: 'RESPONSE_INVALID', line: 2 });
  });
});

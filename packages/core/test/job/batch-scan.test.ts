import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APIError } from 'openai';
import { JobBatchScan } from '../../src/job/batch-scan.js';
import type { JobManifest, JobPart } from '../../src/state/manifest.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { leakListener, watchAbortListeners } from '../helpers/listeners.js';

// Small fakes of a client without batch metadata (Anthropic's shape): the scan's decisions, not the wire, are tested here.
const now = Math.floor(Date.now() / 1000);
const batch = (id: string, status: string) => ({
  id, object: 'batch', endpoint: '/v1/chat/completions', input_file_id: null, completion_window: '24h', status,
  output_file_id: status === 'completed' ? `results:${id}` : null, error_file_id: null, created_at: now - 5, in_progress_at: now - 5,
  expires_at: now + 86_400, request_counts: { total: 2, completed: status === 'completed' ? 2 : 0, failed: 0 }, metadata: null,
});

/** A client listing `batches`, whose results files hold `results[batchId]` custom_ids (or throw `fail`). */
function client(batches: object[], results: Record<string, string[]> = {}, fail?: () => Error) {
  return {
    batchMetadata: false,
    batches: { list: async () => ({ object: 'list', data: batches, has_more: false, first_id: null, last_id: null }) },
    files: {
      content: async (id: string) => {
        if (fail) throw fail();
        const ids = results[id.slice('results:'.length)] ?? [];
        return new Response(ids.map((c) => `${JSON.stringify({ custom_id: c })}\n`).join(''));
      },
    },
  } as never;
}

async function job(): Promise<{ dir: string; manifest: JobManifest }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-scan-'));
  await mkdir(join(dir, 'chunks'));
  const start = new Date((now - 10) * 1000).toISOString();
  const parts = ['00001', '00002'].map((index) => ({
    index, path: `chunks/part-${index}.jsonl`, requests: 2, bytes: 10, sha256: 'ab'.repeat(32), createStartedAt: start,
    createAttempts: 1, uploadAttempts: 1, downloadAttempts: 0, done: false, fileId: 'local-chunk:abababab:x',
  }));
  for (const p of parts) await writeFile(join(dir, p.path), `{"custom_id":"a${p.index}","body":{}}\n{"custom_id":"b${p.index}","body":{}}\n`);
  return { dir, manifest: { jobId: 'kb-1', parts } as unknown as JobManifest };
}
const ids = (part: JobPart) => [`a${part.index}`, `b${part.index}`];

describe('JobBatchScan on a client without batch metadata', () => {
  it("stops with ADOPTION_UNCERTAIN naming a running batch of the same count (its id, created time, count), never adopting it", async () => {
    const { dir, manifest } = await job();
    const scan = new JobBatchScan(client([batch('msgbatch_S', 'in_progress')]), manifest, dir);
    const error = await catchError(() => scan.find(manifest.parts[0]!));
    expectKbatchError(error, { code: 'ADOPTION_UNCERTAIN' });
    expect((error as Error).message).toContain(`msgbatch_S (created ${new Date((now - 5) * 1000).toISOString()}, 2 requests, still running)`);
    expect((error as Error).message).toMatch(/Resume once it has ended and can be read .* or cancel any that is not yours/);
  });

  it("adopts an ended batch only when its results are this part's custom_ids, and never a stranger's of the same count", async () => {
    const { dir, manifest } = await job();
    const [one, two] = manifest.parts as [JobPart, JobPart];
    const scan = new JobBatchScan(client([batch('msgbatch_S', 'completed'), batch('msgbatch_2', 'completed')], { msgbatch_S: ['x', 'y'], msgbatch_2: ids(two) }), manifest, dir);
    expect((await scan.find(two)).map((b) => b.id)).toEqual(['msgbatch_2']);
    expect(await new JobBatchScan(client([batch('msgbatch_S', 'completed')], { msgbatch_S: ['x', 'y'] }), manifest, dir).find(one)).toEqual([]);
  });

  it('gives one batch to one part only when two parts of equal counts scan at once and only one create reached the server', async () => {
    const { dir, manifest } = await job();
    const [one, two] = manifest.parts as [JobPart, JobPart];
    const scan = new JobBatchScan(client([batch('msgbatch_2', 'completed')], { msgbatch_2: ids(two) }), manifest, dir);
    // While the batch runs, neither part may take it (before, both adopted it and one part joined the other's answers).
    const running = new JobBatchScan(client([batch('msgbatch_2', 'in_progress')]), manifest, dir);
    const settled = await Promise.allSettled([running.find(one), running.find(two)]);
    for (const s of settled) expectKbatchError(s.status === 'rejected' ? s.reason : s.value, { code: 'ADOPTION_UNCERTAIN', batchId: 'msgbatch_2' });
    const [a, b] = await Promise.all([scan.find(one), scan.find(two)]);
    expect([a.map((x) => x.id), b.map((x) => x.id)]).toEqual([[], ['msgbatch_2']]);
    // Found again for the same part (its adoption not yet recorded), still its own; another part never gets it.
    expect((await scan.find(two)).map((x) => x.id)).toEqual(['msgbatch_2']);
  });

  it("verifies ended batches (their tag, then their results) without leaving an abort listener on the job's signal, even from a client that never removes its own", async () => {
    const { dir, manifest } = await job();
    const two = manifest.parts[1]!;
    const ended = ['msgbatch_S', 'msgbatch_T', 'msgbatch_2'].map((id) => batch(id, 'completed'));
    const base = client(ended, { msgbatch_S: ['x', 'y'], msgbatch_T: ['z', 'w'], msgbatch_2: ids(two) }) as unknown as { files: { content: (id: string, o?: { signal?: AbortSignal }) => Promise<Response> } };
    const leaky = {
      ...base,
      batchInputMatches: async (_id: string, _sha: string, o?: { signal?: AbortSignal }) => (leakListener(o?.signal), true),
      files: { content: async (id: string, o?: { signal?: AbortSignal }) => (leakListener(o?.signal), base.files.content(id)) },
    };
    const jobSignal = new AbortController();
    const watch = watchAbortListeners(jobSignal.signal);
    expect((await new JobBatchScan(leaky as never, manifest, dir).find(two, { signal: jobSignal.signal })).map((b) => b.id)).toEqual(['msgbatch_2']);
    expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
  });

  it('stops with ADOPTION_UNCERTAIN naming an ended batch whose results cannot be read, instead of finding "no batch"', async () => {
    const { dir, manifest } = await job();
    const fail = () => APIError.generate(503, { error: { message: 'overloaded' } }, 'overloaded', new Headers());
    const scan = new JobBatchScan(client([batch('msgbatch_OWN', 'completed')], {}, fail), manifest, dir);
    const error = await catchError(() => scan.find(manifest.parts[0]!));
    expectKbatchError(error, { code: 'ADOPTION_UNCERTAIN' });
    expect((error as Error).message).toContain('msgbatch_OWN (created');
    expect((error as Error).message).toContain('its results could not be read');
  });
});

describe('JobBatchScan on a client without metadata whose batches name their input file (batchInputFile: Together)', () => {
  it("adopts the batch made from the part's recorded upload, running or ended, never another part's, one recorded, or any when no file was recorded", async () => {
    const { dir, manifest } = await job();
    const [one, two] = manifest.parts as [JobPart, JobPart];
    one.fileId = 'file-1';
    two.fileId = 'file-2';
    const made = (id: string, fileId: string, status: string) => ({ ...batch(id, status), input_file_id: fileId, request_counts: { total: 0, completed: 0, failed: 0 } });
    const listing = [made('b-2', 'file-2', 'in_progress'), made('b-1', 'file-1', 'validating'), made('b-x', 'file-other', 'completed')];
    const byFile = { ...(client(listing) as object), batchInputFile: true } as never;
    expect((await new JobBatchScan(byFile, manifest, dir).find(one)).map((b) => b.id)).toEqual(['b-1']);
    expect((await new JobBatchScan(byFile, manifest, dir).find(two)).map((b) => b.id)).toEqual(['b-2']);
    two.batchId = 'b-1';
    expect(await new JobBatchScan(byFile, manifest, dir).find(one)).toEqual([]);
    delete one.fileId;
    expect(await new JobBatchScan(byFile, manifest, dir).find(one)).toEqual([]);
  });
});

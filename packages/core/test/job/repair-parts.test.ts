import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJob } from '../../src/job/create-job.js';
import { ManifestStore } from '../../src/state/manifest.js';
import { scanFile } from '../../src/job/lines.js';
import { repairParts } from '../../src/job/repair-parts.js';
import type { JobEvent } from '../../src/job/job-types.js';
import { requestLine } from './fixtures.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const ok = (id: string) => JSON.stringify({ custom_id: id, response: { status_code: 200, body: {} }, error: null });

// A job whose part 00001 expired after c1 and whose resubmit part 00002 (c2..c4, never uploaded) has a damaged chunk.
async function damagedJob(garbage: string) {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-repair-'));
  const chunk = join(root, 'c.jsonl');
  await writeFile(chunk, `${['c1', 'c2', 'c3', 'c4'].map((id) => requestLine(id)).join('\n')}\n`);
  const { jobDir } = await createJob({ chunks: [chunk], jobDir: join(root, 'job') });
  const store = await ManifestStore.open(jobDir);
  await mkdir(join(jobDir, 'results'));
  await writeFile(join(jobDir, 'results', 'part-00001.output.jsonl'), `${ok('c1')}\n`);
  Object.assign(store.manifest.parts[0]!, { done: true, status: 'expired', batchId: 'b1', fileId: 'f1', outputPath: join('results', 'part-00001.output.jsonl'), resubmittedAs: '00002' });
  const leftovers = join(root, 'leftovers.jsonl');
  await writeFile(leftovers, `${['c2', 'c3', 'c4'].map((id) => requestLine(id)).join('\n')}\n`);
  const { sha256, bytes } = await scanFile(leftovers);
  store.manifest.parts.push({ index: '00002', kind: 'resubmit', parent: '00001', path: join('chunks', 'part-00002.jsonl'), sha256, bytes, requests: 3, uploadAttempts: 1, uploadStartedAt: 'x', createAttempts: 0, downloadAttempts: 0, done: false });
  await writeFile(join(jobDir, 'chunks', 'part-00002.jsonl'), garbage);
  return { store, jobDir, sha256 };
}

describe('repairParts', () => {
  it('rebuilds a never-uploaded resubmit part whose chunk was overwritten from its parent, keeping its unshared index', async () => {
    const { store, jobDir, sha256 } = await damagedJob(`${requestLine('c3')}\n${requestLine('c2')}`);
    const events: JobEvent[] = [];
    const repaired = await repairParts({ store, emit: (e) => events.push(e) });
    expect(repaired.map((p) => p.index)).toEqual(['00002']);
    expect(store.manifest.parts[1]).toMatchObject({ index: '00002', sha256, requests: 3 });
    expect(store.manifest.parts[1]!.uploadStartedAt).toBeUndefined();
    expect(await readFile(join(jobDir, 'chunks', 'part-00002.jsonl'), 'utf8')).toContain('"c4"');
    expect(events).toHaveLength(1);
    expect(JSON.parse(await readFile(join(jobDir, 'manifest.json'), 'utf8')).parts[1].sha256).toBe(sha256);
  });

  it('never rebuilds a part once its file was uploaded (a damaged one stops the job), and leaves an intact job untouched', async () => {
    const { store } = await damagedJob('garbage\n');
    store.manifest.parts[1]!.fileId = 'f2';
    expectKbatchError(await catchError(() => repairParts({ store, emit: () => {} })), { code: 'JOB_INVALID', message: 'no longer holds the bytes that were uploaded' });
    delete store.manifest.parts[1]!.fileId;
    await repairParts({ store, emit: () => {} });
    expect(await repairParts({ store, emit: () => {} })).toEqual([]);
  });

  it('stops with JOB_INVALID when two uploaded parts share an index, naming both batches', async () => {
    const { store, jobDir } = await damagedJob('garbage\n');
    // Part 00003 expired too and, in the old race, also took index 00002; both were uploaded.
    await writeFile(join(jobDir, 'chunks', 'part-00002.jsonl'), `${['c2', 'c3', 'c4'].map((id) => requestLine(id)).join('\n')}\n`);
    Object.assign(store.manifest.parts[1]!, { fileId: 'f2', batchId: 'b2' });
    store.manifest.parts.push({ ...store.manifest.parts[1]!, parent: '00003', fileId: 'f3', batchId: 'b3' });
    const err = await catchError(() => repairParts({ store, emit: () => {} }));
    expectKbatchError(err, { code: 'JOB_INVALID', message: /share index 00002.*batch b2.*batch b3.*kbatch status/ });
  });

  it('stops with JOB_INVALID when an uploaded resubmit part holds other requests than its parent left unrun', async () => {
    // The old race: the part was recorded from the other expired part's file, so its sha256 matches what was uploaded.
    const { store, jobDir } = await damagedJob(`${['c3', 'x9'].map((id) => requestLine(id)).join('\n')}\n`);
    const { sha256, bytes } = await scanFile(join(jobDir, 'chunks', 'part-00002.jsonl'));
    Object.assign(store.manifest.parts[1]!, { sha256, bytes, requests: 2, fileId: 'f2', batchId: 'b2' });
    const err = await catchError(() => repairParts({ store, emit: () => {} }));
    expectKbatchError(err, { code: 'JOB_INVALID', batchId: 'b2', message: /part 00002 .*holds 2 requests, not the 3 requests its parent part 00001 left to resubmit/ });
  });

  it('accepts an uploaded resubmit part that holds exactly its parent\'s never-run requests', async () => {
    const { store, jobDir } = await damagedJob('garbage\n');
    await writeFile(join(jobDir, 'chunks', 'part-00002.jsonl'), `${['c2', 'c3', 'c4'].map((id) => requestLine(id)).join('\n')}\n`);
    Object.assign(store.manifest.parts[1]!, { fileId: 'f2', batchId: 'b2' });
    expect(await repairParts({ store, emit: () => {} })).toEqual([]);
  });
});

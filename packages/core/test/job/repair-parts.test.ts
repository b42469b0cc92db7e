import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJob } from '../../src/job/create-job.js';
import { ManifestStore } from '../../src/job/manifest.js';
import { scanFile } from '../../src/job/lines.js';
import { repairParts } from '../../src/job/repair-parts.js';
import type { JobEvent } from '../../src/job/types.js';
import { requestLine } from './fixtures.js';

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

  it('leaves a part alone once its file was uploaded, and an intact job untouched', async () => {
    const { store } = await damagedJob('garbage\n');
    store.manifest.parts[1]!.fileId = 'f2';
    expect(await repairParts({ store, emit: () => {} })).toEqual([]);
    delete store.manifest.parts[1]!.fileId;
    await repairParts({ store, emit: () => {} });
    expect(await repairParts({ store, emit: () => {} })).toEqual([]);
  });
});

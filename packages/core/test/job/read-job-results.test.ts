import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJobResultEntries } from '../../src/job/read-job-results.js';
import { JobManifestSchema, type JobManifest } from '../../src/state/manifest.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const ok = (id: string) => JSON.stringify({ custom_id: id, response: { status_code: 200, body: {} }, error: null });
const bad = (id: string) => JSON.stringify({ custom_id: id, response: { status_code: 500, body: {} }, error: null });
const expired = (id: string) => JSON.stringify({ custom_id: id, response: null, error: { code: 'batch_expired', message: 'not run' } });

async function job(parts: Array<Record<string, unknown> & { index: string; output?: string[]; error?: string[] }>) {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-results-'));
  await mkdir(join(dir, 'results'));
  const manifestParts = [];
  for (const { output, error, ...part } of parts) {
    const p: Record<string, unknown> = { kind: 'chunk', path: `chunks/part-${part.index}.jsonl`, sha256: 'x', requests: 1, bytes: 1, done: true, ...part };
    if (output) {
      p['outputPath'] = `results/part-${part.index}.output.jsonl`;
      await writeFile(join(dir, p['outputPath'] as string), `${output.join('\n')}\n`);
    }
    if (error) {
      p['errorPath'] = `results/part-${part.index}.error.jsonl`;
      await writeFile(join(dir, p['errorPath'] as string), `${error.join('\n')}\n`);
    }
    manifestParts.push(p);
  }
  const manifest: JobManifest = JobManifestSchema.parse({ version: 1, jobId: 'kb-t', createdAt: 'x', updatedAt: 'x', endpoint: '/v1/chat/completions', window: '24h', parts: manifestParts });
  return { dir, manifest };
}

async function collect(dir: string, manifest: JobManifest) {
  const out: string[] = [];
  for await (const e of readJobResultEntries(dir, manifest)) out.push(`${e.part}:${e.result.custom_id}:${e.result.response?.status_code ?? e.result.error?.code}`);
  return out;
}

describe('readJobResultEntries', () => {
  it('skips the never-run markers of a resubmitted part and reports the resubmit results instead', async () => {
    const { dir, manifest } = await job([
      { index: '00001', status: 'expired', resubmittedAs: '00002', output: [ok('a')], error: [expired('b'), expired('c')] },
      { index: '00002', kind: 'resubmit', parent: '00001', output: [ok('b'), ok('c')] },
    ]);
    expect(await collect(dir, manifest)).toEqual(['00001:a:200', '00002:b:200', '00002:c:200']);
  });

  it('keeps the markers of an expired part that was not resubmitted (they are its outcome)', async () => {
    const { dir, manifest } = await job([{ index: '00001', status: 'expired', output: [ok('a')], error: [expired('b')] }]);
    expect(await collect(dir, manifest)).toEqual(['00001:a:200', '00001:b:batch_expired']);
  });

  it('reports a request re-run by a retry part (and its resubmits) from that later attempt only', async () => {
    const { dir, manifest } = await job([
      { index: '00001', output: [ok('a'), bad('b'), bad('c')] },
      { index: '00002', kind: 'retry', status: 'expired', resubmittedAs: '00003', output: [ok('b')], error: [expired('c')] },
      { index: '00003', kind: 'resubmit', parent: '00002', output: [ok('c')] },
    ]);
    expect(await collect(dir, manifest)).toEqual(['00001:a:200', '00002:b:200', '00003:c:200']);
  });

  it('fails with RESPONSE_INVALID on a result line that is not JSON', async () => {
    const { dir, manifest } = await job([{ index: '00001', output: [ok('a'), '{oops'] }]);
    expectKbatchError(await catchError(() => collect(dir, manifest)), { code: 'RESPONSE_INVALID', line: 2 });
  });
});

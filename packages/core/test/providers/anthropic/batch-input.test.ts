import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRequestLine, resolveStagedId, stageChunk, stagedChunk } from '../../../src/providers/anthropic/batch-input.js';
import { unsupportedParam } from '../../../src/providers/anthropic/to-messages-params.js';
import { NATIVE_REQUEST_CHECKS } from '../../../src/providers/native-clients.js';
import { getProvider } from '../../../src/providers/resolve-provider.js';
import { lintRules } from '../../../src/providers/lint-requests.js';
import { expectKbatchError } from '../../helpers/errors.js';

const line = (body: Record<string, unknown>) => JSON.stringify({ custom_id: 'r1', method: 'POST', url: '/v1/chat/completions', body: { model: 'claude-haiku-5-5', messages: [{ role: 'user', content: 'x' }], ...body } });

describe('checkRequestLine (the Anthropic adapter check lint runs)', () => {
  it("is the check registered for anthropic-batch, so runs check through the adapter's mapping", () => {
    expect(NATIVE_REQUEST_CHECKS['anthropic-batch']).toBe(checkRequestLine);
  });

  it('refuses what only the mapping refuses (n above 1, an unmapped parameter, an image part), naming the line', () => {
    expectKbatchError(catchErrorSync(() => checkRequestLine(line({ n: 2 }), 3)), { code: 'PARAM_UNSUPPORTED', field: 'n', line: 3, customId: 'r1' });
    expectKbatchError(catchErrorSync(() => checkRequestLine(line({ tools: [] }), 4)), { code: 'PARAM_UNSUPPORTED', field: 'tools', line: 4 });
    expectKbatchError(catchErrorSync(() => checkRequestLine(line({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }), 5)), { code: 'PARAM_UNSUPPORTED', line: 5 });
  });

  it('passes n: 1 and leaves the listed parameters and non-JSON lines to lint (which reports every line)', () => {
    expect(() => checkRequestLine(line({ n: 1, stream: false, logprobs: false }), 1)).not.toThrow();
    expect(() => checkRequestLine(line({ temperature: 0.2, top_p: 1 }), 1)).not.toThrow();
    expect(() => checkRequestLine('{not json', 1)).not.toThrow();
  });

  it("agrees with the profile's refused list: a listed parameter lint flags, the mapping refuses; one lint passes, the mapping passes", () => {
    const rules = lintRules(getProvider('anthropic'), {});
    expect(rules.unsupportedParams).not.toContain('n');
    for (const param of rules.unsupportedParams) {
      for (const value of [1, 0, 0.5, true, 'x', [1]]) expect(unsupportedParam({ [param]: value }), `${param}: ${JSON.stringify(value)}`).toMatchObject({ param });
      for (const value of [null, false]) expect(unsupportedParam({ [param]: value }), `${param}: ${String(value)}`).toBeNull();
    }
  });
});

describe('stagedChunk', () => {
  it('reads ids with the full sha256 and the tag-only ids staged before', () => {
    const sha = 'ab'.repeat(32);
    expect(stagedChunk(`local-chunk:${sha}:/j/c:1.jsonl`)).toEqual({ tag: 'abababab', sha256: sha, path: '/j/c:1.jsonl' });
    expect(stagedChunk('local-chunk:abababab:/j/c.jsonl')).toEqual({ tag: 'abababab', path: '/j/c.jsonl' });
    expect(stagedChunk('file-123')).toBeNull();
  });
});

describe('resolveStagedId', () => {
  const sha = 'ab'.repeat(32);

  it('records a chunk inside the job directory by its relative path, one outside (or with no job directory) by its absolute path', async () => {
    const jobDir = await mkdtemp(join(tmpdir(), 'kbatch-stage-'));
    const path = join(jobDir, 'chunks', 'part-00001.jsonl');
    await writeFile(join(jobDir, 'x.jsonl'), `${line({})}\n`);
    await mkdir(join(jobDir, 'chunks'));
    await writeFile(path, `${line({})}\n`);
    expect(stagedChunk((await stageChunk(path, { defaultMaxTokens: 5, jobDir })).id)?.path).toBe(join('chunks', 'part-00001.jsonl'));
    expect(stagedChunk((await stageChunk(path, { defaultMaxTokens: 5 })).id)?.path).toBe(path);
    expect(stagedChunk((await stageChunk(join(jobDir, 'x.jsonl'), { defaultMaxTokens: 5, jobDir: join(jobDir, 'chunks') })).id)?.path).toBe(join(jobDir, 'x.jsonl'));
  });

  it('resolves a relative path against the job directory now, keeps an absolute one that exists, and sends the part\'s chunk for an absolute one a move left empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-stage-'));
    const there = join(dir, 'c.jsonl');
    await writeFile(there, '');
    expect(await resolveStagedId(`local-chunk:${sha}:chunks/p.jsonl`, { jobDir: '/moved/job' })).toBe(`local-chunk:${sha}:${join('/moved/job', 'chunks/p.jsonl')}`);
    expect(await resolveStagedId(`local-chunk:${sha}:${there}`, { jobDir: '/moved/job', chunkPath: '/moved/job/chunks/p.jsonl' })).toBe(`local-chunk:${sha}:${there}`);
    expect(await resolveStagedId(`local-chunk:abababab:${join(dir, 'gone.jsonl')}`, { jobDir: '/moved/job', chunkPath: '/moved/job/chunks/p.jsonl' })).toBe('local-chunk:abababab:/moved/job/chunks/p.jsonl');
    expect(await resolveStagedId(`local-chunk:${sha}:${join(dir, 'gone.jsonl')}`, { jobDir: '/moved/job' })).toBe(`local-chunk:${sha}:${join(dir, 'gone.jsonl')}`);
    expect(await resolveStagedId('file-123', { jobDir: '/moved/job' })).toBe('file-123');
  });

  it("sends the part's chunk for an old absolute id whose path now holds another chunk (a job made where the moved one was), the old path while it holds the staged one", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-stage-'));
    const [old, moved] = [join(dir, 'job', 'p.jsonl'), join(dir, 'moved', 'p.jsonl')];
    await mkdir(join(dir, 'job'));
    await mkdir(join(dir, 'moved'));
    await writeFile(moved, `${line({})}\n`);
    await writeFile(old, `${line({ max_tokens: 7 })}\n`);
    const mine = stagedChunk((await stageChunk(moved, { defaultMaxTokens: 5 })).id)!;
    expect(await resolveStagedId(`local-chunk:${mine.sha256}:${old}`, { jobDir: join(dir, 'moved'), chunkPath: moved })).toBe(`local-chunk:${mine.sha256}:${moved}`);
    expect(await resolveStagedId(`local-chunk:${mine.tag}:${old}`, { jobDir: join(dir, 'moved'), chunkPath: moved })).toBe(`local-chunk:${mine.tag}:${moved}`);
    await writeFile(old, `${line({})}\n`);
    expect(await resolveStagedId(`local-chunk:${mine.sha256}:${old}`, { jobDir: join(dir, 'moved'), chunkPath: moved })).toBe(`local-chunk:${mine.sha256}:${old}`);
  });

  it("gives a tag-only id the part's recorded sha256 when the tags agree (the create then checks the whole digest), and refuses a relative id leaving the job directory with JOB_INVALID", async () => {
    expect(await resolveStagedId('local-chunk:abababab:chunks/p.jsonl', { jobDir: '/j', sha256: sha })).toBe(`local-chunk:${sha}:${join('/j', 'chunks/p.jsonl')}`);
    expect(await resolveStagedId('local-chunk:cdcdcdcd:chunks/p.jsonl', { jobDir: '/j', sha256: sha })).toBe(`local-chunk:cdcdcdcd:${join('/j', 'chunks/p.jsonl')}`);
    for (const id of ['local-chunk:abababab:../other/p.jsonl', `local-chunk:${sha}:chunks/../../p.jsonl`]) {
      expectKbatchError(await resolveStagedId(id, { jobDir: '/j' }).then(() => null, (e: unknown) => e), { code: 'JOB_INVALID', message: /outside the job directory/ });
    }
  });
});

function catchErrorSync(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, it did not');
}

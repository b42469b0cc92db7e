import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { isKbatchError } from '@kbatch/core';
import { jobClientFlags, jobOptionsFromFlags, parseDuration } from '../../src/flags/client-flags.js';
import type { CliIo } from '../../src/io.js';

describe('parseDuration', () => {
  it('reads ms, s, m, h and bare seconds', () => {
    expect([parseDuration('500ms', 'x'), parseDuration('15s', 'x'), parseDuration('2m', 'x'), parseDuration('1h', 'x'), parseDuration('3', 'x')]).toEqual([
      500, 15_000, 120_000, 3_600_000, 3_000,
    ]);
  });

  it('rejects junk with OPTION_INVALID naming the flag', () => {
    try {
      parseDuration('soon', '--timeout');
      expect.unreachable();
    } catch (err) {
      expect(isKbatchError(err) && err.code).toBe('OPTION_INVALID');
      expect((err as Error).message).toContain('`--timeout`');
    }
  });
});

describe('jobOptionsFromFlags', () => {
  it('maps --no-resubmit, --cancel-on-interrupt and durations', () => {
    expect(jobOptionsFromFlags({ concurrency: 2, resubmit: false, cancelOnInterrupt: true, pollInterval: '5s', timeout: '1m', window: '6h' })).toEqual({
      concurrency: 2,
      window: '6h',
      pollIntervalMs: 5_000,
      timeoutMs: 60_000,
      noResubmit: true,
      cancelOnInterrupt: true,
    });
  });
});

describe('jobOptionsFromFlags file and resubmit flags', () => {
  it('maps --max-resubmits and --keep-files', () => {
    expect(jobOptionsFromFlags({ concurrency: 1, maxResubmits: 0, keepFiles: true })).toMatchObject({ maxResubmits: 0, keepFiles: true });
    expect(jobOptionsFromFlags({ concurrency: 1 })).not.toHaveProperty('keepFiles');
  });

  it('maps --accept-missing-output to acceptMissingOutput, absent when not given', () => {
    expect(jobOptionsFromFlags({ concurrency: 1, acceptMissingOutput: true })).toMatchObject({ acceptMissingOutput: true });
    expect(jobOptionsFromFlags({ concurrency: 1 })).not.toHaveProperty('acceptMissingOutput');
  });
});

describe('jobClientFlags base URL of an existing job', () => {
  const RECORDED = 'http://127.0.0.1:4001/v1';
  async function job(record: Record<string, string>): Promise<{ cwd: string; stderr: () => string; io: CliIo }> {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-job-flags-'));
    await mkdir(join(cwd, 'job'));
    const at = new Date().toISOString();
    await writeFile(join(cwd, 'job', 'manifest.json'), JSON.stringify({ version: 1, jobId: 'j', createdAt: at, updatedAt: at, endpoint: '/v1/chat/completions', window: '24h', ...record, parts: [] }));
    let err = '';
    const stderr = new Writable({ write: (chunk: Buffer, _enc, done) => ((err += chunk.toString()), done()) });
    return { cwd, stderr: () => err, io: { stdin: process.stdin, stdout: process.stdout, stderr, env: { KLUSTER_BASE_URL: 'http://127.0.0.1:4002/v1' }, cwd } };
  }

  it("prefers the recorded base URL to the provider's variable (where the job's batches live) and says so on stderr", async () => {
    const { io, stderr } = await job({ provider: 'kluster', baseURL: RECORDED });
    expect((await jobClientFlags({}, io, 'job')).baseUrl).toBe(RECORDED);
    expect(stderr()).toBe(`note: using the base URL recorded in job: ${RECORDED} (--base-url overrides it)\n`);
  });

  it('warns naming both when --base-url differs from the recorded one, and keeps --base-url', async () => {
    const { io, stderr } = await job({ provider: 'kluster', baseURL: RECORDED });
    expect((await jobClientFlags({ baseUrl: 'http://127.0.0.1:4003/v1' }, io, 'job')).baseUrl).toBe('http://127.0.0.1:4003/v1');
    expect(stderr()).toBe(`warning: --base-url http://127.0.0.1:4003/v1 is not the base URL recorded in job (${RECORDED}), where its batches and files live\n`);
  });

  it("is silent when the recorded base URL is the provider's default, or the job recorded none (the variable then applies)", async () => {
    const plain = await job({ provider: 'kluster', baseURL: 'https://api.kluster.ai/v1' });
    expect((await jobClientFlags({}, plain.io, 'job')).baseUrl).toBe('https://api.kluster.ai/v1');
    const old = await job({});
    expect((await jobClientFlags({}, old.io, 'job')).baseUrl).toBeUndefined();
    expect(plain.stderr() + old.stderr()).toBe('');
  });
});

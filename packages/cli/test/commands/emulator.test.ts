import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { runCli } from '../helpers/spawn.js';
import { emulatorOptionsFromFlags, runEmulatorCommand } from '../../src/commands/emulator.js';
import { createProgram } from '../../src/program.js';
import { catchError, expectKbatchError } from '../../../core/test/helpers/errors.js';

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  return { io: { stdin: Readable.from(['']), stdout, stderr, env: {}, cwd: process.cwd() }, out, err };
}

describe('kbatch emulator', () => {
  it('maps every flag onto emulator options', () => {
    expect(
      emulatorOptionsFromFlags(
        {
          port: '8080',
          host: '127.0.0.1',
          dataDir: 'd',
          apiKey: 'k',
          timeScale: '0.001',
          validationMs: '1',
          lineMs: '2',
          finalizingMs: '3',
          ftStepMs: '4',
          maxRequests: '10',
          maxBytes: '1000',
          maxLineBytes: '500',
          seed: '9',
          latencyMs: '5',
          rate429: '0.1',
          retryAfter: '2',
          rate5xx: '0.2',
          dropRate: '0.3',
          loseResponseRate: '0.5',
          unrunErrorLines: true,
          lineFailureRate: '0.4',
          lineFailureStatus: '400',
          concurrencyCap: '6',
          expireAfterLines: '7',
          slowTailLines: '2',
          slowTailMs: '30',
          faultRoute: ['POST /v1/files'],
          upstream: 'http://127.0.0.1:1/v1',
          upstreamConcurrency: '2',
        },
        { KBATCH_UPSTREAM_KEY: 'up' },
      ),
    ).toEqual({
      port: 8080,
      host: '127.0.0.1',
      dataDir: 'd',
      apiKey: 'k',
      timeScale: 0.001,
      validationMs: 1,
      lineMs: 2,
      finalizingMs: 3,
      ftStepMs: 4,
      maxRequestsPerBatch: 10,
      maxBatchBytes: 1000,
      maxLineBytes: 500,
      seed: 9,
      unrunErrorLines: true,
      faults: { latencyMs: 5, rate429: 0.1, retryAfterSeconds: 2, rate5xx: 0.2, dropRate: 0.3, loseResponseRate: 0.5, lineFailureRate: 0.4, lineFailureStatus: 400, concurrencyCap: 6, expireAfterLines: 7, slowTailLines: 2, slowTailMs: 30, routes: ['POST /v1/files'] },
      upstream: { url: 'http://127.0.0.1:1/v1', apiKey: 'up', concurrency: 2 },
    });
    expect(emulatorOptionsFromFlags({})).toEqual({});
    expect(emulatorOptionsFromFlags({ dataDir: 'state' }, {}, '/work/x')).toEqual({ dataDir: '/work/x/state' });
  });

  it('prints only the base URL on stdout, serves requests and stops when told', async () => {
    const { io: cliIo, out, err } = io();
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const running = runEmulatorCommand({ rate429: '0' }, cliIo, stopped);
    while (out.length === 0) await new Promise((r) => setTimeout(r, 5));
    const baseURL = out.join('').trim();
    expect(baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const models = await (await fetch(`${baseURL}/models`)).json();
    expect(models.data.length).toBeGreaterThan(0);
    stop();
    await running;
    expect(err.join('')).toContain('stopping');
    await expect(fetch(`${baseURL}/models`)).rejects.toThrow();
  });

  it('rejects a bad flag value with OPTION_INVALID naming the option', async () => {
    const { io: cliIo } = io();
    const err = await catchError(() => createProgram(cliIo).exitOverride().parseAsync(['emulator', '--rate-429', 'lots'], { from: 'user' }));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: 'Invalid option `faults.rate429`: must be a number between 0 and 1, got "lots"' });
  });

  const bin = fileURLToPath(new URL('../../bin/kbatch.js', import.meta.url));
  const built = existsSync(fileURLToPath(new URL('../../dist/commands/emulator.js', import.meta.url)));
  it.runIf(built)('runs as a process: URL on stdout when ready, clean exit 0 on SIGTERM and SIGINT', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const child = spawn(process.execPath, [bin, 'emulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      expect((await fetch(`${url}/models`)).status).toBe(200);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill(signal);
      expect(await exited).toBe(0);
    }
  });
});

describe('kbatch emulator --provider', () => {
  it("maps the provider's profile onto emulator options, under the flags given", () => {
    expect(emulatorOptionsFromFlags({ provider: 'openai', maxRequests: '10' })).toEqual({
      completionWindows: ['24h'],
      bearerOnly: true,
      oneModelPerFile: true,
      maxRequestsPerBatch: 10,
      maxBatchBytes: 200_000_000,
    });
    expect(emulatorOptionsFromFlags({ provider: 'kluster-2025' })).toMatchObject({ completionWindows: ['24h', '48h', '72h'], bearerOnly: false, maxBatchBytes: 100_000_000 });
    expect(() => emulatorOptionsFromFlags({ provider: 'gemeni' })).toThrow('Invalid option `--provider`: must be one of kluster,');
    expect(emulatorOptionsFromFlags({ provider: 'gemini' })).toMatchObject({ provider: 'gemini', bearerOnly: false, oneModelPerFile: true, maxBatchBytes: 1_750_000_000 });
  });

  const bin = fileURLToPath(new URL('../../bin/kbatch.js', import.meta.url));
  it('speaks as OpenAI to the official client (Bearer only, 24h only, a mixed-model file fails validation), and kbatch run --provider openai works on it', async () => {
    const child = spawn(process.execPath, [bin, 'emulator', '--provider', 'openai', '--api-key', 'sk-emu', '--time-scale', '0.001', '--validation-ms', '5', '--line-ms', '0', '--finalizing-ms', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      expect((await fetch(`${url}/models`, { headers: { authorization: 'sk-emu' } })).status).toBe(401);
      const client = new OpenAI({ baseURL: url, apiKey: 'sk-emu', maxRetries: 0 });
      const models = (await client.models.list()).data.map((m) => m.id);
      const line = (id: string, model: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content: id }] } });
      const file = await client.files.create({ file: await toFile(Buffer.from(`${line('a', models[0]!)}\n${line('b', models[1]!)}\n`), 'mixed.jsonl'), purpose: 'batch' });
      const wrong = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '1h' as '24h' }).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(OpenAI.BadRequestError);
      let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      while (!['failed', 'completed'].includes(batch.status)) batch = await client.batches.retrieve(batch.id);
      expect([batch.status, batch.errors?.data?.[0]?.code, batch.errors?.data?.[0]?.line]).toEqual(['failed', 'model_mismatch', 2]);
      const root = await mkdtemp(join(tmpdir(), 'kbatch-emu-openai-'));
      await writeFile(join(root, 'in.csv'), 'id,text\n1,"good, ""really"""\n2,bad\n');
      const run = await runCli(['run', 'in.csv', '--provider', 'openai', '--base-url', url, '--model', models[0]!, '--prompt', '{{text}}', '--labels', 'good,bad', '--poll-interval', '50ms', '--quiet'], {
        cwd: root,
        env: { OPENAI_API_KEY: 'sk-emu' },
      });
      expect(run.stderr).toBe('');
      expect(run.stdout.trim().split('\n')).toHaveLength(2);
      // Realtime requests (the direct chat path) authenticate as Bearer too.
      const realtime = await runCli(['run', 'in.csv', '--mode', 'realtime', '--provider', 'openai', '--base-url', url, '--model', models[0]!, '--prompt', '{{text}}', '--job-dir', 'rt', '--quiet'], {
        cwd: root,
        env: { OPENAI_API_KEY: 'sk-emu' },
      });
      expect([realtime.code, realtime.stderr]).toEqual([0, '']);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

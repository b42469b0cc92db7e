import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { isKbatchError } from '@kbatch/core';
import { createProgram, type CliIo } from '../../src/program.js';

async function chat(args: string[], env: Record<string, string>, stdinText?: string) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const writes: string[] = [];
  stdout.on('data', (d: Buffer) => writes.push(d.toString()));
  let err = '';
  stderr.on('data', (d: Buffer) => (err += d));
  if (stdinText !== undefined) stdin.end(stdinText);
  const io: CliIo = { stdin, stdout, stderr, env, cwd: process.cwd() };
  let error: unknown;
  try {
    await createProgram(io).exitOverride().parseAsync(['chat', ...args], { from: 'user' });
  } catch (e) {
    error = e;
  }
  return { stdout: writes.join(''), writes, stderr: err, error };
}

describe('kbatch chat', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  const bodies: Record<string, unknown>[] = [];
  beforeAll(async () => {
    emu = await startEmulator({
      responder: (body) => {
        bodies.push(body);
        return 'The capital of Argentina is Buenos Aires.';
      },
    });
    env = { KLUSTER_API_KEY: 'test-key', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('prints the answer as it streams, with the model, system prompt and chat params it was given', async () => {
    const out = await chat(['Capital of Argentina?', '--model', 'deepseek-ai/DeepSeek-R1', '--system', 'Be brief', '--temperature', '0', '--stop', 'END', '--max-completion-tokens', '50'], env);
    expect(out.error).toBeUndefined();
    expect(out.stdout).toBe('The capital of Argentina is Buenos Aires.\n');
    expect(out.writes.length).toBeGreaterThan(2); // arrived in pieces, written as they came
    expect(bodies.at(-1)).toMatchObject({
      model: 'deepseek-ai/DeepSeek-R1',
      stream: true,
      temperature: 0,
      stop: 'END',
      max_completion_tokens: 50,
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Capital of Argentina?' },
      ],
    });
  });

  it('reads the question from stdin with -', async () => {
    const out = await chat(['-'], env, 'Question from stdin\n');
    expect(out.stdout).toBe('The capital of Argentina is Buenos Aires.\n');
    expect(bodies.at(-1)).toMatchObject({ messages: [{ role: 'user', content: 'Question from stdin' }] });
  });

  it('uses --base-url/--api-key over the environment and fails with API_KEY_MISSING without a key', async () => {
    const out = await chat(['hi', '--base-url', emu.baseURL, '--api-key', 'k'], {});
    expect(out.stdout).toContain('Buenos Aires');
    const missing = await chat(['hi'], { KLUSTER_BASE_URL: emu.baseURL });
    expect(isKbatchError(missing.error) && missing.error.code).toBe('API_KEY_MISSING');
  });

  it('asks an in-process emulator with --local, without a key or base URL', async () => {
    const out = await chat(['Great phone. Answer with exactly one of these labels: positive, negative', '--local', '--temperature', '0'], {});
    expect(out.error).toBeUndefined();
    expect(out.stdout).toBe('positive\n');
    expect(out.writes.length).toBeGreaterThan(0);
  });

  it('rejects a bad chat parameter with OPTION_INVALID naming it', async () => {
    const out = await chat(['hi', '--temperature', 'hot'], env);
    expect(isKbatchError(out.error) && out.error.code).toBe('OPTION_INVALID');
    expect((out.error as Error).message).toContain('`--temperature`');
    expect((out.error as Error).message).toContain('"hot"');
    const topP = await chat(['hi', '--top-p', '2'], env);
    expect(isKbatchError(topP.error) && topP.error.code).toBe('OPTION_INVALID');
    expect((topP.error as Error).message).toContain('`--top-p`');
  });
});

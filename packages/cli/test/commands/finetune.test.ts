import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { isKbatchError, type KbatchErrorCode } from '@kbatch/core';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/program.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
let emu: Emulator;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({ seed: 3, ftStepMs: 20 });
  dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-ft-'));
});
afterAll(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Run `kbatch …args` in-process; returns stdout, stderr and what it threw. */
async function kbatch(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  const io = {
    stdin: Readable.from([options.stdin ?? '']),
    stdout,
    stderr,
    env: options.env ?? { KLUSTER_API_KEY: 'test', KLUSTER_BASE_URL: emu.baseURL },
    cwd: dir,
  };
  let error: unknown;
  try {
    await createProgram(io).exitOverride().parseAsync(args, { from: 'user' });
  } catch (e) {
    error = e;
  }
  return { stdout: out.join(''), stderr: err.join(''), error };
}

function expectCode(error: unknown, code: KbatchErrorCode): void {
  expect(isKbatchError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const labelled = jsonl([
  { text: 'good film', label: 'positive' },
  { text: 'awful plot', label: 'negative' },
  { text: 'no label', label: '' },
  { text: 'loved it', label: 'positive' },
]);

describe('kbatch finetune', () => {
  it('prepare writes chat examples to stdout and a summary to stderr', async () => {
    const { stdout, stderr, error } = await kbatch(
      ['finetune', 'prepare', '-', '--format', 'jsonl', '--prompt', 'Sentiment: {{text}}', '--completion-column', 'label', '--on-invalid', 'skip'],
      { stdin: labelled },
    );
    expect(error).toBeUndefined();
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({ messages: [{ role: 'user', content: 'Sentiment: good film' }, { role: 'assistant', content: 'positive' }] });
    expect(stderr).toMatch(/skipped row 3: completion column `label` is empty/);
    expect(stderr).toMatch(/3 examples, ~\d+ tokens \(largest ~\d+\), 1 rejected \(see rejects.jsonl\)/);
  });

  it('prepare --on-invalid skip without --rejects writes rejected rows to rejects.jsonl (like kbatch prepare)', async () => {
    await rm(join(dir, 'rejects.jsonl'), { force: true });
    const { error } = await kbatch(['finetune', 'prepare', '-', '--format', 'jsonl', '--prompt', '{{text}}', '--completion-column', 'label', '--on-invalid', 'skip'], {
      stdin: labelled,
    });
    expect(error).toBeUndefined();
    expect(JSON.parse(await readFile(join(dir, 'rejects.jsonl'), 'utf8'))).toMatchObject({ row: 3, record: { text: 'no label' } });
  });

  it('prepare into a missing directory fails with OPTION_INVALID naming --out', async () => {
    const { error } = await kbatch(['finetune', 'prepare', '-', '--format', 'jsonl', '--prompt', '{{text}}', '--completion-column', 'label', '--out', 'nope/train.jsonl'], {
      stdin: labelled,
    });
    expectCode(error, 'OPTION_INVALID');
    expect((error as Error).message).toMatch(/`out`: cannot write .*nope\/train.jsonl/);
  });

  it('prepare splits into train and validation files and writes rejects', async () => {
    await writeFile(join(dir, 'labels.jsonl'), labelled);
    const { stdout, stderr, error } = await kbatch([
      'finetune', 'prepare', 'labels.jsonl', '--prompt', '{{text}}', '--completion-column', 'label', '--system', 'Be brief.',
      '--validation-split', '0.5', '--seed', '3', '--out', 'train.jsonl', '--on-invalid', 'skip', '--rejects', 'rejects.jsonl', '--model', MODEL,
    ]);
    expect(error).toBeUndefined();
    expect(stdout).toBe('');
    const train = (await readFile(join(dir, 'train.jsonl'), 'utf8')).trim().split('\n').filter(Boolean);
    const validation = (await readFile(join(dir, 'train.validation.jsonl'), 'utf8')).trim().split('\n').filter(Boolean);
    expect(train.length + validation.length).toBe(3);
    expect(stderr).toContain(`${train.length} train / ${validation.length} validation`);
    expect(JSON.parse(await readFile(join(dir, 'rejects.jsonl'), 'utf8'))).toMatchObject({ row: 3, record: { text: 'no label' } });
  });

  it('prepare reads CSV and rejects rows too long for the --model context window', async () => {
    const long = 'word '.repeat(30_000);
    await writeFile(join(dir, 'reviews.csv'), `text,label\nshort one,positive\n"${long}",negative\n`);
    const { stdout, stderr, error } = await kbatch([
      'finetune', 'prepare', 'reviews.csv', '--prompt', '{{text}}', '--completion-column', 'label',
      '--model', 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo', '--on-invalid', 'skip',
    ]);
    expect(error).toBeUndefined();
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/skipped row 2: about \d+ tokens, over the 32000-token context window/);
    const { error: fatal } = await kbatch(['finetune', 'prepare', 'reviews.csv', '--prompt', '{{text}}', '--completion-column', 'label', '--model', 'gpt-4o']);
    expectCode(fatal, 'FINETUNE_MODEL_UNSUPPORTED');
  });

  it('prepare fails on an invalid row with FINETUNE_EXAMPLE_INVALID by default', async () => {
    const { error } = await kbatch(['finetune', 'prepare', '-', '--format', 'jsonl', '--prompt', '{{text}}', '--completion-column', 'label'], { stdin: labelled });
    expectCode(error, 'FINETUNE_EXAMPLE_INVALID');
    expect((error as Error).message).toMatch(/^row 3: /);
  });

  it('create --wait uploads, trains and prints the fine-tuned model; it works in a chat completion', async () => {
    await writeFile(join(dir, 'ok.jsonl'), labelled);
    await kbatch(['finetune', 'prepare', 'ok.jsonl', '--prompt', '{{text}}', '--completion-column', 'label', '--on-invalid', 'skip', '--out', 'ok-train.jsonl']);
    const { stdout, stderr, error } = await kbatch([
      'finetune', 'create', '--training-file', 'ok-train.jsonl', '--model', MODEL, '--epochs', '1', '--nickname', 'cli', '--wait', '--poll-interval', '10ms',
    ]);
    expect(error).toBeUndefined();
    expect(stderr).toMatch(/uploaded training file .*ok-train.jsonl as /);
    expect(stderr).toMatch(/: queued\n/);
    expect(stderr).toMatch(/: succeeded\n/);
    const model = stdout.trim();
    expect(model).toMatch(/^ft:.*cli/);
    const res = await fetch(`${emu.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer test' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'great' }] }),
    });
    expect(res.status).toBe(200);
  });

  it('create prints the job; get, list, cancel and wait work on it', async () => {
    const created = await kbatch(['finetune', 'create', '--training-file', 'ok-train.jsonl', '--model', MODEL, '--epochs', '100']);
    expect(created.error).toBeUndefined();
    const job = JSON.parse(created.stdout) as { id: string; status: string };
    expect(job.status).toBe('queued');

    const got = await kbatch(['finetune', 'get', job.id]);
    expect(JSON.parse(got.stdout).id).toBe(job.id);

    const listed = await kbatch(['finetune', 'list', '--page-size', '1']);
    const ids = listed.stdout.trim().split('\n').map((l) => JSON.parse(l).id);
    expect(ids[0]).toBe(job.id);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    const limited = await kbatch(['finetune', 'list', '--limit', '1']);
    expect(limited.stdout.trim().split('\n')).toHaveLength(1);

    const cancelled = await kbatch(['finetune', 'cancel', job.id]);
    expect(['cancelling', 'cancelled']).toContain(JSON.parse(cancelled.stdout).status);

    const waited = await kbatch(['finetune', 'wait', job.id, '--poll-interval', '10ms']);
    expectCode(waited.error, 'FINETUNE_CANCELLED');
    expect(waited.stdout).toBe('');
    expect(waited.stderr).toMatch(/cancel/);
  });

  it('wait reports a failed job with FINETUNE_FAILED', async () => {
    await writeFile(join(dir, 'broken.jsonl'), '{"prompt":"no messages"}\n');
    const created = await kbatch(['finetune', 'create', '--training-file', 'broken.jsonl', '--model', MODEL]);
    const { id } = JSON.parse(created.stdout) as { id: string };
    const { error } = await kbatch(['finetune', 'wait', id, '--poll-interval', '10ms']);
    expectCode(error, 'FINETUNE_FAILED');
    expect((error as Error).message).toMatch(/invalid_training_file/);
  });

  it('create refuses a model that cannot be fine-tuned with FINETUNE_MODEL_UNSUPPORTED', async () => {
    const { error } = await kbatch(['finetune', 'create', '--training-file', 'ok-train.jsonl', '--model', 'deepseek-ai/DeepSeek-R1']);
    expectCode(error, 'FINETUNE_MODEL_UNSUPPORTED');
    expect((error as Error).message).toContain('klusterai/Meta-Llama-3.3-70B-Instruct-Turbo');
  });

  it('fails with API_KEY_MISSING without a key', async () => {
    const { error } = await kbatch(['finetune', 'get', 'x'], { env: {} });
    expectCode(error, 'API_KEY_MISSING');
  });

  it('rejects a non-numeric flag with OPTION_INVALID naming the option and the value', async () => {
    const { error } = await kbatch(['finetune', 'create', '--training-file', 'f', '--model', MODEL, '--epochs', 'many']);
    expectCode(error, 'OPTION_INVALID');
    expect((error as Error).message).toBe('Invalid option `epochs`: must be a positive integer, got "many"');
    const { error: split } = await kbatch(['finetune', 'prepare', '-', '--prompt', '{{text}}', '--completion-column', 'label', '--validation-split', '1.5']);
    expectCode(split, 'OPTION_INVALID');
  });

  it('rejects a bad --poll-interval with OPTION_INVALID', async () => {
    const { error } = await kbatch(['finetune', 'wait', 'ftjob-x', '--poll-interval', 'soon']);
    expectCode(error, 'OPTION_INVALID');
    expect((error as Error).message).toContain('--poll-interval');
  });

  it('has an example in every --help', async () => {
    for (const sub of ['prepare', 'create', 'get', 'list', 'cancel', 'wait']) {
      const { stdout, error } = await kbatch(['finetune', sub, '--help']);
      expect((error as { exitCode?: number }).exitCode).toBe(0);
      expect(stdout, sub).toMatch(/Example:\n  kbatch finetune|Example:\n  MODEL=/);
    }
  });
});

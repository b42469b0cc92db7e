import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from '../helpers/spawn.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const LABEL_ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral'];

async function root(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kbatch-run-input-'));
}

// `kbatch run` checks its input before anything is uploaded or sent (a real kbatch process each time).
describe('kbatch run input checks', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 23, validationMs: 10, lineMs: 1, finalizingMs: 10 });
    env = { KLUSTER_API_KEY: 'secret-input-key', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });
  const sentSoFar = () => {
    const s = emu.stats();
    return s.filesCreated + s.batchesCreated + s.chatRequests;
  };

  it('fails with JOIN_FIELD_COLLISION before any upload when the CSV has an `error` column, or a --schema property is a column', async () => {
    const cwd = await root();
    await writeFile(join(cwd, 'in.csv'), 'id,text,error\n1,good,\n2,bad,\n');
    await writeFile(join(cwd, 'in2.csv'), 'id,text\n1,good\n');
    await writeFile(join(cwd, 'schema.json'), JSON.stringify({ type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }));
    const before = sentSoFar();
    const collision = await runCli(['run', 'in.csv', ...LABEL_ARGS, '--output', 'out.csv', '--job-dir', 'job'], { env, cwd });
    expect(collision.code).toBe(1);
    expect(collision.stderr).toContain(`error [JOIN_FIELD_COLLISION]: ${join(cwd, 'in.csv')}: input field "error" (the header, line 1) would be overwritten`);
    expect(collision.stderr).toContain('--prefix kb_');
    const schema = await runCli(['run', 'in2.csv', '--model', MODEL, '--prompt', '{{text}}', '--schema', 'schema.json', '--job-dir', 'job2'], { env, cwd });
    expect(schema.code).toBe(1);
    expect(schema.stderr).toContain(`error [JOIN_FIELD_COLLISION]: ${join(cwd, 'in2.csv')}: input field "id"`);
    expect(sentSoFar()).toBe(before);
    await expect(readFile(join(cwd, 'out.csv'))).rejects.toThrow(/ENOENT/);
  });

  it('fails with INPUT_ENCODING on a Latin-1 byte, and labels the file with --encoding latin1', async () => {
    const cwd = await root();
    await writeFile(join(cwd, 'in.csv'), Buffer.from('id,text\n1,good\n2,caf\xe9 bad\n', 'latin1'));
    const before = sentSoFar();
    const bad = await runCli(['run', 'in.csv', ...LABEL_ARGS, '--output', 'out.csv', '--job-dir', 'job'], { env, cwd });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error \[INPUT_ENCODING\]: .*in\.csv:3: invalid UTF-8 in field "text" .*--encoding latin1/);
    expect(sentSoFar()).toBe(before);
    const ok = await runCli(['run', 'in.csv', ...LABEL_ARGS, '--encoding', 'latin1', '--output', 'out.jsonl', '--job-dir', 'job-latin1'], { env, cwd });
    expect(ok.code).toBe(0);
    const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(rows.map((r) => r.text)).toEqual(['good', 'café bad']);
  });

  it('says "0 records" for a header-only CSV and exits 0 with a CSV holding just the header', async () => {
    const cwd = await root();
    await writeFile(join(cwd, 'in.csv'), 'id,text\n');
    const before = sentSoFar();
    const run = await runCli(['run', 'in.csv', ...LABEL_ARGS, '--output', 'out.csv', '--job-dir', 'job'], { env, cwd });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`warning: ${join(cwd, 'in.csv')} has 0 records; nothing to do`);
    expect(await readFile(join(cwd, 'out.csv'), 'utf8')).toBe('id,text,custom_id,label,response,finish_reason,prompt_tokens,completion_tokens,error\n');
    const missing = await runCli(['run', 'in.csv', '--model', MODEL, '--prompt', '{{title}}', '--job-dir', 'job2'], { env, cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`error [TEMPLATE_FIELD_MISSING]: ${join(cwd, 'in.csv')}:1: the header has no column "title" used by the template (columns: id, text)`);
    expect(sentSoFar()).toBe(before);
  });

  it('keeps a ragged row\'s fields in the output and its raw line in the rejects file beside the output with --on-invalid skip', async () => {
    const cwd = await root();
    await writeFile(join(cwd, 'in.csv'), 'id,text\n1,good\n2,bad,extra\n');
    const run = await runCli(['run', 'in.csv', ...LABEL_ARGS, '--on-invalid', 'skip', '--output', 'out.jsonl', '--job-dir', 'job'], { env, cwd });
    expect(run.code).toBe(3);
    const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows[1]).toMatchObject({ id: '2', text: 'bad', _extra_1: 'extra', label: null });
    const rejects = (await readFile(join(cwd, 'out.rejects.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rejects).toEqual([{ ...rows[1], raw_line: '2,bad,extra' }]);
  });
});

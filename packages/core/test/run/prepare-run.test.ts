import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { runJob, type RunJobOptions } from '../../src/run/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { fingerprintFile } from '../../src/run/input-fingerprint.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const LABELS = ['positive', 'negative', 'neutral'];

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kbatch-prepare-run-'));
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

// What a run checks while it prepares, before anything is uploaded or sent.
describe('prepareRun (through runJob)', () => {
  let emu: Emulator;
  let base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs'>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 5 });
    base = { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20 };
  });
  afterAll(async () => {
    await emu.close();
  });
  /** Run `fn` and return what the emulator was sent meanwhile (uploads, batches, chat requests). */
  async function sent(fn: () => Promise<unknown>): Promise<{ result: unknown; files: number; batches: number; chat: number }> {
    const before = emu.stats();
    const result = await fn().catch((err: unknown) => err);
    const after = emu.stats();
    return { result, files: after.filesCreated - before.filesCreated, batches: after.batchesCreated - before.batchesCreated, chat: after.chatRequests - before.chatRequests };
  }

  it('fails with JOIN_FIELD_COLLISION before any upload when an input column is named like an added field', async () => {
    const dir = await tempDir();
    const input = join(dir, 'in.csv');
    await writeFile(input, 'id,text,error\n1,good,\n2,bad,\n');
    const run = await sent(() => runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, output: join(dir, 'out.csv'), jobDir: join(dir, 'job') }));
    expectKbatchError(run.result, { code: 'JOIN_FIELD_COLLISION', field: 'error', file: input, line: 1, message: '--prefix kb_' });
    expect((run.result as Error).message).toContain(`${input}: input field "error" (the header, line 1)`);
    expect(run).toMatchObject({ files: 0, batches: 0, chat: 0 });
    // The suggested prefix works.
    const fixed = await runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, prefix: 'kb_', output: join(dir, 'out2.csv'), jobDir: join(dir, 'job2') });
    expect(fixed).toMatchObject({ records: 2, succeeded: 2 });
  });

  it('fails with JOIN_FIELD_COLLISION from the CSV header alone: a header-only file, and a custom_id column a later row breaks', async () => {
    const dir = await tempDir();
    const headerOnly = join(dir, 'empty.csv');
    await writeFile(headerOnly, 'text,error,response\n');
    const run = await sent(() => runJob({ ...base, input: headerOnly, prompt: '{{text}}', labels: LABELS, output: join(dir, 'out.csv'), jobDir: join(dir, 'job') }));
    expectKbatchError(run.result, { code: 'JOIN_FIELD_COLLISION', field: 'response', file: headerOnly, line: 1 });
    await expect(readFile(join(dir, 'out.csv'))).rejects.toThrow(/ENOENT/);
    const ids = join(dir, 'ids.csv');
    await writeFile(ids, 'custom_id,text\nrow-1,good\nzzz,bad\n');
    const later = await sent(() => runJob({ ...base, input: ids, prompt: '{{text}}', labels: LABELS, output: join(dir, 'ids.jsonl'), jobDir: join(dir, 'job-ids') }));
    expectKbatchError(later.result, { code: 'JOIN_FIELD_COLLISION', field: 'custom_id', message: '--id-column custom_id' });
    expect(later).toMatchObject({ files: 0, batches: 0, chat: 0 });
    // As the id column, its value is the id itself.
    expect(await runJob({ ...base, input: ids, prompt: '{{text}}', labels: LABELS, idColumn: 'custom_id', output: join(dir, 'ids2.jsonl'), jobDir: join(dir, 'job-ids2') })).toMatchObject({ records: 2 });
  });

  it('fails with JOIN_FIELD_COLLISION before sending when a schema property or a later JSONL record collides', async () => {
    const dir = await tempDir();
    const csv = join(dir, 'tickets.csv');
    await writeFile(csv, 'body,category\nmy bill,old\n');
    const schema = { type: 'object', properties: { category: { type: 'string' } }, required: ['category'] };
    for (const mode of ['batch', 'realtime'] as const) {
      const run = await sent(() => runJob({ ...base, input: csv, prompt: '{{body}}', schema, mode, output: join(dir, `out-${mode}.jsonl`), jobDir: join(dir, `job-${mode}`) }));
      expectKbatchError(run.result, { code: 'JOIN_FIELD_COLLISION', field: 'category', file: csv });
      expect(run).toMatchObject({ files: 0, batches: 0, chat: 0 });
    }
    const jsonl = join(dir, 'in.jsonl');
    await writeFile(jsonl, '{"text":"a"}\n{"text":"b","label":"x"}\n');
    const run = await sent(() => runJob({ ...base, input: jsonl, prompt: '{{text}}', labels: LABELS, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job-jsonl') }));
    expectKbatchError(run.result, { code: 'JOIN_FIELD_COLLISION', field: 'label', record: 2, line: 2 });
    expect(run).toMatchObject({ files: 0, batches: 0, chat: 0 });
  });

  it('fails with INPUT_ENCODING on invalid UTF-8 before sending, naming the line and field and suggesting --encoding latin1', async () => {
    const dir = await tempDir();
    const input = join(dir, 'latin1.csv');
    await writeFile(input, Buffer.from('id,text\n1,good\n2,caf\xe9 bad\n', 'latin1'));
    const run = await sent(() => runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, output: join(dir, 'out.csv'), jobDir: join(dir, 'job') }));
    expectKbatchError(run.result, { code: 'INPUT_ENCODING', file: input, line: 3, record: 2, message: 'invalid UTF-8 in field "text"' });
    expect((run.result as Error).message).toContain('--encoding latin1');
    expect(run).toMatchObject({ files: 0, batches: 0, chat: 0 });
  });

  it('records the fingerprint of the bytes prepare read, the same as hashing the file again (CSV, Latin-1 CSV, JSONL)', async () => {
    const dir = await tempDir();
    const csv = join(dir, 'in.csv');
    await writeFile(csv, `id,text\r\n${Array.from({ length: 3000 }, (_, i) => `${i},"good ""é"" 🌍 ${'x'.repeat(40)}"`).join('\r\n')}\r\n`);
    const latin1 = join(dir, 'latin1.csv');
    await writeFile(latin1, Buffer.from('id,text\n1,caf\xe9 good\n', 'latin1'));
    const jsonl = join(dir, 'in.jsonl');
    await writeFile(jsonl, '{"text":"good \\" 🌍"}\n{"text":"bad"}');
    for (const [input, extra] of [[csv, {}], [latin1, { encoding: 'latin1' as const }], [jsonl, {}]] as const) {
      const jobDir = join(dir, `job-${input.split('/').pop()}`);
      await runJob({ ...base, ...extra, input, prompt: '{{text}}', labels: LABELS, output: join(jobDir, 'out.jsonl'), jobDir });
      const state = JSON.parse(await readFile(join(jobDir, 'run.json'), 'utf8')) as { settings: { inputFingerprint: unknown } };
      expect(state.settings.inputFingerprint).toEqual(await fingerprintFile(input));
    }
  });

  it('decodes the input as Latin-1 with encoding latin1, in the prompt and in the output', async () => {
    const dir = await tempDir();
    const input = join(dir, 'latin1.csv');
    await writeFile(input, Buffer.from('id,text\n1,good\n2,caf\xe9 bad\n', 'latin1'));
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...base, input, encoding: 'latin1', prompt: '{{text}}', labels: LABELS, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 2, succeeded: 2 });
    expect(jsonLines(await readFile(out, 'utf8')).map((r) => r.text)).toEqual(['good', 'café bad']);
    const bad = await catchError(() => runJob({ ...base, input, encoding: 'cp1252' as 'latin1', prompt: '{{text}}', labels: LABELS, jobDir: join(dir, 'job2') }));
    expectKbatchError(bad, { code: 'OPTION_INVALID', message: 'must be one of utf8, latin1' });
  });

  it('skips a record holding invalid UTF-8 into the rejects with onInvalidRecord skip (CSV and JSONL)', async () => {
    const dir = await tempDir();
    for (const [name, text] of [
      ['in.csv', 'id,text\n1,good\n2,caf\xe9 bad\n3,fine\n'],
      ['in.jsonl', '{"id":"1","text":"good"}\n{"id":"2","text":"caf\xe9 bad"}\n{"id":"3","text":"fine"}\n'],
    ] as const) {
      const input = join(dir, name);
      await writeFile(input, Buffer.from(text, 'latin1'));
      const out = join(dir, `${name}.out.jsonl`);
      const rejects = join(dir, `${name}.rejects.jsonl`);
      const summary = await runJob({ ...base, input, onInvalidRecord: 'skip', prompt: '{{text}}', labels: LABELS, output: out, rejects, jobDir: join(dir, `job-${name}`) });
      expect(summary).toMatchObject({ records: 3, succeeded: 2, skipped: 1 });
      const rows = jsonLines(await readFile(out, 'utf8'));
      expect(rows.map((r) => [r.id, String(r.error ?? '').split(':')[0]])).toEqual([['1', ''], ['2', 'INPUT_ENCODING'], ['3', '']]);
      expect(String(rows[1]!.error)).toMatch(name.endsWith('.csv') ? /\(record 2, line 3\)$/ : /column 22 .*\(record 2, line 2\)$/);
      expect(jsonLines(await readFile(rejects, 'utf8'))).toHaveLength(1);
    }
  });

  it('keeps a ragged row\'s fields in its output row and its source line in the rejects (onInvalidRecord skip)', async () => {
    const dir = await tempDir();
    const input = join(dir, 'in.csv');
    await writeFile(input, 'id,text,note\n1,good,a\n2,short\n3,"too, many",b,c,d\n4,fine,e\n');
    const out = join(dir, 'out.jsonl');
    const rejects = join(dir, 'rejects.jsonl');
    const summary = await runJob({ ...base, input, onInvalidRecord: 'skip', prompt: '{{text}}', labels: LABELS, output: out, rejects, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 4, succeeded: 2, skipped: 2 });
    const rows = jsonLines(await readFile(out, 'utf8'));
    expect(rows[1]).toMatchObject({ id: '2', text: 'short', note: null, label: null, error: expect.stringMatching(/^RECORD_INVALID: expected 3 fields as in the header, found 2/) });
    expect(rows[2]).toMatchObject({ id: '3', text: 'too, many', note: 'b', _extra_1: 'c', _extra_2: 'd', label: null });
    expect(rows[1]).not.toHaveProperty('raw_line');
    const rejected = jsonLines(await readFile(rejects, 'utf8'));
    expect(rejected.map((r) => [r.id, r.raw_line])).toEqual([['2', '2,short'], ['3', '3,"too, many",b,c,d']]);
    // A CSV rejects file declares the column.
    const csvRejects = join(dir, 'rejects.csv');
    await runJob({ ...base, input, onInvalidRecord: 'skip', prompt: '{{text}}', labels: LABELS, output: join(dir, 'out.csv'), rejects: csvRejects, jobDir: join(dir, 'job2') });
    const header = (await readFile(csvRejects, 'utf8')).split('\n')[0]!;
    expect(header).toBe('id,text,note,custom_id,label,response,finish_reason,prompt_tokens,completion_tokens,error,raw_line');
  });

  it('warns "0 records" for a header-only CSV and an empty file, exits cleanly and writes just the header', async () => {
    const dir = await tempDir();
    const headerOnly = join(dir, 'header.csv');
    await writeFile(headerOnly, 'id,text\n');
    const empty = join(dir, 'empty.csv');
    await writeFile(empty, '');
    for (const [input, expected] of [
      [headerOnly, 'id,text,custom_id,label,response,finish_reason,prompt_tokens,completion_tokens,error\n'],
      [empty, 'custom_id,label,response,finish_reason,prompt_tokens,completion_tokens,error\n'],
    ] as const) {
      const warnings: string[] = [];
      const out = `${input}.out.csv`;
      const run = await sent(() => runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, output: out, jobDir: `${input}.job`, onWarning: (m) => warnings.push(m) }));
      expect(run.result).toMatchObject({ records: 0, succeeded: 0, failed: 0 });
      expect(run).toMatchObject({ files: 0, batches: 0, chat: 0 });
      expect(warnings).toEqual([`${input} has 0 records; nothing to do`]);
      expect(await readFile(out, 'utf8')).toBe(expected);
    }
    const jsonl = join(dir, 'empty.jsonl');
    await writeFile(jsonl, '');
    await runJob({ ...base, input: jsonl, prompt: '{{text}}', output: `${jsonl}.out.jsonl`, jobDir: join(dir, 'job-jsonl') });
    expect(await readFile(`${jsonl}.out.jsonl`, 'utf8')).toBe('');
  });

  it('fails with TEMPLATE_FIELD_MISSING for a template column the header lacks, even with no rows', async () => {
    const dir = await tempDir();
    const input = join(dir, 'header.csv');
    await writeFile(input, 'id,text\n');
    const err = await catchError(() => runJob({ ...base, input, prompt: '{{title}}', labels: LABELS, output: join(dir, 'out.csv'), jobDir: join(dir, 'job') }));
    expectKbatchError(err, { code: 'TEMPLATE_FIELD_MISSING', file: input, line: 1, field: 'title', message: `${input}:1: the header has no column "title" used by the template (columns: id, text)` });
  });
});

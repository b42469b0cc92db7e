import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isValidationRow, prepareTrainingData } from '../../src/internal.js';
import type { SourceRecord } from '../../src/records/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kbatch-ft-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = async (path: string) =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function* rows(n: number, bad: number[] = []): Generator<SourceRecord> {
  for (let i = 1; i <= n; i++) yield { index: i, line: i + 1, data: { text: `text ${i}`, label: bad.includes(i) ? '' : `label ${i}` } };
}

describe('prepareTrainingData', () => {
  it('writes one chat-format line per record and summarises counts and tokens', async () => {
    const out = join(dir, 'train.jsonl');
    const summary = await prepareTrainingData({
      records: Readable.from(rows(3)),
      prompt: 'Label: {{text}}',
      system: 'Be brief.',
      completionColumn: 'label',
      out,
    });
    const written = await lines(out);
    expect(written).toHaveLength(3);
    expect(written[0]).toEqual({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Label: text 1' },
        { role: 'assistant', content: 'label 1' },
      ],
    });
    expect(summary).toMatchObject({ examples: 3, rejected: 0, train: { examples: 3, file: out }, validation: { examples: 0 } });
    expect(summary.tokens).toBe(summary.train.tokens);
    expect(summary.maxExampleTokens).toBeGreaterThan(0);
  });

  it('splits train/validation deterministically by seed and row', async () => {
    const run = async (seed: number, name: string) => {
      const out = join(dir, `${name}.jsonl`);
      const summary = await prepareTrainingData({
        records: Readable.from(rows(200)),
        prompt: '{{text}}',
        completionColumn: 'label',
        out,
        validationSplit: 0.2,
        seed,
      });
      const validation = (await lines(join(dir, `${name}.validation.jsonl`))).map((l) => (l.messages as { content: string }[])[0]!.content);
      return { summary, validation };
    };
    const a = await run(7, 'a');
    const b = await run(7, 'b');
    const c = await run(8, 'c');
    expect(a.validation).toEqual(b.validation);
    expect(c.validation).not.toEqual(a.validation);
    expect(a.summary.validation.examples).toBe(a.validation.length);
    expect(a.summary.train.examples + a.summary.validation.examples).toBe(200);
    expect(a.summary.validation.examples).toBeGreaterThan(20);
    expect(a.summary.validation.examples).toBeLessThan(60);
    expect(a.summary.validation.file).toBe(join(dir, 'a.validation.jsonl'));
    // the split depends only on (seed, row): the first rows' sides match isValidationRow
    const expected = [...Array(200).keys()].filter((i) => isValidationRow(i + 1, 7, 0.2)).map((i) => `text ${i + 1}`);
    expect(a.validation).toEqual(expected);
  });

  it('fails on the first invalid row with FINETUNE_EXAMPLE_INVALID by default', async () => {
    const err = await catchError(() =>
      prepareTrainingData({ records: Readable.from(rows(5, [4])), prompt: '{{text}}', completionColumn: 'label', out: join(dir, 't.jsonl') }),
    );
    expectKbatchError(err, { code: 'FINETUNE_EXAMPLE_INVALID', record: 4, message: /^row 4: / });
  });

  it('with onInvalid skip leaves invalid rows out and writes them to the rejects file', async () => {
    const out = join(dir, 't.jsonl');
    const rejects = join(dir, 'rejects.jsonl');
    const seen: number[] = [];
    const summary = await prepareTrainingData({
      records: Readable.from(rows(5, [2, 4])),
      prompt: '{{text}}',
      completionColumn: 'label',
      out,
      onInvalid: 'skip',
      rejects,
      onReject: (r) => seen.push(r.row),
    });
    expect(summary).toMatchObject({ examples: 3, rejected: 2, rejectsFile: rejects });
    expect(await lines(out)).toHaveLength(3);
    expect(await lines(rejects)).toEqual([
      { row: 2, line: 3, reason: 'row 2: completion column `label` is empty', record: { text: 'text 2', label: '' } },
      { row: 4, line: 5, reason: 'row 4: completion column `label` is empty', record: { text: 'text 4', label: '' } },
    ]);
    expect(seen).toEqual([2, 4]);
  });

  it('rejects too-long examples for the chosen model', async () => {
    const records = [{ index: 1, line: 2, data: { text: 'x'.repeat(40_000 * 4), label: 'y' } }];
    const err = await catchError(() =>
      prepareTrainingData({
        records: Readable.from(records),
        prompt: '{{text}}',
        completionColumn: 'label',
        model: 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo',
        out: join(dir, 't.jsonl'),
      }),
    );
    expectKbatchError(err, { code: 'FINETUNE_EXAMPLE_INVALID', record: 1, message: /32000-token context window/ });
  });

  it('passes conversations through and writes to a caller stream without ending it', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }];
    const summary = await prepareTrainingData({ records: Readable.from([{ index: 1, line: 1, data: { messages } }]), out });
    expect(summary.examples).toBe(1);
    expect(out.writableEnded).toBe(false);
    expect(chunks.join('')).toBe(`${JSON.stringify({ messages })}\n`);
  });

  it('reads a JSONL input path', async () => {
    const input = join(dir, 'in.jsonl');
    await writeFile(input, '{"text":"a","label":"b"}\n\n{"text":"c","label":"d"}\n');
    const summary = await prepareTrainingData({ input, prompt: '{{text}}', completionColumn: 'label', out: join(dir, 'o.jsonl') });
    expect(summary.examples).toBe(2);
  });

  it('reads CSV input, passing JSON-text messages columns through', async () => {
    const input = join(dir, 'in.csv');
    const conversation = JSON.stringify([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }]).replaceAll('"', '""');
    await writeFile(input, `text,label,messages\n"a, quoted",b,\nc,d,"${conversation}"\n`);
    const out = join(dir, 'o.jsonl');
    // the first row's messages cell is empty, so its example comes from the templates
    const summary = await prepareTrainingData({ input, prompt: '{{text}}', completionColumn: 'label', out });
    expect(summary).toMatchObject({ examples: 2, rejected: 0 });
    expect(await lines(out)).toEqual([
      { messages: [{ role: 'user', content: 'a, quoted' }, { role: 'assistant', content: 'b' }] },
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }] },
    ]);
  });

  it('with onInvalid skip also sends unparseable input rows to the rejects file', async () => {
    const input = join(dir, 'in.jsonl');
    await writeFile(input, '{"text":"a","label":"b"}\n{not json\n{"text":"c","label":"d"}\n');
    const rejects = join(dir, 'r.jsonl');
    const summary = await prepareTrainingData({ input, prompt: '{{text}}', completionColumn: 'label', out: join(dir, 'o.jsonl'), onInvalid: 'skip', rejects });
    expect(summary).toMatchObject({ examples: 2, rejected: 1 });
    expect(await lines(rejects)).toEqual([expect.objectContaining({ row: 2, line: 2, raw: '{not json' })]);
    const err = await catchError(() => prepareTrainingData({ input, prompt: '{{text}}', completionColumn: 'label', out: join(dir, 'o.jsonl') }));
    expectKbatchError(err, { code: 'RECORD_INVALID', line: 2 });
  });

  it('rejects with OPTION_INVALID naming `out` when the output directory does not exist (no unhandled error event)', async () => {
    const out = join(dir, 'missing', 'train.jsonl');
    const err = await catchError(() => prepareTrainingData({ records: Readable.from(rows(3)), prompt: '{{text}}', completionColumn: 'label', out }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'out', file: out, message: /^Invalid option `out`: cannot write .*ENOENT/ });
  });

  it('rejects with OPTION_INVALID naming `validationOut` or `rejects` when those cannot be written', async () => {
    const out = join(dir, 'train.jsonl');
    const validationOut = join(dir, 'missing', 'val.jsonl');
    const base = { prompt: '{{text}}', completionColumn: 'label', out };
    const err = await catchError(() => prepareTrainingData({ ...base, records: Readable.from(rows(3)), validationSplit: 0.5, validationOut }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'validationOut', file: validationOut });
    const rejects = join(dir, 'missing', 'rejects.jsonl');
    const err2 = await catchError(() => prepareTrainingData({ ...base, records: Readable.from(rows(3, [2])), onInvalid: 'skip', rejects }));
    expectKbatchError(err2, { code: 'OPTION_INVALID', field: 'rejects', file: rejects });
  });

  it('creates the rejects file only when a row is rejected', async () => {
    const rejects = join(dir, 'rejects.jsonl');
    const summary = await prepareTrainingData({
      records: Readable.from(rows(3)),
      prompt: '{{text}}',
      completionColumn: 'label',
      out: join(dir, 'train.jsonl'),
      onInvalid: 'skip',
      rejects,
    });
    expect(summary.rejected).toBe(0);
    await expect(readFile(rejects)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('validates options with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => prepareTrainingData({ out: join(dir, 'x.jsonl') })), {
      code: 'OPTION_INVALID',
      message: /Invalid option `input`: must be given, or `records` instead/,
    });
    expectKbatchError(
      await catchError(() => prepareTrainingData({ records: Readable.from([]), out: new PassThrough(), validationSplit: 0.1 })),
      { code: 'OPTION_INVALID', field: 'validationOut' },
    );
    expectKbatchError(
      await catchError(() => prepareTrainingData({ records: Readable.from([]), out: 'x.jsonl', validationSplit: 1 })),
      { code: 'OPTION_INVALID', message: 'Invalid option `validationSplit`: must be a number in [0, 1), got 1' },
    );
  });

  it('stops with ABORTED when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await catchError(() =>
      prepareTrainingData({ records: Readable.from(rows(2)), prompt: '{{text}}', completionColumn: 'label', out: join(dir, 'a.jsonl'), signal: controller.signal }),
    );
    expectKbatchError(err, { code: 'ABORTED' });
  });
});

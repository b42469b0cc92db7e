import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipOutputs } from '../../src/models/zip-outputs.js';
import type { JoinedRow } from '../../src/join/skipped-rows.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const ADDED = ['custom_id', 'label', 'error'];

async function files(...contents: string[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-zip-'));
  return Promise.all(
    contents.map(async (text, i) => {
      const file = join(dir, `m${i}.jsonl`);
      await writeFile(file, text);
      return file;
    }),
  );
}

async function collect(gen: AsyncGenerator<JoinedRow[], number, undefined>): Promise<JoinedRow[]> {
  const rows: JoinedRow[] = [];
  for await (const batch of gen) rows.push(...batch);
  return rows;
}

describe('zipOutputs', () => {
  it('puts the input fields once, then each model fields under its alias, a record failed when any model failed', async () => {
    const [a, b] = await files(
      '{"id":1,"custom_id":"row-1","label":"yes","error":null}\n{"id":2,"custom_id":"row-2","label":null,"error":"boom"}\n',
      '{"id":1,"custom_id":"row-1","label":"no","error":null}\r\n{"id":2,"custom_id":"row-2","label":"yes","error":null}',
    );
    const rows = await collect(zipOutputs({ models: [{ alias: 'A', file: a! }, { alias: 'B', file: b! }], added: ADDED, errorField: 'error', batchSize: 1 }));
    expect(rows.map((r) => r.row)).toEqual([
      { id: 1, 'A.custom_id': 'row-1', 'A.label': 'yes', 'A.error': null, 'B.custom_id': 'row-1', 'B.label': 'no', 'B.error': null },
      { id: 2, 'A.custom_id': 'row-2', 'A.label': null, 'A.error': 'boom', 'B.custom_id': 'row-2', 'B.label': 'yes', 'B.error': null },
    ]);
    expect(Object.keys(rows[0]!.row)).toEqual(['id', 'A.custom_id', 'A.label', 'A.error', 'B.custom_id', 'B.label', 'B.error']);
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'failed']);
  });

  it('keeps unicode, escapes and lines split across read blocks intact', async () => {
    const long = 'é"\\\n'.repeat(40_000);
    const line = (label: string) => `${JSON.stringify({ text: long, custom_id: 'row-1', label, error: null })}\n`;
    const [a, b] = await files(line('α').repeat(3), line('β').repeat(3));
    const rows = await collect(zipOutputs({ models: [{ alias: 'A', file: a! }, { alias: 'B', file: b! }], added: ADDED, errorField: 'error' }));
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r.row).toEqual({ text: long, 'A.custom_id': 'row-1', 'A.label': 'α', 'A.error': null, 'B.custom_id': 'row-1', 'B.label': 'β', 'B.error': null });
  });

  it('refuses outputs of different lengths with JOB_INVALID naming the short one', async () => {
    const [a, b] = await files('{"id":1,"error":null}\n{"id":2,"error":null}\n', '{"id":1,"error":null}\n');
    const err = await catchError(() => collect(zipOutputs({ models: [{ alias: 'A', file: a! }, { alias: 'B', file: b! }], added: ADDED, errorField: 'error' })));
    expectKbatchError(err, { code: 'JOB_INVALID', file: b! });
  });

  it('refuses a row whose models answer different records with JOB_INVALID naming the row and both custom_ids', async () => {
    const [a, b] = await files(
      '{"id":1,"custom_id":"row-1","error":null}\n{"id":2,"custom_id":"row-2","error":null}\n',
      '{"id":1,"custom_id":"row-1","error":null}\n{"id":3,"custom_id":"row-3","error":null}\n',
    );
    const err = await catchError(() => collect(zipOutputs({ models: [{ alias: 'A', file: a! }, { alias: 'B', file: b! }], added: ADDED, errorField: 'error' })));
    expectKbatchError(err, { code: 'JOB_INVALID', message: 'row 2', file: b!, customId: 'row-3' });
    expect((err as Error).message).toContain('"row-2"');
  });

  it('pairs a row whose custom_id is null in one model (a record skipped while preparing) with the others', async () => {
    const [a, b] = await files('{"id":1,"custom_id":null,"error":"bad"}\n', '{"id":1,"custom_id":"row-1","error":null}\n');
    const rows = await collect(zipOutputs({ models: [{ alias: 'A', file: a! }, { alias: 'B', file: b! }], added: ADDED, errorField: 'error', customIdField: 'custom_id' }));
    expect(rows).toHaveLength(1);
  });
});

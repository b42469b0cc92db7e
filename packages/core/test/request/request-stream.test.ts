import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { requestStream, type BatchRequestLine, type RejectedRecord, type SourceRecord } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { fromArray, run } from '../helpers/streams.js';

const records: SourceRecord[] = [
  { index: 1, line: 2, data: { id: 'a', text: 'one' } },
  { index: 2, line: 3, data: { id: 'b', text: 'two' } },
  { index: 3, line: 4, data: { id: 'a', text: 'three' } },
];

describe('requestStream', () => {
  it('emits one serialized line with a trailing newline per record', async () => {
    const lines = await run<string>(fromArray(records.slice(0, 2)), requestStream({ model: 'm', prompt: '{{text}}', temperature: 0 }));
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('}\n'))).toBe(true);
    expect(JSON.parse(lines[1]!)).toEqual({
      custom_id: 'row-2',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'm', messages: [{ role: 'user', content: 'two' }], temperature: 0 },
    });
  });

  it('emits BatchRequestLine objects with output: object', async () => {
    const lines = await run<BatchRequestLine>(fromArray(records.slice(0, 1)), requestStream({ model: 'm', prompt: '{{text}}', output: 'object' }));
    expect(lines[0]!.body.messages[0]!.content).toBe('one');
  });

  it('rejects duplicate custom_id with CUSTOM_ID_DUPLICATE naming both rows', async () => {
    const err = await catchError(() => run(fromArray(records), requestStream({ model: 'm', prompt: '{{text}}', idColumn: 'id' })));
    expectKbatchError(err, { code: 'CUSTOM_ID_DUPLICATE', customId: 'a', message: 'rows 1 and 3' });
  });

  it('skips bad records with onInvalidRecord skip and emits skip events', async () => {
    const stream = requestStream({ model: 'm', prompt: '{{text}} {{extra}}', onInvalidRecord: 'skip', file: 'x.csv' });
    const skipped: RejectedRecord[] = [];
    stream.on('skip', (r: RejectedRecord) => skipped.push(r));
    const withExtra = [...records, { index: 4, line: 5, data: { text: 'four', extra: '!' } }];
    const lines = await run<string>(fromArray(withExtra), stream);
    expect(lines).toHaveLength(1);
    expect(skipped.map((r) => [r.record, r.code, r.file])).toEqual([
      [1, 'TEMPLATE_FIELD_MISSING', 'x.csv'],
      [2, 'TEMPLATE_FIELD_MISSING', 'x.csv'],
      [3, 'TEMPLATE_FIELD_MISSING', 'x.csv'],
    ]);
    expect(JSON.parse(skipped[0]!.raw)).toEqual(records[0]!.data);
  });

  it('fails the pipeline on a missing field by default', async () => {
    const err = await catchError(() => pipeline(fromArray(records), requestStream({ model: 'm', prompt: '{{nope}}' }), async function* (s) {
      for await (const _ of s) yield _;
    }));
    expectKbatchError(err, { code: 'TEMPLATE_FIELD_MISSING', record: 1, field: 'nope' });
  });

  it('validates its options at construction', async () => {
    expectKbatchError(await catchError(() => requestStream({ model: 'm', prompt: 'p', output: 'csv' as 'line' })), {
      code: 'OPTION_INVALID',
      field: 'output',
    });
  });
});

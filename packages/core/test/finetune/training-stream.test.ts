import { describe, expect, it } from 'vitest';
import { trainingStream, type TrainingItem } from '../../src/finetune/index.js';
import type { SourceRecord } from '../../src/records/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { fromArray, run } from '../helpers/streams.js';

const records: SourceRecord[] = [
  { index: 1, line: 2, data: { q: 'one', a: '1' } },
  { index: 2, line: 3, data: { q: 'two', a: '' } },
  { index: 3, line: 4, data: { q: 'three', a: '3' } },
];

describe('trainingStream', () => {
  it('emits one training item per valid record with its token estimate', async () => {
    const out = await run<TrainingItem>(fromArray([records[0]!, records[2]!]), trainingStream({ prompt: '{{q}}', completionColumn: 'a' }));
    expect(out.map((item) => item.example.messages[1]!.content)).toEqual(['1', '3']);
    expect(out[0]!.record.index).toBe(1);
    expect(out[0]!.tokens).toBeGreaterThan(0);
  });

  it('fails the pipeline on an invalid record with FINETUNE_EXAMPLE_INVALID by default', async () => {
    const err = await catchError(() => run(fromArray(records), trainingStream({ prompt: '{{q}}', completionColumn: 'a' })));
    expectKbatchError(err, { code: 'FINETUNE_EXAMPLE_INVALID', record: 2 });
  });

  it('skips invalid records with onInvalid skip and emits skip', async () => {
    const stream = trainingStream({ prompt: '{{q}}', completionColumn: 'a', onInvalid: 'skip' });
    const skipped: number[] = [];
    stream.on('skip', (err: unknown, record: SourceRecord) => {
      expectKbatchError(err, { code: 'FINETUNE_EXAMPLE_INVALID' });
      skipped.push(record.index);
    });
    const out = await run<TrainingItem>(fromArray(records), stream);
    expect(out.map((item) => item.record.index)).toEqual([1, 3]);
    expect(skipped).toEqual([2]);
  });

  it('rejects a bad onInvalid with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => trainingStream({ onInvalid: 'drop' as 'skip' })), {
      code: 'OPTION_INVALID',
      message: 'Invalid option `onInvalid`: must be "error" or "skip", got "drop"',
    });
  });
});

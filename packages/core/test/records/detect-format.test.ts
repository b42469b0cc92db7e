import { describe, expect, it } from 'vitest';
import { detectFormat } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('detectFormat', () => {
  it('maps extensions to formats, case-insensitively', () => {
    expect(['a.csv', 'b.TSV', 'c.tab', 'd.jsonl', 'e.ndjson', 'f.json'].map(detectFormat)).toEqual(['csv', 'tsv', 'tsv', 'jsonl', 'jsonl', 'json']);
  });

  it('fails with INPUT_FORMAT_UNKNOWN for stdin and unknown extensions', async () => {
    expectKbatchError(await catchError(() => detectFormat('-')), { code: 'INPUT_FORMAT_UNKNOWN', message: 'standard input' });
    expectKbatchError(await catchError(() => detectFormat('data.txt')), { code: 'INPUT_FORMAT_UNKNOWN', file: 'data.txt' });
  });
});

import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapLineErrors } from '../../src/job/finish-part.js';

describe('mapLineErrors', () => {
  it('maps 1-based line numbers back to custom_ids', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-map-'));
    const file = join(dir, 'c.jsonl');
    await writeFile(file, '{"custom_id":"a"}\n{"custom_id":"b"}\nnot json\n');
    const mapped = await mapLineErrors(file, [
      { code: 'x', message: 'm', line: 2 },
      { code: 'y', message: 'n', line: 3 },
      { code: 'z', message: 'o', line: null },
    ]);
    expect(mapped).toEqual([
      { line: 2, customId: 'b', code: 'x', message: 'm' },
      { line: 3, customId: null, code: 'y', message: 'n' },
      { line: null, customId: null, code: 'z', message: 'o' },
    ]);
  });
});

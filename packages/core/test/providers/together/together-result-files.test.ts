import { describe, expect, it } from 'vitest';
import { parseBatch } from '../../../src/client/schemas.js';
import { togetherResultFilesComplete } from '../../../src/providers/together/together-result-files.js';

// A files.content fake serving one error file (and counting its downloads).
function errorFile(text: string) {
  const calls: string[] = [];
  const files = { content: async (id: string) => (calls.push(id), new Response(text)) } as never;
  return { files, calls };
}
const line = (id: string) => JSON.stringify({ custom_id: id, response: { status_code: 400, body: { error: { message: 'bad' } } }, error: null });
const batch = (fields: Record<string, unknown>) =>
  parseBatch({ id: 'b-1', status: 'completed', request_counts: { total: 0, completed: 0, failed: 0 }, error_file_id: 'file-err', progress: 100, ...fields });

describe('togetherResultFilesComplete', () => {
  it('is complete when the error file answers every request of the chunk, counting distinct custom_ids (CRLF, blank lines, duplicates)', async () => {
    const { files } = errorFile(`${line('a')}\r\n${line('b')}\n\n${line('b')}\n${line('é"x')}`);
    expect(await togetherResultFilesComplete(files, batch({}), { requests: 3 }, new Map())).toBe(true);
    expect(await togetherResultFilesComplete(files, batch({}), { requests: 4 }, new Map())).toBe(false);
  });

  it('is incomplete while an ended batch that ran names only an error file answering fewer requests; each file is counted once', async () => {
    const { files, calls } = errorFile(`${line('a')}\n`);
    const counted = new Map<string, number>();
    for (const status of ['completed', 'expired', 'cancelled', 'failed']) expect(await togetherResultFilesComplete(files, batch({ status }), { requests: 2 }, counted)).toBe(false);
    expect([calls, [...counted]]).toEqual([['file-err'], [['file-err', 1]]]);
  });

  it('is complete, reading nothing, when the output file is named, no error file is, the batch runs on, or nothing ran', async () => {
    const { files, calls } = errorFile('');
    const cases = [
      batch({ output_file_id: 'file-out' }),
      batch({ error_file_id: null }),
      batch({ status: 'in_progress' }),
      batch({ progress: 0 }),
      // No progress and an error of its own: it failed as a whole (validation), so it answered nothing.
      batch({ status: 'failed', progress: undefined, errors: { data: [{ code: null, message: 'invalid file', line: null }] } }),
    ];
    for (const b of cases) expect(await togetherResultFilesComplete(files, b, { requests: 5 }, new Map())).toBe(true);
    expect(calls).toEqual([]);
  });
});

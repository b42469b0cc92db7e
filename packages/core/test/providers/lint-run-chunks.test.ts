import { describe, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintRunChunks } from '../../src/providers/lint-run-chunks.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

async function chunk(customId: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'kbatch-lint-run-')), 'part-00001.jsonl');
  await writeFile(path, `${JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [] } })}\n`);
  return path;
}

describe('lintRunChunks', () => {
  it("lints a batch run's chunks only where the profile has a rule chunking cannot keep, never a realtime run's", async () => {
    const long = await chunk('x'.repeat(65));
    await lintRunChunks([long], { provider: 'openai', mode: 'batch' });
    await lintRunChunks([long], { provider: 'together', mode: 'realtime' });
    const err = await catchError(() => lintRunChunks([long], { provider: 'together', mode: 'batch' }));
    expectKbatchError(err, { code: 'LINT_FAILED', message: 'line 1 (custom_id xxxxxxxx' });
  });
});

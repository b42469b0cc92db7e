import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type * as Core from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { tempDir, tempFile } from '../helpers/inputs.js';

// Worker threads run the compiled worker script, so this test uses the build (`pnpm build` / `pnpm test`).
const core = (await import(new URL('../../dist/index.js', import.meta.url).href)) as typeof Core;

function trickyCsv(rows: number, withBadRows: boolean): string {
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  const atoms = ['word', 'naïve', '日本語', '😀', ', comma', '""quoted""', '\n', '\r\n', ' '];
  let text = 'id,title,text\r\n';
  for (let i = 1; i <= rows; i++) {
    let value = '';
    for (let k = 1 + ((rnd() * 12) | 0); k > 0; k--) value += atoms[(rnd() * atoms.length) | 0];
    if (withBadRows && i % 97 === 0) text += `${i},"broken"x,y\n`;
    else if (withBadRows && i % 89 === 0) text += `${i},only-two\n`;
    else text += `${i},t${i},"${value}"${rnd() < 0.5 ? '\n' : '\r\n'}`;
    if (rnd() < 0.05) text += '\n';
  }
  return text;
}

async function prepare(input: string, extra: Partial<Core.PrepareRequestsOptions>) {
  const dir = await tempDir();
  const output = join(dir, 'out.jsonl');
  const rejects = join(dir, 'rejects.jsonl');
  const summary = await core.prepareRequests({ input, output, rejects, model: 'm', prompt: '{{title}}: {{text}}', ...extra });
  return { summary, output: await readFile(output, 'utf8'), rejects: await readFile(rejects, 'utf8').catch(() => '') };
}

describe('prepareRequests with workers', () => {
  it('writes exactly what the single-thread path writes, with quoted newlines across piece boundaries', async () => {
    const input = await tempFile('tricky.csv', trickyCsv(3000, false));
    const serial = await prepare(input, { workers: 0 });
    for (const pieceBytes of [1, 333, 4096]) {
      const parallel = await prepare(input, { workers: 2, pieceBytes });
      expect(parallel.output).toBe(serial.output);
      expect(parallel.summary).toEqual(serial.summary);
    }
    expect(serial.summary.linesWritten).toBe(3000);
  });

  it('skips the same bad rows into the same rejects file, in order', async () => {
    const input = await tempFile('bad.csv', trickyCsv(2000, true));
    const serial = await prepare(input, { workers: 0, onInvalidRecord: 'skip' });
    const parallel = await prepare(input, { workers: 2, pieceBytes: 500, onInvalidRecord: 'skip' });
    expect(serial.summary.rejected).toBeGreaterThan(20);
    expect(parallel.output).toBe(serial.output);
    expect(parallel.rejects).toBe(serial.rejects);
    expect(parallel.summary).toEqual(serial.summary);
  });

  it('stops at the same first bad row as the single-thread path', async () => {
    const input = await tempFile('bad.csv', trickyCsv(2000, true));
    const serial = await catchError(() => prepare(input, { workers: 0 }));
    const parallel = await catchError(() => prepare(input, { workers: 2, pieceBytes: 200 }));
    expectKbatchError(parallel, { code: 'RECORD_INVALID', message: (serial as Error).message, line: (serial as Core.KbatchError).line });
    const good = await tempFile('good.csv', trickyCsv(200, false));
    const missing = await catchError(() => prepare(good, { workers: 2, pieceBytes: 200, prompt: '{{nope}}' }));
    expectKbatchError(missing, { code: 'TEMPLATE_FIELD_MISSING', record: 1, field: 'nope' });
  });

  it('handles JSON Lines and an input without a final newline', async () => {
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ title: `t${i}`, text: `é\n${i}` })).join('\n');
    const input = await tempFile('items.jsonl', lines);
    const serial = await prepare(input, { workers: 0 });
    const parallel = await prepare(input, { workers: 2, pieceBytes: 100 });
    expect(parallel.output).toBe(serial.output);
    expect(parallel.summary.linesWritten).toBe(500);
  });
});

import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { recordBatches } from '../../src/index.js';

// 64 KB chunks, as a file is read: a huge record spans hundreds of them.
function chunked(bytes: Buffer, size = 1 << 16): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
  return Readable.from(pieces, { objectMode: false });
}

async function readAll(bytes: Buffer, options: { delimiter?: string } = {}) {
  const records = [];
  for await (const batch of recordBatches({ input: chunked(bytes), format: 'csv', ...options })) records.push(...batch);
  return records;
}

describe('CsvScanner', () => {
  it('reads a quoted field and an unquoted one of several MB spanning many chunks', async () => {
    const quoted = 'ab""c\n,€'.repeat(300_000);
    const plain = 'x y z é'.repeat(300_000);
    const csv = Buffer.from(`id§big§tail\n1§"${quoted}"§${plain}\n2§"x"§y\n`);
    const records = await readAll(csv, { delimiter: '§' });
    expect(records.map((r) => [r.index, r.line])).toEqual([[1, 2], [2, 300_003]]);
    expect(records[0]!.data).toEqual({ id: '1', big: quoted.replaceAll('""', '"'), tail: plain });
    expect(records[1]!.data).toEqual({ id: '2', big: 'x', tail: 'y' });
  });

  it('reports a quote left open in a large input once, at the end of the input', async () => {
    const csv = Buffer.from(`id,text\n1,ok\n2,"${'never closed, '.repeat(100_000)}`);
    const rejected: { line: number; reason: string }[] = [];
    const records = [];
    const batches = recordBatches({ input: chunked(csv), format: 'csv', onInvalidRecord: 'skip', onReject: (r) => rejected.push(r) });
    for await (const batch of batches) records.push(...batch);
    expect(records.map((r) => r.data)).toEqual([{ id: '1', text: 'ok' }]);
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([[3, 'quoted field is not closed before the end of the input']]);
  });
});

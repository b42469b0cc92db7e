// Sentiment labeling of a CSV with the kbatch CLI — the README's first Quick start command:
//   pnpm --silent kbatch run packages/examples/data/reviews.csv --local \
//     --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo --prompt 'Review: {{text}}' \
//     --labels positive,negative,neutral --output-format csv
// `--local` runs the job against an in-process emulator (no account needed). Drop it and set
// KLUSTER_API_KEY to run the same command on kluster.ai.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { recordStream, type SourceRecord } from '@kbatch/core';
import { dataPath, kbatchBin } from './shared.js';

const LABELS = ['positive', 'negative', 'neutral'];
const cwd = await mkdtemp(join(tmpdir(), 'kbatch-example-01-'));
try {
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    [
      kbatchBin(),
      'run', dataPath('reviews.csv'), '--local',
      '--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo',
      '--prompt', 'Review: {{text}}',
      '--labels', LABELS.join(','),
      '--output-format', 'csv',
    ],
    { cwd, maxBuffer: 16 << 20 },
  );

  // The labeled CSV on stdout: every input column, in input order, plus custom_id, label, response, …
  const rows: Record<string, unknown>[] = [];
  for await (const record of recordStream({ input: Readable.from([stdout]), format: 'csv' }) as AsyncIterable<SourceRecord>) rows.push(record.data);
  const input: Record<string, unknown>[] = [];
  for await (const record of recordStream({ input: dataPath('reviews.csv') }) as AsyncIterable<SourceRecord>) input.push(record.data);
  assert.equal(rows.length, input.length);
  assert.deepEqual(rows.map((r) => [r.id, r.text]), input.map((r) => [r.id, r.text]), 'input order and text are kept');
  for (const row of rows) {
    assert.ok(LABELS.includes(String(row.label)), `row ${String(row.id)} has a label: ${String(row.label)}`);
    assert.equal(row.error, '');
  }
  const label = (id: string) => rows.find((r) => r.id === id)?.label;
  assert.equal(label('r01'), 'positive');
  assert.equal(label('r07'), 'negative');
  assert.match(stderr, /records 30: 30 succeeded, 0 failed/);

  const counts = Object.fromEntries(LABELS.map((l) => [l, rows.filter((r) => r.label === l).length]));
  console.log(`labeled ${rows.length} reviews:`, counts);
} finally {
  await rm(cwd, { recursive: true, force: true });
}

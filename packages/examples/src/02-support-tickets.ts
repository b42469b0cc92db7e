// Classify support tickets with a zod schema through `runJob` (one batch job, answers validated and
// retried when they do not match), then write a summary table: tickets per category and priority.
// Self-checking against a local emulator; pass a real client (createKlusterClient()) to run it on kluster.ai.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createKlusterClient, recordStream, runJob, type SourceRecord } from '@kbatch/core';
import { startEmulator } from '@kbatch/emulator';
import { dataPath } from './shared.js';

const CATEGORIES = ['billing', 'bug', 'account', 'question', 'feedback'] as const;
const PRIORITIES = ['low', 'medium', 'high'] as const;
const Ticket = z.object({
  category: z.enum(CATEGORIES),
  priority: z.enum(PRIORITIES),
  summary: z.string().min(1),
});

const emulator = await startEmulator({ seed: 2, timeScale: 0.001, validationMs: 10, lineMs: 1, finalizingMs: 10 });
const dir = await mkdtemp(join(tmpdir(), 'kbatch-example-02-'));
try {
  const output = join(dir, 'tickets.classified.jsonl');
  const summary = await runJob({
    input: dataPath('tickets.json'),
    model: 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo',
    system: 'You triage customer support tickets.',
    prompt: 'Subject: {{subject}}\n\n{{body}}',
    schema: Ticket, // the prompt gets its JSON Schema; each answer is parsed and validated against it
    temperature: 0,
    output,
    jobDir: join(dir, 'job'),
    client: createKlusterClient({ apiKey: 'demo', baseURL: emulator.baseURL }),
    pollIntervalMs: 50,
  });
  assert.equal(summary.records, 12);
  assert.equal(summary.succeeded, 12, 'every ticket got a valid answer');
  assert.equal(summary.failed, 0);

  // Each output record: the ticket's fields, then custom_id, category, priority, summary, response, … error.
  const table = new Map<string, Record<string, number>>(CATEGORIES.map((c) => [c, Object.fromEntries(PRIORITIES.map((p) => [p, 0]))]));
  const tickets: Record<string, unknown>[] = [];
  for await (const { data } of recordStream({ input: output }) as AsyncIterable<SourceRecord>) {
    assert.equal(Ticket.safeParse(data).success, true, `ticket ${String(data.id)} matches the schema`);
    assert.equal(data.error, null);
    table.get(data.category as string)![data.priority as string]! += 1;
    tickets.push(data);
  }
  assert.deepEqual(tickets.map((t) => t.id), JSON.parse(await readFile(dataPath('tickets.json'), 'utf8')).map((t: { id: string }) => t.id));

  // The summary table, as CSV and on stdout.
  const lines = [['category', ...PRIORITIES, 'total'].join(',')];
  for (const [category, counts] of table) {
    const total = PRIORITIES.reduce((n, p) => n + counts[p]!, 0);
    if (total > 0) lines.push([category, ...PRIORITIES.map((p) => counts[p]), total].join(','));
  }
  await writeFile(join(dir, 'summary.csv'), `${lines.join('\n')}\n`);
  const written = (await readFile(join(dir, 'summary.csv'), 'utf8')).trim().split('\n');
  assert.equal(written.slice(1).reduce((n, line) => n + Number(line.split(',').at(-1)), 0), 12, 'the table counts every ticket once');
  console.log(`classified ${summary.records} tickets (${summary.promptTokens} prompt + ${summary.completionTokens} completion tokens):`);
  for (const line of written) console.log(`  ${line.split(',').map((c) => c.padEnd(9)).join(' ')}`);
} finally {
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
}

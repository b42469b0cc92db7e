// The same labeling job on three providers — kluster.ai (OpenAI-style files + batches), Anthropic Message Batches and
// the Gemini Batch API — with one template and one label set, through `runJob` and `createClient({ provider })`.
// Offline: each provider is the emulator speaking that provider's wire format (`startEmulator({ provider })`); drop
// `baseURL` and set KLUSTER_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY to run it on the real services.
// Asserts that every provider labels every review once, in input order, and that the three agree.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, recordStream, runJob, type SourceRecord } from '@kbatch/core';
import { startEmulator, type EmulatorOptions } from '@kbatch/emulator';
import { dataPath } from './shared.js';

const LABELS = ['positive', 'negative', 'neutral'];
const PROVIDERS: Array<{ provider: string; model: string; personality: EmulatorOptions['provider'] }> = [
  { provider: 'kluster', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', personality: undefined },
  { provider: 'anthropic', model: 'claude-haiku-4-5', personality: 'anthropic' },
  { provider: 'gemini', model: 'gemini-2.5-flash', personality: 'gemini' },
];

const dir = await mkdtemp(join(tmpdir(), 'kbatch-example-05-'));
try {
  const labelsBy = new Map<string, string[]>();
  let ids: string[] = [];
  for (const { provider, model, personality } of PROVIDERS) {
    const emulator = await startEmulator({ seed: 5, timeScale: 0.001, validationMs: 10, lineMs: 1, finalizingMs: 10, ...(personality ? { provider: personality } : {}) });
    try {
      const output = join(dir, `${provider}.jsonl`);
      const summary = await runJob({
        provider,
        input: dataPath('reviews.csv'),
        model,
        prompt: 'Review: {{text}}',
        labels: LABELS,
        maxCompletionTokens: 16, // Anthropic requires a limit; the others take it as given
        output,
        jobDir: join(dir, `job-${provider}`),
        client: createClient({ provider, apiKey: 'demo', baseURL: emulator.baseURL }),
        pollIntervalMs: 50,
      });
      assert.equal(summary.records, 30, `${provider}: every review read`);
      assert.equal(summary.succeeded, 30, `${provider}: every review labeled`);
      assert.equal(emulator.stats().batchesCreated, 1, `${provider}: one batch`);
      const rows: Record<string, unknown>[] = [];
      for await (const { data } of recordStream({ input: output }) as AsyncIterable<SourceRecord>) rows.push(data);
      if (ids.length === 0) ids = rows.map((r) => String(r.id));
      assert.deepEqual(rows.map((r) => String(r.id)), ids, `${provider}: one row per review, in input order`);
      for (const row of rows) assert.ok(LABELS.includes(String(row.label)), `${provider}: row ${String(row.id)} has a label`);
      labelsBy.set(provider, rows.map((r) => String(r.label)));
    } finally {
      await emulator.close();
    }
  }
  const [first, ...others] = [...labelsBy.values()];
  for (const labels of others) assert.deepEqual(labels, first, 'the three providers agree on every review');
  const counts = Object.fromEntries(LABELS.map((l) => [l, first!.filter((x) => x === l).length]));
  console.log(`labeled ${ids.length} reviews on ${[...labelsBy.keys()].join(', ')}: they agree on all of them`, counts);
} finally {
  await rm(dir, { recursive: true, force: true });
}

// Distil a large model into a fine-tuned small one, all against the local emulator, and check the result:
// 1. label reviews with the 70B model (a batch job), 2. turn the labels into chat training data,
// 3. fine-tune the 8B model on them, 4. label new reviews with the fine-tuned model (another batch job).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFineTuneJob,
  createKlusterClient,
  prepareRequests,
  prepareTrainingData,
  readJobResults,
  recordStream,
  runBatchJob,
  waitForFineTuneJob,
  type SourceRecord,
} from '@kbatch/core';
import { startEmulator } from '@kbatch/emulator';
import { dataPath } from './shared.js';

const LARGE = 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo';
const SMALL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const PROMPT = 'Classify the sentiment of the review. Answer with one of: positive, negative\nReview: {{text}}';

const emulator = await startEmulator({ seed: 4, timeScale: 0.001, ftStepMs: 20 });
const dir = await mkdtemp(join(tmpdir(), 'kbatch-example-04-'));
try {
  const client = createKlusterClient({ apiKey: 'demo', baseURL: emulator.baseURL });

  /** Label every record of `input` with `model` through a batch job; returns text → label. */
  async function label(input: string, model: string, name: string): Promise<Map<string, string>> {
    const requests = join(dir, `${name}-requests.jsonl`);
    await prepareRequests({ input, output: requests, model, prompt: PROMPT, temperature: 0 });
    const job = await runBatchJob({ chunks: [requests], client, jobDir: join(dir, `${name}-job`), pollIntervalMs: 50 });
    assert.equal(job.state, 'completed', `the ${name} batch job completed`);
    const answers = new Map<string, string>();
    for await (const line of readJobResults(job.jobDir)) {
      const body = line.response?.body as { choices: { message: { content: string } }[] };
      answers.set(line.custom_id, body.choices[0]!.message.content.trim());
    }
    const labels = new Map<string, string>();
    for await (const record of recordStream({ input }) as AsyncIterable<SourceRecord>) {
      labels.set(String(record.data.text), answers.get(`row-${record.index}`)!);
    }
    return labels;
  }

  // 1. The large model labels the training reviews.
  const teacher = await label(dataPath('finetune-reviews.jsonl'), LARGE, 'teacher');
  assert.equal(teacher.size, 8);
  for (const value of teacher.values()) assert.ok(['positive', 'negative'].includes(value), `label ${value}`);

  // 2. Labels → chat-format training data (one example per review), with a seeded validation split.
  const labelled = (async function* () {
    let index = 0;
    for (const [text, value] of teacher) yield { index: ++index, line: index, data: { text, label: value } };
  })();
  const train = join(dir, 'train.jsonl');
  const summary = await prepareTrainingData({
    records: labelled,
    prompt: PROMPT,
    completionColumn: 'label',
    model: SMALL,
    out: train,
    validationSplit: 0.25,
    seed: 7,
  });
  assert.equal(summary.examples, 8);
  assert.equal(summary.train.examples + summary.validation.examples, 8);
  assert.ok(summary.tokens > 0);

  // 3. Fine-tune the small model and wait for it.
  const created = await createFineTuneJob({
    client,
    trainingFile: train,
    ...(summary.validation.examples > 0 ? { validationFile: summary.validation.file! } : {}),
    model: SMALL,
    epochs: 2,
    nickname: 'sentiment',
  });
  const statuses: string[] = [];
  const job = await waitForFineTuneJob({ client, jobId: created.id, pollIntervalMs: 20, onStatus: (j) => statuses.push(j.status) });
  assert.equal(statuses.at(-1), 'succeeded');
  const model = job.fine_tuned_model!;
  assert.match(model, /^ft:.*sentiment/);

  // 4. The fine-tuned model labels new reviews like the teacher would.
  const student = await label(dataPath('finetune-new.csv'), model, 'student');
  const check = await label(dataPath('finetune-new.csv'), LARGE, 'check');
  assert.equal(student.size, 4);
  assert.deepEqual([...student], [...check]);
  console.log(`fine-tuned ${model} on ${summary.examples} examples (~${summary.tokens} tokens); new labels:`);
  for (const [text, value] of student) console.log(`  ${value}\t${text}`);
} finally {
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
}

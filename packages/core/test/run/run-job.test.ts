import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile, readdir, utimes } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, PassThrough } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { startEmulator, respond, type Emulator, type EmulatorOptions } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { loadManifest } from '../../src/internal.js';
import { formatRunSummary, isRunJob, loadRunState, resumeRun, runJob, runRecords, runStream, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const FAST: EmulatorOptions = { timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5 };
const LABELS = ['positive', 'negative', 'neutral'];
const TEXTS = ['I love it, great', 'terrible, broken, awful', 'it is a thing', 'amazing and wonderful', 'bad and poor'];

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kbatch-run-'));
}

/** A CSV of `n` reviews with ids r1..rn (texts cycle through TEXTS; one has a quote, a comma and a newline). */
async function reviewsCsv(dir: string, n: number): Promise<string> {
  const rows = ['id,text'];
  for (let i = 1; i <= n; i++) rows.push(`r${i},"${i === 3 ? 'multi\nline, ""quoted"" ' : ''}${TEXTS[i % TEXTS.length]}"`);
  const file = join(dir, 'reviews.csv');
  await writeFile(file, `${rows.join('\n')}\n`);
  return file;
}

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('runJob', () => {
  const emulators: Emulator[] = [];
  async function emulator(options: EmulatorOptions = {}): Promise<Emulator> {
    const emu = await startEmulator({ ...FAST, seed: 11, ...options });
    emulators.push(emu);
    return emu;
  }
  let emu: Emulator;
  let base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs'>;
  beforeAll(async () => {
    emu = await emulator();
    base = { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20 };
  });
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });

  it('labels a CSV over several chunks, restoring input order from shuffled outputs (CSV round trip)', async () => {
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 23);
    const out = join(dir, 'labeled.csv');
    const summary = await runJob({ ...base, input, prompt: 'Review: {{text}}', labels: LABELS, maxRequests: 5, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 23, succeeded: 23, failed: 0, retried: 0, batches: 5, outputs: { output: out } });
    expect(summary.promptTokens).toBeGreaterThan(0);
    expect(summary.completionTokens).toBeGreaterThan(0);
    const rows = parse(await readFile(out), { columns: true }) as Record<string, string>[];
    const source = parse(await readFile(input), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.id)).toEqual(source.map((r) => r.id));
    expect(rows.map((r) => r.text)).toEqual(source.map((r) => r.text));
    expect(rows[2]!.text).toContain('multi\nline, "quoted"');
    for (const row of rows) {
      expect(LABELS).toContain(row.label);
      expect(row.error).toBe('');
    }
    expect(rows.slice(0, 5).map((r) => r.label)).toEqual(['negative', 'neutral', 'positive', 'negative', 'positive']);
    expect(Object.keys(rows[0]!)).toEqual(['id', 'text', 'custom_id', 'label', 'response', 'finish_reason', 'prompt_tokens', 'completion_tokens', 'error']);
    expect(formatRunSummary(summary)).toContain('records 23: 23 succeeded, 0 failed');
    const state = await readFile(join(dir, 'job', 'run.json'), 'utf8');
    expect(state).not.toContain('"k"');
    expect(JSON.parse(state)).toMatchObject({ kind: 'kbatch-run', phase: 'joined' });
  });

  it('retries failed requests in follow-up parts of the same job until they succeed (last attempt wins)', async () => {
    const flaky = await emulator({ seed: 5, faults: { lineFailureRate: 0.3 } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 30);
    const out = sink();
    const events: string[] = [];
    const summary = await runJob({
      ...base,
      client: createKlusterClient({ apiKey: 'k', baseURL: flaky.baseURL }),
      input,
      prompt: 'Review: {{text}}',
      labels: LABELS,
      maxRequests: 10,
      retries: 5,
      output: out.stream,
      jobDir: join(dir, 'job'),
      onProgress: (e) => events.push(e.type),
    });
    expect(summary.succeeded).toBe(30);
    expect(summary.failed).toBe(0);
    expect(summary.retried).toBeGreaterThan(0);
    expect(summary.rounds).toBeGreaterThanOrEqual(1);
    expect(summary.retryRequests).toBeGreaterThanOrEqual(summary.retried);
    expect(events).toContain('retry-round');
    const rows = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => `r${i + 1}`));
    expect(rows.every((r) => r.error === null && LABELS.includes(r.label as string))).toBe(true);
    const manifest = await loadManifest(join(dir, 'job'));
    expect(manifest.parts.filter((p) => p.kind === 'retry').length).toBeGreaterThan(0);
    expect(summary.batches).toBe(manifest.parts.length);
  });

  it('emits what still fails after the retries with its error, and writes it to rejects', async () => {
    const broken = await emulator({ seed: 3, faults: { lineFailureRate: 0.5 } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 12);
    const out = join(dir, 'out.jsonl');
    const rejects = join(dir, 'rejects.jsonl');
    const summary = await runJob({
      ...base,
      client: createKlusterClient({ apiKey: 'k', baseURL: broken.baseURL }),
      input,
      prompt: '{{text}}',
      retries: 0,
      output: out,
      rejects,
      jobDir: join(dir, 'job'),
    });
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary).toMatchObject({ retried: 0, rounds: 0, requestErrors: summary.failed });
    const rows = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(12);
    const failed = rows.filter((r) => r.error !== null);
    expect(failed).toHaveLength(summary.failed);
    expect(String(failed[0]!.error)).toMatch(/^HTTP 500/);
    const rejected = (await readFile(rejects, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rejected).toEqual(failed);
  });

  it('retries answers the labels reject, and reports them as invalid when retries run out', async () => {
    const seen = new Map<string, number>();
    // Answers "maybe?" the first time a prompt is seen, a proper label afterwards.
    const picky = await emulator({
      responder: (body) => {
        const key = JSON.stringify(body.messages);
        const n = (seen.get(key) ?? 0) + 1;
        seen.set(key, n);
        return n === 1 ? 'maybe?' : ` "${String(respond(body).content).toUpperCase()}". `;
      },
    });
    const client = createKlusterClient({ apiKey: 'k', baseURL: picky.baseURL });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 6);
    const retried = await runJob({ cache: false, ...base, client, input, prompt: 'Review {{id}}: {{text}}', labels: LABELS, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    expect(retried).toMatchObject({ records: 6, succeeded: 6, retried: 6, rounds: 1 });
    const rows = (await readFile(join(dir, 'a.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.every((r: Record<string, unknown>) => LABELS.includes(r.label as string))).toBe(true);

    seen.clear();
    const out = sink();
    const failed = await runJob({ cache: false, ...base, client, input, prompt: 'Review {{id}}: {{text}}', labels: LABELS, retries: 0, output: out.stream, jobDir: join(dir, 'b') });
    expect(failed).toMatchObject({ records: 6, succeeded: 0, invalidAnswers: 6 });
    const first = JSON.parse(out.text().split('\n')[0]!);
    expect(first).toMatchObject({ label: null, response: 'maybe?' });
    expect(first.error).toMatch(/^invalid answer: /);
  });

  it('validates answers against a zod schema and adds its fields (JSON array output)', async () => {
    const dir = await tempDir();
    const tickets = join(dir, 'tickets.jsonl');
    await writeFile(tickets, ['{"n":1,"body":"my invoice is wrong"}', '{"n":2,"body":"app crashes on login"}', '{"n":3,"body":"how do I export?"}'].join('\n'));
    const schema = z.object({ category: z.enum(['billing', 'bug', 'question']), urgent: z.boolean() });
    const out = join(dir, 'out.json');
    const summary = await runJob({ ...base, input: tickets, prompt: 'Ticket: {{body}}', schema, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 3, succeeded: 3 });
    const rows = JSON.parse(await readFile(out, 'utf8')) as Array<Record<string, unknown>>;
    expect(rows.map((r) => r.n)).toEqual([1, 2, 3]);
    for (const row of rows) {
      expect(schema.safeParse({ category: row.category, urgent: row.urgent }).success).toBe(true);
    }
    // Only its JSON Schema is stored: resuming without the zod schema warns; given again, it is used silently.
    const warnings: string[] = [];
    await resumeRun(join(dir, 'job'), { client: base.client, output: join(dir, 'again.json'), onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringContaining('started with a zod schema')]);
    await resumeRun(join(dir, 'job'), { client: base.client, schema, output: join(dir, 'again.json'), onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(await readFile(join(dir, 'again.json'), 'utf8')).toBe(await readFile(out, 'utf8'));
  });

  it('names the failing path when an answer does not match the schema', async () => {
    const wrong = await emulator({ responder: () => '```json\n{"category": 7}\n```' });
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    await writeFile(input, '{"body":"x"}\n');
    const out = sink();
    const summary = await runJob({
      ...base,
      client: createKlusterClient({ apiKey: 'k', baseURL: wrong.baseURL }),
      input,
      prompt: '{{body}}',
      schema: { type: 'object', properties: { category: { type: 'string' } }, required: ['category'] },
      retries: 1,
      output: out.stream,
      jobDir: join(dir, 'job'),
    });
    expect(summary).toMatchObject({ succeeded: 0, invalidAnswers: 1, retried: 1, rounds: 1 });
    expect(JSON.parse(out.text()).error).toMatch(/invalid answer: .*category/);
  });

  it('finishes a job whose batch expires mid-way (leftovers resubmitted), order intact', async () => {
    const expiring = await emulator({ seed: 2, faults: { expireAfterLines: 4 } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 10);
    const out = sink();
    const summary = await runJob({
      ...base,
      client: createKlusterClient({ apiKey: 'k', baseURL: expiring.baseURL }),
      input,
      prompt: 'Review: {{text}}',
      labels: LABELS,
      output: out.stream,
      jobDir: join(dir, 'job'),
    });
    expect(summary).toMatchObject({ records: 10, succeeded: 10 });
    expect(summary.batches).toBeGreaterThanOrEqual(3);
    const ids = out.text().trim().split('\n').map((l) => JSON.parse(l).id);
    expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => `r${i + 1}`));
  });

  it('marks the rows whose batches expired more than maxResubmits allows as expired (BATCH_EXPIRED), with a warning', async () => {
    const expiring = await emulator({ seed: 2, faults: { expireAfterLines: 4 } });
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 10);
    const out = sink();
    const warnings: string[] = [];
    const summary = await runJob({
      ...base,
      client: createKlusterClient({ apiKey: 'k', baseURL: expiring.baseURL }),
      input,
      prompt: 'Review: {{text}}',
      labels: LABELS,
      maxResubmits: 1,
      retries: 0,
      output: out.stream,
      jobDir: join(dir, 'job'),
      onProgress: (e) => {
        if (e.type === 'warning') warnings.push(`${e.part}: ${e.message}`);
      },
    });
    expect(summary).toMatchObject({ records: 10, succeeded: 8, failed: 2 });
    const rows = out.text().trim().split('\n').map((l) => JSON.parse(l) as { id: string; error: string | null });
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => `r${i + 1}`));
    const expired = rows.filter((r) => r.error !== null);
    expect(expired.map((r) => r.id)).toEqual(['r9', 'r10']);
    for (const r of expired) expect(r.error).toBe('request failed (BATCH_EXPIRED): expired twice; not resubmitted after 1 resubmission (limit --max-resubmits 1)');
    expect(warnings).toContain('00002: 2 requests expired twice; not resubmitted (limit --max-resubmits 1)');
  });

  it('reads stdin (spooled into the job directory, format sniffed) and continues a finished run without new batches', async () => {
    const dir = await tempDir();
    const stdin = Readable.from([Buffer.from('{"q":"great stuff"}\n{"q":"awful'), Buffer.from(' thing"}\n')]);
    const jobDir = join(dir, 'job');
    const first = sink();
    const summary = await runJob({ ...base, input: '-', stdin, prompt: '{{q}}', labels: LABELS, output: first.stream, jobDir });
    expect(summary).toMatchObject({ records: 2, succeeded: 2, resumed: false });
    expect(await readdir(jobDir)).toContain('input.jsonl');
    expect((await loadRunState(jobDir))?.settings).toMatchObject({ spooled: true, format: 'jsonl' });
    const again = sink();
    // No stdin (a terminal): the rerun continues from the saved copy.
    const rerun = await runJob({ ...base, input: '-', stdin: Object.assign(Readable.from([]), { isTTY: true }), prompt: '{{q}}', labels: LABELS, output: again.stream, jobDir });
    expect(rerun).toMatchObject({ records: 2, succeeded: 2, resumed: true, batches: summary.batches });
    expect(again.text()).toBe(first.text());
    expect(await isRunJob(jobDir)).toBe(true);
    const resumed = sink();
    await resumeRun(jobDir, { client: base.client, output: resumed.stream });
    expect(resumed.text()).toBe(first.text());
  });

  it('streams records in and joined records out (runRecords, runStream)', async () => {
    const records = (async function* () {
      for (const text of TEXTS) yield { text };
    })();
    const gen = runRecords({ ...base, input: records, prompt: '{{text}}', labels: LABELS, jobDir: join(await tempDir(), 'job') });
    const rows: Array<Record<string, unknown>> = [];
    let next = await gen.next();
    while (!next.done) {
      rows.push(next.value);
      next = await gen.next();
    }
    expect(rows.map((r) => r.text)).toEqual(TEXTS);
    expect(rows.map((r) => r.label)).toEqual(['positive', 'negative', 'neutral', 'positive', 'negative']);
    expect(next.value).toMatchObject({ records: 5, succeeded: 5 });

    const { pipeline } = await import('node:stream/promises');
    const streamed: Array<Record<string, unknown>> = [];
    let total = 0;
    await pipeline(
      Readable.from(TEXTS.map((text) => ({ text }))),
      runStream({ ...base, prompt: '{{text}}', labels: LABELS, jobDir: join(await tempDir(), 'job'), onSummary: (s) => (total = s.records) }),
      async function (source: AsyncIterable<Record<string, unknown>>) {
        for await (const row of source) streamed.push(row);
      },
    );
    expect(streamed.map((r) => r.label)).toEqual(rows.map((r) => r.label));
    expect(total).toBe(5);
  });

  it('skips records rejected while preparing (onInvalidRecord: skip) and counts them as failed', async () => {
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    await writeFile(input, '{"text":"great"}\n{"other":"no text field"}\nnot json\n{"text":"awful"}\n');
    const out = sink();
    const rejects = sink();
    const summary = await runJob({ ...base, input, prompt: '{{text}}', labels: LABELS, onInvalidRecord: 'skip', output: out.stream, rejects: rejects.stream, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 4, succeeded: 2, failed: 2, skipped: 2 });
    // Every record read is one output row, in input order: skipped ones keep their fields and name the reason.
    const rows = out.text().trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(summary.records);
    expect(rows.map((r) => r.label)).toEqual(['positive', null, null, 'negative']);
    expect(rows[1]).toMatchObject({ other: 'no text field', custom_id: null, response: null, error: expect.stringMatching(/^TEMPLATE_FIELD_MISSING: .*\(record 2, line 2\)$/) });
    expect(rows[2]).toMatchObject({ custom_id: null, error: expect.stringMatching(/^RECORD_INVALID: .*\(record 3, line 3\)$/) });
    expect(Object.keys(rows[2]).sort()).toEqual(Object.keys(rows[0]).filter((k) => k !== 'text').sort());
    const skipped = rejects.text().trim().split('\n').map((l) => JSON.parse(l));
    // A malformed record's source text is kept in the rejects (raw_line), not in the output.
    expect(skipped).toEqual([rows[1], { ...rows[2], raw_line: 'not json' }]);
  });

  it('refuses a bad delimiter (a quote or newline) with OPTION_INVALID before anything is written to the job directory', async () => {
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 2);
    for (const delimiter of ['"', '\n', '\r']) {
      const bad = await catchError(() => runJob({ ...base, input, prompt: '{{text}}', delimiter, jobDir: join(dir, 'job') }));
      expectKbatchError(bad, { code: 'OPTION_INVALID', field: 'delimiter', message: 'must not be a quote or newline' });
    }
    // Not even run.json: the refused delimiter is never saved as the run's setting.
    expect(await readdir(dir)).toEqual(['reviews.csv']);
  });

  it('checks the window before writing anything (OPTION_INVALID); a rerun may change it until a batch was created', async () => {
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 2);
    const jobDir = join(dir, 'job');
    const bad = await catchError(() => runJob({ ...base, input, prompt: '{{text}}', window: '5h', jobDir }));
    expectKbatchError(bad, { code: 'OPTION_INVALID', message: '1h, 3h, 6h, 12h, 24h' });
    expect(await readdir(dir)).toEqual(['reviews.csv']);
    // Stopped before any batch create (like a directory left by a window the API refused): the rerun's window applies.
    const controller = new AbortController();
    const stopped = await catchError(() =>
      runJob({ ...base, input, prompt: '{{text}}', jobDir, signal: controller.signal, onProgress: (e) => e.type === 'phase' && e.phase === 'submit' && controller.abort() }),
    );
    expectKbatchError(stopped, { code: 'ABORTED' });
    expect((await loadManifest(jobDir)).parts.some((p) => p.createStartedAt !== undefined)).toBe(false);
    const out = sink();
    await runJob({ ...base, input, prompt: '{{text}}', window: '1h', output: out.stream, jobDir });
    const manifest = await loadManifest(jobDir);
    expect(manifest.window).toBe('1h');
    expect((await loadRunState(jobDir))?.settings.window).toBe('1h');
    expect((await base.client.batches.retrieve(manifest.parts[0]!.batchId!)).completion_window).toBe('1h');
    const late = await catchError(() => runJob({ ...base, input, prompt: '{{text}}', window: '3h', jobDir }));
    expectKbatchError(late, { code: 'JOB_MISMATCH', message: 'already created with window 1h' });
  });

  it('checks --output and --rejects before preparing or sending anything (OUTPUT_UNWRITABLE or OPTION_INVALID naming the file), creating missing directories', async () => {
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 3);
    const created = emu.stats().batchesCreated;
    for (const field of ['output', 'rejects'] as const) {
      const target = join(input, 'out.jsonl'); // under a file: cannot be created
      const err = await catchError(() => runJob({ ...base, input, prompt: '{{text}}', [field]: target, jobDir: join(dir, `job-${field}`) }));
      expectKbatchError(err, { code: 'OUTPUT_UNWRITABLE', field, file: target, message: `cannot write the ${field} file` });
      // Checked before the job directory is made.
      await expect(readdir(join(dir, `job-${field}`))).rejects.toThrow(/ENOENT/);
    }
    const rerunErr = await catchError(() => runJob({ ...base, input, prompt: '{{text}}', output: dir, jobDir: join(dir, 'job-output') }));
    expectKbatchError(rerunErr, { code: 'OPTION_INVALID', field: 'output', message: 'is a directory' });
    expect(emu.stats().batchesCreated).toBe(created);
    // A whole missing tree is refused (a typo should not create one); only a missing last level is created, and said.
    const nested = join(dir, 'new', 'deeper', 'out.jsonl');
    const tree = await catchError(() => runJob({ ...base, input, prompt: '{{text}}', output: nested, jobDir: join(dir, 'job-tree') }));
    expectKbatchError(tree, { code: 'OUTPUT_UNWRITABLE', field: 'output', file: nested, message: `the directory ${join(dir, 'new', 'deeper')} does not exist, nor does its parent` });
    await expect(readdir(join(dir, 'new'))).rejects.toThrow(/ENOENT/);
    const messages: string[] = [];
    const shallow = join(dir, 'new', 'out.jsonl');
    const summary = await runJob({ ...base, input, prompt: '{{text}}', output: shallow, jobDir: join(dir, 'job'), onProgress: (e) => e.type === 'phase' && messages.push(e.message) });
    expect(summary.outputs.output).toBe(shallow);
    expect((await readFile(shallow, 'utf8')).trim().split('\n')).toHaveLength(3);
    expect(await readdir(join(dir, 'new'))).toEqual(['out.jsonl']);
    expect(messages).toContain(`created the directory ${join(dir, 'new')} for the output file`);
    expect(emu.stats().batchesCreated).toBe(created + 1);
  });

  it('notices an input file changed since it was prepared (JOB_MISMATCH naming it); a touched but identical file is fine', async () => {
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 4);
    const jobDir = join(dir, 'job');
    const original = await readFile(input);
    await runJob({ ...base, input, prompt: '{{text}}', output: join(dir, 'o.jsonl'), jobDir });
    const state = await loadRunState(jobDir);
    expect(state?.settings.inputFingerprint).toEqual({ size: original.length, mtimeMs: expect.any(Number), sha256: createHash('sha256').update(original).digest('hex') });
    const later = new Date(Date.now() + 5000);
    await utimes(input, later, later);
    await runJob({ ...base, input, prompt: '{{text}}', output: join(dir, 'o.jsonl'), jobDir });
    const swapped = Buffer.from(original.toString('utf8').replace('r1,', 'r9,'));
    await writeFile(input, swapped);
    const same = await catchError(() => runJob({ ...base, input, prompt: '{{text}}', jobDir }));
    expectKbatchError(same, { code: 'JOB_MISMATCH', file: input, message: 'same size, different content' });
    await writeFile(input, Buffer.concat([original, Buffer.from('r99,new\n')]));
    expectKbatchError(await catchError(() => resumeRun(jobDir, { client: base.client })), { code: 'JOB_MISMATCH', file: input, message: `${original.length} → ` });
  });

  it('refuses a file path on a rerun of a stdin run (JOB_MISMATCH: the saved copy is what gets joined)', async () => {
    const dir = await tempDir();
    const jobDir = join(dir, 'job');
    await runJob({ ...base, input: '-', stdin: Readable.from(['{"q":"good"}\n']), prompt: '{{q}}', output: join(dir, 'o.jsonl'), jobDir });
    expect((await loadRunState(jobDir))?.settings.inputFingerprint?.sha256).toBe(createHash('sha256').update('{"q":"good"}\n').digest('hex'));
    const other = join(dir, 'other.jsonl');
    await writeFile(other, '{"q":"bad"}\n');
    expectKbatchError(await catchError(() => runJob({ ...base, input: other, prompt: '{{q}}', jobDir })), { code: 'JOB_MISMATCH', field: 'input', message: 'read its input from stdin' });
  });

  it('reports an unreadable template file (INPUT_NOT_FOUND), a record that is not an object (RECORD_INVALID), a result line that is not JSON (RESPONSE_INVALID)', async () => {
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 3);
    const missing = join(dir, 'nope.txt');
    expectKbatchError(await catchError(() => runJob({ ...base, input, templateFile: missing, jobDir: join(dir, 'j1') })), { code: 'INPUT_NOT_FOUND', file: missing });
    const records = (async function* () {
      yield { text: 'fine' };
      yield 'not an object' as unknown as Record<string, unknown>;
    })();
    expectKbatchError(await catchError(() => runJob({ ...base, input: records, prompt: '{{text}}', jobDir: join(dir, 'j2') })), { code: 'RECORD_INVALID', record: 2 });
    const jobDir = join(dir, 'j3');
    await runJob({ ...base, input, prompt: '{{text}}', output: join(dir, 'o.jsonl'), jobDir });
    const part = (await loadManifest(jobDir)).parts[0]!;
    await writeFile(join(jobDir, part.outputPath!), '{"custom_id": broken\n');
    expectKbatchError(await catchError(() => runJob({ ...base, input, prompt: '{{text}}', jobDir })), { code: 'RESPONSE_INVALID', line: 1 });
  });

  it('refuses a damaged run.json with JOB_INVALID naming the file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'run.json');
    await writeFile(file, '{ not json');
    expectKbatchError(await catchError(() => loadRunState(dir)), { code: 'JOB_INVALID', file, message: 'not valid JSON' });
    await writeFile(file, JSON.stringify({ version: 1, kind: 'kbatch-run', phase: 'somewhere' }));
    expectKbatchError(await catchError(() => loadRunState(dir)), { code: 'JOB_INVALID', file, message: 'not a kbatch run state' });
    expect(await isRunJob(dir)).toBe(false);
  });

  it('refuses a rerun with a different prompt (JOB_MISMATCH) and missing options (OPTION_INVALID)', async () => {
    const dir = await tempDir();
    const input = await reviewsCsv(dir, 2);
    const jobDir = join(dir, 'job');
    await runJob({ ...base, input, prompt: 'A {{text}}', output: join(dir, 'o.jsonl'), jobDir });
    expectKbatchError(await catchError(() => runJob({ ...base, input, prompt: 'B {{text}}', jobDir })), { code: 'JOB_MISMATCH', message: 'different prompt' });
    expectKbatchError(await catchError(() => runJob({ ...base, prompt: 'x', jobDir: join(dir, 'new') })), { code: 'OPTION_INVALID', field: 'input' });
    expectKbatchError(await catchError(() => runJob({ ...base, input, prompt: 'x', retries: -1 })), { code: 'OPTION_INVALID', field: 'retries' });
    expectKbatchError(await catchError(() => resumeRun(dir, { client: base.client })), { code: 'JOB_NOT_FOUND' });
  });
});

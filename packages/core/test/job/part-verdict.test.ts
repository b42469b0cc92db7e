import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { loadManifest } from '../../src/state/manifest.js';
import { runJob } from '../../src/run/run-job.js';
import { createJoinPlan } from '../../src/join/join-plan.js';
import { latestCauses, lineJudge } from '../../src/run/failure-cause.js';
import { partSources } from '../../src/job/attempts.js';
import { IdDigest, settledPart } from '../../src/job/part-verdict.js';
import { ResultTally } from '../../src/job/result-tally.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const LABELS = ['positive', 'negative'];

const digestOf = (ids: string[]): string => {
  const d = new IdDigest();
  for (const id of ids) d.addText(id);
  return d.toString();
};

describe('IdDigest', () => {
  it('is the same for the same ids in any order, and differs when one is lost and another repeated', () => {
    expect(digestOf(['a', 'b', 'c', 'é'])).toBe(digestOf(['é', 'c', 'a', 'b']));
    expect(digestOf(['a', 'b', 'c'])).not.toBe(digestOf(['a', 'b', 'b']));
    expect(digestOf(['ab', 'c'])).not.toBe(digestOf(['a', 'bc']));
    const bytes = new IdDigest();
    bytes.add(Buffer.from('xx"é"'), 3, 5);
    expect(bytes.toString()).toBe(digestOf(['é']));
  });
});

describe('ResultTally with a judge', () => {
  const plan = createJoinPlan({ labels: LABELS });
  const ok = (id: string, answer: string) =>
    `{"id":"b1","custom_id":"${id}","response":{"status_code":200,"body":{"choices":[{"index":0,"message":{"role":"assistant","content":"${answer}"},"logprobs":null,"finish_reason":"stop"}]}},"error":null}`;

  it('judges every line as the retry planning does, and reads ids written after the response or escaped', () => {
    const tally = new ResultTally(false, lineJudge(plan));
    const lines = [
      ok('r1', 'positive'),
      ok('r2', 'maybe'),
      '{"response":{"status_code":400,"body":{"error":{"message":"bad"}}},"custom_id":"r3","error":null}',
      ok('r\\u0034', 'negative'),
    ];
    lines.forEach((l, i) => tally.add(Buffer.from(l), i + 1, 'out.jsonl'));
    expect(tally.verdict).toMatchObject({ readable: true, lines: 4, retry: 1, notRetried: { http_400: 1 } });
    expect(tally.verdict!.ids.toString()).toBe(digestOf(['r1', 'r2', 'r3', 'r4']));
  });

  it('gives no verdict when a line is not JSON or names no custom_id', () => {
    for (const bad of ['{"custom_id":"r1",', '{"response":{"status_code":200},"error":null}']) {
      const tally = new ResultTally(false, lineJudge(plan));
      tally.add(Buffer.from(ok('r0', 'positive')), 1, 'out.jsonl');
      tally.add(Buffer.from(bad), 2, 'out.jsonl');
      expect(tally.verdict!.readable).toBe(false);
    }
  });
});

describe('settledPart', () => {
  let emu: Emulator;
  beforeAll(async () => {
    // 400s are final failures: the verdict must count them as the slow path does.
    emu = await startEmulator({ timeScale: 0.001, seed: 3, validationMs: 5, lineMs: 0, finalizingMs: 5, faults: { lineFailureRate: 0.3, lineFailureStatus: 400 } });
  });
  afterAll(async () => {
    await emu.close();
  });

  async function ranJob(n: number): Promise<{ jobDir: string; summary: Awaited<ReturnType<typeof runJob>> }> {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-verdict-'));
    const input = join(dir, 'in.jsonl');
    await writeFile(input, Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i + 1}`, text: i % 2 ? 'awful' : 'great' })).join('\n') + '\n');
    const jobDir = join(dir, 'job');
    const client = createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL });
    const summary = await runJob({ input, client, model: MODEL, prompt: 'Review: {{text}}', labels: LABELS, pollIntervalMs: 20, output: join(dir, 'out.jsonl'), jobDir, maxRequests: 10 });
    return { jobDir, summary };
  }

  it('agrees with reading the results: the same final failures per cause, for every part the run settled on download', async () => {
    const { jobDir, summary } = await ranJob(30);
    const manifest = await loadManifest(jobDir);
    const plan = createJoinPlan({ labels: LABELS });
    let total = 0;
    for (const part of manifest.parts) {
      expect(part.verdict).toMatchObject({ lines: part.requests, retry: 0 });
      const slow: Record<string, number> = {};
      await latestCauses(jobDir, [partSources(manifest, part.index)], plan, (_id, cause) => {
        if (cause && !cause.retry) slow[cause.cause] = (slow[cause.cause] ?? 0) + 1;
      });
      expect(await settledPart(jobDir, part)).toEqual(slow);
      total += slow['http_400'] ?? 0;
    }
    expect(total).toBeGreaterThan(0);
    expect(summary.notRetried).toEqual({ http_400: total });
  });

  it('takes the request ids digested as each chunk was written, agreeing with reading the chunk file again', async () => {
    const { jobDir } = await ranJob(25);
    const manifest = await loadManifest(jobDir);
    for (const part of manifest.parts) {
      const requests = (await readFile(join(jobDir, part.path), 'utf8')).split('\n').filter(Boolean);
      expect(part.requestIds).toBe(digestOf(requests.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)));
      const { requestIds: _recorded, ...unrecorded } = part;
      expect(await settledPart(jobDir, part)).toEqual(await settledPart(jobDir, unrecorded));
      expect(await settledPart(jobDir, part)).not.toBeNull();
      // A recorded digest that is not the results' is not settled, as a request file that is not.
      expect(await settledPart(jobDir, { ...part, requestIds: digestOf(['other']) })).toBeNull();
    }
  });

  it('is not trusted once a result file changed, or when the requests are not the results\' ids', async () => {
    const { jobDir } = await ranJob(10);
    const [part] = (await loadManifest(jobDir)).parts;
    expect(await settledPart(jobDir, part!)).not.toBeNull();
    const chunk = join(jobDir, part!.path);
    const requests = await readFile(chunk, 'utf8');
    await writeFile(chunk, requests.replace('"custom_id":"row-1"', '"custom_id":"row-x"'));
    expect(await settledPart(jobDir, part!)).toBeNull();
    await writeFile(chunk, requests);
    expect(await settledPart(jobDir, part!)).not.toBeNull();
    await appendFile(join(jobDir, part!.outputPath ?? part!.errorPath!), '\n');
    expect(await settledPart(jobDir, part!)).toBeNull();
    expect(await settledPart(jobDir, { ...part!, verdict: { ...part!.verdict!, retry: 1 } })).toBeNull();
  });
});

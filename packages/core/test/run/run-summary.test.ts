import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { respond, startEmulator, type Emulator, type EmulatorOptions } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { formatRunSummary, runJob, type RunJobOptions, type RunSummary } from '../../src/run/index.js';
import type { Price, PriceOf } from '../../src/cost/spend-types.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const FAST: EmulatorOptions = { timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5 };
const LABELS = ['positive', 'negative', 'neutral'];
const price = (perMTok: number): Price => ({ currency: 'USD', inputPerMTok: perMTok, outputPerMTok: 2 * perMTok, source: 'test-table', checked: '2026-11-01' });
// Batch at half the realtime price, as on kluster and OpenAI.
const prices: PriceOf = ({ model, mode }) => (model === MODEL ? price(mode === 'batch' ? 1 : 2) : undefined);

/** Answers "maybe?" (an invalid answer) the first time a prompt is seen, a proper label after. */
function pickyResponder() {
  const seen = new Set<string>();
  return (body: Parameters<typeof respond>[0]) => {
    const key = JSON.stringify(body.messages);
    if (seen.has(key)) return String(respond(body).content);
    seen.add(key);
    return 'maybe?';
  };
}

async function reviews(n: number): Promise<{ dir: string; input: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-spend-'));
  const input = join(dir, 'in.jsonl');
  await writeFile(input, Array.from({ length: n }, (_, i) => `${JSON.stringify({ id: `r${i + 1}`, text: i % 2 ? 'awful, broken' : 'great, love it' })}\n`).join(''));
  return { dir, input };
}

/** The spend's tokens over both modes agree with the summary's own token counts (every attempt, once). */
function expectTokensAgree(s: RunSummary): void {
  const m = s.spend.models[0]!;
  expect(m.batch.promptTokens + m.realtime.promptTokens).toBe(s.promptTokens);
  expect(m.batch.completionTokens + m.realtime.completionTokens).toBe(s.completionTokens);
}

describe('summarize: spend', () => {
  const emulators: Emulator[] = [];
  async function emulator(options: EmulatorOptions = {}): Promise<Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs' | 'prompt' | 'labels' | 'retryBaseMs'>> {
    const emu = await startEmulator({ ...FAST, seed: 5, ...options });
    emulators.push(emu);
    return { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20, retryBaseMs: 5, prompt: 'Review {{id}}: {{text}}', labels: LABELS };
  }
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });

  it('prices superseded batch answers at the batch price and their realtime retries at the realtime price, and writes spend.json', async () => {
    const base = await emulator({ responder: pickyResponder() });
    const { dir, input } = await reviews(6);
    const jobDir = join(dir, 'job');
    const s = await runJob({ ...base, input, output: join(dir, 'out.jsonl'), jobDir, finishRealtime: true, priceOf: prices });
    expect(s).toMatchObject({ succeeded: 6, rounds: 1, realtimeRequests: 6 });
    const m = s.spend.models[0]!;
    expect(m).toMatchObject({ provider: 'kluster', model: MODEL, batch: { requests: 6 }, realtime: { requests: 6 } });
    expectTokensAgree(s);
    const batchCost = (m.batch.promptTokens + 2 * m.batch.completionTokens) / 1e6;
    const realtimeCost = (2 * m.realtime.promptTokens + 4 * m.realtime.completionTokens) / 1e6;
    expect(s.spend.cost).toBeCloseTo(batchCost + realtimeCost, 10);
    expect(s.spend.batchSaved).toBeCloseTo(batchCost, 10);
    expect(s.spend).toMatchObject({ currency: 'USD', unpriced: [], cacheSaved: null, prices: { source: 'test-table', checked: '2026-11-01' } });
    expect(JSON.parse(await readFile(join(jobDir, 'spend.json'), 'utf8'))).toEqual(s.spend);
    expect(formatRunSummary(s)).toMatch(/\ncost \$\S+ \(.*tokens in 6 batch requests, .*tokens in 6 realtime requests\); batch discount saved \$\S+; prices checked 2026-11-01\n/);
    // A rerun reads the same attempts: the same spend.
    const again = await runJob({ ...base, jobDir, priceOf: prices });
    expect(again.spend).toEqual(s.spend);
  });

  it('counts realtime answers joined live (in order and unordered) at the realtime price', async () => {
    const base = await emulator();
    for (const unordered of [false, true]) {
      const { dir, input } = await reviews(5);
      // The same requests twice: without the request cache, each run sends them.
      const s = await runJob({ cache: false, ...base, input, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job'), mode: 'realtime', unordered, priceOf: prices });
      expect(s.spend.models[0]).toMatchObject({ batch: { requests: 0 }, realtime: { requests: 5 }, batchSaved: 0 });
      expect(s.spend.models[0]!.realtime.promptTokens).toBeGreaterThan(0);
      expectTokensAgree(s);
    }
  });

  it('says the cost is unknown (null, never $0) without a price', async () => {
    const base = await emulator();
    const { dir, input } = await reviews(3);
    const s = await runJob({ ...base, input, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job') });
    expect(s.spend).toMatchObject({ cost: null, batchSaved: null, prices: null, unpriced: [`${MODEL} (batch)`] });
    expect(s.spend.models[0]!.cost).toBeNull();
    expectTokensAgree(s);
    expect(formatRunSummary(s)).toContain(`cost unknown (no price for ${MODEL} (batch))`);
  });
});

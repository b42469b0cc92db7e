import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '@kbatch/emulator';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBudgetGuard, DEFAULT_BUDGET_COMPLETION_TOKENS, type RealtimeBudget } from '../../src/realtime/realtime-budget.js';
import { runRealtime } from '../../src/realtime/run-realtime.js';
import { realtimeAnswersLog, runRealtimeJob } from '../../src/realtime/run-realtime-job.js';
import { loadAnsweredIds } from '../../src/state/answers-log.js';
import type { Price, PriceOf } from '../../src/cost/spend-types.js';
import type { BatchRequestLine } from '../../src/request/request-line.js';
import type { RealtimeResultLine } from '../../src/realtime/realtime-types.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;
const CHAT = 'POST /v1/chat/completions';
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
// $1 per token: costs read as token counts.
const DOLLAR_A_TOKEN: Price = { currency: 'USD', inputPerMTok: 1e6, outputPerMTok: 1e6, source: 'test', checked: '2026-11-01' };
const priceOf: PriceOf = ({ model, mode }) => (model === MODEL && mode === 'realtime' ? DOLLAR_A_TOKEN : undefined);
const budget = (maxCost: number): RealtimeBudget => ({ maxCost, priceOf, provider: 'kluster', model: MODEL });

// 'question g-00' is 13 characters: an estimated 4 + 4 prompt tokens, plus 100 completion tokens at most.
const lines = (n: number, prefix: string): BatchRequestLine[] =>
  Array.from({ length: n }, (_, i) => ({
    custom_id: `${prefix}${String(i).padStart(2, '0')}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: `question ${prefix}${String(i).padStart(2, '0')}` }], max_completion_tokens: 100 },
  }));
const line = (id: string, usage: unknown): RealtimeResultLine => ({ id: `r-${id}`, custom_id: id, response: { status_code: 200, request_id: null, body: { choices: [], usage } }, error: null }) as unknown as RealtimeResultLine;

describe('createBudgetGuard', () => {
  it("reserves each request's worst case and settles it with the answer's usage", () => {
    const guard = createBudgetGuard(budget(300));
    const [a, b, c] = lines(3, 'g-');
    expect(guard.reserve(a!)).toBe(true); // 108 reserved (4 + 4 prompt, 100 completion)
    expect(guard.reserve(b!)).toBe(true); // 216
    expect(guard.reserve(c!)).toBe(false); // 324 would pass 300
    guard.settle(a!, line('g-00', { prompt_tokens: 10, completion_tokens: 5 })); // 15 spent, 108 reserved
    expect(guard.reserve(c!)).toBe(true); // 231
    expectKbatchError(guard.exceeded(4), { code: 'BUDGET_EXCEEDED', message: /cap of \$300: \$15\.000000 spent, 4 requests not sent/ });
  });

  it('reserves a default completion budget for a request without a max, and nothing is spent for an answer without usage', () => {
    const guard = createBudgetGuard(budget(DEFAULT_BUDGET_COMPLETION_TOKENS + 8));
    const [a] = lines(1, 'd-');
    const { max_completion_tokens: _max, ...body } = a!.body;
    expect(guard.reserve({ ...a!, body })).toBe(true);
    guard.settle(a!, line('d-00', null));
    expect(guard.exceeded(0).message).toContain('$0.000000 spent');
  });

  it('refuses a model without a known realtime price (OPTION_INVALID): a cap cannot be kept', async () => {
    expectKbatchError(await catchError(() => createBudgetGuard({ ...budget(1), model: 'unknown/model' })), { code: 'OPTION_INVALID', message: /no realtime price is known for unknown\/model/ });
  });
});

describe('realtime budget over HTTP', () => {
  let emu: Emulator;
  let openai: OpenAI;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ seed: 3 });
    openai = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL });
    dir = await mkdtemp(join(tmpdir(), 'kbatch-budget-'));
  });
  afterAll(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });
  const chats = () => emu.stats().requests[CHAT] ?? 0;

  it('stops sending before the cap would be crossed, keeps what was answered, and sends only the rest on a rerun with a higher cap', async () => {
    const jobDir = join(dir, 'job');
    const file = join(dir, 'part-1.jsonl');
    await writeFile(file, lines(20, 'bud-').map((l) => `${JSON.stringify(l)}\n`).join(''));
    const before = chats();
    const err = await catchError(() => runRealtimeJob({ jobDir, requestFiles: [file], client: openai, concurrency: 2, budget: budget(300) }));
    const answered = (await loadAnsweredIds(realtimeAnswersLog(jobDir, 0))).size;
    // Answers come back well under their worst case: some were sent, not all.
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThan(20);
    expect(chats() - before).toBe(answered);
    expectKbatchError(err, { code: 'BUDGET_EXCEEDED', message: new RegExp(`cap of \\$300: \\$\\d+\\.\\d+ spent, ${20 - answered} requests not sent`) });
    expect(Number(/\$(\d+\.\d+) spent/.exec((err as Error).message)![1])).toBeLessThanOrEqual(300);

    const resumed = await runRealtimeJob({ jobDir, requestFiles: [file], client: openai, concurrency: 2, budget: budget(1e9) });
    expect(chats() - before).toBe(20);
    expect(resumed).toMatchObject({ requests: 20, succeeded: 20, replayed: answered });
    expect((await readFile(resumed.chunks[0]!.resultFile, 'utf8')).trim().split('\n')).toHaveLength(20);
  });

  it('yields the answered lines in input order before BUDGET_EXCEEDED, and counts answers replayed from the log as spent', async () => {
    const answersLog = join(dir, 'answers.jsonl');
    const requests = lines(12, 'ord-');
    const got: string[] = [];
    const err = await catchError(async () => {
      for await (const l of runRealtime({ requests, client: openai.chat.completions, concurrency: 3, answersLog, budget: budget(400) })) got.push(l.custom_id);
    });
    expectKbatchError(err, { code: 'BUDGET_EXCEEDED' });
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual(requests.slice(0, got.length).map((r) => r.custom_id));
    const notSent = Number(/(\d+) requests? not sent/.exec((err as Error).message)![1]);
    expect(got.length + notSent).toBe(12);
    // A cap of what was spent: every logged answer is replayed (in order, counted as spent) and nothing is sent.
    const spent = Number(/\$(\d+\.\d+) spent/.exec((err as Error).message)![1]);
    const before = chats();
    const replayed: string[] = [];
    const again = await catchError(async () => {
      for await (const l of runRealtime({ requests, client: openai.chat.completions, concurrency: 3, answersLog, budget: budget(spent) })) replayed.push(l.custom_id);
    });
    expectKbatchError(again, { code: 'BUDGET_EXCEEDED', message: `$${spent.toFixed(6)} spent, ${notSent} request${notSent === 1 ? '' : 's'} not sent` });
    expect(replayed).toEqual(got);
    expect(chats() - before).toBe(0);
  });
});

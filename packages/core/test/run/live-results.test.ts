import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLiveResults, createResultQueue, createRoundResults } from '../../src/run/live-results.js';
import type { RealtimeResultLine } from '../../src/realtime/realtime-types.js';

const answer = (id: string, content: string): RealtimeResultLine => ({
  id: `rt_${id}`,
  custom_id: id,
  response: { status_code: 200, request_id: null, body: { choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] } },
  error: null,
});

describe('createLiveResults', () => {
  it('starts from the answers log (skipping failure markers and a torn last line), then keeps final pushes of the followed chunk only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-live-'));
    const log = join(dir, 'answers-00001.jsonl');
    await writeFile(log, [JSON.stringify(answer('a', 'yes')), JSON.stringify({ custom_id: 'b', failed: true, line: {} }), JSON.stringify(answer('c', 'no')), '{"custom_id":"d","resp'].join('\n'));
    const live = createLiveResults((r) => r.response !== 'maybe');
    await live.follow(0, log);
    expect(live.take('a')?.response).toBe('yes');
    expect(live.take('a')).toBeUndefined(); // handed out once
    expect(live.take('b')).toBeUndefined();
    expect(live.take('c')?.response).toBe('no');
    // Round 0 hands on its final results.
    const round = createRoundResults((r) => r.response !== 'maybe', [3, 3], (result, chunk) => live.offer(result, chunk));
    const changed = live.wakeup.wait();
    round.push(answer('e', 'maybe'), 0); // not final: left to the chunk's results file
    round.push(answer('f', 'yes'), 1); // another chunk
    round.push(answer('g', 'yes'), 0);
    await changed;
    expect(live.take('e')).toBeUndefined();
    expect(live.take('f')).toBeUndefined();
    expect(live.take('g')?.response).toBe('yes');
    await live.follow(1, join(dir, 'missing.jsonl')); // no log yet: nothing
    expect(live.take('g')).toBeUndefined();
  });

  it('reads a failure marker as its failure line (final when retries are off) and skips a complete last line without its newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-live-'));
    const log = join(dir, 'answers-00001.jsonl');
    const failure: RealtimeResultLine = { id: 'rt_f', custom_id: 'f', response: { status_code: 400, request_id: null, body: { error: { message: 'bad' } } }, error: null };
    await writeFile(log, `${JSON.stringify({ custom_id: 'f', failed: true, line: failure })}\n${JSON.stringify(answer('t', 'yes'))}`);
    const live = createLiveResults(() => true); // retries off: every result is final
    await live.follow(0, log);
    expect(live.take('f')).toMatchObject({ customId: 'f', ok: false });
    expect(live.take('t')).toBeUndefined(); // torn by a crash: the engine cuts it and sends the request again
  });
});

describe('createResultQueue', () => {
  it('hands out final results and chunk-done events in order, at most cap results waiting (done events are never dropped)', async () => {
    const queue = createResultQueue(2);
    const round = createRoundResults((r) => r.response !== 'maybe', [9, 9, 9], (result, chunk) => queue.offer(result, chunk));
    expect(queue.shift()).toBeUndefined();
    const changed = queue.wakeup.wait();
    round.push(answer('a', 'yes'), 0);
    await changed;
    round.push(answer('b', 'maybe'), 0); // not final
    round.push(answer('c', 'yes'), 1); // the cap (2) is reached
    round.push(answer('d', 'yes'), 1); // dropped: joined from its chunk's results file later
    queue.done(0);
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift()]).toEqual([
      expect.objectContaining({ type: 'result', chunk: 0, result: expect.objectContaining({ customId: 'a' }) }),
      expect.objectContaining({ type: 'result', chunk: 1, result: expect.objectContaining({ customId: 'c' }) }),
      { type: 'done', chunk: 0 },
      undefined,
    ]);
    round.push(answer('e', 'yes'), 2); // room again
    expect(queue.shift()).toMatchObject({ type: 'result', chunk: 2 });
  });
});

describe('createRoundResults', () => {
  it('calls a chunk final once every one of its requests has a final result', () => {
    const round = createRoundResults((r) => r.response !== 'maybe', [2, 1]);
    round.push(answer('a', 'yes'), 0);
    round.push(answer('b', 'maybe'), 0);
    round.push(answer('c', 'yes'), 1);
    expect([round.allFinal(0), round.allFinal(1)]).toEqual([false, true]);
  });
});

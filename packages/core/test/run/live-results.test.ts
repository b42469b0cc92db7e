import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLiveResults, createResultQueue } from '../../src/run/live-results.js';
import type { RealtimeResultLine } from '../../src/realtime/types.js';

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
    const changed = live.changed();
    live.push(answer('e', 'maybe'), 0); // not final: left to the chunk's results file
    live.push(answer('f', 'yes'), 1); // another chunk
    live.push(answer('g', 'yes'), 0);
    await changed;
    expect(live.take('e')).toBeUndefined();
    expect(live.take('f')).toBeUndefined();
    expect(live.take('g')?.response).toBe('yes');
    await live.follow(1, join(dir, 'missing.jsonl')); // no log yet: nothing
    expect(live.take('g')).toBeUndefined();
  });
});

describe('createResultQueue', () => {
  it('hands out final results in arrival order, at most cap waiting (the rest are left to the chunk files)', async () => {
    const queue = createResultQueue((r) => r.response !== 'maybe', 2);
    const first = queue.next();
    queue.push(answer('a', 'yes'), 0); // a waiting reader gets it at once
    expect(await first).toMatchObject({ chunk: 0, result: { customId: 'a' } });
    queue.push(answer('b', 'maybe'), 0); // not final
    queue.push(answer('c', 'yes'), 1);
    queue.push(answer('d', 'yes'), 0);
    queue.push(answer('e', 'yes'), 2); // over the cap: dropped
    expect(await queue.next()).toMatchObject({ chunk: 1, result: { customId: 'c' } });
    expect(await queue.next()).toMatchObject({ chunk: 0, result: { customId: 'd' } });
    let more = false;
    void queue.next().then(() => (more = true));
    await new Promise((r) => setImmediate(r));
    expect(more).toBe(false);
  });
});


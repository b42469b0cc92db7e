import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAnsweredIds, openAnswersLog } from '../../src/realtime/answers-log.js';
import type { RealtimeResultLine } from '../../src/realtime/types.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const line = (id: string, content = `answer ${id}`): RealtimeResultLine => ({
  id: `rt_${id}`,
  custom_id: id,
  response: { status_code: 200, request_id: null, body: { choices: [{ message: { content } }] } },
  error: null,
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kbatch-answers-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadAnsweredIds', () => {
  it('returns an empty index for a missing file', async () => {
    expect((await loadAnsweredIds(join(dir, 'none.jsonl'))).size).toBe(0);
  });

  it('indexes appended answers and reads them back by location', async () => {
    const file = join(dir, 'answers.jsonl');
    const log = await openAnswersLog(file);
    await Promise.all([log.append(line('a')), log.append(line('b', 'ünïcödé ✓'))]);
    await log.close();
    const answered = await loadAnsweredIds(file);
    expect([...answered.keys()]).toEqual(['a', 'b']);
    const reader = await openAnswersLog(file);
    expect(await reader.read(answered.get('b')!)).toEqual(line('b', 'ünïcödé ✓'));
    await reader.close();
  });

  it('ignores and truncates a torn last line so appends continue cleanly', async () => {
    const file = join(dir, 'answers.jsonl');
    const good = `${JSON.stringify(line('a'))}\n`;
    await writeFile(file, `${good}{"id":"rt_b","custom_id":"b","resp`);
    const answered = await loadAnsweredIds(file);
    expect([...answered.keys()]).toEqual(['a']);
    expect(await readFile(file, 'utf8')).toBe(good);
    const log = await openAnswersLog(file);
    await log.append(line('c'));
    await log.close();
    expect([...(await loadAnsweredIds(file)).keys()]).toEqual(['a', 'c']);
  });

  it('rejects an unreadable line before the end with JOB_INVALID', async () => {
    const file = join(dir, 'answers.jsonl');
    await writeFile(file, `${JSON.stringify(line('a'))}\nnot json\n${JSON.stringify(line('b'))}\n`);
    expectKbatchError(await catchError(() => loadAnsweredIds(file)), { code: 'JOB_INVALID', line: 2 });
  });
});

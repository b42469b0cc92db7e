import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAnsweredIds, openAnswersLog, repairAnswersLog } from '../../src/state/answers-log.js';
import type { RealtimeResultLine } from '../../src/realtime/realtime-types.js';
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

  it('ignores a torn last line without touching the file (read-only)', async () => {
    const file = join(dir, 'answers.jsonl');
    const content = `${JSON.stringify(line('a'))}\n{"id":"rt_b","custom_id":"b","resp`;
    await writeFile(file, content);
    expect([...(await loadAnsweredIds(file)).keys()]).toEqual(['a']);
    expect(await readFile(file, 'utf8')).toBe(content);
  });

  it('ignores an unreadable last line followed only by blank lines, without JOB_INVALID', async () => {
    const file = join(dir, 'answers.jsonl');
    await writeFile(file, `${JSON.stringify(line('a'))}\n{"torn\n\n  \n`);
    expect([...(await loadAnsweredIds(file)).keys()]).toEqual(['a']);
  });

  it('rejects an unreadable line followed by an entry after blank lines with JOB_INVALID', async () => {
    const file = join(dir, 'answers.jsonl');
    await writeFile(file, `not json\n\n${JSON.stringify(line('b'))}\n`);
    expectKbatchError(await catchError(() => loadAnsweredIds(file)), { code: 'JOB_INVALID', line: 1 });
  });

  it('rejects an unreadable line before the end with JOB_INVALID', async () => {
    const file = join(dir, 'answers.jsonl');
    await writeFile(file, `${JSON.stringify(line('a'))}\nnot json\n${JSON.stringify(line('b'))}\n`);
    expectKbatchError(await catchError(() => loadAnsweredIds(file)), { code: 'JOB_INVALID', line: 2 });
  });
});

describe('repairAnswersLog', () => {
  it('truncates a torn last line so appends continue cleanly', async () => {
    const file = join(dir, 'answers.jsonl');
    const good = `${JSON.stringify(line('a'))}\n`;
    await writeFile(file, `${good}{"id":"rt_b","custom_id":"b","resp`);
    expect([...(await repairAnswersLog(file)).keys()]).toEqual(['a']);
    expect(await readFile(file, 'utf8')).toBe(good);
    const log = await openAnswersLog(file);
    await log.append(line('c'));
    await log.close();
    expect([...(await loadAnsweredIds(file)).keys()]).toEqual(['a', 'c']);
  });

  it('cuts an unreadable last line and the blank lines after it', async () => {
    const file = join(dir, 'answers.jsonl');
    const good = `${JSON.stringify(line('a'))}\n`;
    await writeFile(file, `${good}{"torn\n\n`);
    await repairAnswersLog(file);
    expect(await readFile(file, 'utf8')).toBe(good);
  });
});

describe('openAnswersLog', () => {
  it('logs final failures as markers that read back as their failure line', async () => {
    const file = join(dir, 'answers.jsonl');
    const failure: RealtimeResultLine = { id: 'rt_f', custom_id: 'f', response: { status_code: 400, request_id: null, body: { error: { message: 'bad' } } }, error: null };
    const log = await openAnswersLog(file);
    await log.appendFailure(failure);
    expect(JSON.parse((await readFile(file, 'utf8')).trim())).toEqual({ custom_id: 'f', failed: true, line: failure });
    expect(await log.read((await loadAnsweredIds(file)).get('f')!)).toEqual(failure);
    await log.close();
  });
});

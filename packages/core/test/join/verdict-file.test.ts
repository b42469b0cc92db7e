import { appendFile, mkdir, mkdtemp, open, readFile, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseResultLine } from '../../src/join/result-line.js';
import { emptyVerdict, readVerdict } from '../../src/join/result-verdict.js';
import { readVerdictFile, verdictFilePath, VerdictFileWriter, type VerdictPlace } from '../../src/join/verdict-file.js';
import { VerdictStore } from '../../src/join/verdict-store.js';
import { httpErrorLine, okLine } from './fixtures.js';

/** A result file of `lines` (one per line) and the verdict file a download would keep beside it. */
async function keptFile(lines: string[]): Promise<{ file: string; kept: boolean }> {
  const file = join(await mkdtemp(join(tmpdir(), 'kbatch-verdicts-')), 'part.output.jsonl');
  await writeFile(file, lines.join('\n') + '\n');
  const writer = new VerdictFileWriter(file);
  const v = emptyVerdict();
  let offset = 0;
  let kept = true;
  lines.forEach((text, i) => {
    const line = Buffer.from(text);
    kept = readVerdict(line, 0, line.length, v) ? writer.add(line, v, offset, i + 1) : writer.abandon();
    offset += line.length + 1;
  });
  await writer.finish();
  return { file, kept };
}

async function visited(file: string): Promise<{ read: boolean; places: VerdictPlace[]; ids: string[] }> {
  const store = new VerdictStore();
  const places: VerdictPlace[] = [];
  const ids: string[] = [];
  const read = await readVerdictFile(file, (page, at, place) => {
    places.push({ ...place });
    ids.push(store.customId(store.copy(page, at)));
  });
  return { read, places, ids };
}

// Odd answers a usual line may hold: escapes, non-ASCII, empty, long, other finish reasons.
const answers = ['positive', 'y\u00e9s "quoted" \\ back', '', '\u65e5\u672c\u8a9e \ud83d\ude00', 'x'.repeat(2048), 'tab\there', 'line\nbreak'];

describe('VerdictFileWriter and readVerdictFile', () => {
  it('keep every line\'s verdict in order across blocks, each giving the result the line parses to and the line\'s place', async () => {
    const lines = Array.from({ length: 8_000 }, (_, i) => JSON.stringify(okLine(`row-${i}`, answers[i % answers.length]!, { finish: i % 5 === 0 ? 'length' : i % 7 === 0 ? 'content_filter' : 'stop' })));
    const { file, kept } = await keptFile(lines);
    expect(kept).toBe(true);
    // More than one 1 MB block: entries must not be torn at a block's end.
    expect((await stat(verdictFilePath(file))).size).toBeGreaterThan(2 << 20);
    const bytes = await readFile(file);
    const store = new VerdictStore(Number.POSITIVE_INFINITY);
    const got: unknown[] = [];
    const read = await readVerdictFile(file, (page, at, place) => {
      const slot = store.copy(page, at);
      got.push({ result: store.result(slot, store.customId(slot)), line: place.line, text: bytes.toString('utf8', place.offset, place.offset + place.length) });
    });
    expect(read).toBe(true);
    expect(got).toEqual(lines.map((text, i) => ({ result: { ...parseResultLine(text), body: undefined }, line: i + 1, text })));
  });

  it('keep nothing once a line has no verdict (a failure): the join then reads the result file', async () => {
    const { file, kept } = await keptFile([JSON.stringify(okLine('a', 'yes')), JSON.stringify(httpErrorLine('b', 500)), JSON.stringify(okLine('c', 'no'))]);
    expect(kept).toBe(false);
    expect(existsSync(verdictFilePath(file))).toBe(false);
    expect(existsSync(`${verdictFilePath(file)}.tmp`)).toBe(false);
    expect((await visited(file)).read).toBe(false);
  });

  it('are not read once the result file changed since (size or mtime), nor when torn (no footer)', async () => {
    const grown = await keptFile([JSON.stringify(okLine('a', 'yes'))]);
    expect((await visited(grown.file)).ids).toEqual(['a']);
    await appendFile(grown.file, `${JSON.stringify(okLine('b', 'no'))}\n`);
    expect(await visited(grown.file)).toEqual({ read: false, places: [], ids: [] });

    const touched = await keptFile([JSON.stringify(okLine('a', 'yes'))]);
    await utimes(touched.file, new Date(), new Date(Date.now() + 5000));
    expect((await visited(touched.file)).read).toBe(false);

    const torn = await keptFile([JSON.stringify(okLine('a', 'yes')), JSON.stringify(okLine('b', 'no'))]);
    await truncate(verdictFilePath(torn.file), (await stat(verdictFilePath(torn.file))).size - 3);
    expect((await visited(torn.file)).read).toBe(false);

    // Damaged inside, footer intact: read around, with nothing visited (not half-trusted).
    const damaged = await keptFile([JSON.stringify(okLine('a', 'yes')), JSON.stringify(okLine('b', 'no'))]);
    const handle = await open(verdictFilePath(damaged.file), 'r+');
    await handle.write(Buffer.alloc(4), 0, 4, 0);
    await handle.close();
    expect(await visited(damaged.file)).toEqual({ read: false, places: [], ids: [] });
  });

  it('never fail the download: a verdict file that cannot be written (full disk, no such place) is given up', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'kbatch-verdicts-')), 'part.output.jsonl');
    // The temporary name is taken by a directory: opening it for writing fails.
    await mkdir(`${verdictFilePath(file)}.tmp`);
    const writer = new VerdictFileWriter(file);
    const v = emptyVerdict();
    const added: boolean[] = [];
    let offset = 0;
    for (let i = 0; i < 25_000; i++) {
      const line = Buffer.from(JSON.stringify(okLine(`row-${i}`, 'yes')));
      readVerdict(line, 0, line.length, v);
      added.push(writer.add(line, v, offset, i + 1));
      offset += line.length + 1;
    }
    await writeFile(file, '');
    await writer.finish();
    // Kept until the first block had to be written (past 1 MB), then given up.
    expect(added[0]).toBe(true);
    expect(added.at(-1)).toBe(false);
    expect(existsSync(verdictFilePath(file))).toBe(false);
  });

  it('remove an earlier download\'s verdict file as a new download of the same result file starts', async () => {
    const { file } = await keptFile([JSON.stringify(okLine('a', 'yes'))]);
    expect(existsSync(verdictFilePath(file))).toBe(true);
    const writer = new VerdictFileWriter(file);
    expect(existsSync(verdictFilePath(file))).toBe(false);
    writer.abandon();
  });
});

import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SegmentIndexer, segmentBounds } from '../../src/join/range-indexer.js';

describe('SegmentIndexer', () => {
  it('rejects with the error of a worker that fails, and ends it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-segments-'));
    const broken = join(dir, 'broken-worker.mjs');
    await writeFile(broken, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => { throw new Error('the worker broke'); });\n");
    const indexer = new SegmentIndexer(pathToFileURL(broken));
    indexer.start({ path: broken, bounds: [0, 10], lean: true, budget: 0, counter: new Int32Array(new SharedArrayBuffer(4)) });
    await expect(indexer.next()).rejects.toThrow('the worker broke');
    expect(() => indexer.drain()).toThrow('the worker broke');
    await indexer.close();
    // No worker thread left to keep the process alive.
    expect(process.getActiveResourcesInfo().filter((r) => /worker/i.test(r))).toEqual([]);
  });

  it('tells whether its worker module is there', () => {
    expect(SegmentIndexer.available(new URL('file:///no/such/index-worker.js'))).toBe(false);
    expect(SegmentIndexer.available(new URL(import.meta.url))).toBe(true);
  });
});

describe('segmentBounds', () => {
  it('splits a file at the starts of lines near its shares, fewer segments where lines are long', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-segments-'));
    const file = join(dir, 'lines.txt');
    const text = ['a'.repeat(9), 'b'.repeat(9), 'c'.repeat(9), 'd'.repeat(50), 'e'].join('\n') + '\n';
    await writeFile(file, text);
    expect(await segmentBounds(file, text.length, 4)).toEqual([0, 30, 81, text.length]);
    expect(await segmentBounds(file, text.length, 2)).toEqual([0, 81, text.length]);
  });
});

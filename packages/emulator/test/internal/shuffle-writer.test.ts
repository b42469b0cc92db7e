import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRandom } from '../../src/internal/random.js';
import { ShuffleWriter } from '../../src/internal/shuffle-writer.js';

describe('ShuffleWriter', () => {
  it('writes every line, first line never first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'emu-sw-'));
    try {
      const w = new ShuffleWriter(join(dir, 'out.jsonl'), createRandom(1));
      for (let i = 0; i < 100; i++) await w.push(String(i));
      await w.finish();
      const lines = (await readFile(join(dir, 'out.jsonl'), 'utf8')).trim().split('\n');
      expect([...lines].sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
      expect(lines[0]).not.toBe('0');
      expect(w.count).toBe(100);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects finish with the open error (missing directory) instead of an unhandled error event', async () => {
    const w = new ShuffleWriter(join(tmpdir(), 'kbatch-no-such-dir-7f3a', 'out.jsonl'), createRandom(1));
    await w.push('a');
    await expect(w.finish()).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects push once the file failed, and abandon still resolves', async () => {
    const w = new ShuffleWriter(join(tmpdir(), 'kbatch-no-such-dir-7f3a', 'out.jsonl'), createRandom(1));
    await new Promise((r) => setTimeout(r, 20));
    await expect(w.push('a')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(w.abandon()).resolves.toBeUndefined();
  });
});

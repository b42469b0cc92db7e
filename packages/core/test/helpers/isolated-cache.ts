// Every test gets an empty request cache of its own (KBATCH_CACHE_DIR): none writes into the user's cache directory,
// and no test is answered from another's cache.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

let dir: string | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kbatch-test-cache-'));
  process.env['KBATCH_CACHE_DIR'] = dir;
});

afterEach(async () => {
  if (dir !== null) await rm(dir, { recursive: true, force: true });
  dir = null;
});

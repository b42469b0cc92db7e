import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintFile, fingerprintingRead } from '../../src/run/input-fingerprint.js';

async function tempFile(bytes: Buffer | string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'kbatch-fp-')), 'input.csv');
  await writeFile(path, bytes);
  return path;
}

describe('fingerprintingRead', () => {
  it('gives the same fingerprint as fingerprintFile once its reader took every byte (many reads, odd bytes)', async () => {
    // Multi-byte characters across 64 KB read boundaries, CRLF, quotes, a NUL byte.
    const path = await tempFile(`id,text\r\n${Array.from({ length: 20_000 }, (_, i) => `${i},"é 🌍 ""q""\0"`).join('\r\n')}`);
    const tapped = (await fingerprintingRead(path))!;
    let bytes = 0;
    for await (const chunk of tapped.stream) bytes += (chunk as Buffer).length;
    expect(bytes).toBeGreaterThan(1 << 17);
    expect(tapped.fingerprint()).toEqual(await fingerprintFile(path));
  });

  it('gives no fingerprint before the whole file has passed the hash (a reader that stops early: the caller then hashes the file)', async () => {
    const path = await tempFile('x'.repeat(1 << 18));
    const tapped = (await fingerprintingRead(path))!;
    expect(tapped.fingerprint()).toBeUndefined();
    for await (const _ of tapped.stream) break;
    expect(tapped.fingerprint()).toBeUndefined();
  });

  it('fingerprints an empty file', async () => {
    const path = await tempFile('');
    const tapped = (await fingerprintingRead(path))!;
    for await (const _ of tapped.stream);
    expect(tapped.fingerprint()).toEqual(await fingerprintFile(path));
  });

  it('leaves a path that is not a regular file to its reader (undefined)', async () => {
    expect(await fingerprintingRead(await mkdtemp(join(tmpdir(), 'kbatch-fp-')))).toBeUndefined();
    expect(await fingerprintingRead(join(tmpdir(), 'kbatch-no-such-file.csv'))).toBeUndefined();
  });
});

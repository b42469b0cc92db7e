import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/kbatch.js', import.meta.url));

// A copy of the bin in a fake workspace whose bundle and tsc output each print their name.
function workspace(files: { bundle?: number; tsbuildinfo: Record<string, number> }): string {
  const root = mkdtempSync(join(tmpdir(), 'kbatch-bin-'));
  const at = (path: string, text: string, seconds?: number) => {
    const file = join(root, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
    if (seconds !== undefined) utimesSync(file, seconds, seconds);
  };
  mkdirSync(join(root, 'cli/bin'), { recursive: true });
  copyFileSync(BIN, join(root, 'cli/bin/kbatch.js'));
  at('cli/package.json', '{"type":"module"}');
  at('cli/dist/main.js', "process.stdout.write('tsc output')");
  if (files.bundle !== undefined) at('cli/dist/bundle/kbatch.js', "process.stdout.write('bundle')", files.bundle);
  for (const [pkg, seconds] of Object.entries(files.tsbuildinfo)) at(`${pkg}/dist/.tsbuildinfo`, '{}', seconds);
  return root;
}

const roots: string[] = [];
const run = (files: Parameters<typeof workspace>[0]) => {
  const root = workspace(files);
  roots.push(root);
  return execFileSync(process.execPath, [join(root, 'cli/bin/kbatch.js')], { encoding: 'utf8' });
};
afterEach(() => roots.splice(0).forEach((root) => rmSync(root, { recursive: true, force: true })));

describe('bin/kbatch.js', () => {
  it('runs the bundle when it is newer than every package’s tsc output', () => {
    expect(run({ bundle: 2_000, tsbuildinfo: { cli: 1_000, core: 1_000, emulator: 1_500 } })).toBe('bundle');
  });

  it('runs the tsc output when a package was rebuilt after the bundle (a bare tsc -b)', () => {
    expect(run({ bundle: 2_000, tsbuildinfo: { cli: 1_000, core: 3_000, emulator: 1_000 } })).toBe('tsc output');
  });

  it('runs the tsc output when there is no bundle', () => {
    expect(run({ tsbuildinfo: { cli: 1_000 } })).toBe('tsc output');
  });

  it('runs the bundle when the sibling packages are absent (a published package)', () => {
    expect(run({ bundle: 2_000, tsbuildinfo: { cli: 1_000 } })).toBe('bundle');
  });
});

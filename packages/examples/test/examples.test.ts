import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

// Runs every example (csv-parse `test/samples.js` style): built TypeScript examples from dist/, shell
// examples from src/. Each asserts its own results and must exit 0. Build first (`pnpm build`).
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const src = join(root, 'src');
const scripts = readdirSync(src).filter((f) => /^\d\d-.*\.(ts|sh)$/.test(f)).sort();
const hasJq = spawnSync('jq', ['--version']).status === 0;
// In CI a missing jq is a broken setup, not a reason to skip example 3 silently.
const inCi = process.env['CI'] === 'true' || process.env['CI'] === '1';

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('examples', () => {
  it('finds the examples', () => {
    expect(scripts).toEqual(expect.arrayContaining(['01-sentiment-cli.ts', '02-support-tickets.ts', '03-unix-pipeline.sh', '04-finetune.ts', '05-three-providers.ts', '06-evaluation-loop.ts']));
  });

  for (const file of scripts) {
    if (file.endsWith('.sh')) {
      it.skipIf(!hasJq && !inCi)(`${file} exits 0${hasJq ? '' : ' (skipped: jq is not installed — apt-get install -y jq)'}`, async () => {
        expect(hasJq, `${file} needs jq, which is not installed (CI=${process.env['CI']}): apt-get install -y jq`).toBe(true);
        const { code, output } = await run('bash', [join(src, file)]);
        expect(code, output).toBe(0);
      });
    } else {
      const built = join(dist, file.replace(/\.ts$/, '.js'));
      it(`${file} exits 0`, async () => {
        expect(existsSync(built), `${built} is missing: run pnpm build`).toBe(true);
        const { code, output } = await run(process.execPath, [built]);
        expect(code, output).toBe(0);
      });
    }
  }
});

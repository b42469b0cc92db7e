#!/usr/bin/env node
// Benchmark (prints figures; not a test): `kbatch prepare | kbatch split` on a generated review CSV
// (quoted commas, escaped quotes, embedded newlines, non-ASCII), against Miller's `mlr --icsv --ojsonl cat`
// on the same file. Targets: prepare at least as fast as Miller, peak RSS < 150 MB at 1M and 3M rows.
// Run `pnpm build` first. Installs Miller with apt-get when it is missing (needs root).
// Usage: node scripts/bench-prepare.mjs [--rows 1000000[,3000000]] [--keep]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateReviews } from './lib/review-csv.mjs';
import { timed, timedChild } from './lib/timed.mjs';

const { values: args } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, keep: { type: 'boolean', default: false } },
});
const kbatch = fileURLToPath(new URL('../packages/cli/bin/kbatch.js', import.meta.url));
const TIME = '/usr/bin/time';

ensureMiller();
if (!existsSync(TIME)) throw new Error('/usr/bin/time is needed to measure peak RSS (apt-get install -y time)');

for (const rows of args.rows.split(',').map(Number)) {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-'));
  try {
    await runOnce(rows, dir);
  } finally {
    if (!args.keep) await rm(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

async function runOnce(rows, dir) {
  const csv = join(dir, 'reviews.csv');
  const g0 = Date.now();
  await generateReviews(rows, csv);
  const size = (await stat(csv)).size;
  const mb = size / 1e6;
  console.log(`\n== ${rows.toLocaleString('en')} rows, ${mb.toFixed(1)} MB CSV (generated in ${((Date.now() - g0) / 1000).toFixed(1)} s)`);

  const prepareArgs = [
    kbatch, 'prepare', csv,
    '--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo',
    '--system', 'You are a careful annotator.',
    '--prompt', 'Classify the sentiment of this review of {{product}} titled "{{title}}" (positive/negative/neutral):\n{{text}}',
    '--temperature', '0', '--max-completion-tokens', '5',
  ];

  // 1. prepare alone, output discarded: the figure compared with Miller.
  const alone = await timed(['node', ...prepareArgs], { stdout: 'ignore' });
  report('kbatch prepare > /dev/null', alone, rows, mb);

  // 2. the real pipeline: prepare | split into chunk files.
  const outDir = join(dir, 'chunks');
  const t0 = Date.now();
  const prep = timedChild(['node', ...prepareArgs], { stdout: 'pipe' });
  const split = timedChild(['node', kbatch, 'split', '-', '--out-dir', outDir], { stdin: prep.child.stdout, stdout: 'ignore' });
  const [p, s] = await Promise.all([prep.done, split.done]);
  const wall = (Date.now() - t0) / 1000;
  report('kbatch prepare (in the pipe)', p, rows, mb);
  report('kbatch split (in the pipe)', s, rows, mb);
  console.log(`  prepare | split wall time ${wall.toFixed(2)} s (${fmt(rows / wall)} rows/s); ${s.stderr.trim().split('\n').pop()}`);

  // 3. Miller on the same file.
  // 3. recordStream over the same file (what the join reads): the CSV records through the same scanner.
  const core = new URL('../packages/core/dist/index.js', import.meta.url).href;
  const readAll = `const { recordStream } = await import(${JSON.stringify(core)}); let n = 0; for await (const r of recordStream({ input: process.argv[1], onInvalidRecord: 'skip' })) n++; if (n !== ${rows}) throw new Error('read ' + n);`;
  const records = await timed(['node', '--input-type=module', '-e', readAll, csv], { stdout: 'ignore' });
  report('recordStream (the join reads this)', records, rows, mb);

  // 4. Miller on the same file.
  const mlr = await timed(['mlr', '--icsv', '--ojsonl', 'cat', csv], { stdout: 'ignore' });
  report('mlr --icsv --ojsonl cat > /dev/null', mlr, rows, mb);
  console.log(`  ratio (Miller time / kbatch time, ≥ 1 means kbatch is at least as fast): prepare ${(mlr.seconds / alone.seconds).toFixed(2)}, prepare in the pipe ${(mlr.seconds / p.seconds).toFixed(2)}`);
  console.log(`  peak RSS: prepare ${alone.rssMb.toFixed(0)} MB, in the pipe ${p.rssMb.toFixed(0)} MB, split ${s.rssMb.toFixed(0)} MB (target < 150)`);
}

function report(label, m, rows, mb) {
  console.log(`  ${label.padEnd(38)} ${m.seconds.toFixed(2).padStart(6)} s  ${fmt(rows / m.seconds).padStart(9)} rows/s  ${(mb / m.seconds).toFixed(1).padStart(6)} MB/s  peak RSS ${m.rssMb.toFixed(0)} MB  (user+sys ${m.cpuSeconds.toFixed(2)} s)`);
}

function fmt(n) {
  return Math.round(n).toLocaleString('en');
}

function ensureMiller() {
  try {
    execFileSync('mlr', ['--version'], { stdio: 'ignore' });
  } catch {
    console.log('Miller not found: apt-get install -y miller');
    execFileSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq miller'], { stdio: 'inherit' });
  }
}

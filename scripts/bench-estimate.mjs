#!/usr/bin/env node
// Benchmark (prints figures; not a test): `kbatch estimate` on a generated review CSV next to `kbatch prepare` on the
// same file, for a Llama 3 model (kluster), an o200k model (OpenAI) and an approximated one (Anthropic). Target:
// estimate at least half of prepare's rows/s at 1M rows, peak RSS flat. Rows/s are from CPU time (user+sys), which
// a loaded machine disturbs less than wall time. Run `pnpm build` first.
// Usage: node scripts/bench-estimate.mjs [--rows 1000000] [--keep]
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateReviews } from './lib/review-csv.mjs';
import { timed } from './lib/timed.mjs';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, keep: { type: 'boolean', default: false } } });
const kbatch = fileURLToPath(new URL('../packages/cli/bin/kbatch.js', import.meta.url));
if (!existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is needed to measure peak RSS (apt-get install -y time)');

const PROMPT = ['--system', 'You are a careful annotator.', '--prompt', 'Classify the sentiment of this review of {{product}} titled "{{title}}":\n{{text}}', '--temperature', '0', '--max-completion-tokens', '5'];
const MODELS = [
  ['kluster (Llama 3)', ['--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo']],
  ['openai (o200k)', ['--provider', 'openai', '--model', 'gpt-4o-mini']],
  ['anthropic (approx.)', ['--provider', 'anthropic', '--model', 'claude-sonnet-4-20250514', '--mode', 'realtime']],
];

for (const rows of args.rows.split(',').map(Number)) {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-estimate-'));
  try {
    const csv = join(dir, 'reviews.csv');
    await generateReviews(rows, csv);
    console.log(`\n== ${rows.toLocaleString('en')} rows, ${((await stat(csv)).size / 1e6).toFixed(1)} MB CSV`);
    const prepare = await timed(['node', kbatch, 'prepare', csv, '--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', ...PROMPT]);
    report('kbatch prepare > /dev/null', prepare, rows);
    for (const [label, model] of MODELS) {
      // An empty cache of its own: the estimate's own work, not the lookups in whatever the user's cache holds (a cache
      // with entries adds one lookup per request: see bench:cache).
      const estimate = await timed(['node', kbatch, 'estimate', csv, ...model, ...PROMPT, '--labels', 'positive,negative,neutral', '--json', '--cache-dir', join(dir, 'cache')], { stdout: 'pipe', capture: true });
      report(`kbatch estimate, ${label}`, estimate, rows);
      const e = JSON.parse(estimate.stdout);
      const ratio = (rows / estimate.cpuSeconds) / (rows / prepare.cpuSeconds);
      console.log(`    ${e.prompt_tokens.toLocaleString('en')} prompt tokens (${e.tokenizer}); rows/s vs prepare ${ratio.toFixed(2)} (target ≥ 0.5)`);
    }
  } finally {
    if (!args.keep) await rm(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

function report(label, m, rows) {
  console.log(`  ${label.padEnd(36)} user+sys ${m.cpuSeconds.toFixed(2).padStart(6)} s  ${Math.round(rows / m.cpuSeconds).toLocaleString('en').padStart(9)} rows/s  wall ${m.seconds.toFixed(2)} s  peak RSS ${m.rssMb.toFixed(0)} MB`);
}

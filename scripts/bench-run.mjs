#!/usr/bin/env node
// Benchmark (prints figures; not a test): `kbatch run` on a generated review CSV (id,text; quoted commas, escaped
// quotes, embedded newlines, non-ASCII) against `kbatch emulator` in a separate process with instant batches, next
// to `kbatch prepare > /dev/null` on the same file. Prints each kbatch process's user+sys CPU, the ratio run/prepare,
// the time of each phase of the run (from its --progress json events), peak RSS and rows/s.
// Targets (issue 12): ratio ≤ 4, run peak RSS < 300 MB and flat from 200k to 1M rows.
// Run `pnpm build` first. Needs GNU time at /usr/bin/time (apt-get install -y time).
// The run has an empty request cache of its own (--cache empty, the default) or none (--cache off: --no-cache).
// --models N runs every record on N models side by side (issue 15: one sub-job per model, outputs zipped); the ratio
// is then against one prepare, so compare it with N times the one-model ratio.
// Usage: node scripts/bench-run.mjs [--rows 200000[,1000000]] [--cache empty|off] [--models 1|2|3] [--keep]
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateReviews } from './lib/review-csv.mjs';
import { childOf, startEmulatorProcess, timed } from './lib/bench-processes.mjs';

const { values: args } = parseArgs({
  options: { rows: { type: 'string', default: '200000,1000000' }, keep: { type: 'boolean', default: false }, cache: { type: 'string', default: 'empty' }, models: { type: 'string', default: '1' } },
});
const kbatch = fileURLToPath(new URL('../packages/cli/bin/kbatch.js', import.meta.url));
const TIME = '/usr/bin/time';
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const PROMPT = 'Review: {{text}}';
const MODELS = [MODEL, 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo', 'klusterai/Meta-Llama-3.1-405B-Instruct-Turbo'].slice(0, Number(args.models));

if (!existsSync(TIME)) throw new Error('/usr/bin/time is needed to measure CPU and peak RSS (apt-get install -y time)');

const peaks = [];
for (const rows of args.rows.split(',').map(Number)) {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-run-'));
  try {
    peaks.push({ rows, ...(await runOnce(rows, dir)) });
  } finally {
    if (!args.keep) await rm(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}
if (peaks.length > 1) {
  const [first, last] = [peaks[0], peaks[peaks.length - 1]];
  console.log(`\npeak RSS of kbatch run: ${peaks.map((p) => `${fmt(p.rows)} rows ${p.runRss.toFixed(0)} MB`).join(', ')}` +
    ` (${fmt(last.rows)}/${fmt(first.rows)}: x${(last.runRss / first.runRss).toFixed(2)}; target < 300 MB and flat)`);
}

async function runOnce(rows, dir) {
  const csv = join(dir, 'reviews.csv');
  const g0 = Date.now();
  await generateReviews(rows, csv, { columns: 'text' });
  const mb = (await stat(csv)).size / 1e6;
  console.log(`\n== ${rows.toLocaleString('en')} rows, ${mb.toFixed(1)} MB CSV (generated in ${((Date.now() - g0) / 1000).toFixed(1)} s)`);

  const emulator = await startEmulatorProcess(kbatch, dir);
  try {
    // 1. kbatch run against the emulator (a fresh job directory), JSONL output: one line per record.
    const out = join(dir, 'out.jsonl');
    const events = [];
    const run = await timed(dir, [
      'node', kbatch, 'run', csv, '--base-url', emulator.url, '--api-key', 'x', ...MODELS.flatMap((m) => ['--model', m]), '--prompt', PROMPT,
      '--labels', 'positive,negative', '--poll-interval', '100ms', '--output', out, '--progress', 'json',
      '--job-dir', join(dir, 'job'), ...(args.cache === 'off' ? ['--no-cache'] : ['--cache-dir', join(dir, 'cache')]),
    ], {
      sampleMemory: true,
      onStderrLine: (line, pid) => {
        const event = parseEvent(line);
        // The kbatch process's CPU so far, read from /proc as each phase starts (Linux only; null elsewhere).
        if (event?.type === 'phase' || event?.type === 'created') event.cpu = cpuOf(pid);
        events.push(event);
      },
    });

    // 2. kbatch prepare on the same file, output discarded.
    const prep = await timed(dir, ['node', kbatch, 'prepare', csv, '--model', MODEL, '--prompt', PROMPT]);

    const outLines = await countLines(out);
    const summary = events.find((e) => e?.type === 'summary');
    report('kbatch run', run, rows, mb);
    report('kbatch prepare > /dev/null', prep, rows, mb);
    const ratio = run.cpu / prep.cpu;
    console.log(`  CPU (user+sys): run ${run.cpu.toFixed(2)} s, prepare ${prep.cpu.toFixed(2)} s, ratio run/prepare ${ratio.toFixed(1)} (target ≤ 4)`);
    console.log(`  phases of kbatch run: ${phases(events, run).map(([name, s]) => `${name} ${s.toFixed(2)} s`).join(', ')}`);
    const cpus = phaseCpu(events, run);
    if (cpus) console.log(`  CPU by phase of kbatch run (user+sys): ${cpus.map(([name, s]) => `${name} ${s.toFixed(2)} s`).join(', ')}`);
    const split = run.anonMb === null ? '' : ` (sampled peaks: anonymous ${run.anonMb.toFixed(0)} MB, file-backed ${run.fileMb.toFixed(0)} MB, e.g. the cache's map)`;
    console.log(`  peak RSS: run ${run.rssMb.toFixed(0)} MB${split} (target < 300), prepare ${prep.rssMb.toFixed(0)} MB; emulator (separate process) not counted`);
    console.log(`  output: ${fmt(outLines)} rows for ${fmt(rows)} input records (${outLines === rows ? 'one per record' : 'MISMATCH'})` +
      (summary ? `; summary: ${fmt(summary.succeeded)} succeeded, ${fmt(summary.failed)} failed, ${summary.batches} batches, ${summary.rounds} retry rounds` : ''));
    return { runRss: run.rssMb };
  } finally {
    await emulator.stop();
  }
}

function report(label, m, rows, mb) {
  console.log(`  ${label.padEnd(28)} ${m.seconds.toFixed(2).padStart(6)} s wall  ${fmt(rows / m.seconds).padStart(9)} rows/s  ${(mb / m.seconds).toFixed(1).padStart(6)} MB/s  cpu ${m.cpu.toFixed(2)} s (user ${m.user.toFixed(2)} + sys ${m.sys.toFixed(2)})  peak RSS ${m.rssMb.toFixed(0)} MB`);
}

function fmt(n) {
  return Math.round(n).toLocaleString('en');
}

// Phase times of a run from its `phase` events: each phase lasts until the next event that starts one; "startup"
// is spawn → first phase, the last phase ("done": summary, exit) lasts until the process exits. The submit phase is
// split at the last `created` event into submit (upload + create) and wait (polls, downloads).
function phases(events, run) {
  const marks = [{ name: 'startup', at: run.startedAt }];
  for (const e of events) {
    if (e?.type === 'phase') marks.push({ name: e.phase === 'retry' ? `retry ${e.round}` : e.phase, at: Date.parse(e.time) });
  }
  const submit = marks.findIndex((m) => m.name === 'submit');
  const created = events.filter((e) => e?.type === 'created').map((e) => Date.parse(e.time));
  if (submit >= 0 && created.length) marks.splice(submit + 1, 0, { name: 'wait', at: Math.max(...created) });
  marks.push({ at: run.endedAt });
  return marks.slice(0, -1).map((m, i) => [m.name, (marks[i + 1].at - m.at) / 1000]);
}

// CPU (user+sys seconds) of each phase, cut at the same events as phases(); null without /proc readings.
function phaseCpu(events, run) {
  const marks = [{ name: 'startup', cpu: 0 }];
  for (const e of events) if (e?.type === 'phase') marks.push({ name: e.phase === 'retry' ? `retry ${e.round}` : e.phase, cpu: e.cpu });
  const created = events.filter((e) => e?.type === 'created');
  const submit = marks.findIndex((m) => m.name === 'submit');
  if (submit >= 0 && created.length) marks.splice(submit + 1, 0, { name: 'wait', cpu: created[created.length - 1].cpu });
  marks.push({ cpu: run.cpu });
  if (marks.some((m) => typeof m.cpu !== 'number')) return null;
  return marks.slice(0, -1).map((m, i) => [m.name, marks[i + 1].cpu - m.cpu]);
}

// user+sys seconds of the node process under `time` (its only child), from /proc/<pid>/stat; null if unreadable.
function cpuOf(timePid) {
  try {
    const fields = readFileSync(`/proc/${childOf(timePid)}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

function parseEvent(line) {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

async function countLines(path) {
  if (!existsSync(path)) return 0;
  let n = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  }
  return n;
}

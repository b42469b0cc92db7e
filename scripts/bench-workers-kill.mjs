#!/usr/bin/env node
// Benchmark check (prints its checks and PASS/FAIL; not a test): issue 16's target at full size. Three `kbatch worker`
// processes and one throwaway Postgres run a detached 200,000-record job against `kbatch emulator` (its own process,
// instant batches); one worker is SIGKILLed at each of upload, create, poll, join and a step commit in turn, by the
// test-only crash hooks the suite uses (KBATCH_TEST_HOOKS=1 + KBATCH_TEST_CRASH_AT, core job/crash-point.ts), with the
// suite's short leases (packages/cli/test/commands/worker.test.ts, "killed one after another"). For each point every
// running worker is armed with it, so whichever holds the job's step dies there; the survivors (idle: a job has one
// step at a time) are stopped with SIGTERM and three workers armed with the next point replace them at once. After
// each kill the job's manifest (Postgres) and the emulator's files and batches are read before anyone takes over, to
// show the point was really reached (an unrecorded file or batch, a half-written output, a joined job whose step is
// not committed). Then plain workers finish the job and its rows, batches and files are checked.
// Run `pnpm build` first. Needs Debian's postgresql (skips with a message without it).
// Usage: node scripts/bench-workers-kill.mjs [--rows 200000] [--max-requests 40000] [--workers 3]
//   [--points after-upload-unrecorded,after-create,during-wait,run-during-join,worker-before-commit] (each `point[:N]`)
//   [--worker-flags '--slice 1s --lease 3s ...'] [--run-concurrency 1] [--phase-timeout 300] [--keep]
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateReviews } from './lib/review-csv.mjs';
import { startEmulatorProcess } from './lib/bench-processes.mjs';
import { startPostgresOrSkip } from './lib/postgres-process.mjs';

// The suite's kill chain and worker flags (worker.test.ts): a killed worker's step goes to another within ~3 s.
const POINTS = 'after-upload-unrecorded,after-create,during-wait,run-during-join,worker-before-commit';
const WORKER_FLAGS = '--slice 1s --lease 3s --maintenance-interval 1s --retry-delay 1s --poll-interval 100ms --concurrency 2';
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    'max-requests': { type: 'string', default: '40000' },
    workers: { type: 'string', default: '3' },
    points: { type: 'string', default: POINTS },
    'worker-flags': { type: 'string', default: WORKER_FLAGS },
    'run-concurrency': { type: 'string', default: '1' },
    'phase-timeout': { type: 'string', default: '300' },
    keep: { type: 'boolean', default: false },
  },
});
const kbatch = fileURLToPath(new URL('../packages/cli/bin/kbatch.js', import.meta.url));
// pg is core's dependency, not the root's: loaded from there to read the job's rows and its queue.
const pg = createRequire(fileURLToPath(new URL('../packages/core/package.json', import.meta.url)))('pg');
const rows = Number(args.rows);
const workerCount = Number(args.workers);
const points = args.points.split(',').filter(Boolean);
const workerFlags = args['worker-flags'].split(' ').filter(Boolean);
const phaseTimeoutMs = Number(args['phase-timeout']) * 1000;
const JOB = 'bench-kill';
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const RUN = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative', '--max-requests', args['max-requests'],
  '--no-cache', '--output-format', 'jsonl', '--concurrency', args['run-concurrency']];

const database = await startPostgresOrSkip();
const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-kill-'));
const emulator = await startEmulatorProcess(kbatch, dir);
const storage = join(dir, 'storage');
const env = { ...process.env, KLUSTER_API_KEY: 'x', KLUSTER_BASE_URL: emulator.url, KBATCH_DATABASE_URL: database.url };
const db = new pg.Client({ connectionString: database.url });
const live = new Set();
// Every worker's step lines, counted by step and outcome (`submit locked`: another worker held the job).
const stepLog = new Map();
// Every worker's warnings (queue and background errors), by their first 100 characters.
const warnings = new Map();
let passed = false;
let cleaning;
const cleanUp = () =>
  (cleaning ??= (async () => {
    for (const w of live) w.child.kill('SIGKILL');
    await db.end().catch(() => {});
    await emulator.stop();
    await database.stop();
    if (!args.keep) await rm(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  })());
// Ctrl-C: the workers and the Postgres go too (the emulator helper's own handler would exit before they do).
process.removeAllListeners('SIGINT');
process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
try {
  await mkdir(storage);
  await db.connect();
  const csv = join(dir, 'reviews.csv');
  await generateReviews(rows, csv, { columns: 'text' });
  console.log(`== ${rows.toLocaleString('en')} records, chunks of ${args['max-requests']} requests, ${workerCount} workers; kbatch emulator (own process, instant batches); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`   run flags: ${RUN.join(' ')} --detach`);
  console.log(`   worker flags: ${workerFlags.join(' ')}`);
  console.log(`   kill points, in turn: ${points.join(', ')} (KBATCH_TEST_HOOKS=1 KBATCH_TEST_CRASH_AT=<point> on every running worker)`);
  passed = await killRun(csv);
} finally {
  await cleanUp();
}
process.exit(passed ? 0 : 1);

/** Detach the job, kill a worker at each point in turn, finish with plain workers, check; true on PASS. */
async function killRun(csv) {
  const started = Date.now();
  const at = () => ((Date.now() - started) / 1000).toFixed(1);
  // Workers first: a step gets the queue's lease when it is queued, and the queue's lease is set by a worker.
  let pool = startPool(points[0]);
  await queueLease(leaseSeconds());
  const detach = await spawnKbatch(['run', csv, ...RUN, '--storage', storage, '--job-id', JOB, '--detach']);
  if (detach.code !== 0) throw new Error(`kbatch run --detach exited with ${detach.code}:\n${detach.stderr}`);
  console.log(`  ${at()} s: detached (prepared and queued, the step's lease ${leaseSeconds()} s)`);
  const problems = [];
  let stoppedEarly = false;
  let before = await snapshot(null);
  for (const [i, point] of points.entries()) {
    const first = await firstExit(pool, phaseTimeoutMs);
    if (first === null || first.exit.signal !== 'SIGKILL') {
      problems.push(first === null ? `${point} did not fire within ${phaseTimeoutMs / 1000} s` : `a worker armed with ${point} exited with ${first.exit.code}: ${first.worker.tail()}`);
      stoppedEarly = true;
      break;
    }
    // Read before a takeover can change anything: the lease keeps the dead worker's step for a while.
    const seen = await snapshot(first.worker.pid);
    const { confirmed, evidence } = confirm(point, before, seen);
    console.log(`  ${at()} s: kill ${i + 1}/${points.length}: worker ${first.worker.pid} SIGKILLed itself at ${point} (armed ${((first.exit.at - first.worker.startedAt) / 1000).toFixed(1)} s before); ${evidence}; ${confirmed ? 'point confirmed' : 'POINT NOT CONFIRMED'}`);
    if (!confirmed) problems.push(`${point}: not confirmed by the job's state`);
    for (const w of pool.filter((w) => w !== first.worker)) {
      w.child.kill('SIGTERM');
      const exit = await w.exited;
      // A survivor may hold the job too (a step outlives its lease while its worker lives): handing it back commits, and may fire the point.
      if (exit.signal === 'SIGKILL') console.log(`  ${at()} s:   worker ${w.pid} (armed with ${point} too) SIGKILLed itself as it stopped on SIGTERM`);
      else if (exit.code !== 0) problems.push(`a survivor armed with ${point} exited with ${exit.code ?? exit.signal} on SIGTERM: ${w.tail()}`);
    }
    pool = startPool(points[i + 1] ?? null);
    before = seen;
  }
  const waited = !stoppedEarly ? await spawnKbatch(['wait', JOB, '--storage', storage, '--poll-interval', '500ms'], phaseTimeoutMs * 2) : null;
  const wall = (Date.now() - started) / 1000;
  if (waited !== null && waited.code !== 0) await watchAfterWait(at);
  for (const w of pool) w.child.kill('SIGTERM');
  for (const w of pool) {
    const exit = await w.exited;
    // A worker stopped early may get SIGTERM before it set its handler: only a full run's workers are checked.
    if (exit.code !== 0 && waited !== null) problems.push(`a plain worker exited with ${exit.code ?? exit.signal} on SIGTERM: ${w.tail()}`);
  }
  if (waited !== null && waited.code !== 0) problems.push(`kbatch wait exited with ${waited.code}: ${waited.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  console.log(`  ${at()} s: ${waited === null ? 'stopped early' : `kbatch wait exited ${waited.code}`}`);
  return report(wall, problems);
}

/** After a failed wait, whether the workers still finish the job (up to a minute), and its queue rows then. */
async function watchAfterWait(at) {
  for (let i = 0; i < 120 && (await jobRow()).runState?.phase !== 'joined'; i++) await new Promise((r) => setTimeout(r, 500));
  const queue = (await queueRows()).map((r) => `${r.state}/${r.retry_count}${r.output?.message ?? r.output?.value?.message ? ` (${r.output.message ?? r.output.value.message})` : ''}`);
  console.log(`  ${at()} s: after the failed wait: phase ${(await jobRow()).runState?.phase}; queue rows newest first: ${queue.join(', ')}`);
}

/** Print the checks; true when they all hold. */
async function report(wall, problems) {
  const { manifest } = await jobRow();
  const parts = manifest?.parts.length ?? 0;
  const byPart = groupBy(await jobBatches(), (b) => b.metadata.kbatch_chunk);
  const batches = [...byPart.values()].reduce((n, list) => n + list.length, 0);
  const duplicates = [...byPart.values()].filter((list) => list.length > 1).length;
  const files = (await jobFiles()).length;
  const uploads = manifest?.parts.reduce((n, p) => n + p.uploadAttempts, 0) ?? 0;
  const adopted = manifest?.parts.filter((p) => p.adopted).map((p) => p.index) ?? [];
  const out = await checkRows();
  const temps = (await tempFiles()).length;
  console.log(`  wall time: ${wall.toFixed(1)} s (detach, kills and takeovers, until kbatch wait returned)`);
  console.log(`  batches created: ${batches} for ${parts} parts (emulator's batch list); duplicate batches: ${duplicates} part(s) with two or more; adopted after a kill: ${adopted.join(', ') || 'none'}`);
  console.log(`  uploads started: ${uploads} for ${parts} parts (the manifest's upload attempts); input files left on the server: ${files}`);
  console.log(`  steps logged by the workers (step outcome: count): ${[...stepLog].map(([k, n]) => `${k}: ${n}`).join(', ')}`);
  console.log(`  worker warnings: ${warnings.size === 0 ? 'none' : [...warnings].map(([w, n]) => `${n}× ${w}`).join('; ')}`);
  console.log(`  rows out: ${out.total}; records missing: ${out.missing}; records duplicated: ${out.duplicated}; order: ${out.firstOutOfOrder === null ? 'input order' : `out of order from row ${out.firstOutOfOrder}`}; stray temp output files left: ${temps}`);
  if (batches !== parts || duplicates > 0) problems.push(`${batches} batches for ${parts} parts, ${duplicates} duplicated`);
  if (out.total !== rows || out.missing > 0 || out.duplicated > 0 || out.firstOutOfOrder !== null) problems.push('rows out do not match the input');
  for (const p of problems) console.log(`  problem: ${p}`);
  console.log(problems.length === 0 ? 'PASS' : 'FAIL');
  return problems.length === 0;
}

/** `kbatch results` streamed: every id once and in input order (ids r1…rN: one byte per record, not a set). */
async function checkRows() {
  const child = spawn(process.execPath, [kbatch, 'results', JOB, '--storage', storage], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const seen = new Uint8Array(rows + 1);
  let total = 0;
  let duplicated = 0;
  let firstOutOfOrder = null;
  for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
    if (line === '') continue;
    total++;
    const n = Number(/^r(\d+)$/.exec(String(JSON.parse(line).id))?.[1] ?? NaN);
    if (firstOutOfOrder === null && n !== total) firstOutOfOrder = total;
    if (n >= 1 && n <= rows && seen[n]++ > 0) duplicated++;
  }
  await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('close', resolve)));
  return { total, duplicated, missing: seen.subarray(1).filter((c) => c === 0).length, firstOutOfOrder };
}

/** `count` workers, each armed with `point` (null: plain). */
function startPool(point) {
  return Array.from({ length: workerCount }, () => startWorker(point));
}

function startWorker(point) {
  const hooks = point === null ? {} : { KBATCH_TEST_HOOKS: '1', KBATCH_TEST_CRASH_AT: point };
  const child = spawn(process.execPath, [kbatch, 'worker', '--storage', storage, ...workerFlags], { env: { ...env, ...hooks }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let pending = '';
  child.stderr.on('data', (d) => {
    log = (log + d).slice(-2000);
    const lines = (pending + d).split('\n');
    pending = lines.pop();
    for (const line of lines) {
      const step = /^worker: job \S+ (\w+) (\w+) \d+ ms \(queue \d+ ms\)(?: \[(\w+)\])?/.exec(line);
      const key = step && `${step[1]} ${step[2]}${step[3] ? ` [${step[3]}]` : ''}`;
      if (key) stepLog.set(key, (stepLog.get(key) ?? 0) + 1);
      if (line.startsWith('worker: warning: ')) warnings.set(line.slice(17, 120), (warnings.get(line.slice(17, 120)) ?? 0) + 1);
    }
  });
  const worker = { child, pid: child.pid, point, startedAt: Date.now(), tail: () => log.trim().split('\n').slice(-3).join(' | ') };
  worker.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  live.add(worker);
  worker.exited.then(() => live.delete(worker));
  return worker;
}

/** The first worker of `pool` to exit, or null after `ms`. */
function firstExit(pool, ms) {
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, ms, null)));
  return Promise.race([timeout, ...pool.map((worker) => worker.exited.then((exit) => ({ worker, exit })))]).finally(() => clearTimeout(timer));
}

/** What the job's state shows right now: its manifest and phase, its queued step, the server's files and batches. */
async function snapshot(deadPid) {
  const { manifest, runState } = await jobRow();
  const queue = await queueRows();
  const step = queue[0]?.state ?? 'none';
  const parts = manifest?.parts ?? [];
  const files = await jobFiles();
  const batches = await jobBatches();
  const recordedFiles = new Set(parts.map((p) => p.fileId));
  const recordedBatches = new Set(parts.map((p) => p.batchId));
  const temp = deadPid === null ? [] : (await tempFiles()).filter((f) => f.endsWith(`.${deadPid}.tmp`));
  return {
    phase: runState?.phase ?? 'none',
    step,
    queue: queue.map((r) => `${r.state}/${r.retry_count}`).join(' '),
    parts: parts.length,
    uploaded: parts.filter((p) => p.fileId).length,
    created: parts.filter((p) => p.batchId).length,
    files: files.length,
    batches: batches.length,
    unrecordedFiles: files.filter((f) => !recordedFiles.has(f.id)).length,
    unrecordedBatches: batches.filter((b) => !recordedBatches.has(b.id)).length,
    tempRows: temp.length === 0 ? 0 : await countLines(temp[0]),
  };
}

/** Whether the state after a kill shows `point` was reached, and the figures that show it. */
function confirm(point, before, s) {
  const evidence = `phase ${s.phase}, step ${s.step} (queue rows newest first, state/retries: ${s.queue}), parts ${s.parts} (file ids saved ${s.uploaded}, batch ids ${s.created}), server: ${s.files} files (${s.unrecordedFiles} not in the manifest), ${s.batches} batches (${s.unrecordedBatches} not in the manifest), the dead worker's temp output: ${s.tempRows} rows`;
  const name = point.split(':')[0];
  const checks = {
    'after-upload-unrecorded': s.unrecordedFiles > before.unrecordedFiles,
    'after-create': s.unrecordedBatches > before.unrecordedBatches,
    'during-wait': s.created > 0 && s.phase !== 'joined' && s.tempRows === 0,
    'run-during-join': s.tempRows > 0 && s.phase !== 'joined',
    // The transaction that completes a step (and queues the next) rolled back: no newer step queued, none completed last.
    'worker-before-commit': s.step === 'active' || s.step === 'retry',
  };
  const commit = name === 'worker-before-commit' ? (s.phase === 'joined' ? ' (the last step\'s commit)' : ' (a step\'s commit with its next step queued)') : '';
  return { confirmed: checks[name] ?? true, evidence: evidence + commit };
}

/** The workers' --lease in seconds, as `kbatch worker` rounds it. */
function leaseSeconds() {
  const flag = workerFlags[workerFlags.indexOf('--lease') + 1];
  const [, n, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(workerFlags.includes('--lease') ? flag : '5m') ?? [];
  return Math.max(1, Math.round(Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit ?? 's']));
}

/** Wait until a worker has set the step queue's lease (pg-boss's queue row). */
async function queueLease(seconds) {
  for (let i = 0; i < 600; i++) {
    const row = await db.query(`SELECT expire_seconds FROM kbatch_boss.queue WHERE name = 'kbatch-job'`).catch(() => ({ rows: [] }));
    if (row.rows[0]?.expire_seconds === seconds) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the step queue's lease never became ${seconds} s`);
}

/** The job's step rows in pg-boss's queue, newest first (as `kbatch status` picks its latest step). */
async function queueRows() {
  const sql = `SELECT state::text, retry_count, output FROM kbatch_boss.job WHERE name = 'kbatch-job' AND singleton_key = $1 ORDER BY created_on DESC, (state = 'active') DESC`;
  return (await db.query(sql, [JOB])).rows;
}

async function jobRow() {
  const row = (await db.query('SELECT manifest, run_state FROM kbatch.job WHERE id = $1', [JOB])).rows[0];
  return { manifest: row?.manifest ? JSON.parse(row.manifest) : null, runState: row?.run_state ? JSON.parse(row.run_state) : null };
}

/** The emulator's batches of this job (every page of its list). */
async function jobBatches() {
  const all = [];
  for (let after = null; ; ) {
    const page = await getJson(`/batches?limit=100${after ? `&after=${after}` : ''}`);
    all.push(...page.data.filter((b) => b.metadata?.kbatch_job === JOB));
    if (!page.has_more) return all;
    after = page.last_id;
  }
}

/** The emulator's input files of this job (named `<job>-part-<index>.jsonl`). */
async function jobFiles() {
  const page = await getJson('/files?purpose=batch&limit=10000');
  return page.data.filter((f) => f.filename?.startsWith(`${JOB}-part-`));
}

async function getJson(path) {
  const res = await fetch(`${emulator.url}${path}`, { headers: { authorization: 'Bearer x' } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Temp output files (`.<output>.<pid>.tmp`) under the storage directory. */
async function tempFiles() {
  const entries = await readdir(storage, { recursive: true });
  return entries.filter((e) => /(^|\/)\.[^/]*\.\d+\.tmp$/.test(e)).map((e) => join(storage, e));
}

async function countLines(path) {
  let n = 0;
  for await (const chunk of createReadStream(path)) for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}

function groupBy(items, key) {
  const map = new Map();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}

/** A kbatch command to its end (stdout discarded, stderr kept); SIGKILLed after `ms`. */
function spawnKbatch(argv, ms = phaseTimeoutMs) {
  const child = spawn(process.execPath, [kbatch, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-8000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((resolve) => child.on('close', (code, signal) => (clearTimeout(timer), resolve({ code: code ?? signal, stderr }))));
}

#!/usr/bin/env node
// Benchmark (prints figures; not a test): a 200,000-row job run by `kbatch worker`s on one Postgres (issue 16), against
// `kbatch emulator` in a separate process with instant batches. For 1, 2 and 3 workers: `kbatch run --detach`, then
// the workers until one logs the job's last step; prints the wall time, the CPU (user+sys) of every kbatch process that
// did the job (detach + workers), the Postgres server's CPU over the same time (its own column, and added to the
// coordinated side of the ratio), the connections (sessions) and transactions Postgres counted for the job
// (pg_stat_database; each statement outside BEGIN/COMMIT is one), next to a local-directory `kbatch run` of the same
// file, the ratio (target: coordination adds < 10% CPU), and the ms per step spent in pg-boss/database calls.
// The watcher is not the job: the end is seen in the workers' step log, then one `kbatch wait` confirms the exit code;
// what that wait costs (its CPU, Postgres's, its connections) is printed on its own line, outside the ratio.
// Postgres's CPU: utime+stime+cutime+cstime from /proc/<pid>/stat of the postmaster (cutime/cstime: its exited
// backends, which it reaps) plus utime+stime of its live children, read before and after each run.
// Run `pnpm build` first. Needs GNU time (/usr/bin/time) and Debian's postgresql (skips with a message without it).
// With several sizes (--rows 200000,1000000) it also splits what coordination adds with 1 worker into a cost per job
// and one per record (a line through the two points): the per-record share is what a bigger job tends to.
// Usage: node scripts/bench-workers.mjs [--rows 200000[,1000000]] [--workers 1,2,3] [--max-requests 50000] [--keep] [--kbatch path/to/bin/kbatch.js]
// (--kbatch: another checkout's build, for back-to-back before/after pairs on the same script.)
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateReviews } from './lib/review-csv.mjs';
import { childOf, startEmulatorProcess, timed } from './lib/bench-processes.mjs';
import { startPostgresOrSkip } from './lib/postgres-process.mjs';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    workers: { type: 'string', default: '1,2,3' },
    'max-requests': { type: 'string', default: '50000' },
    keep: { type: 'boolean', default: false },
    kbatch: { type: 'string', default: fileURLToPath(new URL('../packages/cli/bin/kbatch.js', import.meta.url)) },
  },
});
const kbatch = args.kbatch;
const pgDriver = createRequire(new URL('../packages/core/package.json', import.meta.url))('pg');
const sizes = args.rows.split(',').map(Number);
// The split is a line through the smallest and the largest size (any between are measured, not fitted).
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || new Set(sizes).size !== sizes.length) throw new Error(`--rows: distinct positive row counts, got ${args.rows}`);
sizes.sort((a, b) => a - b);
// Each run a job of its own (a count given twice in --workers runs twice).
let runs = 0;
// The local run and the workers poll their batches alike (instant batches: short polls keep the wall time short).
const POLL = '200ms';
const REQUEST = ['--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', '--prompt', 'Review: {{text}}', '--labels', 'positive,negative', '--max-requests', args['max-requests'], '--no-cache', '--output-format', 'jsonl'];

if (!existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is needed to measure CPU (apt-get install -y time)');
const pg = await startPostgresOrSkip();
const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-workers-'));
const emulator = await startEmulatorProcess(kbatch, dir);
try {
  const env = { ...process.env, KLUSTER_API_KEY: 'x', KLUSTER_BASE_URL: emulator.url, KBATCH_DATABASE_URL: pg.url };
  const added = [];
  for (const rows of sizes) added.push({ rows, ...(await benchSize(rows, env)) });
  if (added.length >= 2 && added.every((a) => a.added !== undefined)) {
    const [a, b] = [added[0], added.at(-1)];
    const perRecord = (b.added - a.added) / (b.rows - a.rows);
    const perJob = a.added - perRecord * a.rows;
    const localPerRecord = (b.local - a.local) / (b.rows - a.rows);
    console.log(
      `== what coordination adds with 1 worker (one run per size: as noisy as the runs above), as a line through ${a.rows.toLocaleString('en')} and ${b.rows.toLocaleString('en')} rows: ${perJob.toFixed(2)} s per job + ` +
        `${(perRecord * 1e6).toFixed(2)} µs per record (${((100 * perRecord) / localPerRecord).toFixed(1)}% of the local run's ${(localPerRecord * 1e6).toFixed(2)} µs per record)`,
    );
  }
  console.log('  note: one job runs one step at a time (at most one queued and one active step per job), so extra workers do not speed up a single job; they share several jobs and take over killed ones');
} finally {
  await emulator.stop();
  await pg.stop();
  if (!args.keep) await rm(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}

/** One input size: the local run, then 1, 2, 3 workers; returns the local CPU and what 1 worker's job added to it. */
async function benchSize(rows, env) {
  const csv = join(dir, `reviews-${rows}.csv`);
  await generateReviews(rows, csv, { columns: 'text' });
  console.log(`== ${rows.toLocaleString('en')} rows, chunks of ${args['max-requests']} requests; emulator with instant batches; load average ${(await loadAverage())}`);
  const local = await timed(dir, ['node', kbatch, 'run', csv, ...REQUEST, '--job-dir', join(dir, `local-job-${rows}`), '--output', join(dir, 'local.jsonl'), '--poll-interval', POLL, '--base-url', emulator.url, '--api-key', 'x', '--quiet']);
  console.log(`  local-directory kbatch run: ${local.seconds.toFixed(2)} s wall, cpu ${local.cpu.toFixed(2)} s`);
  let added;
  for (const n of args.workers.split(',').map(Number)) {
    const before = await postgresFigures(pg);
    const r = await workersRun(n, csv, env, rows);
    const job = (await postgresFigures(pg)).since(before);
    const cpu = r.detach.cpu + r.workers.reduce((s, w) => s + w.cpu, 0) + job.cpu;
    if (n === 1) added = cpu - local.cpu;
    console.log(
      `  ${n} worker${n > 1 ? 's' : ' '}: ${r.seconds.toFixed(2)} s wall (detach ${r.detach.seconds.toFixed(2)} s + workers until done), cpu ${cpu.toFixed(2)} s ` +
        `(detach ${r.detach.cpu.toFixed(2)} + workers ${r.workers.map((w) => w.cpu.toFixed(2)).join(' + ')} + postgres ${job.cpu.toFixed(2)}), ratio to local ${(cpu / local.cpu).toFixed(3)} (target < 1.10); ` +
        `postgres saw ${job.sessions} connections, ${job.xacts} transactions; ` +
        `${r.steps} steps (${r.names}); queue calls: ${(r.settleMs / Math.max(1, r.steps)).toFixed(1)} ms per step to settle it, ${r.queueMs} ms in all with every worker's fetches`,
    );
    const watched = await postgresFigures(pg);
    const wait = await timedEnv(env, ['node', kbatch, 'wait', r.jobId, '--storage', r.storage]);
    const watcher = (await postgresFigures(pg)).since(watched);
    console.log(`    watcher (not counted): one kbatch wait after the end, cpu ${wait.cpu.toFixed(2)} s + postgres ${watcher.cpu.toFixed(2)} s, ${watcher.sessions} connections, ${watcher.xacts} transactions`);
    // A 1M-row job's storage is ~1 GB: not kept past its figures unless asked.
    if (!args.keep) await rm(r.storage, { recursive: true, force: true });
  }
  await rm(csv, { force: true });
  if (!args.keep) await rm(join(dir, `local-job-${rows}`), { recursive: true, force: true });
  return { local: local.cpu, added };
}

/** Detach the job, start `n` workers under GNU time, wait for the job with `kbatch wait`, stop the workers (SIGTERM). */
async function workersRun(n, csv, env, rows) {
  const run = ++runs;
  const storage = join(dir, `storage-${run}`);
  await mkdir(storage);
  const jobId = `bench-${run}-${rows}-${n}-workers`;
  const started = Date.now();
  const detach = await timedEnv(env, ['node', kbatch, 'run', csv, ...REQUEST, '--storage', storage, '--job-id', jobId, '--detach']);
  const steps = [];
  let queueMs = 0;
  let settleMs = 0;
  let ended;
  const end = new Promise((resolve) => (ended = resolve));
  const workers = Array.from({ length: n }, () =>
    timedChild(env, ['node', kbatch, 'worker', '--storage', storage, '--poll-interval', POLL, '--concurrency', '4'], (line) => {
      const step = /^worker: job \S+ (\w+) (\w+) \d+ ms \(queue (\d+) ms\)/.exec(line);
      if (step) {
        steps.push(`${step[1]}:${step[2]}`);
        settleMs += Number(step[3]);
        // The job's last step line (written after its settle is tried; a settle that failed is only warned of, so the
        // `kbatch wait` after the round confirms the job's end and exit code).
        if (step[2] === 'done' || step[2] === 'failed') ended();
      }
      const stopped = /stopped after \d+ steps \((\d+) ms in queue calls/.exec(line);
      if (stopped) queueMs += Number(stopped[1]);
    }),
  );
  // A worker that exits early (an error) ends the wait too: its `done` rejects with its stderr.
  let seconds;
  try {
    await Promise.race([end, ...workers.map((w) => w.done)]);
    seconds = (Date.now() - started) / 1000;
  } finally {
    // The worker is GNU time's child: signalled itself (time would die and leave it running), it exits 0 and time
    // reports. Also when one failed: the others would otherwise go on asking a stopped database for steps.
    for (const w of workers) {
      try {
        if (w.child.exitCode === null) process.kill(childOf(w.child.pid), 'SIGTERM');
      } catch {
        // Exited meanwhile: nothing to stop.
      }
    }
    await Promise.allSettled(workers.map((w) => w.done));
  }
  const done = await Promise.all(workers.map((w) => w.done));
  const names = Object.entries(steps.reduce((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {})).map(([s, c]) => `${c} ${s}`).join(', ');
  return { seconds, detach, workers: done, steps: steps.length, names, queueMs, settleMs, jobId, storage };
}

/**
 * Postgres's CPU so far, and its database's sessions and transactions (pg_stat_database, PG >= 14) read on one
 * connection of our own; `since(before)` subtracts an earlier reading and that reading's own connection and query.
 */
async function postgresFigures(server) {
  const client = new pgDriver.Client({ connectionString: server.url });
  await client.connect();
  let row;
  try {
    // Ended sessions flush their counts at exit; this backend's own snapshot is cleared to see them.
    await client.query('SELECT pg_stat_clear_snapshot()');
    ({ rows: [row] } = await client.query('SELECT sessions::int, (xact_commit + xact_rollback)::int AS xacts FROM pg_stat_database WHERE datname = current_database()'));
  } finally {
    await client.end();
  }
  const cpu = postgresCpu(server.pid);
  // One reading: 1 session and its 2 statements (counted by the next reading, once this session has ended).
  return { cpu, ...row, since: (b) => ({ cpu: cpu - b.cpu, sessions: row.sessions - b.sessions - 1, xacts: row.xacts - b.xacts - 2 }) };
}

/** CPU seconds the Postgres server used so far: the postmaster with its reaped backends, and its live children. */
function postgresCpu(postmaster) {
  const ticks = (pid, withReaped) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // Fields 14-17 of stat (utime, stime, cutime, cstime), here counted from field 3 (state).
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
    return utime + stime + (withReaped ? cutime + cstime : 0);
  };
  const children = readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  // A backend may exit between the listing and its read (its ticks then count in the postmaster's cutime next time).
  const live = (pid) => {
    try {
      return ticks(pid, false);
    } catch {
      return 0; // exited after the listing (checking first still raced: ENOENT between the check and the read)
    }
  };
  const total = children.reduce((sum, child) => sum + live(child), ticks(postmaster, true));
  return total / 100; // USER_HZ: 100 on Linux
}

function timedEnv(env, argv) {
  return timedChild(env, argv).done;
}

// A command under GNU time with `env`; stderr lines go to onLine. Resolves with wall seconds and user+sys CPU.
function timedChild(env, argv, onLine = () => {}) {
  const timeFile = join(dir, `time-${Math.random().toString(36).slice(2)}`);
  const child = spawn('/usr/bin/time', ['-o', timeFile, '-f', '%e %U %S', ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let pending = '';
  let tail = '';
  child.stderr.on('data', (d) => {
    tail = (tail + d).slice(-4000);
    const lines = (pending + d).split('\n');
    pending = lines.pop();
    for (const line of lines) onLine(line);
  });
  const done = new Promise((resolve, reject) => {
    child.on('close', async (code) => {
      if (pending) onLine(pending);
      const { readFile } = await import('node:fs/promises');
      const text = await readFile(timeFile, 'utf8').catch(() => '');
      if (code !== 0) return reject(new Error(`${argv.slice(2, 4).join(' ')} exited with ${code}:\n${tail}`));
      const [seconds, user, sys] = text.trim().split('\n').pop().split(' ').map(Number);
      resolve({ seconds, cpu: user + sys });
    });
  });
  return { child, done };
}

async function loadAverage() {
  const { loadavg } = await import('node:os');
  return loadavg().map((l) => l.toFixed(1)).join(' ');
}

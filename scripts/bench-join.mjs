#!/usr/bin/env node
// bench:join — join 1,000,000 records (JSONL input, id column) with shuffled batch results (0.1% in an error
// file) under --labels, writing CSV; prints records/s and peak RSS (target < 300 MB). Build first (pnpm build).
// Usage: node scripts/bench-join.mjs [records=1000000] [--format csv|jsonl] [--keep] [--data DIR] [--sha]
// --data DIR: generate the inputs into DIR once and reuse them (kept; generated again for another record count), for
// back-to-back runs of two builds.
// --sha: print the sha256 of the joined output (it must not change with a speed-up).
// The join runs in a child process so its peak RSS is not mixed with the data generation.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const core = new URL('../packages/core/dist/index.js', import.meta.url).href;

if (process.argv[2] === '--child') {
  const [dir, format] = process.argv.slice(3);
  const { joinFiles } = await import(core);
  const load = os.loadavg()[0];
  const started = process.hrtime.bigint();
  const report = await joinFiles({
    input: join(dir, 'input.jsonl'),
    results: [join(dir, 'outputs.jsonl')],
    errors: [join(dir, 'errors.jsonl')],
    idColumn: 'id',
    labels: ['positive', 'negative', 'neutral'],
    output: join(dir, `joined.${format}`),
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { userCPUTime, systemCPUTime } = process.resourceUsage();
  process.stdout.write(JSON.stringify({ report, seconds, load, maxRssMB: process.resourceUsage().maxRSS / 1024, cpu: { user: userCPUTime / 1e6, sys: systemCPUTime / 1e6 } }));
  process.exit(0);
}

const args = process.argv.slice(2);
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const format = args.includes('--format') ? args[args.indexOf('--format') + 1] : 'csv';
const data = args.includes('--data') ? args[args.indexOf('--data') + 1] : undefined;
const dir = data ?? (await mkdtemp(join(tmpdir(), 'kbatch-bench-join-')));
// The inputs of `--data` are reused only when the one marker holds this record count (the inputs are the same for every
// output format); it is removed before they are written again, so that a generation cut short is not reused.
const marker = join(dir, 'generated.json');
const reuse = data !== undefined && (await readMarker()) === n;

async function writeLines(file, count, lineAt) {
  const out = createWriteStream(file, { highWaterMark: 1 << 20 });
  let buf = '';
  for (let i = 0; i < count; i++) {
    buf += lineAt(i) + '\n';
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise((r, j) => out.on('finish', r).on('error', j));
}

const LABELS = ['Positive.', 'negative', '"neutral"'];
const okLine = (i) =>
  JSON.stringify({
    id: `batch_req_${i}`,
    custom_id: `rec-${i}`,
    response: {
      status_code: 200,
      request_id: `req_${i.toString(36)}`,
      body: {
        id: `chatcmpl-${i}`,
        object: 'chat.completion',
        created: 1737472126,
        model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo',
        choices: [{ index: 0, message: { role: 'assistant', content: LABELS[i % 3], tool_calls: [] }, logprobs: null, finish_reason: 'stop', stop_reason: null }],
        usage: { prompt_tokens: 48, total_tokens: 50, completion_tokens: 2, prompt_tokens_details: null },
        prompt_logprobs: null,
      },
    },
    error: null,
  });
const errLine = (i) =>
  JSON.stringify({ id: `batch_req_${i}`, custom_id: `rec-${i}`, response: { status_code: 500, request_id: `req_${i}`, body: { error: { message: 'internal error', code: 'server_error' } } }, error: null });

if (!reuse) await generate();
const child = spawnSync(process.execPath, [here, '--child', dir, format], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (child.status !== 0) {
  process.stderr.write(`join failed (exit ${child.status})\n`);
  process.exit(1);
}
const { report, seconds, load, maxRssMB, cpu } = JSON.parse(child.stdout);
const outSize = (await stat(join(dir, `joined.${format}`))).size;
console.log(`bench:join  records=${report.records}  succeeded=${report.succeeded}  failed=${report.failed}  missing=${report.missing}  output=${format} ${mb(outSize)}`);
console.log(`bench:join  ${seconds.toFixed(1)} s  ${Math.round(report.records / seconds).toLocaleString('en-US')} records/s  peak RSS ${maxRssMB.toFixed(0)} MB (target < 300 MB) ${maxRssMB < 300 ? 'OK' : 'OVER'}`);
// CPU seconds of the join process (user+sys): steadier than wall time on a shared machine.
console.log(`bench:join  cpu ${(cpu.user + cpu.sys).toFixed(2)} s (user ${cpu.user.toFixed(2)} + sys ${cpu.sys.toFixed(2)})  ${Math.round(report.records / (cpu.user + cpu.sys)).toLocaleString('en-US')} records per CPU second`);
// The machine's load when the join started: on 2 shared cores it moves the figures by ±30% (compare runs of like load).
console.log(`bench:join  load average ${load.toFixed(2)} at the start (${os.availableParallelism()} cores)`);
if (args.includes('--sha')) console.log(`bench:join  sha256 ${await sha256(join(dir, `joined.${format}`))}`);
if (!args.includes('--keep') && data === undefined) await rm(dir, { recursive: true, force: true });
else console.log(`kept ${dir}`);
if (report.records !== n || report.succeeded + report.failed !== n || maxRssMB >= 300) process.exitCode = 1;

async function readMarker() {
  if (!existsSync(marker)) return undefined;
  return JSON.parse(await readFile(marker, 'utf8')).records;
}

async function generate() {
  if (data !== undefined) {
    await mkdir(dir, { recursive: true });
    await rm(marker, { force: true });
  }
  // Seeded Fisher–Yates permutation: the emulator and kluster return results in no particular order.
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let seed = 42;
  for (let i = n - 1; i > 0; i--) {
    // Math.imul (a float product loses low bits and cycles every 10,466 draws); j from the high bits.
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = Math.floor((seed / 4294967296) * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const failed = (i) => i % 1000 === 999; // 0.1% in the error file

  const t0 = Date.now();
  await writeLines(join(dir, 'input.jsonl'), n, (i) => JSON.stringify({ id: `rec-${i}`, text: `Review number ${i}: the product was fine, shipping took ${i % 9} days.`, stars: i % 5 }));
  const okIds = order.filter((i) => !failed(i));
  await writeLines(join(dir, 'outputs.jsonl'), okIds.length, (k) => okLine(okIds[k]));
  const errIds = order.filter((i) => failed(i));
  await writeLines(join(dir, 'errors.jsonl'), errIds.length, (k) => errLine(errIds[k]));
  const sizes = await Promise.all(['input.jsonl', 'outputs.jsonl', 'errors.jsonl'].map((f) => stat(join(dir, f)).then((s) => s.size)));
  process.stderr.write(`generated ${n} records + shuffled results in ${((Date.now() - t0) / 1000).toFixed(1)} s (input ${mb(sizes[0])}, outputs ${mb(sizes[1])}, errors ${mb(sizes[2])})\n`);
  if (data !== undefined) await writeFile(marker, JSON.stringify({ records: n }));
}

function sha256(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file).on('data', (c) => hash.update(c)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
  });
}

function mb(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

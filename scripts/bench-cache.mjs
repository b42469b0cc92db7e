#!/usr/bin/env node
// Benchmark (prints figures; not a test): the request cache (issue 14). 1. The store: 1,000,000 entries written in
// batches (writes/s), size on disk, open time, lookups/s (`lookup`, the run's path) of hits and misses in random order.
// 2. Lookups while a run streams: 1,000,000 request lines through the cache diversion prepare uses (the key from the
// line's bytes, sha256, lookup, the hit's result line written from the stored bytes), 90% hits.
// 3. `kbatch run` against `kbatch emulator` on a review CSV with 90% of its answers cached vs none (--no-cache):
// CPU (user+sys) and wall of the kbatch process.
// Targets (issue 14): ≥ 100,000 lookups/s while a run streams. Run `pnpm build` first; needs GNU time (/usr/bin/time).
// Usage: node scripts/bench-cache.mjs [--entries 1000000] [--rows 200000] [--keep]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateReviews } from './lib/review-csv.mjs';
import { startEmulatorProcess, timed } from './lib/bench-processes.mjs';

const { values: args } = parseArgs({
  options: { entries: { type: 'string', default: '1000000' }, rows: { type: 'string', default: '200000' }, keep: { type: 'boolean', default: false } },
});
const ENTRIES = Number(args.entries);
const ROWS = Number(args.rows);
const kbatch = fileURLToPath(new URL('../packages/cli/bin/kbatch.js', import.meta.url));
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const PROMPT = 'Review: {{text}}';
const fmt = (n) => Math.round(n).toLocaleString('en');
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-cache-'));
try {
  await store(join(dir, 'store'));
  await streaming(join(dir, 'stream'));
  if (ROWS > 0) await runs(dir);
} finally {
  if (!args.keep) await rm(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}

/** A chat.completion body like the emulator's (a label and usage). */
function answer(i) {
  return JSON.stringify({ id: `chatcmpl-${i}`, object: 'chat.completion', model: MODEL, choices: [{ index: 0, message: { role: 'assistant', content: i % 2 ? 'positive' : 'negative' }, finish_reason: 'stop' }], usage: { prompt_tokens: 60 + (i % 40), completion_tokens: 1, total_tokens: 61 + (i % 40) } });
}

async function store(cacheDir) {
  console.log(`\n== store: ${fmt(ENTRIES)} entries`);
  let t = performance.now();
  const { openAnswerCache, cacheStats } = await import('../packages/core/dist/cache/answer-cache.js');
  const { requestKey } = await import('../packages/core/dist/cache/request-key.js');
  const importMs = performance.now() - t;
  t = performance.now();
  let cache = await openAnswerCache(cacheDir);
  console.log(`  import ${importMs.toFixed(0)} ms; first open (loads lmdb, creates the files) ${(performance.now() - t).toFixed(0)} ms`);
  const key = (i) => requestKey({ provider: 'kluster', body: { model: MODEL, messages: [{ role: 'user', content: `Review: ${i}` }] } });
  const keys = Array.from({ length: ENTRIES }, (_, i) => key(i));
  const bodies = Array.from({ length: 1000 }, (_, i) => Buffer.from(answer(i)));
  t = performance.now();
  let c = cpu();
  for (let i = 0; i < ENTRIES; i += 10_000) {
    for (let j = i; j < Math.min(ENTRIES, i + 10_000); j++) cache.put(keys[j], bodies[j % 1000]);
    await cache.flush();
  }
  let s = (performance.now() - t) / 1000;
  console.log(`  writes: ${fmt(ENTRIES / s)}/s (batches of 10,000, each committed to disk; ${s.toFixed(1)} s wall, ${(cpu() - c).toFixed(1)} s CPU)`);
  await cache.close();
  t = performance.now();
  cache = await openAnswerCache(cacheDir);
  console.log(`  open (existing, ${fmt(ENTRIES)} entries): ${(performance.now() - t).toFixed(1)} ms`);
  const sample = 500_000;
  const order = Array.from({ length: sample }, (_, i) => keys[(i * 7919) % ENTRIES]);
  const misses = Array.from({ length: sample }, (_, i) => key(ENTRIES + i));
  for (const [name, list] of [['hits', order], ['misses', misses]]) {
    let found = 0;
    t = performance.now();
    c = cpu();
    for (const k of list) if (cache.lookup(k)) found++;
    s = (performance.now() - t) / 1000;
    console.log(`  lookups (${name}, random order): ${fmt(sample / s)}/s (${fmt(found)} found, ${(cpu() - c).toFixed(2)} s CPU)`);
  }
  await cache.close();
  const stats = await cacheStats(cacheDir);
  console.log(`  size on disk: ${(stats.bytes / 1e6).toFixed(0)} MB (${(stats.bytes / ENTRIES).toFixed(0)} bytes an entry; answer bodies ~${bodies[0].length} bytes)`);
  const t0 = performance.now();
  await cacheStats(cacheDir);
  console.log(`  kbatch cache stats: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
}

async function streaming(base) {
  console.log(`\n== lookups while a run streams: ${fmt(ENTRIES)} request lines through the diversion, 90% hits`);
  const { openAnswerCache } = await import('../packages/core/dist/cache/answer-cache.js');
  const { requestKey } = await import('../packages/core/dist/cache/request-key.js');
  const { divertCached } = await import('../packages/core/dist/cache/divert-cached.js');
  const body = (i) => ({ model: MODEL, messages: [{ role: 'user', content: `Review: the battery broke after two weeks, ${i} "quoted" délicieux` }], max_completion_tokens: 5 });
  const cache = await openAnswerCache(join(base, 'cache'));
  for (let i = 0; i < ENTRIES; i += 10_000) {
    for (let j = i; j < Math.min(ENTRIES, i + 10_000); j++) if (j % 10 !== 0) cache.put(requestKey({ provider: 'kluster', body: body(j) }), answer(j));
    await cache.flush();
  }
  async function* lines() {
    let buf = '';
    for (let i = 0; i < ENTRIES; i++) {
      buf += `${JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: body(i) })}\n`;
      if (buf.length > 1 << 20) {
        yield Buffer.from(buf);
        buf = '';
      }
    }
    if (buf) yield Buffer.from(buf);
  }
  // The lines are made first, so only the diversion is timed.
  const chunks = [];
  for await (const chunk of lines()) chunks.push(chunk);
  const diversion = divertCached({ cache, provider: 'kluster', resultsFile: join(base, 'cached.results.jsonl'), keysFile: join(base, 'keys.bin') });
  let sent = 0;
  const t = performance.now();
  const c = cpu();
  await pipeline(Readable.from(chunks), diversion.stream, new Writable({ write(chunk, _e, cb) { for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) sent++; cb(); } }));
  const { cached } = await diversion.finish();
  const s = (performance.now() - t) / 1000;
  console.log(`  ${fmt(ENTRIES / s)} lines/s looked up (${fmt(cached)} answered, ${fmt(sent)} passed on; ${s.toFixed(2)} s wall, ${(cpu() - c).toFixed(2)} s CPU; target ≥ 100,000/s)`);
  await cache.close();
}

async function runs(base) {
  const csv = join(base, 'reviews.csv');
  const first = join(base, 'reviews-90.csv');
  // The generator is seeded row by row: the 90% file is the full file's first 90% of rows.
  await generateReviews(ROWS, csv, { columns: 'text' });
  await generateReviews(Math.round(ROWS * 0.9), first, { columns: 'text' });
  console.log(`\n== kbatch run on ${fmt(ROWS)} rows: 90% of the answers cached vs none`);
  const emulator = await startEmulatorProcess(kbatch, base);
  try {
    const run = (name, input, cacheArgs) =>
      timed(base, ['node', kbatch, 'run', input, '--base-url', emulator.url, '--api-key', 'x', '--model', MODEL, '--prompt', PROMPT,
        '--labels', 'positive,negative', '--poll-interval', '100ms', '--output', join(base, `${name}.jsonl`), '--quiet', '--job-dir', join(base, name), ...cacheArgs]);
    const cacheArgs = ['--cache-dir', join(base, 'run-cache')];
    const fill = await run('fill', first, cacheArgs);
    console.log(`  filling the cache (${fmt(ROWS * 0.9)} rows, empty cache): ${fill.cpu.toFixed(2)} s CPU, ${fill.seconds.toFixed(1)} s wall`);
    const cached = await run('cached', csv, cacheArgs);
    const none = await run('none', csv, ['--no-cache']);
    console.log(`  90% cached: ${cached.cpu.toFixed(2)} s CPU, ${cached.seconds.toFixed(1)} s wall, peak RSS ${cached.rssMb.toFixed(0)} MB`);
    console.log(`  none cached (--no-cache): ${none.cpu.toFixed(2)} s CPU, ${none.seconds.toFixed(1)} s wall, peak RSS ${none.rssMb.toFixed(0)} MB`);
    console.log(`  ratio cached/none: CPU x${(cached.cpu / none.cpu).toFixed(2)}, wall x${(cached.seconds / none.seconds).toFixed(2)}`);
  } finally {
    await emulator.stop();
  }
}

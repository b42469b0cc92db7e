#!/usr/bin/env node
// Benchmark: kbatch's Gemini adapter uploads a large chunk converted line by line (run `pnpm build` first).
// The emulator (Gemini personality) runs in a child process; the upload runs here and samples this process's RSS,
// so the figure is the adapter's alone. Target: peak RSS − baseline stays near the 8 MiB request size, whatever the
// chunk size. Prints MB/s and this process's CPU seconds (user+sys) for the conversion and upload.
// Usage: node --expose-gc scripts/bench-gemini-upload.mjs [--size-mb 256]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { 'size-mb': { type: 'string', default: '256' } } });
const lines = Math.ceil((Number(args['size-mb']) * 1024 * 1024) / 445);
const emulatorUrl = new URL('../packages/emulator/dist/index.js', import.meta.url).href;
const { createClient } = await import(new URL('../packages/core/dist/index.js', import.meta.url).href);

const child = spawn(process.execPath, ['--input-type=module', '-e', `const { startEmulator } = await import(${JSON.stringify(emulatorUrl)});
const emu = await startEmulator({ provider: 'gemini', maxBatchBytes: 4 * 1024 ** 3 });
process.stdout.write(emu.baseURL + '\\n');
process.on('SIGTERM', () => emu.close().then(() => process.exit(0)));`], { stdio: ['ignore', 'pipe', 'inherit'] });
const baseURL = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())));

const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-gemini-'));
const file = join(dir, 'part-00001.jsonl');
const body = (i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gemini-2.5-flash', messages: [{ role: 'system', content: 'Label.' }, { role: 'user', content: `Review ${i}: ${'é'.repeat(100)} "q"` }], temperature: 0, max_completion_tokens: 5 } });
{
  const out = createWriteStream(file);
  for (let i = 0; i < lines; i++) if (!out.write(`${body(i)}\n`)) await once(out, 'drain');
  await new Promise((resolve) => out.end(resolve));
}
const hash = createHash('sha256');
let bytes = 0;
for await (const chunk of createReadStream(file)) (hash.update(chunk), (bytes += chunk.length));

globalThis.gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
const client = createClient({ provider: 'gemini', apiKey: 'bench', baseURL });
const cpu = process.cpuUsage();
const start = performance.now();
const uploaded = await client.uploadBatchInput(file, { expectedSha256: hash.digest('hex') });
const seconds = (performance.now() - start) / 1000;
const used = process.cpuUsage(cpu);
clearInterval(sampler);
const mb = (n) => (n / 1024 / 1024).toFixed(1);
console.log(`gemini upload: ${mb(bytes)} MB chunk (${lines} requests) → ${uploaded.id.split('#')[0]} in ${seconds.toFixed(1)} s (${(bytes / 1024 / 1024 / seconds).toFixed(0)} MB/s)`);
console.log(`  CPU ${((used.user + used.system) / 1e6).toFixed(2)} s (user+sys, this process); peak RSS − baseline: ${mb(peak - baseline)} MB`);
child.kill('SIGTERM');
await rm(dir, { recursive: true, force: true });

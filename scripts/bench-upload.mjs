#!/usr/bin/env node
// Benchmark: kbatch uploads a large chunk with backpressure (run `pnpm build` first).
// A deliberately slow local sink server (default 150 MB/s, slower than the disk) receives the multipart upload;
// kbatch's uploadFile() runs in a child process that samples its own RSS, so the figure is kbatch's alone.
// Target: peak RSS − baseline ≤ ~100 MB for a 1 GB chunk. `--via sdk` runs openai's files.create instead, for
// comparison (on Node 20 its fetch buffers the body: expect roughly the file size). `--via together` runs the Together
// adapter's upload (announce, then a PUT of the raw bytes to the sink as its presigned URL).
// Usage: node scripts/bench-upload.mjs [--size-mb 1024] [--rate-mbps 150] [--via kbatch|sdk|together]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    'rate-mbps': { type: 'string', default: '150' },
    via: { type: 'string', default: 'kbatch' },
  },
});
const size = Number(args['size-mb']) * 1024 * 1024;
const rate = Number(args['rate-mbps']) * 1024 * 1024;
const coreUrl = new URL('../packages/core/dist/index.js', import.meta.url).href;

// 1. A chunk file of request lines on disk.
const dir = await mkdtemp(join(tmpdir(), 'kbatch-bench-upload-'));
const file = join(dir, 'part-00001.jsonl');
{
  const line = `${JSON.stringify({ custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'y'.repeat(200) }] } })}\n`;
  const block = Buffer.from(line.repeat(Math.ceil((1 << 20) / line.length)));
  const handle = await open(file, 'w');
  for (let written = 0; written < size; ) {
    const n = Math.min(block.length, size - written);
    await handle.write(block, 0, n);
    written += n;
  }
  await handle.close();
}

// 2. The slow sink: reads at `rate` bytes/s by pausing the request, then answers like POST /v1/files.
let received = 0;
const server = createServer((req, res) => {
  // Together's flow: the announcement redirects to the sink (the PUT below), and the file is read back by GET.
  if (req.method === 'POST' && req.url.startsWith('/v1/files?')) {
    req.resume();
    return void res.writeHead(302, { location: `${baseURL}/presigned/file-bench`, 'x-together-file-id': 'file-bench' }).end();
  }
  if (req.method === 'GET') {
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'file-bench', object: 'file', bytes: received, created_at: 1, filename: 'part-00001.jsonl', purpose: 'batch-api' }));
  }
  let windowStart = Date.now();
  let windowBytes = 0;
  req.on('data', (chunk) => {
    received += chunk.length;
    windowBytes += chunk.length;
    const due = windowStart + (windowBytes / rate) * 1000;
    const wait = due - Date.now();
    if (wait > 5) {
      req.pause();
      setTimeout(() => req.resume(), wait);
    }
    if (windowBytes > 64 * 1024 * 1024) {
      windowStart = Date.now();
      windowBytes = 0;
    }
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'file-bench', object: 'file', bytes: received, created_at: Math.floor(Date.now() / 1000), filename: 'part-00001.jsonl', purpose: 'batch' }));
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const baseURL = `http://127.0.0.1:${server.address().port}/v1`;

// 3. kbatch in a child process, sampling its own RSS every 20 ms.
const childCode = `
const core = await import(${JSON.stringify(coreUrl)});
const client = core.createKlusterClient({ apiKey: 'bench', baseURL: ${JSON.stringify(baseURL)}, maxRetries: 0, ...(${JSON.stringify(args.via)} === 'together' ? { provider: 'together' } : {}) });
globalThis.gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
const started = Date.now();
let id;
if (${JSON.stringify(args.via)} === 'sdk') {
  const { createReadStream } = await import('node:fs');
  id = (await client.files.create({ file: createReadStream(${JSON.stringify(file)}), purpose: 'batch' })).id;
} else if (${JSON.stringify(args.via)} === 'together') {
  id = (await client.uploadBatchInput(${JSON.stringify(file)}, {})).id;
} else {
  id = (await core.uploadFile(client, ${JSON.stringify(file)}, { purpose: 'batch' })).id;
}
clearInterval(timer);
peak = Math.max(peak, process.memoryUsage().rss);
process.stdout.write(JSON.stringify({ id, baseline, peak, ms: Date.now() - started }));
`;
const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', childCode], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (d) => (out += d));
const code = await new Promise((r) => child.on('close', r));
server.close();
await rm(dir, { recursive: true, force: true });
if (code !== 0) {
  console.error(`upload child exited with ${code}`);
  process.exit(1);
}
const m = JSON.parse(out);
const mb = (n) => (n / 1024 / 1024).toFixed(1);
console.log(`upload via ${args.via}: ${mb(size)} MB to a ${args['rate-mbps']} MB/s sink in ${(m.ms / 1000).toFixed(1)} s (server received ${mb(received)} MB)`);
console.log(`kbatch RSS: baseline ${mb(m.baseline)} MB, peak ${mb(m.peak)} MB, increase ${mb(m.peak - m.baseline)} MB (target ≤ ~100 MB)`);

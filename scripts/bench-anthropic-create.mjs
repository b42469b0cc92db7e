#!/usr/bin/env node
// Benchmark: the emulator's anthropic personality reads a large Message Batches create (`{"requests":[…]}`) as it
// streams (run `pnpm build` first). The emulator runs in a child process so its memory is measured alone: VmRSS
// before, VmHWM (peak RSS) once the create is answered, and its CPU seconds (user+sys) for the create. Requests are
// held back (long validation) so only the create is measured.
// Usage: node scripts/bench-anthropic-create.mjs [--size-mb 200] [--emulator path/to/emulator/dist/index.js]
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { processUsage, resetPeak, startEmulatorProcess } from './lib/emulator-process.mjs';

const { values: args } = parseArgs({ options: { 'size-mb': { type: 'string', default: '200' }, emulator: { type: 'string' } } });
const emulatorUrl = args.emulator ? pathToFileURL(args.emulator).href : new URL('../packages/emulator/dist/index.js', import.meta.url).href;
const KEY = 'sk-ant-bench';

// ~2.2 KB per request: 200 MB is about 95,000 requests (Anthropic's limits: 100,000 requests, 256 MB).
const requestText = (i) => JSON.stringify({ custom_id: `r${i}`, params: { model: 'claude-haiku-5-5', max_tokens: 5, messages: [{ role: 'user', content: `Answer with one of these labels: yes, no. ${'é lorem ipsum '.repeat(150)} ${i}` }] } });
const perRequest = Buffer.byteLength(requestText(50_000)) + 1;
const count = Math.min(100_000, Math.floor((Number(args['size-mb']) * 1024 * 1024) / perRequest));
let size = 0;

const { child, baseURL } = await startEmulatorProcess(emulatorUrl, { provider: 'anthropic', apiKey: KEY, maxRequestsPerBatch: 100000, maxBatchBytes: 256000000, validationMs: 3600000 });
await resetPeak(child.pid);
const before = await processUsage(child.pid);

// The body generated as it is sent, 64 KB at a time (the client holds no more than that).
function body() {
  const bytes = (text) => {
    const b = Buffer.from(text);
    size += b.length;
    return b;
  };
  return Readable.from((function* () {
    yield bytes('{"requests":[');
    let block = '';
    for (let i = 0; i < count; i++) {
      block += (i === 0 ? '' : ',') + requestText(i);
      if (block.length >= 1 << 16) {
        yield bytes(block);
        block = '';
      }
    }
    yield bytes(`${block}]}`);
  })(), { objectMode: false });
}

const started = process.hrtime.bigint();
const result = await new Promise((resolve, reject) => {
  const req = request(`${baseURL}/v1/messages/batches`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2026-10-21' } }, (res) => {
    let text = '';
    res.on('data', (d) => (text += d));
    res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
  });
  req.on('error', reject);
  body().pipe(req);
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const after = await processUsage(child.pid);
child.kill('SIGTERM');

const mb = (n) => (n / 1024 / 1024).toFixed(1);
console.log(`create: ${count} requests, ${mb(size)} MB in ${seconds.toFixed(2)} s wall, status ${result.status}, processing ${result.body.request_counts?.processing}`);
console.log(`emulator RSS: ${mb(before.rss)} MB before, peak ${mb(after.hwm)} MB (peak − before: ${mb(after.hwm - before.rss)} MB); CPU ${(after.cpu - before.cpu).toFixed(2)} s (user+sys)`);

#!/usr/bin/env node
// Benchmark: a large multipart upload to the emulator is streamed to disk (run `pnpm build` first).
// The emulator runs in a child process so its memory is measured alone: baseline VmRSS before the upload,
// VmHWM (peak RSS) after it, target: peak − baseline ≤ ~50 MB for a 1 GB upload. The client streams with
// node:http + backpressure, so it stays flat too.
// Usage: node scripts/bench-emulator-upload.mjs [--size-mb 1024]
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { processUsage, resetPeak, startEmulatorProcess } from './lib/emulator-process.mjs';

const { values: args } = parseArgs({ options: { 'size-mb': { type: 'string', default: '1024' } } });
const size = Number(args['size-mb']) * 1024 * 1024;
const emulatorUrl = new URL('../packages/emulator/dist/index.js', import.meta.url).href;

const { child, baseURL } = await startEmulatorProcess(emulatorUrl);
await resetPeak(child.pid);
const before = await processUsage(child.pid);

function generated(bytes) {
  const line = `${JSON.stringify({ custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'y'.repeat(100) }] } })}\n`;
  const chunk = Buffer.from(line.repeat(Math.ceil(65536 / line.length)).slice(0, 65536));
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(Buffer.from(chunk.subarray(0, n)));
    },
  });
}

const boundary = `----bench${Date.now()}`;
const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n`);
const tail = Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}--\r\n`);
const started = process.hrtime.bigint();
let clientPeak = process.memoryUsage().rss;
const sampler = setInterval(() => (clientPeak = Math.max(clientPeak, process.memoryUsage().rss)), 50);
const result = await new Promise((resolve, reject) => {
  const req = request(`${baseURL}/files`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + size + tail.length },
  }, (res) => {
    let text = '';
    res.on('data', (d) => (text += d));
    res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
  });
  req.on('error', reject);
  req.write(head);
  const body = generated(size);
  body.on('end', () => req.end(tail));
  body.pipe(req, { end: false });
});
clearInterval(sampler);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const after = await processUsage(child.pid);
child.kill('SIGTERM');

const mb = (n) => (n / 1024 / 1024).toFixed(1);
console.log(`upload: ${mb(size)} MB in ${seconds.toFixed(2)} s (${(size / 1024 / 1024 / seconds).toFixed(0)} MB/s), status ${result.status}, bytes ${result.body.bytes}`);
console.log(`emulator RSS: baseline ${mb(before.rss)} MB, peak ${mb(after.hwm)} MB, growth ${mb(after.hwm - before.rss)} MB (target ≤ 50 MB)`);
console.log(`client RSS peak: ${mb(clientPeak)} MB`);
if (result.status !== 200 || result.body.bytes !== size) process.exitCode = 1;

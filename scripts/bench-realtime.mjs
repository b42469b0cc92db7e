#!/usr/bin/env node
// Benchmark of the realtime engine against the local emulator (run `pnpm build` first).
//  1. throughput: 1,000 requests at concurrency 64 with 20 ms of added latency → req/s, the ideal
//     (concurrency / latency), their ratio (target ≥ 0.8) and peak RSS; then 10× the requests to
//     show memory stays flat.
//  2. rpm: N requests at --rpm R, timestamps taken on the emulator side (its responder hook) →
//     measured rate vs the limit (target within 5%).
// Usage: node scripts/bench-realtime.mjs [--requests 1000] [--concurrency 64] [--latency 20]
//                                        [--rpm 600] [--rpm-requests 300] [--skip-rpm]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '64' },
    latency: { type: 'string', default: '20' },
    rpm: { type: 'string', default: '600' },
    'rpm-requests': { type: 'string', default: '300' },
    'skip-rpm': { type: 'boolean', default: false },
  },
});
const requests = Number(args.requests);
const concurrency = Number(args.concurrency);
const latencyMs = Number(args.latency);

const root = new URL('..', import.meta.url);
const { runRealtime } = await import(new URL('packages/core/dist/index.js', root).href);
const { startEmulator } = await import(new URL('packages/emulator/dist/index.js', root).href);
const { default: OpenAI } = await import(createRequire(new URL('packages/core/package.json', root)).resolve('openai'));

const arrivals = [];
const emu = await startEmulator({
  seed: 1,
  faults: { latencyMs, routes: ['POST /v1/chat/completions'] },
  responder: (body) => {
    arrivals.push(performance.now());
    return `answer to ${body.messages.at(-1).content.length} chars`;
  },
});
const openai = new OpenAI({ apiKey: 'bench', baseURL: emu.baseURL });

function* lines(n, prefix) {
  for (let i = 0; i < n; i++) {
    yield {
      custom_id: `${prefix}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', messages: [{ role: 'user', content: `Question number ${i}: what is ${i} + ${i}?` }] },
    };
  }
}

async function run(n, prefix, options) {
  let ok = 0;
  let failed = 0;
  const start = performance.now();
  for await (const line of runRealtime({ requests: lines(n, prefix), client: openai.chat.completions, ...options })) {
    if (line.response?.status_code === 200) ok++;
    else failed++;
  }
  return { ok, failed, seconds: (performance.now() - start) / 1000 };
}

const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;
const rssNow = () => process.memoryUsage().rss / 1024;
try {
  await run(200, 'warmup', { concurrency });
  const t = await run(requests, 'bench', { concurrency });
  const ideal = concurrency / (latencyMs / 1000);
  const throughput = t.ok / t.seconds;
  const peak1 = process.resourceUsage().maxRSS;
  console.log(`throughput: ${t.ok} ok / ${t.failed} failed in ${t.seconds.toFixed(2)} s = ${throughput.toFixed(0)} req/s`);
  console.log(`ideal:      ${concurrency} / ${latencyMs} ms = ${ideal.toFixed(0)} req/s`);
  console.log(`ratio:      ${(throughput / ideal).toFixed(2)} (target >= 0.80) ${throughput / ideal >= 0.8 ? 'OK' : 'BELOW TARGET'}`);
  console.log(`emulator:   max concurrent chat requests ${emu.stats().maxConcurrentChat} (limit ${concurrency})`);
  console.log(`peak RSS:   ${mb(peak1)} after ${requests} requests (bench and emulator share this process)`);
  const t10 = await run(requests * 10, 'flat', { concurrency });
  console.log(
    `flat mem:   ${requests * 10} more requests at ${(t10.ok / t10.seconds).toFixed(0)} req/s → peak RSS ${mb(process.resourceUsage().maxRSS)}, now ${mb(rssNow())}`,
  );

  if (!args['skip-rpm']) {
    const rpm = Number(args.rpm);
    const n = Number(args['rpm-requests']);
    arrivals.length = 0;
    const r = await run(n, 'rpm', { concurrency, rpm });
    const span = (arrivals.at(-1) - arrivals[0]) / 60_000;
    const measured = (arrivals.length - 1) / span;
    const error = (measured - rpm) / rpm;
    console.log(
      `rpm:        limit ${rpm}, ${r.ok} requests over ${(span * 60).toFixed(1)} s measured at the emulator = ${measured.toFixed(1)} rpm (${(error * 100).toFixed(2)}%, target within ±5%) ${Math.abs(error) <= 0.05 ? 'OK' : 'OFF TARGET'}`,
    );
  }
} finally {
  await emu.close();
}

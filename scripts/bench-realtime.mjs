#!/usr/bin/env node
// Benchmark of the realtime engine (runRealtime) against the local emulator (run `pnpm build` first).
// The emulator runs in a child process, so the figures below are the client's own CPU and memory.
//  1. throughput: --requests (1,000) at --concurrency (64) with --latency (20 ms) added by the emulator
//     → req/s, the ideal (concurrency / latency), their ratio (target ≥ 0.8), emulator-side peak
//     concurrency, peak RSS; then 10× the requests to show memory stays flat.
//  2. rpm: --rpm-requests (300) at --rpm (600, i.e. ~30 s), arrival times taken on the emulator side
//     (its responder hook) → measured rate vs the limit (target within ±5%).
//  3. faults: --fault-requests (2,000) at --fault-concurrency (16) against --fault-latency (30 ms), ordered, three
//     runs back to back, --fault-rounds (5) times: clean, 5% 429s (Retry-After: 1), 5% 429s + 3% dropped connections
//     (--rate-429, --retry-after, --drop-rate) → each faulty run's throughput as a fraction of the clean one's just
//     before it, and the median of the last fraction over the rounds (target ≥ 0.6), with where the time goes (when
//     the last request answered at its first attempt was done: the rest is the retries' tail),
//     emulator-side peak in-flight (must not exceed the concurrency), client CPU; then --rpm-requests at --rpm, and
//     as many at --tpm, under the same faults (attempts' send times and tokens vs the limit, ±5%; --skip-rpm and
//     --skip-tpm skip one each); --faults-only runs just this. The emulator's faults come from one seeded stream
//     (--seed, default 1): the k-th attempt it receives meets the same fault in every run with the same seed, so
//     round r is the same draw from run to run.
//  The client goes through realtimeClientFor with --transport direct (runRealtimeJob's default:
//  createDirectChat, the SDK's headers and errors over one undici pool), undici-fetch (the SDK over
//  createUndiciFetch) or sdk (the SDK on Node's fetch); each round prints CPU µs per request of client
//  and emulator (the figure that survives a busy machine: throughput ratios swing with the load average,
//  printed at start and end). A bare node:http server child ("minimal") shows whether the emulator is the limit.
// Usage: node scripts/bench-realtime.mjs [--requests 1000] [--concurrency 64] [--latency 20] [--rounds 5]
//                                        [--rpm 600] [--rpm-requests 300] [--skip-rpm] [--skip-tpm] [--skip-minimal]
//                                        [--transport direct|undici-fetch|sdk] [--skip-faults] [--faults-only]
//                                        [--fault-requests 2000] [--fault-concurrency 16] [--fault-latency 30] [--fault-rounds 5]
//                                        [--rate-429 0.05] [--retry-after 1] [--drop-rate 0.03] [--tpm 12000] [--seed 1]
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const root = new URL('..', import.meta.url);
const CHAT = 'POST /v1/chat/completions';

if (process.argv[2] === '--minimal-child') {
  // A bare node:http server answering every chat request after the same latency: the client's
  // cost without the emulator's (routing, validation, responder, stats).
  const { createServer } = await import('node:http');
  const latencyMs = Number(process.argv[3]);
  let n = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString());
      setTimeout(() => {
        const body = JSON.stringify({ id: `chatcmpl-${n++}`, object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 } });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }, latencyMs);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ baseURL: `http://127.0.0.1:${server.address().port}/v1` }));
  process.on('message', (msg) => {
    if (msg === 'close') process.exit(0);
    if (msg === 'report') process.send({ cpuMicros: process.cpuUsage().user + process.cpuUsage().system });
  });
} else if (process.argv[2] === '--emulator-child') {
  const { startEmulator } = await import(new URL('packages/emulator/dist/index.js', root).href);
  let arrivals = [];
  const emu = await startEmulator({
    seed: Number(process.argv[4] ?? 1),
    faults: { latencyMs: Number(process.argv[3]), routes: [CHAT] },
    responder: (body) => {
      arrivals.push(performance.now());
      return `answer to a question of ${body.messages.at(-1).content.length} characters`;
    },
  });
  process.on('message', async (msg) => {
    if (msg?.faults) {
      emu.setFaults(msg.faults);
      process.send({ stats: emu.stats() });
    }
    if (msg === 'report') {
      const cpu = process.cpuUsage();
      process.send({ arrivals, stats: emu.stats(), maxRSS: process.resourceUsage().maxRSS, cpuMicros: cpu.user + cpu.system });
      arrivals = [];
    }
    if (msg === 'close') {
      await emu.close();
      process.exit(0);
    }
  });
  process.send({ baseURL: emu.baseURL });
} else {
  await main();
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      requests: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '64' },
      latency: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '5' },
      rpm: { type: 'string', default: '600' },
      'rpm-requests': { type: 'string', default: '300' },
      'skip-rpm': { type: 'boolean', default: false },
      'skip-tpm': { type: 'boolean', default: false },
      'skip-minimal': { type: 'boolean', default: false },
      transport: { type: 'string', default: 'direct' },
      'skip-faults': { type: 'boolean', default: false },
      'faults-only': { type: 'boolean', default: false },
      'fault-requests': { type: 'string', default: '2000' },
      'fault-rounds': { type: 'string', default: '5' },
      tpm: { type: 'string', default: '12000' },
      seed: { type: 'string', default: '1' },
      'fault-concurrency': { type: 'string', default: '16' },
      'fault-latency': { type: 'string', default: '30' },
      'rate-429': { type: 'string', default: '0.05' },
      'retry-after': { type: 'string', default: '1' },
      'drop-rate': { type: 'string', default: '0.03' },
    },
  });
  const requests = Number(args.requests);
  const concurrency = Number(args.concurrency);
  const latencyMs = Number(args.latency);

  const { runRealtime, createUndiciFetch, realtimeClientFor, estimateTokens } = await import(new URL('packages/core/dist/internal.js', root).href);
  const { default: OpenAI } = await import(createRequire(new URL('packages/core/package.json', root)).resolve('openai'));
  if (args['faults-only']) {
    console.log(`node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    await faultRounds(args, { runRealtime, realtimeClientFor, estimateTokens, OpenAI });
    console.log(`load avg:   ${loadavg().map((l) => l.toFixed(2)).join(' ')} (1/5/15 min) at the end`);
    return;
  }

  const child = fork(fileURLToPath(import.meta.url), ['--emulator-child', String(latencyMs)], { stdio: 'inherit' });
  const nextMessage = () => new Promise((resolve) => child.once('message', resolve));
  const { baseURL } = await nextMessage();
  const report = async () => {
    const reply = nextMessage();
    child.send('report');
    return reply;
  };
  // The engine's client as runRealtimeJob makes it; the baseline loop uses the SDK over createUndiciFetch.
  const transported = realtimeClientFor(new OpenAI({ apiKey: 'bench', baseURL }), { connections: concurrency, transport: args.transport });
  const customFetch = createUndiciFetch({ connections: concurrency });
  const openai = new OpenAI({ apiKey: 'bench', baseURL, fetch: customFetch });

  function* lines(n, prefix) {
    for (let i = 0; i < n; i++) {
      yield {
        custom_id: `${prefix}-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', messages: [{ role: 'user', content: `Question ${i}: what is ${i} + ${i}?` }] },
      };
    }
  }
  async function run(n, prefix, options) {
    let ok = 0;
    let failed = 0;
    const start = performance.now();
    for await (const line of runRealtime({ requests: lines(n, prefix), client: transported.client, ...options })) {
      if (line.response?.status_code === 200) ok++;
      else failed++;
    }
    return { ok, failed, seconds: (performance.now() - start) / 1000 };
  }
  const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const liveHeap = () => {
    gc();
    return `${(process.memoryUsage().heapUsed / 1048576).toFixed(1)} MB`;
  };

  try {
    console.log(`node ${process.version}, emulator in a child process, ${latencyMs} ms added latency, concurrency ${concurrency}, transport: ${transported.transport}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    await run(3000, 'warmup', { concurrency }); // let the JIT settle
    await report();
    const ideal = concurrency / (latencyMs / 1000);
    const ratios = [];
    let emuCpu = (await report()).cpuMicros;
    for (let round = 1; round <= Number(args.rounds); round++) {
      const cpu0 = process.cpuUsage();
      const t = await run(requests, `bench${round}`, { concurrency });
      const cpu1 = process.cpuUsage(cpu0);
      const { stats, cpuMicros } = await report();
      const cpu = `CPU/request: client ${((cpu1.user + cpu1.system) / requests).toFixed(0)} µs, emulator ${((cpuMicros - emuCpu) / requests).toFixed(0)} µs`;
      emuCpu = cpuMicros;
      const throughput = t.ok / t.seconds;
      ratios.push(throughput / ideal);
      console.log(
        `round ${round}: ${t.ok} ok / ${t.failed} failed in ${t.seconds.toFixed(3)} s = ${throughput.toFixed(0)} req/s, ratio ${(throughput / ideal).toFixed(2)} (emulator max concurrent chat: ${stats.maxConcurrentChat}); ${cpu}`,
      );
    }
    // Baseline: the same SDK client driven by a bare 64-worker loop (no engine), to separate the
    // engine's cost from the SDK's and the machine's.
    const bodies = [...lines(requests, 'raw')].map((l) => l.body);
    let next = 0;
    const rawStart = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < bodies.length) await openai.chat.completions.create(bodies[next++], { maxRetries: 0 });
      }),
    );
    const raw = requests / ((performance.now() - rawStart) / 1000);
    await report();
    console.log(`baseline:   bare SDK loop (SDK over createUndiciFetch), same concurrency, no engine: ${raw.toFixed(0)} req/s, ratio ${(raw / ideal).toFixed(2)}`);
    ratios.sort((a, b) => a - b);
    const median = ratios[Math.floor(ratios.length / 2)];
    // Engine alone: a fake client answering after a ${latencyMs} ms timer, no HTTP and no SDK.
    const fake = { create: () => new Promise((resolve) => setTimeout(() => resolve({ choices: [] }), latencyMs)) };
    const fakeStart = performance.now();
    for await (const _ of runRealtime({ requests: lines(requests * 3, 'fake'), client: fake, concurrency }));
    const fakeRate = (requests * 3) / ((performance.now() - fakeStart) / 1000);
    console.log(`engine:     fake client (${latencyMs} ms timer, no HTTP): ${fakeRate.toFixed(0)} req/s, ratio ${(fakeRate / ideal).toFixed(2)}`);
    if (!args['skip-minimal']) {
      // The same engine and client against a bare HTTP server (no emulator overheads).
      const minimal = fork(fileURLToPath(import.meta.url), ['--minimal-child', String(latencyMs)], { stdio: 'inherit' });
      const { baseURL: minimalURL } = await new Promise((resolve) => minimal.once('message', resolve));
      const minimalClient = realtimeClientFor(new OpenAI({ apiKey: 'bench', baseURL: minimalURL }), { connections: concurrency, transport: args.transport });
      const rates = [];
      for (let round = 0; round < Number(args.rounds) + 1; round++) {
        const start = performance.now();
        for await (const _ of runRealtime({ requests: lines(requests, `min${round}`), client: minimalClient.client, concurrency }));
        if (round > 0) rates.push(requests / ((performance.now() - start) / 1000)); // round 0 warms the new connections
      }
      minimal.send('close');
      await minimalClient.close();
      console.log(`minimal:    bare node:http server child, same engine and client: ${rates.map((r) => `${r.toFixed(0)} req/s (${(r / ideal).toFixed(2)})`).join(', ')}`);
    }
    console.log(`ideal:      ${concurrency} / ${latencyMs} ms = ${ideal.toFixed(0)} req/s`);
    console.log(`ratio:      median ${median.toFixed(2)}, best ${ratios.at(-1).toFixed(2)} (target >= 0.80) ${median >= 0.8 ? 'OK' : 'BELOW TARGET'}`);
    const peak = process.resourceUsage().maxRSS;
    const heap = liveHeap();
    console.log(`peak RSS:   client ${mb(peak)} after ${Number(args.rounds) * requests + 3000} requests (live heap after GC ${heap})`);
    const t10 = await run(requests * 10, 'flat', { concurrency });
    const emuReport = await report();
    console.log(
      `flat mem:   ${requests * 10} more requests at ${(t10.ok / t10.seconds).toFixed(0)} req/s → client peak RSS ${mb(process.resourceUsage().maxRSS)} (was ${mb(peak)}), live heap after GC ${liveHeap()} (was ${heap}); emulator peak RSS ${mb(emuReport.maxRSS)}`,
    );

    if (!args['skip-rpm']) {
      const rpm = Number(args.rpm);
      const n = Number(args['rpm-requests']);
      const r = await run(n, 'rpm', { concurrency, rpm });
      const { arrivals } = await report();
      const minutes = (arrivals.at(-1) - arrivals[0]) / 60_000;
      const measured = (arrivals.length - 1) / minutes;
      const error = (measured - rpm) / rpm;
      console.log(
        `rpm:        limit ${rpm}: ${r.ok} requests arrived over ${(minutes * 60).toFixed(1)} s (emulator clock) = ${measured.toFixed(1)} rpm, ${(error * 100).toFixed(2)}% off (target within ±5%) ${Math.abs(error) <= 0.05 ? 'OK' : 'OFF TARGET'}`,
      );
    }
    if (!args['skip-faults']) await faultRounds(args, { runRealtime, realtimeClientFor, estimateTokens, OpenAI });
    console.log(`load avg:   ${loadavg().map((l) => l.toFixed(2)).join(' ')} (1/5/15 min) at the end`);
  } finally {
    await customFetch.close();
    await transported.close();
    child.send('close');
  }
}

/**
 * --tpm under the emulator's current faults: each attempt is charged what the limiter charges it (the answer's
 * usage; nothing for an HTTP error, which generated nothing; the estimate for a dropped connection). The limiter
 * lets one second of tokens go at once (its bucket), so the rate is taken after the first second, like rpm's
 * (sends − 1) / span: tokens sent after it over the time from it to the last send.
 */
async function tpmRound({ args, runRealtime, estimateTokens, client, requests, concurrency }) {
  const tpm = Number(args.tpm);
  const charges = [];
  const create = async (body, options) => {
    const at = performance.now();
    try {
      const answer = await client.create(body, options);
      charges.push([at, answer?.usage?.total_tokens ?? estimateTokens(body)]);
      return answer;
    } catch (err) {
      charges.push([at, typeof err?.status === 'number' ? 0 : estimateTokens(body)]);
      throw err;
    }
  };
  let ok = 0;
  for await (const line of runRealtime({ requests, client: { ...client, releasesSignal: client.releasesSignal, create }, concurrency, tpm, retries: 10 })) if (line.response?.status_code === 200) ok++;
  charges.sort((a, b) => a[0] - b[0]);
  const from = charges[0][0] + 1000;
  const span = charges.at(-1)[0] - from;
  const tokens = charges.filter(([at]) => at > from && at < charges.at(-1)[0]).reduce((sum, [, t]) => sum + t, 0);
  const measured = tokens / (span / 60_000);
  const error = (measured - tpm) / tpm;
  console.log(`  tpm:       limit ${tpm} with the same faults: ${charges.length} attempts for ${ok} answers, ${(span / 1000).toFixed(1)} s after the first second at ${measured.toFixed(0)} tpm, ${(error * 100).toFixed(2)}% off (target within ±5%) ${Math.abs(error) <= 0.05 ? 'OK' : 'OFF TARGET'}`);
}

/**
 * Clean vs faulty rounds back to back against their own emulator child (ordered runRealtime, the engine's
 * defaults): a 429 must delay its own request only, so the faulty rounds should keep ≥ 0.6 of the clean throughput.
 */
async function faultRounds(args, { runRealtime, realtimeClientFor, estimateTokens, OpenAI }) {
  const n = Number(args['fault-requests']);
  const concurrency = Number(args['fault-concurrency']);
  const latencyMs = Number(args['fault-latency']);
  const rate429 = Number(args['rate-429']);
  const retryAfterSeconds = Number(args['retry-after']);
  const dropRate = Number(args['drop-rate']);
  const child = fork(fileURLToPath(import.meta.url), ['--emulator-child', String(latencyMs), args.seed], { stdio: 'inherit' });
  const ask = (msg) => {
    const reply = new Promise((resolve) => child.once('message', resolve));
    child.send(msg);
    return reply;
  };
  const { baseURL } = await new Promise((resolve) => child.once('message', resolve));
  const transported = realtimeClientFor(new OpenAI({ apiKey: 'bench', baseURL }), { connections: concurrency, transport: args.transport });
  const lines = function* (prefix) {
    for (let i = 0; i < n; i++) {
      yield { custom_id: `${prefix}-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', messages: [{ role: 'user', content: `Question ${i}: what is ${i} + ${i}?` }] } };
    }
  };
  const round = async (prefix, faults) => {
    await ask({ faults: { rate429: 0, dropRate: 0, ...faults, retryAfterSeconds } });
    const emu0 = await ask('report');
    const counts = { ok: 0, failed: 0, retries: 0, rateLimited: 0, dropped: 0, minLimit: concurrency, firstDone: 0 };
    // Where the time goes: when the last request answered at its first attempt was done; after it, only retries run.
    const retried = new Set();
    const onEvent = (e) => {
      if (e.type === 'answered' && !retried.has(e.customId)) counts.firstDone = performance.now();
      if (e.type === 'retry') {
        retried.add(e.customId);
        counts.retries++;
        if (e.kind === 'rate_limited') counts.rateLimited++;
        if (e.kind === 'connection_error') counts.dropped++;
      }
      if (e.type === 'concurrency') counts.minLimit = Math.min(counts.minLimit, e.limit);
    };
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    for await (const line of runRealtime({ requests: lines(prefix), client: transported.client, concurrency, retries: 10, onEvent })) {
      if (line.response?.status_code === 200) counts.ok++;
      else counts.failed++;
    }
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const emu1 = await ask('report');
    return { ...counts, seconds, tail: seconds - (counts.firstDone - start) / 1000, rate: counts.ok / seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, emuCpuSeconds: (emu1.cpuMicros - emu0.cpuMicros) / 1e6, maxInFlight: emu1.stats.maxConcurrentChat };
  };
  try {
    await round('fault-warmup', {});
    console.log(`faults:     ${n} requests, concurrency ${concurrency}, ${latencyMs} ms latency, ordered, transport ${transported.transport}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const fractions = [];
    let maxInFlight = 0;
    for (let r = 1; r <= Number(args['fault-rounds']); r++) {
      const clean = await round(`clean${r}`, {});
      const only429 = await round(`r429-${r}`, { rate429 });
      const both = await round(`faulty${r}`, { rate429, dropRate });
      const show = (name, x) =>
        console.log(
          `  ${`${name} (${r})`.padEnd(26)} ${x.ok} ok / ${x.failed} failed in ${x.seconds.toFixed(2)} s = ${x.rate.toFixed(0)} req/s (${(x.rate / clean.rate).toFixed(2)} of clean); retries ${x.retries} (429: ${x.rateLimited}, dropped: ${x.dropped}), retries' tail ${x.tail.toFixed(2)} s, lowest limit ${x.minLimit}; CPU client ${x.cpuSeconds.toFixed(2)} s, emulator ${x.emuCpuSeconds.toFixed(2)} s`,
        );
      show('clean', clean);
      show(`${rate429 * 100}% 429`, only429);
      show(`${rate429 * 100}% 429 + ${dropRate * 100}% drops`, both);
      fractions.push(both.rate / clean.rate);
      maxInFlight = Math.max(maxInFlight, clean.maxInFlight, only429.maxInFlight, both.maxInFlight);
    }
    fractions.sort((a, b) => a - b);
    const fraction = fractions[Math.floor(fractions.length / 2)];
    console.log(`  fraction:  median ${fraction.toFixed(2)} of ${fractions.length} rounds (min ${fractions[0].toFixed(2)}, max ${fractions.at(-1).toFixed(2)}; all: ${fractions.map((f) => f.toFixed(2)).join(', ')}) of the clean throughput with 429s and drops (target >= 0.60) ${fraction >= 0.6 ? 'OK' : 'BELOW TARGET'}`);
    console.log(`  in flight: emulator-side peak ${maxInFlight} (concurrency ${concurrency}) ${maxInFlight <= concurrency ? 'OK' : 'OVER'}`);
    if (!args['skip-rpm']) {
      // The limiter paces attempts (retries included): their send times, taken as the client calls create.
      const rpm = Number(args.rpm);
      const sends = [];
      const timed = { ...transported.client, releasesSignal: transported.client.releasesSignal, create: (body, options) => (sends.push(performance.now()), transported.client.create(body, options)) };
      await ask({ faults: { rate429, dropRate, retryAfterSeconds } });
      const m = Number(args['rpm-requests']);
      let ok = 0;
      for await (const line of runRealtime({ requests: [...lines('rpm')].slice(0, m), client: timed, concurrency, rpm, retries: 10 })) if (line.response?.status_code === 200) ok++;
      const measured = (sends.length - 1) / ((sends.at(-1) - sends[0]) / 60_000);
      const error = (measured - rpm) / rpm;
      console.log(`  rpm:       limit ${rpm} with the same faults: ${sends.length} attempts for ${ok} answers at ${measured.toFixed(1)} rpm, ${(error * 100).toFixed(2)}% off (target within ±5%) ${Math.abs(error) <= 0.05 ? 'OK' : 'OFF TARGET'}`);
    }
    // Its own flag: --skip-rpm used to skip this too, silently.
    if (!args['skip-tpm']) {
      await ask({ faults: { rate429, dropRate, retryAfterSeconds } });
      const requests = [...lines('tpm')].slice(0, Number(args['rpm-requests']));
      await tpmRound({ args, runRealtime, estimateTokens, client: transported.client, requests, concurrency });
    }
  } finally {
    await transported.close();
    child.send('close');
  }
}

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { KbatchError } from '@kbatch/core';
import type { EmulatorOptions, Emulator } from '@kbatch/emulator';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';
import { emulatorPersonality } from '../flags/emulator-provider.js';

/** The flags of `kbatch emulator` as commander parses them (numbers still strings). */
export interface EmulatorFlags {
  provider?: string;
  port?: string;
  host?: string;
  dataDir?: string;
  apiKey?: string;
  timeScale?: string;
  validationMs?: string;
  lineMs?: string;
  finalizingMs?: string;
  ftStepMs?: string;
  maxRequests?: string;
  maxBytes?: string;
  maxLineBytes?: string;
  seed?: string;
  latencyMs?: string;
  rate429?: string;
  retryAfter?: string;
  rate5xx?: string;
  dropRate?: string;
  loseResponseRate?: string;
  unrunErrorLines?: boolean;
  lineFailureRate?: string;
  lineFailureStatus?: string;
  concurrencyCap?: string;
  expireAfterLines?: string;
  slowTailLines?: string;
  slowTailMs?: string;
  faultRoute?: string[];
  upstream?: string;
  upstreamKey?: string;
  upstreamConcurrency?: string;
}

// Numbers stay strings when they do not parse, so validation names the flag and the bad value.
const num = (value: string | undefined): number | string | undefined =>
  value === undefined ? undefined : value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;

function defined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Map `kbatch emulator` flags onto {@link EmulatorOptions} (pure; validation happens in startEmulator).
 * The upstream key may come from `KBATCH_UPSTREAM_KEY` so it stays out of `ps` listings; `--data-dir` resolves
 * against `cwd` when given.
 */
export function emulatorOptionsFromFlags(flags: EmulatorFlags, env: NodeJS.ProcessEnv = {}, cwd?: string): EmulatorOptions {
  const faults = defined({
    latencyMs: num(flags.latencyMs),
    rate429: num(flags.rate429),
    retryAfterSeconds: num(flags.retryAfter),
    rate5xx: num(flags.rate5xx),
    dropRate: num(flags.dropRate),
    loseResponseRate: num(flags.loseResponseRate),
    lineFailureRate: num(flags.lineFailureRate),
    lineFailureStatus: num(flags.lineFailureStatus),
    concurrencyCap: num(flags.concurrencyCap),
    expireAfterLines: num(flags.expireAfterLines),
    slowTailLines: num(flags.slowTailLines),
    slowTailMs: num(flags.slowTailMs),
    routes: flags.faultRoute && flags.faultRoute.length > 0 ? flags.faultRoute : undefined,
  });
  const upstreamKey = flags.upstreamKey ?? env['KBATCH_UPSTREAM_KEY'];
  const options = defined({
    port: num(flags.port),
    host: flags.host,
    dataDir: flags.dataDir !== undefined && cwd !== undefined ? resolve(cwd, flags.dataDir) : flags.dataDir,
    apiKey: flags.apiKey,
    timeScale: num(flags.timeScale),
    validationMs: num(flags.validationMs),
    lineMs: num(flags.lineMs),
    finalizingMs: num(flags.finalizingMs),
    ftStepMs: num(flags.ftStepMs),
    maxRequestsPerBatch: num(flags.maxRequests),
    maxBatchBytes: num(flags.maxBytes),
    maxLineBytes: num(flags.maxLineBytes),
    seed: num(flags.seed),
    unrunErrorLines: flags.unrunErrorLines,
    faults: Object.keys(faults).length > 0 ? faults : undefined,
    upstream: flags.upstream
      ? defined({ url: flags.upstream, apiKey: upstreamKey || undefined, concurrency: num(flags.upstreamConcurrency) })
      : undefined,
  });
  // The provider's personality under the flags: --max-requests and the rest override it.
  return { ...emulatorPersonality(flags.provider), ...options } as EmulatorOptions;
}

/**
 * Start the emulator, print its base URL on stdout (the only stdout line), log to stderr, and stop cleanly
 * when `stop` resolves (SIGINT/SIGTERM in the real CLI).
 */
export async function runEmulatorCommand(flags: EmulatorFlags, io: CliIo, stop: Promise<unknown>): Promise<void> {
  // Loaded when the command runs: other commands never need the emulator's modules.
  const { EmulatorOptionError, startEmulator } = await import('@kbatch/emulator');
  let emu: Emulator;
  try {
    emu = await startEmulator(emulatorOptionsFromFlags(flags, io.env, io.cwd));
  } catch (err) {
    if (err instanceof EmulatorOptionError) throw new KbatchError('OPTION_INVALID', err.message, { cause: err });
    throw err;
  }
  io.stdout.write(`${emu.baseURL}\n`);
  io.stderr.write(
    `kbatch emulator listening on ${emu.baseURL} (data: ${flags.dataDir ?? 'temporary'}${flags.upstream ? `, upstream: ${flags.upstream}` : ''}); Ctrl-C to stop\n` +
      `  export KLUSTER_BASE_URL=${emu.baseURL} KLUSTER_API_KEY=${flags.apiKey ? '<your --api-key>' : 'any'}\n`,
  );
  await stop;
  io.stderr.write('kbatch emulator: stopping\n');
  await emu.close();
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `kbatch emulator`: a local kluster-compatible API for trying kbatch offline and for tests. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('emulator')
    .description('Run a local kluster.ai-compatible API (files, batches, chat, models, fine-tuning); prints its base URL')
    .option('--provider <name>', "speak as this provider: its windows, auth (Bearer only for openai, together, groq), one model per file, batch limits (see kbatch providers)")
    .option('--port <n>', 'port to listen on (0 = a free one)', '0')
    .option('--host <host>', 'address to bind (loopback by default)', '127.0.0.1')
    .option('--data-dir <dir>', 'keep state here so it survives restarts (default: a temp dir removed on stop)')
    .option('--api-key <key>', 'require this key (`Authorization: Bearer K` or `K`); default: accept any')
    .option('--time-scale <x>', 'multiply completion windows (0.001 turns 1h into 3.6 s)')
    .option('--validation-ms <ms>', 'time a batch spends validating (default 100)')
    .option('--line-ms <ms>', 'processing time per batch line (default 1)')
    .option('--finalizing-ms <ms>', 'time a batch spends finalizing (default 100)')
    .option('--ft-step-ms <ms>', 'duration of each fine-tuning step (default 200)')
    .option('--max-requests <n>', 'request lines allowed per batch file (default 50000)')
    .option('--max-bytes <n>', 'bytes allowed per batch file (default 6 GiB)')
    .option('--max-line-bytes <n>', 'bytes allowed per batch line; longer lines fail validation with line_too_long (default 10 MiB)')
    .option('--seed <n>', 'seed for output order and faults (default 0)')
    .option('--unrun-error-lines', 'write batch_expired/batch_cancelled error lines for requests an expired/cancelled batch never ran (OpenAI style)')
    .option('--latency-ms <ms>', 'fault: added latency per request')
    .option('--rate-429 <fraction>', 'fault: fraction of requests answered 429 with Retry-After')
    .option('--retry-after <seconds>', 'fault: Retry-After of injected 429s (default 1)')
    .option('--rate-5xx <fraction>', 'fault: fraction of requests answered 500/502/503')
    .option('--drop-rate <fraction>', 'fault: fraction of connections dropped without an answer')
    .option('--lose-response-rate <fraction>', 'fault: fraction of requests processed, then dropped before the answer (timeout after commit)')
    .option('--line-failure-rate <fraction>', 'fault: fraction of batch lines that fail (error file, status 500)')
    .option('--line-failure-status <code>', 'fault: HTTP status of the failing lines (default 500; 400 is a failure no retry fixes)')
    .option('--concurrency-cap <n>', 'fault: answer 429 beyond this many in-flight requests per route')
    .option('--expire-after-lines <n>', 'fault: a batch expires after this many lines')
    .option('--slow-tail-lines <n>', 'fault: the last n lines of each batch stall (stragglers, see kbatch run --finish-realtime)')
    .option('--slow-tail-ms <ms>', 'fault: how long each slow-tail line takes (default 60000)')
    .option('--fault-route <route>', "fault: limit HTTP faults to a route, e.g. 'POST /v1/files' (repeatable)", collect)
    .option('--upstream <url>', 'execute chat requests and batch lines against this OpenAI-compatible base URL')
    .option('--upstream-key <key>', 'API key for --upstream (env KBATCH_UPSTREAM_KEY)')
    .option('--upstream-concurrency <n>', 'parallel requests to --upstream (default 4)')
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch emulator --port 8080
  $ kbatch emulator --provider openai --api-key sk-test   # 24h only, Bearer only, one model per file, 200 MB
  $ kbatch emulator --time-scale 0.001 --validation-ms 10   # a 24h window lasts 86 s
  $ kbatch emulator --data-dir .emulator --rate-429 0.1 --fault-route 'POST /v1/files'
  $ kbatch emulator --slow-tail-lines 3 --slow-tail-ms 600000   # batches stall on their last 3 requests
  $ kbatch emulator --upstream http://127.0.0.1:11434/v1 --upstream-concurrency 2   # batches on a local Ollama`,
    )
    .action((flags: EmulatorFlags) => runEmulatorCommand(flags, io, signalled()));
};

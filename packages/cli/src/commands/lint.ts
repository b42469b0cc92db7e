import { resolve } from 'node:path';
import type { Command } from 'commander';
import { assertLintClean, DEFAULT_PROVIDER, getProvider, KbatchError, lintRequests, lintRules, type LintReport, type LintRules } from '@kbatch/core';
import { formatLintProblem, MaxBatchTokensSchema, MaxBytesSchema, MaxRequestsSchema, resolveChunkFiles } from '@kbatch/core/internal';
import { addProviderFlag, providerFlag } from '../flags/client-flags.js';
import { numberArg } from '../flags/numbers.js';
import { EXIT, ExitError } from '../exit-error.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

interface LintFlags {
  provider?: string;
  maxRequests?: number | string;
  maxBytes?: string;
  maxBatchTokens?: number | string;
  json?: boolean;
}

/** `kbatch lint FILES --provider P`: check request files made elsewhere against a provider's rules before paying. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program
    .command('lint')
    .description("Check request files (JSONL) against a provider's rules before paying: model per file, custom_id, line and batch size, token budget")
    .argument('<requests...>', 'request files, or directories of *.jsonl files (each is checked as one batch)');
  addLintLimitFlags(addProviderFlag(cmd))
    .option('--json', 'print one JSON object per file: {file, requests, bytes, problems: [{line, customId, rule, message}], problemCount}')
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch lint requests.jsonl --provider openai
  $ kbatch lint chunks/ --provider kluster-2025 --max-requests 100000 --json | jq '.problems[]'
  $ kbatch lint requests.jsonl --provider openai --max-batch-tokens 2000000

Exit code: 0 every file passes, 1 some problem (each on stderr with its line and custom_id).`,
    )
    .action(async (requests: string[], flags: LintFlags) => {
      const rules = rulesFromFlags(flags);
      let problems = 0;
      for (const file of await resolveChunkFiles(requests, io.cwd)) {
        const report = await lintRequests(file, rules);
        problems += report.problemCount;
        printReport(io, resolve(io.cwd, file), report, flags.json === true);
      }
      if (problems > 0) throw new ExitError(EXIT.error, `${problems} problems`);
    });
};

function printReport(io: CliIo, file: string, report: LintReport, json: boolean): void {
  if (json) io.stdout.write(`${JSON.stringify(report)}\n`);
  for (const problem of report.problems) io.stderr.write(`${formatLintProblem(file, problem)}\n`);
  if (report.problemCount > report.problems.length) io.stderr.write(`${file}: … ${report.problemCount - report.problems.length} more problems\n`);
  if (!json && report.problemCount === 0) io.stderr.write(`${file}: ${report.requests} requests, ${report.bytes} bytes: ok\n`);
}

/** Add --max-requests, --max-bytes and --max-batch-tokens: the batch limits a file is checked against (default: the provider's). */
export function addLintLimitFlags(cmd: Command): Command {
  return cmd
    .option('--max-requests <n>', "most requests per batch file (default: the provider's limit)", numberArg)
    .option('--max-bytes <size>', "most bytes per batch file: bytes, or KB/MB/GB, KiB/MiB/GiB (default: the provider's limit)")
    .option('--max-batch-tokens <n>', "most estimated prompt tokens per batch file, as kbatch's chunker estimates them (characters/4 + 4 per message); a line over it on its own is refused (default: the provider's budget where it documents one)", numberArg);
}

/** The lint rules of --provider with the limits the flags give. */
function rulesFromFlags(flags: Omit<LintFlags, 'json'>): LintRules {
  return lintRules(getProvider(providerFlag(flags.provider ?? DEFAULT_PROVIDER)), {
    ...(flags.maxRequests !== undefined ? { maxRequests: limitFlag(MaxRequestsSchema, flags.maxRequests, '--max-requests') } : {}),
    ...(flags.maxBytes !== undefined ? { maxBytes: limitFlag(MaxBytesSchema, flags.maxBytes, '--max-bytes') } : {}),
    ...(flags.maxBatchTokens !== undefined ? { maxBatchTokens: limitFlag(MaxBatchTokensSchema, flags.maxBatchTokens, '--max-batch-tokens') } : {}),
  });
}

// The chunker's own schema for the limit; the error names the flag.
function limitFlag(schema: typeof MaxRequestsSchema | typeof MaxBytesSchema | typeof MaxBatchTokensSchema, value: number | string, flag: string): number {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new KbatchError('OPTION_INVALID', `Invalid option \`${flag}\`: ${parsed.error.issues[0]!.message}, got ${JSON.stringify(value)}`, { field: flag });
}

/**
 * Refuse chunk files `--provider` would refuse, before `kbatch submit` uploads anything.
 * @throws KbatchError LINT_FAILED listing the problems with line and custom_id
 */
export async function lintBeforeSubmit(chunks: readonly string[], flags: Omit<LintFlags, 'json'>, io: Pick<CliIo, 'cwd'>): Promise<void> {
  await assertLintClean(await resolveChunkFiles(chunks, io.cwd), rulesFromFlags(flags));
}

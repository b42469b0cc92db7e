import { checkBudget, estimateLines, type JobEstimate } from '@kbatch/core';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';
import { runCommand } from './run.js';

/**
 * `kbatch estimate`: `kbatch run --dry-run` under its own name — the same flags (copied from `run`, so they cannot
 * drift), nothing uploaded, sent or written; the estimate on stdout (`--json`: one object).
 */
export const register: RegisterCommand = (program, io) => {
  const run = program.commands.find((c) => c.name() === 'run');
  const cmd = program
    .command('estimate')
    .description('What a run would send and cost, without sending anything: requests, batches, prompt and completion tokens, cost (same flags as run)')
    .argument('<input>', 'CSV/TSV/JSONL/JSON file, or - for stdin');
  for (const option of run?.options ?? []) if (option.long !== '--dry-run') cmd.addOption(option);
  cmd
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch estimate reviews.csv --provider openai --model gpt-4o-mini --prompt 'Review: {{text}}' --labels positive,negative
  $ kbatch estimate reviews.csv --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo --prompt '{{text}}' --json | jq .cost

Prompt tokens come from the model's tokenizer (o200k_base for OpenAI's GPT-4o/4.1/5 and o-series, Llama 3's for
Llama 3.x models), chat template included; other models get an approximation that says so. Prices come from
kbatch's price table (each row names its source and the date it was checked); an unknown price shows as unknown.`,
    )
    .action(async (input: string, flags: Record<string, unknown>) => {
      await runCommand(cmd, input, { ...(flags as Parameters<typeof runCommand>[2]), dryRun: true }, io);
    });
};

/**
 * Print an estimate: one JSON object with `--json`, else a few lines for a person; then, with `--max-cost`, the same
 * budget check a batch run makes (BUDGET_EXCEEDED / COST_UNKNOWN, exit 1).
 */
export function printEstimate(io: CliIo, flags: { json?: boolean }, estimate: JobEstimate, maxCost?: number): void {
  io.stdout.write(flags.json ? `${JSON.stringify(estimate)}\n` : `${estimateLines(estimate).join('\n')}\n`);
  if (maxCost !== undefined && estimate.mode === 'batch') checkBudget(estimate, maxCost);
}

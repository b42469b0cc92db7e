import { relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import {
  cancelFineTuneJob,
  createFineTuneJob,
  FINE_TUNABLE_MODELS,
  getFineTuneJob,
  listFineTuneJobs,
  prepareTrainingData,
  waitForFineTuneJob,
  type FineTuneJob,
} from '@kbatch/core';
import { addClientFlags, clientFromFlags, parseDuration, type ClientFlags, type KlusterClient } from '../flags/client-flags.js';
// Ctrl-C stops waiting (the job itself keeps running server-side) and exits 130 (143 on SIGTERM), like the batch commands.
import { withInterrupt } from '../interrupt.js';
import { numberArg } from '../flags/numbers.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

/** `kbatch finetune prepare|create|get|list|cancel|wait`: training data and fine-tuning jobs. */
export const register: RegisterCommand = (program, io) => {
  const finetune = program
    .command('finetune')
    .description('Prepare chat-format training data and run fine-tuning jobs')
    // Subcommands copy settings when created; the root's exitOverride comes later, so throw (main.ts maps it).
    .exitOverride()
    .addHelpText(
      'after',
      `
Example:
  kbatch finetune prepare labels.csv --prompt "Classify: {{text}}" --completion-column label --out train.jsonl
  kbatch finetune create --training-file train.jsonl --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo --wait`,
    );
  registerPrepare(finetune, io);
  registerCreate(finetune, io);
  registerGet(finetune, io);
  registerList(finetune, io);
  registerCancel(finetune, io);
  registerWait(finetune, io);
};

/** `kbatch finetune prepare`: records → chat-format training examples, validated. */
function registerPrepare(finetune: Command, io: CliIo): void {
  finetune
    .command('prepare')
    .description('Write chat-format training examples ({"messages":[…]}), one per record, validated')
    .argument('<input>', 'CSV/TSV/JSONL/JSON file, or - for stdin (records with a `messages` field pass through)')
    .option('--prompt <template>', 'user message template, e.g. "Classify: {{text}}"')
    .option('--completion-column <field>', 'field holding the assistant answer')
    .option('--system <template>', 'system message template')
    .addOption(new Option('--format <format>', 'input format (default: from the extension)').choices(['csv', 'tsv', 'jsonl', 'json']))
    .option('--out <file>', 'training file (default: stdout)')
    .option('--validation-split <share>', 'share of examples for validation, in [0, 1)', numberArg)
    .option('--validation-out <file>', 'validation file (default: <out>.validation.jsonl)')
    .option('--seed <n>', 'seed of the train/validation split', numberArg)
    .addOption(new Option('--on-invalid <policy>', 'what to do with an invalid example').choices(['error', 'skip']).default('error'))
    .option('--rejects <file>', 'with --on-invalid skip: write rejected rows here as JSON lines (default: rejects.jsonl, only created if needed)')
    .option('--model <model>', 'base model whose context window bounds each example')
    .option('--max-tokens <n>', 'token limit per example (overrides --model)', numberArg)
    .addHelpText(
      'after',
      `
Example:
  kbatch finetune prepare reviews.csv --prompt "Sentiment of: {{text}}" --completion-column label \\
    --system "Answer positive or negative." --validation-split 0.1 --seed 7 --out train.jsonl \\
    --on-invalid skip --rejects rejects.jsonl --model klusterai/Meta-Llama-3.3-70B-Instruct-Turbo

Tokens are estimated as ceil(characters / 4) per message + 5 per message + 1.`,
    )
    .action(async (input: string, flags: Record<string, unknown>) => {
      const summary = await prepareTrainingData({
        input: resolvePath(io, input),
        stdin: io.stdin,
        ...(flags.format === undefined ? {} : { format: flags.format as 'csv' }),
        ...defined({
          prompt: flags.prompt as string | undefined,
          system: flags.system as string | undefined,
          completionColumn: flags.completionColumn as string | undefined,
          model: flags.model as string | undefined,
          maxTokens: flags.maxTokens as number | undefined,
          validationSplit: flags.validationSplit as number | undefined,
          seed: flags.seed as number | undefined,
          validationOut: flags.validationOut === undefined ? undefined : resolvePath(io, flags.validationOut as string),
          // Like `kbatch prepare`: skipped rows always land somewhere, rejects.jsonl unless told otherwise.
          rejects: flags.onInvalid === 'skip' ? resolvePath(io, (flags.rejects as string | undefined) ?? 'rejects.jsonl') : undefined,
        }),
        out: flags.out === undefined ? io.stdout : resolvePath(io, flags.out as string),
        onInvalid: flags.onInvalid as 'error' | 'skip',
        onReject: (reject) => io.stderr.write(`skipped ${reject.reason}\n`),
      });
      const split = summary.validation.examples > 0 || flags.validationSplit ? `, ${summary.train.examples} train / ${summary.validation.examples} validation` : '';
      io.stderr.write(
        `${summary.examples} examples${split}, ~${summary.tokens} tokens (largest ~${summary.maxExampleTokens})` +
          `${summary.rejected > 0 ? `, ${summary.rejected} rejected${summary.rejectsFile ? ` (see ${relative(io.cwd, summary.rejectsFile) || summary.rejectsFile})` : ''}` : ''}\n`,
      );
    });
}

/** `kbatch finetune create`: upload the training data and create the job (optionally wait for it). */
function registerCreate(finetune: Command, io: CliIo): void {
  const create = finetune
    .command('create')
    .description('Upload training data (purpose fine-tune) and create a fine-tuning job')
    .requiredOption('--training-file <file|id>', 'local JSONL file to upload, or an uploaded file id')
    .option('--validation-file <file|id>', 'local JSONL file or uploaded file id')
    .requiredOption('--model <model>', `base model: ${Object.keys(FINE_TUNABLE_MODELS).slice(0, 2).join(' or ')}`)
    .option('--epochs <n>', 'training epochs', numberArg)
    .option('--batch-size <n>', 'examples per step', numberArg)
    .option('--learning-rate-multiplier <x>', 'learning-rate multiplier', numberArg)
    .option('--nickname <suffix>', 'suffix for the fine-tuned model name')
    .option('--wait', 'wait for the job; print the fine-tuned model id on stdout');
  waitFlags(addClientFlags(create))
    .addHelpText(
      'after',
      `
Example:
  kbatch finetune create --training-file train.jsonl --validation-file train.validation.jsonl \\
    --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo --epochs 3 --nickname sentiment --wait

Prints the job as JSON (or, with --wait, the fine-tuned model id) on stdout.`,
    )
    .action(async (flags: Record<string, unknown> & ClientFlags) => {
      const client = clientFromFlags(flags, io);
      const job = await withInterrupt((signal) =>
        createFineTuneJob({
          client,
          signal,
          cwd: io.cwd,
          trainingFile: flags.trainingFile as string,
          model: flags.model as string,
          ...defined({
            validationFile: flags.validationFile as string | undefined,
            epochs: flags.epochs as number | undefined,
            batchSize: flags.batchSize as number | undefined,
            learningRateMultiplier: flags.learningRateMultiplier as number | undefined,
            nickname: flags.nickname as string | undefined,
          }),
          onUpload: ({ path, fileId, role }) => io.stderr.write(`uploaded ${role} file ${path} as ${fileId}\n`),
        }),
      );
      io.stderr.write(`created fine-tuning job ${job.id} (${job.status})\n`);
      if (!flags.wait) {
        io.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
        return;
      }
      await waitAndPrint(io, client, job.id, flags);
    });
}

/** `kbatch finetune get`: one job as JSON. */
function registerGet(finetune: Command, io: CliIo): void {
  addClientFlags(finetune.command('get').description('Show a fine-tuning job as JSON').argument('<job-id>'))
    .addHelpText('after', '\nExample:\n  kbatch finetune get 67ae81b59b08392687ea5f69')
    .action(async (jobId: string, flags: ClientFlags) => {
      io.stdout.write(`${JSON.stringify(await getFineTuneJob(clientFromFlags(flags, io), jobId), null, 2)}\n`);
    });
}

/** `kbatch finetune list`: every job, one JSON line each. */
function registerList(finetune: Command, io: CliIo): void {
  addClientFlags(
    finetune
      .command('list')
      .description('List fine-tuning jobs, newest first, one JSON object per line (pages through all)')
      .option('--limit <n>', 'stop after this many jobs', numberArg)
      .option('--page-size <n>', 'jobs per request (1-100)', numberArg)
      .option('--after <job-id>', 'start after this job'),
  )
    .addHelpText('after', '\nExample:\n  kbatch finetune list --limit 50 | jq -r \'[.id, .status, .fine_tuned_model] | @tsv\'')
    .action(async (flags: ClientFlags & { limit?: number; pageSize?: number; after?: string }) => {
      const jobs = listFineTuneJobs(clientFromFlags(flags, io), defined({ limit: flags.limit, pageSize: flags.pageSize, after: flags.after }));
      for await (const job of jobs) {
        if (!io.stdout.write(`${JSON.stringify(job)}\n`)) await new Promise((resolve) => io.stdout.once('drain', resolve));
      }
    });
}

/** `kbatch finetune cancel`: cancel a job. */
function registerCancel(finetune: Command, io: CliIo): void {
  addClientFlags(finetune.command('cancel').description('Cancel a fine-tuning job; prints the job as JSON').argument('<job-id>'))
    .addHelpText('after', '\nExample:\n  kbatch finetune cancel 67ae81b59b08392687ea5f69')
    .action(async (jobId: string, flags: ClientFlags) => {
      const job = await cancelFineTuneJob(clientFromFlags(flags, io), jobId);
      io.stderr.write(`fine-tuning job ${job.id}: ${job.status}\n`);
      io.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
    });
}

/** `kbatch finetune wait`: wait for a job, print the fine-tuned model id. */
function registerWait(finetune: Command, io: CliIo): void {
  waitFlags(
    addClientFlags(
      finetune
        .command('wait')
        .description('Wait for a fine-tuning job; status changes on stderr, the fine-tuned model id on stdout')
        .argument('<job-id>'),
    ),
  )
    .addHelpText('after', '\nExample:\n  MODEL=$(kbatch finetune wait 67ae81b59b08392687ea5f69) && kbatch run data.csv --model "$MODEL" …')
    .action(async (jobId: string, flags: ClientFlags & Record<string, unknown>) => {
      await waitAndPrint(io, clientFromFlags(flags, io), jobId, flags);
    });
}


async function waitAndPrint(io: CliIo, client: KlusterClient, jobId: string, flags: Record<string, unknown>): Promise<void> {
  const job = await withInterrupt((signal) =>
    waitForFineTuneJob({
      client,
      jobId,
      signal,
      ...defined({
        pollIntervalMs: flags.pollInterval === undefined ? undefined : parseDuration(flags.pollInterval as string, '--poll-interval'),
        timeoutMs: flags.timeout === undefined ? undefined : parseDuration(flags.timeout as string, '--timeout'),
      }),
      onStatus: (j: FineTuneJob) => io.stderr.write(`fine-tuning job ${j.id}: ${j.status}${j.status === 'failed' && j.error?.message ? ` (${j.error.message})` : ''}\n`),
    }),
  );
  io.stdout.write(`${job.fine_tuned_model}\n`);
}

function waitFlags(command: Command): Command {
  return command
    .option('--poll-interval <duration>', 'first wait between status checks, e.g. 5s (grows ×1.5 up to 1m while nothing changes)')
    .option('--timeout <duration>', 'stop waiting after this long, e.g. 2h (the job keeps running)');
}

function resolvePath(io: CliIo, path: string): string {
  return path === '-' ? path : resolve(io.cwd, path);
}

function defined<T extends Record<string, unknown>>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

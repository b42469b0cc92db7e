import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { KbatchError, type RequestOptions } from '@kbatch/core';
import type { CliIo } from '../io.js';
import { collectArg, numberArg, parseLogitBias } from './numbers.js';

/** Flags of the request builder, as commander parses them. */
export interface RequestFlags {
  /** Several with `addRequestFlags(cmd, { severalModels: true })` and a repeated --model. */
  model?: string | string[];
  prompt?: string;
  templateFile?: string;
  system?: string;
  systemFile?: string;
  idColumn?: string;
  frequencyPenalty?: number | string;
  presencePenalty?: number | string;
  logitBias?: string[];
  logprobs?: boolean;
  topLogprobs?: number | string;
  maxCompletionTokens?: number | string;
  seed?: number | string;
  stop?: string[];
  temperature?: number | string;
  topP?: number | string;
  stream?: boolean;
}

/** Library option names set from these flags (for error messages that name the flag). */
export const REQUEST_FLAG_OPTIONS = [
  'model',
  'prompt',
  'system',
  'idColumn',
  'frequencyPenalty',
  'presencePenalty',
  'logitBias',
  'logprobs',
  'topLogprobs',
  'maxCompletionTokens',
  'seed',
  'stop',
  'temperature',
  'topP',
  'stream',
] as const;

/**
 * Add the request flags: model, prompt/template file, system prompt, id column and every chat parameter.
 * Shared by `prepare` and `run`.
 */
export function addRequestFlags(command: Command, options: { severalModels?: boolean } = {}): Command {
  return (
    options.severalModels
      ? // Repeated: each record runs on every model given (one value stays a string, as elsewhere).
        command.option('-m, --model <name>', 'model for every request (required; repeat to run every record on each model side by side)', (v: string, prev?: string | string[]) =>
          prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v],
        )
      : command.option('-m, --model <name>', 'model for every request (required)')
  )
    .option('-p, --prompt <template>', 'user prompt template: {{column}}, {{a.b}}; \\{{ for a literal {{')
    .option('--template-file <path>', 'read the prompt template from a file (instead of --prompt)')
    .option('--system <template>', 'system prompt template')
    .option('--system-file <path>', 'read the system prompt template from a file')
    .option('--id-column <name>', 'column holding a unique custom_id (default: row-<record number>)')
    .option('--temperature <n>', 'sampling temperature, 0..2', numberArg)
    .option('--top-p <n>', 'nucleus sampling, 0..1', numberArg)
    .option('--max-completion-tokens <n>', 'upper bound of generated tokens', numberArg)
    .option('--frequency-penalty <n>', '-2..2', numberArg)
    .option('--presence-penalty <n>', '-2..2', numberArg)
    .option('--seed <n>', 'best-effort deterministic sampling', numberArg)
    .option('--stop <text>', 'stop sequence (repeat for up to 4)', collectArg)
    .option('--logprobs', 'return log probabilities of output tokens')
    .option('--top-logprobs <n>', '0..20 most likely tokens per position (needs --logprobs)', numberArg)
    .option('--logit-bias <token:bias>', 'token id to bias -100..100, e.g. 1234:-100 (repeatable)', collectArg)
    .addOption(new Option('--stream').hideHelp());
}

/** Map parsed request flags onto core `RequestOptions` (reading template files relative to `io.cwd`). */
export async function requestOptionsFromFlags(flags: RequestFlags, io: Pick<CliIo, 'cwd'>): Promise<RequestOptions> {
  if (flags.model === undefined) throw usage('--model is required, e.g. --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo');
  if ((flags.prompt === undefined) === (flags.templateFile === undefined)) {
    throw usage('give the prompt with exactly one of --prompt or --template-file');
  }
  if (flags.system !== undefined && flags.systemFile !== undefined) throw usage('give at most one of --system or --system-file');
  const prompt = flags.prompt ?? (await readTemplate(flags.templateFile!, io.cwd));
  const system = flags.system ?? (flags.systemFile === undefined ? undefined : await readTemplate(flags.systemFile, io.cwd));
  const options: Record<string, unknown> = {
    // Several models (kbatch run): the caller turns the list into the run's `models`.
    model: flags.model,
    prompt,
    system,
    idColumn: flags.idColumn,
    frequencyPenalty: flags.frequencyPenalty,
    presencePenalty: flags.presencePenalty,
    logitBias: flags.logitBias === undefined ? undefined : parseLogitBias(flags.logitBias),
    logprobs: flags.logprobs,
    topLogprobs: flags.topLogprobs,
    maxCompletionTokens: flags.maxCompletionTokens,
    seed: flags.seed,
    stop: flags.stop === undefined ? undefined : flags.stop.length === 1 ? flags.stop[0] : flags.stop,
    temperature: flags.temperature,
    topP: flags.topP,
    stream: flags.stream,
  };
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  return options as RequestOptions;
}

function usage(message: string): KbatchError {
  return new KbatchError('OPTION_INVALID', message);
}

async function readTemplate(path: string, cwd: string): Promise<string> {
  const full = resolve(cwd, path);
  try {
    // A trailing newline is an artefact of the file, not part of the prompt.
    return (await readFile(full, 'utf8')).replace(/\r?\n$/, '');
  } catch (cause) {
    throw new KbatchError('INPUT_NOT_FOUND', `cannot read template file "${path}"`, { file: full, cause });
  }
}

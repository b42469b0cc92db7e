import { Option, type Command } from 'commander';
import { streamChat, type StreamChatOptions } from '@kbatch/core';
import { addClientFlags, clientFromFlags, type ClientFlags } from '../flags/client-flags.js';
import { collectArg, emulatorPersonality, numberArg, withFlagNames } from '../flags/index.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

/** The model `kbatch chat` asks when --model is not given. */
export const DEFAULT_CHAT_MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';

/** Chat flags that map onto `streamChat` options of the same (camelCase) name: errors name the flag. */
const CHAT_FLAG_OPTIONS = ['model', 'system', 'temperature', 'topP', 'maxCompletionTokens', 'seed', 'stop', 'frequencyPenalty', 'presencePenalty'] as const;

interface ChatFlags extends ClientFlags {
  local?: boolean;
  model: string;
  system?: string;
  temperature?: number;
  topP?: number;
  maxCompletionTokens?: number;
  seed?: number;
  stop?: string[];
  frequencyPenalty?: number;
  presencePenalty?: number;
}

/** `kbatch chat "question"`: stream one answer to stdout, for quick checks of a model or a prompt. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program
    .command('chat')
    .description('Ask one question through /v1/chat/completions and print the answer as it streams')
    .argument('<question>', 'the question; - reads it from stdin')
    .option('-m, --model <model>', 'model name', DEFAULT_CHAT_MODEL)
    .option('-s, --system <text>', 'system prompt')
    .addOption(new Option('--temperature <n>', 'sampling temperature, 0..2').argParser(numberArg))
    .addOption(new Option('--top-p <n>', 'nucleus sampling, 0..1').argParser(numberArg))
    .addOption(new Option('--max-completion-tokens <n>', 'answer length limit').argParser(numberArg))
    .addOption(new Option('--seed <n>', 'seed for reproducible sampling').argParser(numberArg))
    .addOption(new Option('--stop <text>', 'stop sequence (repeatable, up to 4)').argParser(collectArg))
    .addOption(new Option('--frequency-penalty <n>', '-2..2').argParser(numberArg))
    .addOption(new Option('--presence-penalty <n>', '-2..2').argParser(numberArg))
    .option('--local', 'ask an in-process emulator (no account or API key needed; answers are rule-based)');
  addClientFlags(cmd)
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch chat "What is the capital of Argentina?" --model ${DEFAULT_CHAT_MODEL} --temperature 0
  $ echo "Summarize: ..." | kbatch chat - --system "Answer in one sentence"
  $ kbatch chat "Is this review positive? Answer with exactly one of these labels: yes, no" --local`,
    )
    .action(async (question: string, flags: ChatFlags) => {
      const emulator = flags.local ? await (await import('@kbatch/emulator')).startEmulator(emulatorPersonality(flags.provider)) : undefined;
      try {
        await ask(question, emulator ? { ...flags, apiKey: 'local-emulator', baseUrl: emulator.baseURL } : flags, io);
      } finally {
        await emulator?.close();
      }
    });
};

/** Stream one answer to stdout. */
async function ask(question: string, flags: ChatFlags, io: CliIo): Promise<void> {
  const client = clientFromFlags(flags, io);
  const { baseUrl: _b, apiKey: _k, local: _l, stop, ...params } = flags;
  const options = {
    ...params,
    ...(stop === undefined ? {} : { stop: stop.length === 1 ? stop[0] : stop }),
    client: client.chat.completions,
    question: question === '-' ? await readAll(io.stdin) : question,
  } as StreamChatOptions;
  await withFlagNames(CHAT_FLAG_OPTIONS, async () => {
    let last = '\n';
    for await (const text of streamChat(options)) {
      io.stdout.write(text);
      last = text;
    }
    if (!last.endsWith('\n')) io.stdout.write('\n');
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream as AsyncIterable<string>) text += chunk;
  return text.replace(/\r?\n$/, '');
}

import { z } from 'zod';
import { KbatchError, isKbatchError } from '../errors.js';
import { parseOptions, positiveIntField } from '../options.js';
import type { SourceRecord } from '../records/index.js';
import type { ChatMessage } from '../request/index.js';
import { compileMessageTemplate, lookup, type RenderTemplate } from './message-template.js';
import { estimateExampleTokens } from './tokens.js';
import { fineTuneContextWindow, MAX_FINE_TUNE_CONTEXT } from './models.js';

/** One line of a chat-format fine-tuning file. */
export interface TrainingExample {
  messages: ChatMessage[];
}

/** A built example with its estimated token count (see {@link estimateExampleTokens}). */
export interface BuiltTrainingExample {
  example: TrainingExample;
  tokens: number;
}

/** The option fields every options schema of the area shares (the stream and prepare schemas extend them). */
export const trainingExampleFields = {
  /** User message template (`{{field}}`, `{{a.b}}`); not needed when every record has `messages`. */
  prompt: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
  /** Optional system message template. */
  system: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
  /** Record field (dotted paths allowed) holding the assistant answer; required with `prompt`. */
  completionColumn: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
  /** Base model whose context window bounds each example (must be fine-tunable). */
  model: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
  /** Token limit per example; overrides the model's window. Default: the model's window, else 64,000. */
  maxTokens: positiveIntField().optional(),
};

/** A prompt template is useless without the answer column. */
export const requireCompletionColumn: [
  (o: { prompt?: string | undefined; completionColumn?: string | undefined }) => boolean,
  { message: string; path: string[] },
] = [
  (o) => o.prompt === undefined || o.completionColumn !== undefined,
  { message: 'must be given with `prompt` (the field holding the answer)', path: ['completionColumn'] },
];

/** Options of {@link toTrainingExample} (and of the stream and prepare functions that build on it). */
export const TrainingExampleOptionsSchema = z.object(trainingExampleFields).refine(...requireCompletionColumn);

export type TrainingExampleOptions = z.input<typeof TrainingExampleOptionsSchema>;
export type ResolvedTrainingExampleOptions = z.output<typeof TrainingExampleOptionsSchema>;

/** A compiled example builder: throws FINETUNE_EXAMPLE_INVALID (with `record`, `line`) for a bad record. */
export type TrainingExampleBuilder = (record: SourceRecord) => BuiltTrainingExample;

const ROLES = new Set(['system', 'user', 'assistant']);

/**
 * Compile the templates and resolve the token limit once; the result builds one example per record.
 * @param options - see {@link TrainingExampleOptions}
 */
export function createTrainingExampleBuilder(options: TrainingExampleOptions = {}): TrainingExampleBuilder {
  const opts = parseOptions(TrainingExampleOptionsSchema, options, 'toTrainingExample');
  const maxTokens = opts.maxTokens ?? (opts.model === undefined ? MAX_FINE_TUNE_CONTEXT : fineTuneContextWindow(opts.model));
  const prompt = opts.prompt === undefined ? undefined : compileMessageTemplate(opts.prompt);
  const system = opts.system === undefined ? undefined : compileMessageTemplate(opts.system);
  const completion = opts.completionColumn;

  return (record) => {
    const invalid = (reason: string, cause?: unknown) =>
      new KbatchError('FINETUNE_EXAMPLE_INVALID', `row ${record.index}: ${reason}`, {
        record: record.index,
        line: record.line,
        cause,
      });
    let messages: ChatMessage[];
    const conversation = record.data.messages;
    // An empty cell (CSV) or null means "no conversation here": fall back to the templates.
    if (conversation !== undefined && conversation !== null && conversation !== '') {
      messages = validateConversation(conversation, invalid);
    } else if (prompt === undefined || completion === undefined) {
      throw invalid('the record has no `messages` field and no prompt template was given');
    } else {
      messages = [];
      if (system) messages.push({ role: 'system', content: render(system, record, invalid) });
      messages.push({ role: 'user', content: render(prompt, record, invalid) });
      messages.push({ role: 'assistant', content: completionText(lookup(record.data, completion), completion, invalid) });
      validateConversation(messages, invalid);
    }
    const tokens = estimateExampleTokens(messages);
    if (tokens > maxTokens) {
      throw invalid(`about ${tokens} tokens, over the ${maxTokens}-token context window${opts.model ? ` of ${opts.model}` : ''}`);
    }
    return { example: { messages }, tokens };
  };
}

const builders = new WeakMap<object, TrainingExampleBuilder>();

/**
 * Turn one record into a chat-format training example, pure and synchronous.
 * A record with a `messages` field (array, or JSON text in a CSV cell; empty/null counts as absent) passes through validated; otherwise
 * the messages are `[system?, user(prompt), assistant(completionColumn)]`.
 * Throws FINETUNE_EXAMPLE_INVALID naming the row when roles, contents, order or length are wrong: a system
 * message only first, the last message the assistant's, each message exactly `{role, content}` (other fields such
 * as `name` or `weight` are rejected by name rather than silently dropped).
 * The options are compiled once per options object (cached), so calling this per record is cheap.
 * @param record - the source record
 * @param options - see {@link TrainingExampleOptions}
 * @example
 * toTrainingExample({ index: 1, line: 2, data: { q: 'Hi?', a: 'Hello' } }, { prompt: '{{q}}', completionColumn: 'a' })
 * // → { messages: [{ role: 'user', content: 'Hi?' }, { role: 'assistant', content: 'Hello' }] }
 */
export function toTrainingExample(record: SourceRecord, options: TrainingExampleOptions = {}): TrainingExample {
  let build = builders.get(options);
  if (!build) {
    build = createTrainingExampleBuilder(options);
    builders.set(options, build);
  }
  return build(record).example;
}

type Invalid = (reason: string, cause?: unknown) => KbatchError;

function render(template: RenderTemplate, record: SourceRecord, invalid: Invalid): string {
  try {
    return template(record.data);
  } catch (err) {
    if (isKbatchError(err)) throw invalid(err.message, err);
    throw err;
  }
}

function completionText(value: unknown, column: string, invalid: Invalid): string {
  if (value === undefined || value === null) throw invalid(`completion column \`${column}\` is missing`);
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (text.trim() === '') throw invalid(`completion column \`${column}\` is empty`);
  return text;
}

function validateConversation(value: unknown, invalid: Invalid): ChatMessage[] {
  let messages = value;
  if (typeof messages === 'string') {
    try {
      messages = JSON.parse(messages);
    } catch (err) {
      throw invalid('`messages` is text but not JSON', err);
    }
  }
  if (!Array.isArray(messages) || messages.length === 0) throw invalid('`messages` must be a non-empty array');
  const out: ChatMessage[] = [];
  messages.forEach((message: unknown, i) => {
    if (message === null || typeof message !== 'object') throw invalid(`message ${i + 1} is not an object`);
    const { role, content, ...rest } = message as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalid(`message ${i + 1} has role ${JSON.stringify(role)}; roles are system, user, assistant`);
    }
    const extra = Object.keys(rest);
    if (extra.length > 0) {
      throw invalid(`message ${i + 1} (${role}) has unsupported field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `\`${k}\``).join(', ')}; training messages take only role and content`);
    }
    if (role === 'system' && i > 0) throw invalid(`message ${i + 1} is a system message; only the first message may be one`);
    if (typeof content !== 'string' || content.trim() === '') {
      throw invalid(`message ${i + 1} (${role}) has ${typeof content === 'string' ? 'empty' : 'no text'} content`);
    }
    out.push({ role: role as ChatMessage['role'], content });
  });
  if (!out.some((m) => m.role === 'user')) throw invalid('the conversation has no user message');
  if (out.at(-1)!.role !== 'assistant') throw invalid('the last message must be the assistant answer');
  return out;
}

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { KbatchError, isKbatchError } from '../errors.js';
import { readFileLines } from '../job/lines.js';
import { chunkLimits } from '../chunk/chunk-options.js';
import { estimateLineTokens } from '../chunk/line-tokens.js';
import { overTokenBudget } from '../chunk/plan-chunk.js';
import type { ProviderProfile } from './provider-profile.js';
import { NATIVE_REQUEST_CHECKS, type NativeRequestCheck } from './native-clients.js';

/**
 * What lint checks. The first three every server checks itself while validating a batch (at no cost); the others are
 * the provider profile's own rules, which `kbatch submit` enforces before any upload.
 */
export const LINT_RULES = [
  'line_invalid',
  'custom_id_missing',
  'custom_id_duplicate',
  'custom_id_invalid',
  'line_too_large',
  'mixed_models',
  'too_many_requests',
  'file_too_large',
  'param_unsupported',
  'line_over_token_budget',
  'file_over_token_budget',
] as const;
export type LintRule = (typeof LINT_RULES)[number];
/** The rules a server's own validation covers anyway: not the profile's. */
const SERVER_RULES: ReadonlySet<LintRule> = new Set(['line_invalid', 'custom_id_missing', 'custom_id_duplicate']);
/**
 * Problems under a server rule's name that are kbatch's own refusal: a line whose tokens cannot be estimated under a
 * token budget is `line_invalid` (the chunker's LINE_INVALID), but no server checks the budget, so `kbatch submit` refuses it.
 */
const PROFILE_PROBLEMS = new WeakSet<LintProblem>();
const isServerProblem = (problem: LintProblem): boolean => SERVER_RULES.has(problem.rule) && !PROFILE_PROBLEMS.has(problem);

/** One reason a provider would refuse a request file, with where it is. */
export interface LintProblem {
  /** 1-based line of the file (null: the file as a whole). */
  line: number | null;
  customId: string | null;
  /** One of {@link LINT_RULES}. */
  rule: LintRule;
  message: string;
}

/** The rules a file is checked against: the profile's, with the batch limits this job uses (flags may raise them). */
export interface LintRules {
  provider: string;
  maxRequests: number;
  maxBytes: number;
  maxLineBytes: number | null;
  oneModelPerFile: boolean;
  customIdPattern: RegExp | null;
  /** Body parameters the provider refuses (the profile's `chatParams.unsupported`). */
  unsupportedParams: readonly string[];
  /** The native adapter's check of one line (throws PARAM_UNSUPPORTED as its upload would); null: none. */
  nativeCheck: NativeRequestCheck | null;
  /** Most estimated prompt tokens per batch (`--max-batch-tokens`, judged as the chunker judges them); null: no budget. */
  maxBatchTokens: number | null;
}

/** The rules of a profile; `maxRequests`/`maxBytes`/`maxBatchTokens` given override its limits (as the chunk flags do). */
export function lintRules(profile: ProviderProfile, limits: { maxRequests?: number | undefined; maxBytes?: number | undefined; maxBatchTokens?: number | undefined } = {}): LintRules {
  const defaults = chunkLimits(profile);
  return {
    provider: profile.name,
    maxRequests: limits.maxRequests ?? defaults.maxRequests,
    maxBytes: limits.maxBytes ?? defaults.maxBytes,
    maxLineBytes: profile.limits.maxLineBytes,
    oneModelPerFile: profile.quirks.oneModelPerFile,
    customIdPattern: profile.quirks.customIdPattern === null ? null : new RegExp(profile.quirks.customIdPattern),
    unsupportedParams: profile.chatParams.unsupported,
    nativeCheck: NATIVE_REQUEST_CHECKS[profile.apiShape] ?? null,
    maxBatchTokens: limits.maxBatchTokens ?? defaults.maxBatchTokens ?? null,
  };
}

/** What a lint remembers between lines of one file: its first model, the custom_ids seen (one file's), its size so far. */
export interface LintState {
  requests: number;
  bytes: number;
  /** Estimated prompt tokens so far (counted only under a token budget). */
  tokens: number;
  model: { name: string; line: number } | null;
  /** The custom_ids seen, each as {@link idKey}: 16 characters however long the id. */
  ids: Set<string>;
}

// 96 bits of sha256: a false duplicate among a batch's 50,000 ids has odds near 1e-20; memory per id is constant.
const idKey = (id: string): string => createHash('sha256').update(id).digest('base64').slice(0, 16);

/** Add `key`; false when it was there already. */
function addNew(set: Set<string>, key: string): boolean {
  if (set.has(key)) return false;
  set.add(key);
  return true;
}

/** A fresh state for one file. */
export const newLintState = (): LintState => ({ requests: 0, bytes: 0, tokens: 0, model: null, ids: new Set() });

/**
 * Check one request line of a batch input file (pure but for `state`, which it advances).
 * @param text - the line without its newline
 * @param line - its 1-based line number
 * @returns the problems of this line (empty when it passes)
 */
export function lintLine(text: string, line: number, state: LintState, rules: LintRules): LintProblem[] {
  const problems: LintProblem[] = [];
  const bytes = Buffer.byteLength(text, 'utf8') + 1;
  state.requests += 1;
  state.bytes += bytes;
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch {
    return [{ line, customId: null, rule: 'line_invalid', message: 'is not valid JSON' }];
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return [{ line, customId: null, rule: 'line_invalid', message: 'is not a JSON object' }];
  const { custom_id: id, body } = request as { custom_id?: unknown; body?: unknown };
  const customId = typeof id === 'string' ? id : null;
  const add = (rule: LintRule, message: string): number => problems.push({ line, customId, rule, message });
  if (customId === null || customId === '') add('custom_id_missing', 'has no custom_id (a non-empty string)');
  else if (rules.customIdPattern !== null && !rules.customIdPattern.test(customId)) add('custom_id_invalid', `custom_id must match ${rules.customIdPattern.source} on provider ${rules.provider}`);
  else if (!addNew(state.ids, idKey(customId))) add('custom_id_duplicate', 'repeats a custom_id of an earlier line');
  if (rules.maxLineBytes !== null && bytes > rules.maxLineBytes) add('line_too_large', `is ${bytes} bytes; provider ${rules.provider} takes at most ${rules.maxLineBytes} per line`);
  const refused = unsupportedIn(body, rules);
  for (const param of refused) add('param_unsupported', `sets \`${param}\`, which provider ${rules.provider} does not support`);
  const native = refused.length === 0 ? nativeRefusal(text, line, rules) : null;
  if (native !== null) add('param_unsupported', native);
  const model = typeof body === 'object' && body !== null ? (body as { model?: unknown }).model : undefined;
  if (typeof model !== 'string' || model === '') add('line_invalid', 'has no body.model');
  else if (state.model === null) state.model = { name: model, line };
  else if (rules.oneModelPerFile && model !== state.model.name) {
    add('mixed_models', `uses model ${model} but line ${state.model.line} uses ${state.model.name}: provider ${rules.provider} takes one model per file`);
  }
  if (state.requests === rules.maxRequests + 1) add('too_many_requests', `is request ${state.requests}; provider ${rules.provider} takes at most ${rules.maxRequests} per batch`);
  if (state.bytes > rules.maxBytes && state.bytes - bytes <= rules.maxBytes) add('file_too_large', `brings the file past ${rules.maxBytes} bytes, provider ${rules.provider}'s limit per batch`);
  if (rules.maxBatchTokens !== null) {
    for (const [rule, message] of tokenProblems(text, state, rules.maxBatchTokens)) PROFILE_PROBLEMS.add(problems[add(rule, message) - 1]!);
  }
  return problems;
}

/**
 * The token budget as the chunker applies it (same estimate, same rule: {@link overTokenBudget}): a line over the
 * budget on its own fits no batch (the chunker's LINE_OVER_TOKEN_BUDGET); the lines that bring the file past it make
 * a batch the provider would not enqueue.
 */
function tokenProblems(text: string, state: LintState, budget: number): Array<[LintRule, string]> {
  let tokens: number;
  try {
    tokens = estimateLineTokens(Buffer.from(text, 'utf8'));
  } catch (error) {
    if (isKbatchError(error) && error.code === 'LINE_INVALID') return [['line_invalid', 'has no body.messages list, so its tokens cannot be estimated for the token budget (--max-batch-tokens)']];
    throw error;
  }
  state.tokens += tokens;
  if (overTokenBudget(tokens, { maxBatchTokens: budget })) {
    return [['line_over_token_budget', `is an estimated ${tokens} prompt tokens, more than the batch token budget of ${budget} (--max-batch-tokens) on its own: no batch can take it (LINE_OVER_TOKEN_BUDGET); raise the budget or shorten the request`]];
  }
  if (state.tokens > budget && state.tokens - tokens <= budget) {
    return [['file_over_token_budget', `brings the file to an estimated ${state.tokens} prompt tokens, past the batch token budget of ${budget} (--max-batch-tokens): split it (kbatch split --max-batch-tokens ${budget})`]];
  }
  return [];
}

/** The parameters of a request body the provider refuses (a null or false value sets nothing and passes). */
function unsupportedIn(body: unknown, rules: LintRules): string[] {
  if (rules.unsupportedParams.length === 0 || typeof body !== 'object' || body === null) return [];
  const fields = body as Record<string, unknown>;
  return rules.unsupportedParams.filter((param) => fields[param] !== undefined && fields[param] !== null && fields[param] !== false);
}

/** What the native adapter's mapping refuses in a line (PARAM_UNSUPPORTED: its message), else null; other faults are lint's own rules. */
function nativeRefusal(text: string, line: number, rules: LintRules): string | null {
  try {
    rules.nativeCheck?.(text, line);
    return null;
  } catch (error) {
    return isKbatchError(error) && error.code === 'PARAM_UNSUPPORTED' ? error.message : null;
  }
}

/** The outcome of {@link lintRequests}: the lines read, and the problems (at most `maxProblems` kept, all counted). */
export interface LintReport {
  file: string;
  requests: number;
  bytes: number;
  problems: LintProblem[];
  problemCount: number;
}

/**
 * Check a batch input file against a provider's rules, streamed line by line (memory: one file's custom_ids).
 * @example const report = await lintRequests('part-00001.jsonl', lintRules(getProvider('openai')));
 */
export async function lintRequests(file: string, rules: LintRules, { maxProblems = 1000, profileOnly = false } = {}): Promise<LintReport> {
  const { size } = await stat(file).catch((cause: unknown) => {
    throw new KbatchError('INPUT_NOT_FOUND', `No such file: ${file}`, { file, cause });
  });
  const state = newLintState();
  const report: LintReport = { file, requests: 0, bytes: size, problems: [], problemCount: 0 };
  const add = (problem: LintProblem): void => {
    if (profileOnly && isServerProblem(problem)) return;
    // The lines' count is off by a byte without a last newline: the file's size decides.
    if (problem.rule === 'file_too_large' && size <= rules.maxBytes) return;
    report.problemCount += 1;
    if (report.problems.length < maxProblems) report.problems.push(problem);
  };
  for await (const { line, text } of readFileLines(file)) for (const problem of lintLine(text, line, state, rules)) add(problem);
  // The lines undercount the file (no \r of CRLF, no blank lines): what the provider measures is its size.
  if (size > rules.maxBytes && state.bytes <= rules.maxBytes) {
    add({ line: null, customId: null, rule: 'file_too_large', message: `is ${size} bytes; provider ${rules.provider} takes at most ${rules.maxBytes} per batch` });
  }
  return { ...report, requests: state.requests };
}

/** One line per problem: `FILE line N (custom_id ID): message [rule]`. */
export function formatLintProblem(file: string, problem: LintProblem): string {
  const where = problem.line === null ? file : `${file} line ${problem.line}`;
  return `${where}${problem.customId === null ? '' : ` (custom_id ${problem.customId})`}: ${problem.message} [${problem.rule}]`;
}

/** True when the rules judge single lines (line size, custom_id format, one model per file), not only a file's size and count. */
export function hasLineRules(rules: LintRules): boolean {
  return rules.maxLineBytes !== null || rules.customIdPattern !== null || rules.oneModelPerFile || rules.unsupportedParams.length > 0 || rules.nativeCheck !== null || rules.maxBatchTokens !== null;
}

/**
 * True when a file is certainly within the batch limits, read without parsing: its size, and its `\n` and `\r`
 * bytes (plus an unterminated last line) as a bound on its requests (CRLF counts twice, blank lines count). False
 * (lint it) otherwise.
 */
async function surelyWithinLimits(file: string, rules: Pick<LintRules, 'maxRequests' | 'maxBytes'>): Promise<boolean> {
  const size = await stat(file).then((s) => s.size, () => null);
  if (size === null || size > rules.maxBytes) return false;
  let breaks = 0;
  let last = 10;
  for await (const block of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    for (let i = block.indexOf(10); i !== -1; i = block.indexOf(10, i + 1)) breaks += 1;
    for (let i = block.indexOf(13); i !== -1; i = block.indexOf(13, i + 1)) breaks += 1;
    if (breaks > rules.maxRequests) return false;
    if (block.length > 0) last = block[block.length - 1]!;
  }
  // A last line without a line break is a request too.
  return breaks + (last === 10 || last === 13 ? 0 : 1) <= rules.maxRequests;
}

/**
 * Refuse request files that break the provider profile's rules (one model per file, line and batch size, custom_id
 * format), before anything is uploaded. Malformed lines, missing or repeated custom_ids are left to the server's own
 * validation, which names each line at no cost (as before profiles existed); `kbatch lint` reports those too.
 * @throws KbatchError LINT_FAILED listing the first problems (line and custom_id each)
 */
export async function assertLintClean(files: readonly string[], rules: LintRules): Promise<void> {
  const lines: string[] = [];
  let count = 0;
  for (const file of files) {
    // Without a rule on lines, only the batch limits can fail: a file surely within them is not parsed.
    if (!hasLineRules(rules) && (await surelyWithinLimits(file, rules))) continue;
    const report = await lintRequests(file, rules, { maxProblems: 20, profileOnly: true });
    count += report.problemCount;
    for (const problem of report.problems) if (lines.length < 20) lines.push(formatLintProblem(file, problem));
  }
  if (count === 0) return;
  const more = count > lines.length ? `\n… ${count - lines.length} more (kbatch lint FILE --provider ${rules.provider} lists them all)` : '';
  throw new KbatchError('LINT_FAILED', `${count} request line problem${count === 1 ? '' : 's'} for provider ${rules.provider}; nothing was uploaded:\n${lines.join('\n')}${more}`, {
    file: files[0],
  });
}

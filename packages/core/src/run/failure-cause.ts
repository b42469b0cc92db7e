// Why a request's latest result is not a success, and whether sending it again can change that.
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import type { JoinPlan } from '../join/join-plan.js';
import { EXPIRED_CODE } from '../job/expired-leftovers.js';
import { BATCH_FAILED_CODE, BATCH_NO_CAUSE_CODE } from '../job/validation-results.js';
import { walkAttempts, type AttemptSource } from '../job/attempts.js';
import { quickAnswer } from './quick-answer.js';
import type { JudgedLine } from '../job/part-verdict.js';

/** A failed request's cause (`http_503`, `model_not_found`, `batch_expired`, `invalid_answer`, …) and whether a retry may help. */
export interface FailureCause {
  cause: string;
  retry: boolean;
}

/** Statuses below 500 that a later attempt can get past (timeout, conflict, rate limit). */
const TRANSIENT_STATUSES = new Set([408, 409, 429]);

/** Error codes of requests that were never run or hit a passing condition: worth another attempt. */
const TRANSIENT_CODE = /expired|cancel|timeout|timed_out|connection|reset|unavailable|overload|rate_limit|server_error/i;

/** Error codes that fail the same way every time (unknown model, line too long, a file over the server's request limit, an invalid request). */
const DETERMINISTIC_CODE = /not_found|too_long|too_large|too_many_requests|invalid|missing|duplicate|unsupported|unauthorized|forbidden|permission/i;

/**
 * Classify a result: null for a success the labels/schema accept; else its cause and whether a retry round may
 * change it — 5xx, 408/409/429, expiry, cancellation, transient errors and invalid answers are retried; 400, 401,
 * 403, 404, 422 and other 4xx, an unknown model, a line too long, an invalid request, expiry at the
 * resubmission limit (BATCH_EXPIRED), a failed batch's requests left
 * unresubmitted (batch_failed; but not batch_failed_no_cause, a batch that failed with no code) and any other 2xx (billed: not a chat completion, or with a line error) are not.
 * @param answerError - what the labels/schema said of a successful answer (null when accepted)
 * @example failureCause(parseResultLine(line), null) // { cause: 'http_400', retry: false }
 */
export function failureCause(result: BatchResult, answerError: unknown): FailureCause | null {
  if (result.ok) return answerCause(answerError);
  const code = errorCode(result.body);
  const status = result.statusCode;
  if (status !== null && (status < 200 || status >= 300)) {
    if (status >= 500 || TRANSIENT_STATUSES.has(status)) return { cause: `http_${status}`, retry: true };
    return { cause: code === 'model_not_found' ? code : `http_${status}`, retry: false };
  }
  // A 2xx that is not an accepted chat completion was billed: sending it again pays again for the same reply.
  if (status !== null) return { cause: 'invalid_response', retry: false };
  if (code === null) return { cause: 'request_error', retry: true };
  // Requests that expired at the resubmission limit are final (see markExpiredLeftovers).
  if (code === EXPIRED_CODE) return { cause: 'batch_expired_limit', retry: false };
  // A failed batch's requests that were not resubmitted without its bad lines (see finishPart): never merged into a round.
  if (code === BATCH_FAILED_CODE) return { cause: code, retry: false };
  // A batch that failed without a code said nothing deterministic: the rounds (bounded by --retries) may try it again.
  if (code === BATCH_NO_CAUSE_CODE) return { cause: code, retry: true };
  if (TRANSIENT_CODE.test(code)) return { cause: code, retry: true };
  return { cause: code, retry: !DETERMINISTIC_CODE.test(code) };
}

/** {@link failureCause} of a result with its answer checked by the plan's labels/schema: what rounds resend and a streamed row treats as final. */
export function resultCause(result: BatchResult, plan: JoinPlan): FailureCause | null {
  return failureCause(result, result.ok ? plan.answers.parse(result.response ?? '', result.logprobs).error : null);
}

/** The cause of a successful result whose answer the labels/schema judged (null when accepted). */
function answerCause(answerError: unknown): FailureCause | null {
  return answerError === null || answerError === undefined ? null : { cause: 'invalid_answer', retry: true };
}

/** How many distinct answers {@link latestCauses} remembers the verdict of (memory stays small whatever the answers). */
const JUDGED_ANSWERS = 1_000;

/**
 * {@link resultCause} of one result line `buf[start, end)`, judged once: a success of the usual shape from its answer's
 * bytes (see {@link quickAnswer}), any other line parsed. Answers repeat (a few labels): each distinct short one is
 * judged once, up to JUDGED_ANSWERS of them. Also gives the download tally its verdict (see ResultTally).
 * @returns the cause, and the parsed line when it had to be parsed
 */
export function lineJudge(plan: JoinPlan): (buf: Buffer, start: number, end: number, where: JudgedLine) => { cause: FailureCause | null; parsed?: BatchResult } {
  const judged = new Map<string, FailureCause | null>();
  const judge = (answer: string): FailureCause | null => {
    if (judged.has(answer)) return judged.get(answer)!;
    const cause = answerCause(plan.answers.parse(answer, null).error);
    if (judged.size < JUDGED_ANSWERS && answer.length <= 64) judged.set(answer, cause);
    return cause;
  };
  return (buf, start, end, where) => {
    const answer = where.answer ?? quickAnswer(buf, start, end, where);
    if (answer !== undefined) return { cause: judge(answer) };
    const parsed = parseResultLine(buf.toString('utf8', start, end), where);
    return { cause: resultCause(parsed, plan), parsed };
  };
}

/** {@link resultCause} of each request's latest result ("last attempt wins", as `latestResults` picks it), each judged once (see {@link lineJudge}). */
export async function latestCauses(
  jobDir: string,
  groups: readonly AttemptSource[][],
  plan: JoinPlan,
  visit: (customId: string, cause: FailureCause | null) => void,
): Promise<void> {
  const judge = lineJudge(plan);
  await walkAttempts(jobDir, groups, ({ customId, superseded, at, result }) => {
    if (superseded) return;
    if (result) return visit(result.customId, resultCause(result, plan));
    const { cause, parsed } = judge(at!.buf, at!.start, at!.end, { file: at!.file, line: at!.line });
    visit(parsed ? parsed.customId : customId, cause);
  });
}

/** `error.code` of a response body, or `code` of a line's own error object. */
function errorCode(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const { error, code } = body as { error?: unknown; code?: unknown };
  const inner = typeof error === 'object' && error !== null ? (error as { code?: unknown; type?: unknown }) : null;
  const value = inner ? (inner.code ?? inner.type) : code;
  return typeof value === 'string' && value !== '' ? value : null;
}

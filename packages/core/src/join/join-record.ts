import type { SourceRecord } from '../records/source-record.js';
import { assertNoCollision, createJoinPlan, type JoinPlan, type JoinRecordOptions } from './join-plan.js';
import type { BatchResult } from './result-line.js';

/** How one record came out of the join. */
export type JoinStatus = 'succeeded' | 'failed' | 'invalid' | 'missing';

/** A joined record plus what a caller (summary, retries, rejects) needs to know about it. */
export interface JoinOutcome {
  /** The output record: every input field, then the added fields. */
  row: Record<string, unknown>;
  customId: string;
  /** succeeded; failed (request error / non-2xx); invalid (answer rejected by labels/schema); missing (no result). */
  status: JoinStatus;
  /** JOIN_MISSING_RESULT, REQUEST_FAILED or ANSWER_INVALID; null when succeeded. */
  errorCode: 'JOIN_MISSING_RESULT' | 'REQUEST_FAILED' | 'ANSWER_INVALID' | null;
  result: BatchResult | undefined;
}

/**
 * Join one input record with its result (pure). Adds custom_id, the answer fields (label/confidence
 * or the schema's fields), response, finish_reason, prompt_tokens, completion_tokens, error and
 * (keepRaw) raw — all prefixed — after the input fields. Throws JOIN_FIELD_COLLISION, never overwrites.
 * @param result - the record's result, or undefined when there is none (emitted with an error)
 * @param options - join options, or a plan from `createJoinPlan` (compile once when joining many)
 * @example joinRecord(record, parseResultLine(line), { labels: ['yes', 'no'] }).row.label
 */
export function joinRecord(record: SourceRecord, result: BatchResult | undefined, options: JoinRecordOptions | JoinPlan = {}): JoinOutcome {
  const plan = createJoinPlan(options);
  return joinPlanned(record, result, plan, plan.customIdFor(record));
}

/** {@link joinRecord} with a compiled plan and the record's custom_id already known (the join engine's hot path). */
export function joinPlanned(record: SourceRecord, result: BatchResult | undefined, plan: JoinPlan, customId: string): JoinOutcome {
  assertNoCollision(record, plan, customId);
  const names = plan.names;
  const row = copyFields(record.data);
  row[names.customId] = customId;
  let status: JoinStatus;
  let errorCode: JoinOutcome['errorCode'] = null;
  let error: string | null = null;
  const answer = plan.answers.parse(result?.ok ? (result.response ?? '') : null, result?.logprobs);
  if (result === undefined) {
    status = 'missing';
    errorCode = 'JOIN_MISSING_RESULT';
    error = 'no result for this record (JOIN_MISSING_RESULT)';
  } else if (!result.ok) {
    status = 'failed';
    errorCode = 'REQUEST_FAILED';
    error = result.error ?? 'request failed';
  } else if (answer.error) {
    status = 'invalid';
    errorCode = 'ANSWER_INVALID';
    error = `invalid answer: ${answer.error.message}`;
  } else {
    status = 'succeeded';
  }
  const values = answer.values;
  for (const field in values) row[names.answer.get(field) ?? plan.name(field)] = values[field];
  row[names.response] = result?.response ?? null;
  row[names.finishReason] = result?.finishReason ?? null;
  row[names.promptTokens] = result?.promptTokens ?? null;
  row[names.completionTokens] = result?.completionTokens ?? null;
  row[names.error] = error;
  if (plan.keepRaw) row[names.raw] = result?.body ?? null;
  return { row, customId, status, errorCode, result };
}

/**
 * A copy of a record's fields to add to. Not `{ ...data }`: V8 gives a spread copy a map that turns adding the join's
 * fields into slow dictionary writes (measured ~16 µs a row against 0.2 µs). A `__proto__` field keeps the spread,
 * which defines it as an own field where assignment would set the prototype.
 */
function copyFields(data: Record<string, unknown>): Record<string, unknown> {
  return Object.hasOwn(data, '__proto__') ? { ...data } : Object.assign({}, data);
}

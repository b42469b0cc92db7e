import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJoinPlan } from '../../src/join/join-plan.js';
import { joinRecord } from '../../src/join/join-record.js';
import { parseResultLine } from '../../src/join/result-line.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { httpErrorLine, okLine } from './fixtures.js';

const record = { index: 3, line: 4, data: { id: 'r3', text: 'great product' } };

describe('joinRecord', () => {
  it('keeps every input field and adds the result fields', () => {
    const outcome = joinRecord(record, parseResultLine(okLine('row-3', 'fine')));
    expect(outcome.status).toBe('succeeded');
    expect(outcome.row).toEqual({
      id: 'r3',
      text: 'great product',
      custom_id: 'row-3',
      response: 'fine',
      finish_reason: 'stop',
      prompt_tokens: 10,
      completion_tokens: 2,
      error: null,
    });
    expect(Object.keys(outcome.row)).toEqual(['id', 'text', 'custom_id', 'response', 'finish_reason', 'prompt_tokens', 'completion_tokens', 'error']);
  });

  it('uses the id column for custom_id', () => {
    expect(joinRecord(record, parseResultLine(okLine('r3', 'x')), { idColumn: 'id' }).row.custom_id).toBe('r3');
  });

  it('emits a record without a result with an error', () => {
    const outcome = joinRecord(record, undefined);
    expect(outcome).toMatchObject({ status: 'missing', errorCode: 'JOIN_MISSING_RESULT' });
    expect(outcome.row).toMatchObject({ response: null, error: 'no result for this record (JOIN_MISSING_RESULT)' });
  });

  it('carries a failed request error with its status code', () => {
    const outcome = joinRecord(record, parseResultLine(httpErrorLine('row-3', 500, 'upstream crashed')));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'REQUEST_FAILED' });
    expect(outcome.row.error).toBe('HTTP 500: upstream crashed (rate_limit_exceeded)');
  });

  it('adds label and confidence under labels, and flags invalid answers', () => {
    const logprobs = { content: [{ token: 'Pos', logprob: Math.log(0.9), top_logprobs: [] }] };
    const plan = createJoinPlan({ labels: ['positive', 'negative'], confidence: true });
    const good = joinRecord(record, parseResultLine(okLine('row-3', 'Positive.', { logprobs })), plan);
    expect(good.row.label).toBe('positive');
    expect(good.row.confidence).toBeCloseTo(0.9);
    const bad = joinRecord(record, parseResultLine(okLine('row-3', 'unsure')), plan);
    expect(bad).toMatchObject({ status: 'invalid', errorCode: 'ANSWER_INVALID' });
    expect(bad.row).toMatchObject({ label: null, confidence: null, response: 'unsure' });
    expect(bad.row.error).toMatch(/^invalid answer: answer "unsure" is not one of the labels positive, negative/);
  });

  it('spreads schema fields as columns and names the failing path', () => {
    const plan = createJoinPlan({ schema: z.object({ topic: z.string(), score: z.number() }) });
    const good = joinRecord(record, parseResultLine(okLine('row-3', '```json\n{"topic":"x","score":1}\n```')), plan);
    expect(good.row).toMatchObject({ topic: 'x', score: 1, error: null });
    const bad = joinRecord(record, parseResultLine(okLine('row-3', '{"topic":"x","score":"high"}')), plan);
    expect(bad.row).toMatchObject({ topic: null, score: null });
    expect(bad.row.error).toMatch(/at score/);
  });

  it('prefixes every added field and keeps the raw body on request', () => {
    const row = joinRecord(record, parseResultLine(okLine('row-3', 'yes')), { prefix: 'kb_', keepRaw: true, labels: ['yes', 'no'] }).row;
    expect(Object.keys(row)).toEqual([
      'id',
      'text',
      'kb_custom_id',
      'kb_label',
      'kb_response',
      'kb_finish_reason',
      'kb_prompt_tokens',
      'kb_completion_tokens',
      'kb_error',
      'kb_raw',
    ]);
    expect((row.kb_raw as { id: string }).id).toBe('chatcmpl-row-3');
  });

  it('refuses to overwrite an input field with JOIN_FIELD_COLLISION, suggesting a prefix', async () => {
    const clashing = { index: 1, line: 2, data: { text: 'hi', response: 'human answer' } };
    expectKbatchError(await catchError(() => joinRecord(clashing, undefined)), {
      code: 'JOIN_FIELD_COLLISION',
      field: 'response',
      record: 1,
      message: '--prefix kb_',
    });
    expect(joinRecord(clashing, undefined, { prefix: 'kb_' }).row.response).toBe('human answer');
  });

  it('accepts an input custom_id column that holds the id itself', () => {
    const withId = { index: 1, line: 2, data: { custom_id: 'a1', text: 'hi' } };
    expect(joinRecord(withId, undefined, { idColumn: 'custom_id' }).row.custom_id).toBe('a1');
  });

  it('rejects bad options with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => createJoinPlan({ prefix: 'a b' })), { code: 'OPTION_INVALID', field: 'prefix' });
    expectKbatchError(await catchError(() => createJoinPlan({ labels: ['a'], schema: { type: 'object' } })), { code: 'OPTION_INVALID', field: 'schema' });
  });
});

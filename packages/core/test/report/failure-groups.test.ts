import { describe, expect, it } from 'vitest';
import { causeOfError, failureGroups } from '../../src/report/failure-groups.js';
import { MAX_CAUSES } from '../../src/report/report-data.js';

describe('causeOfError', () => {
  it('groups the messages the join writes by their cause', () => {
    expect(causeOfError('invalid answer: "maybe" is not one of positive, negative')).toBe('invalid_answer');
    expect(causeOfError('no result for this record (JOIN_MISSING_RESULT)')).toBe('missing_result');
    expect(causeOfError('HTTP 429: rate limited (rate_limit_exceeded)')).toBe('http_429 (rate_limit_exceeded)');
    expect(causeOfError('HTTP 500: upstream failed')).toBe('http_500');
    expect(causeOfError('HTTP 200 but the body is not a chat completion (choices: Required)')).toBe('http_200');
    expect(causeOfError('request 17 timed out after 30000 ms')).toBe('request # timed out after # ms');
  });
});

describe('failureGroups', () => {
  it('keeps three examples per cause, most frequent cause first', () => {
    const tally = failureGroups();
    for (let i = 1; i <= 5; i++) tally.add(null, `r${i}`, `HTTP 500: boom ${i}`);
    tally.add('b', 'r9', 'invalid answer: x');
    const { failures, otherFailures } = tally.result();
    expect(failures.map((f) => [f.model, f.cause, f.count, f.examples.map((e) => e.id)])).toEqual([
      [null, 'http_500', 5, ['r1', 'r2', 'r3']],
      ['b', 'invalid_answer', 1, ['r9']],
    ]);
    expect(otherFailures).toBe(0);
  });

  it(`counts failures past ${MAX_CAUSES} causes together (bounded memory)`, () => {
    const tally = failureGroups();
    for (let i = 0; i < MAX_CAUSES + 3; i++) tally.add(null, `r${i}`, `cause ${String.fromCharCode(65 + (i % 26))}${'x'.repeat(Math.floor(i / 26))}: m`);
    const { failures, otherFailures } = tally.result();
    expect(failures).toHaveLength(MAX_CAUSES);
    expect(otherFailures).toBe(3);
  });
});

import { describe, expect, it } from 'vitest';
import { failedBatchErrors, MAX_LISTED_ERRORS } from '../../src/job/failed-batch.js';
import type { LineError } from '../../src/state/manifest.js';

const errorAt = (line: number, code: string): LineError => ({ line, customId: `r${line}`, code, message: `line ${line} is bad` });

describe('failedBatchErrors', () => {
  it('gives the unlisted requests of a capped list the one code every listed error has', () => {
    const errors = Array.from({ length: MAX_LISTED_ERRORS }, (_, i) => errorAt(i + 1, 'model_not_found'));
    const { byId, rest } = failedBatchErrors(errors);
    expect(byId.size).toBe(MAX_LISTED_ERRORS);
    expect(rest).toEqual({ line: null, customId: null, code: 'model_not_found', message: 'not listed (the server lists at most 1000 errors, all model_not_found; e.g. line 1 is bad)' });
  });

  it('leaves the unlisted requests to be resubmitted when the list is complete or its codes differ', () => {
    expect(failedBatchErrors([errorAt(3, 'line_too_long')]).rest).toBeNull();
    const mixed = Array.from({ length: MAX_LISTED_ERRORS }, (_, i) => errorAt(i + 1, i % 2 ? 'line_too_long' : 'invalid_json_line'));
    expect(failedBatchErrors(mixed).rest).toBeNull();
  });

  it('leaves the unlisted requests to be resubmitted when a capped list of one code has gaps (some lines bad, not all)', () => {
    const spaced = Array.from({ length: MAX_LISTED_ERRORS }, (_, i) => errorAt(2 * i + 1, 'line_too_long'));
    expect(failedBatchErrors(spaced).rest).toBeNull();
  });

  it('gives every request an error of the whole batch', () => {
    const whole: LineError = { line: null, customId: null, code: 'file_too_large', message: 'm' };
    expect(failedBatchErrors([errorAt(2, 'x'), whole]).rest).toBe(whole);
  });
});

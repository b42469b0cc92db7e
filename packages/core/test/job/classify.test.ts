import { describe, expect, it } from 'vitest';
import { isSuccessLine, isUnrunLine } from '../../src/job/classify.js';
import type { BatchResultLine } from '../../src/job/job-types.js';

const line = (fields: Partial<BatchResultLine>): BatchResultLine => ({ custom_id: 'a', response: null, error: null, ...fields });

describe('isUnrunLine', () => {
  it('recognises the batch_expired / batch_cancelled error lines written for never-run requests', () => {
    expect(isUnrunLine(line({ error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' } }))).toBe(true);
    expect(isUnrunLine(line({ error: { code: 'batch_cancelled', message: 'cancelled' } }))).toBe(true);
    expect(isUnrunLine(line({ response: { status_code: 400, body: { error: { code: 'batch_expired' } } } }))).toBe(true);
  });

  it('does not take real failures or successes for never-run requests', () => {
    expect(isUnrunLine(line({ response: { status_code: 500, body: { error: { code: 'server_error', type: 'server_error' } } } }))).toBe(false);
    expect(isUnrunLine(line({ error: { code: 'invalid_request', message: 'bad' } }))).toBe(false);
    expect(isUnrunLine(line({ response: { status_code: 200, body: {} } }))).toBe(false);
  });
});

describe('isSuccessLine', () => {
  it('needs a 2xx response and no error', () => {
    expect(isSuccessLine(line({ response: { status_code: 200, body: {} } }))).toBe(true);
    expect(isSuccessLine(line({ response: { status_code: 200, body: {} }, error: { code: 'x' } }))).toBe(false);
    expect(isSuccessLine(line({ response: { status_code: 429, body: {} } }))).toBe(false);
  });
});

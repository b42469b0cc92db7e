import { describe, expect, it } from 'vitest';
import { ListPageSchema, parseBatch, parseFile, parseResponse, isTerminalStatus } from '../../src/client/schemas.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const base = {
  id: 'mybatch-123',
  object: 'batch',
  endpoint: '/v1/chat/completions',
  errors: null,
  input_file_id: 'myfile-123',
  completion_window: '24h',
  status: 'completed',
  output_file_id: 'myfile-123-output',
  error_file_id: null,
  created_at: '1733832777',
  in_progress_at: 1733832777,
  expires_at: '1733919177',
  failed_at: null,
  request_counts: { total: 4, completed: 4, failed: 0 },
  metadata: {},
};

describe('parseBatch', () => {
  it('accepts timestamps as integers or strings and nulls', () => {
    const b = parseBatch(base);
    expect(b.created_at).toBe(1733832777);
    expect(b.in_progress_at).toBe(1733832777);
    expect(b.failed_at).toBeNull();
    expect(b.completed_at).toBeNull();
    expect(b.error_file_id).toBeNull();
    expect(b.request_counts).toEqual({ total: 4, completed: 4, failed: 0 });
  });

  it('accepts unknown statuses such as pre_schedule as still running', () => {
    const b = parseBatch({ ...base, status: 'pre_schedule', request_counts: null, metadata: null });
    expect(b.status).toBe('pre_schedule');
    expect(isTerminalStatus(b.status)).toBe(false);
    expect(b.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
  });

  it('keeps errors.data with line numbers', () => {
    const b = parseBatch({ ...base, status: 'failed', errors: { object: 'list', data: [{ code: 'x', message: 'm', param: null, line: 3 }] } });
    expect(b.errors?.data[0]).toMatchObject({ code: 'x', line: 3 });
  });

  it('rejects a truly wrong shape with RESPONSE_INVALID naming the field', async () => {
    const err = await catchError(() => parseBatch({ ...base, status: undefined }));
    expectKbatchError(err, { code: 'RESPONSE_INVALID', message: /invalid batch mybatch-123: `status`/ });
    const err2 = await catchError(() => parseBatch({ ...base, created_at: 'yesterday-ish' }));
    expectKbatchError(err2, { code: 'RESPONSE_INVALID', field: 'created_at' });
  });
});

describe('parseFile', () => {
  it('accepts the reference file object', () => {
    expect(parseFile({ id: 'f', bytes: 2797, created_at: '1733832768', filename: 'a.jsonl', object: 'file', purpose: 'batch' })).toMatchObject({
      id: 'f',
      created_at: 1733832768,
    });
  });
});

describe('ListPageSchema', () => {
  it('accepts extra list fields (count, page, page_count, items_per_page)', () => {
    const page = parseResponse(
      ListPageSchema,
      { object: 'list', data: [base], first_id: 'a', last_id: 'b', has_more: false, count: 1, page: 1, page_count: -1, items_per_page: 9223372036854775807 },
      'list',
    );
    expect(page.data).toHaveLength(1);
  });
});

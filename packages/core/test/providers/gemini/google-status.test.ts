import { describe, expect, it } from 'vitest';
import { httpStatusOf, statusNameOf } from '../../../src/providers/gemini/google-status.js';

describe('httpStatusOf', () => {
  it('maps by the status name where present, else an rpc code below 100, and reads only 400–599 as HTTP', () => {
    expect(httpStatusOf({ code: 400, status: 'INVALID_ARGUMENT' })).toBe(400);
    expect(httpStatusOf({ code: 429, status: 'resource_exhausted' })).toBe(429);
    expect(httpStatusOf({ status: 'CANCELLED' })).toBe(499);
    expect([3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 16].map((code) => httpStatusOf({ code }))).toEqual([400, 504, 404, 403, 429, 400, 409, 501, 500, 503, 401]);
    expect(httpStatusOf({ code: 503 })).toBe(503);
    expect([{ code: 0 }, { code: 42 }, { code: 200 }, { code: 600 }, {}].map(httpStatusOf)).toEqual([500, 500, 500, 500, 500]);
  });

  it('names a status by its string, else its rpc code, else null', () => {
    expect([statusNameOf({ code: 13 }), statusNameOf({ code: 1, status: 'unavailable' }), statusNameOf({ code: 503 }), statusNameOf({})]).toEqual(['INTERNAL', 'UNAVAILABLE', null, null]);
  });
});

import { describe, expect, it } from 'vitest';
import { BodySyntaxError, RequestsBodyReader, type RequestsShape } from '../../src/anthropic/requests-body.js';

/** The reader's verdict on a body fed in pieces of `size` bytes: its requests (after restarts) and shape, or 'syntax'. */
function read(body: string, size: number): { requests: unknown[]; shape: RequestsShape } | 'syntax' {
  const reader = new RequestsBodyReader();
  const bytes = Buffer.from(body, 'utf8');
  let requests: unknown[] = [];
  try {
    for (let at = 0; at < bytes.length; at += size) {
      for (const event of reader.push(bytes.subarray(at, at + size))) {
        if (event.type === 'restart') requests = [];
        else {
          expect(event.index).toBe(requests.length);
          requests.push(event.value);
        }
      }
    }
    return { requests, shape: reader.end() };
  } catch (error) {
    if (error instanceof BodySyntaxError) return 'syntax';
    throw error;
  }
}

/** What a whole-body JSON.parse gives, in the same terms (the slow path the reader replaces). */
function parsed(body: string): { requests: unknown[]; shape: RequestsShape } | 'syntax' {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return 'syntax';
  }
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isObject || !Object.hasOwn(value, 'requests')) return { requests: [], shape: { kind: 'absent' } };
  const requests = (value as { requests: unknown }).requests;
  return Array.isArray(requests) ? { requests, shape: { kind: 'array', count: requests.length } } : { requests: [], shape: { kind: 'other', value: requests } };
}

const r = (id: string, extra = '') => `{"custom_id":"${id}","params":{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi ${id}"}]${extra}}}`;

const BODIES = [
  `{"requests":[${r('a')},${r('b')}]}`,
  ` \n{ "requests" : [ ${r('a')} , ${r('b')} ] }\t\r\n`,
  `{"requests":[${r('e', ',"system":"quote \\" brace } bracket ] comma , backslash \\\\"')}]}`,
  `{"requests":[${r('u', ',"system":"é — 日本 😀 \\u00e9 \\ud83d\\ude00"')}]}`,
  `{"other":{"requests":[1]},"requests":[${r('k')}],"tail":[1,{"a":"]"}],"n":-1.5e3,"t":true,"f":false,"z":null}`,
  `{"requests":[${r('first')}],"requests":[${r('second')},${r('third')}]}`,
  `{"requests":[${r('first')}],"requests":"no list"}`,
  `{"requests":[]}`,
  `{"requests":[1,"x",null,[2],{}]}`,
  `{"requ\\u0065sts":[${r('esc')}]}`,
  `{"requests":{"0":${r('a')}}}`,
  `{"requests":null}`,
  '{}',
  '[]',
  '"requests"',
  '42',
  'null',
  // malformed: each must be refused as JSON.parse refuses it
  '',
  '{',
  `{"requests":[${r('a')}`,
  `{"requests":[${r('a')},]}`,
  `{"requests":[,${r('a')}]}`,
  `{"requests":[${r('a')}],}`,
  `{"requests":[${r('a')}]}}`,
  `{"requests":[${r('a')}]} x`,
  `{"requests" [${r('a')}]}`,
  `{requests:[]}`,
  `{"requests":[tru]}`,
  `{"requests":[01]}`,
  `{"requests":[{"a":1,}]}`,
  `{"requests":["bad \\x escape"]}`,
  `{"requests":[1 2]}`,
  `{"a":1 "requests":[]}`,
  '{"requests":[]}{}',
  `{"requests":[${r('a')}]}\u00a0`,
];

describe('RequestsBodyReader', () => {
  it('agrees with JSON.parse on every body (escapes, unicode, keys in any order, a repeated key, malformed ones), however the bytes are split', () => {
    for (const body of BODIES) {
      const expected = parsed(body);
      for (const size of [1, 2, 3, 5, 7, 64, 1 << 20]) expect(read(body, size), `${JSON.stringify(body)} in pieces of ${size}`).toEqual(expected);
    }
  });

  it('hands each request over as soon as its bytes are complete, holding none of the earlier ones', () => {
    const reader = new RequestsBodyReader();
    expect(reader.push(Buffer.from(`{"requests":[${r('a')},${r('b').slice(0, 10)}`))).toEqual([{ type: 'request', index: 0, value: JSON.parse(r('a')) }]);
    expect(reader.push(Buffer.from(`${r('b').slice(10)}]}`))).toEqual([{ type: 'request', index: 1, value: JSON.parse(r('b')) }]);
    expect(reader.end()).toEqual({ kind: 'array', count: 2 });
  });
});

import { describe, expect, it } from 'vitest';
import { quickAnswer } from '../../src/run/quick-answer.js';
import { successHead } from '../../src/job/result-tally.js';
import { parseResultLine } from '../../src/join/result-line.js';

const body = (choice: string, extra = '') =>
  `{"id":"chatcmpl-1","object":"chat.completion","created":1796405747,"model":"m","choices":[${choice}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}${extra}}`;
const choice = (content: string, rest = ',"logprobs":null,"finish_reason":"stop"') => `{"index":0,"message":{"role":"assistant","content":${content},"tool_calls":[]}${rest}}`;
const line = (b: string, status = 200) => `{"id":"batch_req_1","custom_id":"row-1","response":{"status_code":${status},"request_id":"req_1","body":${b}},"error":null}`;

/** quickAnswer of a whole line; whenever it answers, the full parse must agree. */
function quick(text: string): string | undefined {
  const buf = Buffer.from(`xx\n${text}\nyy`);
  const answer = quickAnswer(buf, 3, 3 + Buffer.byteLength(text));
  // Given the caller's latin1 text and successHead's statusEnd (as the download tally passes them), the same answer.
  const latin1 = buf.toString('latin1', 3, 3 + Buffer.byteLength(text));
  expect(quickAnswer(buf, 3, 3 + Buffer.byteLength(text), { latin1, statusEnd: successHead(latin1)?.statusEnd })).toBe(answer);
  if (answer !== undefined) {
    const parsed = parseResultLine(text);
    expect(parsed).toMatchObject({ ok: true, response: answer, logprobs: null });
  }
  return answer;
}

describe('quickAnswer', () => {
  it('reads the answer of a usual success line, multibyte text included', () => {
    expect(quick(line(body(choice('"positive"'))))).toBe('positive');
    expect(quick(line(body(choice('"café 日本語 😀"'))))).toBe('café 日本語 😀');
    expect(quick(line(body(choice('""'))))).toBe('');
    expect(quick(line(body(choice('"ok"')), 201))).toBe('ok');
  });

  it('leaves to the full parse a key that may come again, an escaped key, and a malformed value before the answer', () => {
    const repeated = `{"id":"batch_req_1","custom_id":"row-1","response":{"status_code":200,"status_code":500,"body":${body(choice('"yes"'))}},"error":null}`;
    expect(parseResultLine(repeated).ok).toBe(false);
    expect(quick(repeated)).toBeUndefined();
    const escaped = line(body(choice('"yes","c\\u006fntent":"no"')));
    expect(parseResultLine(escaped).response).toBe('no');
    expect(quick(escaped)).toBeUndefined();
    expect(quick(line(body(choice('"yes"')).replace('"created":1796405747', '"created":nope')))).toBeUndefined();
  });

  it('leaves every other line to the full parse', () => {
    const others = [
      line(body(choice('"say \\"hi\\""'))), // escapes
      line(body(choice('null'))), // no text
      line(body(`${choice('"a"')},${choice('"b"')}`)), // two choices
      line(body(choice('"a"', ',"logprobs":{"content":[{"token":"a","logprob":-0.1}]}'))), // logprobs wanted
      line(body(choice('"a"', ',"message":{"content":"b"}'))), // a duplicate key decides
      line(body(choice('"a"'), ',"choices":[]')),
      line(body(choice('"a"')), 500),
      line(body(choice('"a"')), 404),
      line(body(choice('"a"'))).replace(',"error":null}', ',"error":{"code":"x"}}'),
      line(body(choice('"a"'))).replace('"model":"m"', '"model":{"name":"m"}'), // nested before choices
      line(body(choice('"a"'))).replace('"request_id":"req_1"', '"request_id":"r\\"1"'),
      '{"custom_id":"row-1","response":null,"error":{"code":"batch_expired","message":"expired"}}',
      line(body(choice('"a"'))).slice(0, -30), // torn
      line(body(choice('"a"'))).replace('"total_tokens":6}', '"total_tokens":6'), // unbalanced
      'not json at all, but long enough to be looked at',
    ];
    for (const text of others) expect(quick(text), text).toBeUndefined();
  });

  it('reads numbers and literals before the answer as JSON.parse does, and leaves malformed ones to the full parse', () => {
    const created = (value: string) => line(body(choice('"yes"')).replace('"created":1796405747', `"created":${value}`));
    for (const ok of ['1.5e3', '-0', '0', 'true', 'null', '12E-2']) expect(quick(created(ok)), ok).toBe('yes');
    for (const bad of ['0123', 'truex', ' 12', '1.', '-', 'nul', '+1']) expect(quick(created(bad)), bad).toBeUndefined();
  });

  it('reads a line with a backslash anywhere as carefully as before (escapes are skipped, never trusted)', () => {
    const escapedElsewhere = line(body(choice('"yes"'))).replace('"model":"m"', '"model":"m\\/x"');
    expect(quick(escapedElsewhere)).toBeUndefined();
    const escapedAfter = line(body(choice('"yes"', ',"logprobs":null,"finish_reason":"st\\u006fp"')));
    expect(quick(escapedAfter)).toBe('yes');
    const escapedKeyAfter = line(body(choice('"yes"', ',"logprobs":null,"c\\u006fntent":"no"')));
    expect(quick(escapedKeyAfter)).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { parseResultLine, type BatchResult } from '../../src/join/result-line.js';
import { emptyVerdict, readVerdict, scanVerdict } from '../../src/join/result-verdict.js';
import { Scan, scanLine } from '../../src/join/verdict-scan.js';
import { VerdictStore } from '../../src/join/verdict-store.js';
import { VerdictTemplates } from '../../src/join/verdict-template.js';

/** An object written with its keys as given (raw JSON key text: escapes, repeats and order are kept). */
class Pairs {
  constructor(public entries: Array<[string, unknown]>) {}
}

const obj = (o: Record<string, unknown>): Pairs => new Pairs(Object.entries(o).map(([k, v]) => [JSON.stringify(k), v]));

function rng(seed: number): () => number {
  return () => {
    // Math.imul: a float product loses its low bits past 2^53 and the sequence falls into a short cycle.
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
}

function write(v: unknown, r: () => number): string {
  const ws = (): string => (r() < 0.08 ? [' ', '\t', '  ', '\r'][Math.floor(r() * 4)]! : '');
  if (v instanceof Pairs) return `{${ws()}${v.entries.map(([k, x]) => `${k}${ws()}:${ws()}${write(x, r)}`).join(`${ws()},${ws()}`)}${ws()}}`;
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => write(x, r)).join(`,${ws()}`)}${ws()}]`;
  if (typeof v === 'object' && v !== null && 'raw' in v) return (v as { raw: string }).raw;
  return JSON.stringify(v);
}

const raw = (text: string): { raw: string } => ({ raw: text });
const pick = <T,>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const CONTENTS: unknown[] = ['Positive.', '"neutral"', 'a\nb', 'é ü 日本 😀', '', 'back\\slash', raw('"\\u00e9\\ud83d\\ude00"'), raw('"tab\\tand\\/slash"'), null, 7, [{ type: 'text', text: 'hi' }], 'x'.repeat(3000)];
const STATUSES: unknown[] = [200, 200, 201, 299, 300, 404, 500, '200', raw('200.0'), raw('2e2'), raw('0200'), null];
const TOKENS: unknown[] = [48, 0, null, 1.5, -1, '3', raw('1e2'), 123456789, 1234567890, 255, 256, 65535, 65536, 16777214, 16777215];

/** A result line of the usual shape with one random change (or none), as text. */
function variant(r: () => number): string {
  const usage = obj({ prompt_tokens: 48, total_tokens: 50, completion_tokens: 2, prompt_tokens_details: null });
  const message = obj({ role: 'assistant', content: 'Positive.', tool_calls: [] });
  const choice = obj({ index: 0, message, logprobs: null, finish_reason: 'stop', stop_reason: null });
  const choices: unknown[] = [choice];
  const body = obj({ id: 'chatcmpl-1', object: 'chat.completion', created: 1737472126, model: 'm', choices, usage, prompt_logprobs: null });
  const response = obj({ status_code: 200, request_id: 'req_1', body });
  const top = obj({ id: 'batch_req_1', custom_id: 'rec-1', response, error: null });
  const all = [top, response, body, choice, message, usage];
  const set = (p: Pairs, k: string, v: unknown): void => {
    const e = p.entries.find(([key]) => key === JSON.stringify(k));
    if (e) e[1] = v;
    else p.entries.push([JSON.stringify(k), v]);
  };
  const changes = 1 + Math.floor(r() * 2);
  for (let c = 0; c < changes; c++) {
    switch (Math.floor(r() * 22)) {
      case 0: for (const p of all) p.entries.sort(() => r() - 0.5); break;
      case 1: set(message, 'content', pick(r, CONTENTS)); break;
      case 2: set(response, 'status_code', pick(r, STATUSES)); break;
      case 3: set(usage, pick(r, ['prompt_tokens', 'completion_tokens']), pick(r, TOKENS)); break;
      case 4: set(body, 'usage', pick(r, [null, [], 'x', obj({}), obj({ prompt_tokens: 3 })])); break;
      case 5: set(top, 'error', pick(r, [null, obj({ code: 'x', message: 'boom' }), 'oops', 0])); break;
      case 6: set(top, 'response', pick(r, [null, 'x', []])); break;
      case 7: set(top, 'custom_id', pick(r, [12, 'rec-1', raw('"rec\\u002d1"'), '', 'ré-1', raw('"a\\"b"'), null])); break;
      case 8: choices.push(pick(r, [choice, obj({ index: 1, message: obj({ content: 'other' }) }), null])); break;
      case 9: choices.length = 0; break;
      case 10: set(choice, 'message', pick(r, [null, 'x', obj({ role: 'assistant' })])); break;
      case 11: set(choice, 'finish_reason', pick(r, [null, 'length', 3, raw('"st\\u006fp"'), 'tool_calls', 'stoq', 'Stop', 'stops'])); break;
      case 12: set(choice, 'logprobs', pick(r, [obj({ content: [{ token: 'P', logprob: -0.1, top_logprobs: [] }] }), obj({ content: null }), 'x'])); break;
      case 13: set(response, 'request_id', pick(r, [null, 5, raw('"re\\"q"'), 'req-2'])); break;
      case 14: { const p = pick(r, all); if (p.entries.length > 0) p.entries.push([...pick(r, p.entries)]); break; }
      case 15: { const e = pick(r, pick(r, all).entries); if (e && e[0].length > 2) e[0] = `"\\u${e[0].charCodeAt(1).toString(16).padStart(4, '0')}${e[0].slice(2)}`; break; }
      case 16: { const p = pick(r, all); const i = Math.floor(r() * p.entries.length); p.entries.splice(i, 1); break; }
      case 17: set(body, 'extra', obj({ deep: [[[obj({ a: [1, 'two', true, false, null, -0.5e-3] })]]] })); break;
      case 18: set(top, 'body', pick(r, [obj({ choices: [] }), 'x'])); break;
      case 19: set(body, 'choices', pick(r, [obj({}), 'x', null])); break;
      case 20: set(message, '__proto__', obj({ content: 'x' })); break;
      default: break;
    }
  }
  return write(top, r);
}

/** A way to break a line's text. */
function broken(text: string, r: () => number): string {
  const at = Math.floor(r() * text.length);
  switch (Math.floor(r() * 7)) {
    case 0: return text.slice(0, at);
    case 1: return `${text.slice(0, at)}${pick(r, ['"', ',', '}', ']', '\\', '\u0001', 'x', ':'])}${text.slice(at)}`;
    case 2: return `${text},`;
    case 3: return `${text}}`;
    case 4: return text.replace('"stop"', '"st\\xop"');
    case 5: return text.replace('Positive.', 'Posi\ttive.');
    default: return text.slice(0, at) + text.slice(at + 1);
  }
}

/** The full parse's verdict, or 'throws'. */
function slow(text: string): BatchResult | 'throws' {
  try {
    return parseResultLine(text);
  } catch {
    return 'throws';
  }
}

/** The fast verdict, or null when it leaves the line to the full parse. */
function fast(text: string): BatchResult | null {
  const buf = Buffer.from(text);
  const v = emptyVerdict();
  if (!readVerdict(buf, 0, buf.length, v)) return null;
  const store = new VerdictStore();
  const slot = store.keep(buf, v);
  if (slot === -1) return null;
  const customId = store.customId(slot);
  expect(store.isFor(slot, customId)).toBe(true);
  expect(store.isFor(slot, `${customId}x`)).toBe(false);
  return store.result(slot, customId);
}

function expectAgrees(text: string): boolean {
  const quick = fast(text);
  if (quick === null) return false;
  const full = slow(text);
  expect(full, text).not.toBe('throws');
  const { body: _body, ...rest } = full as BatchResult;
  expect({ ...quick, body: undefined }, text).toEqual({ ...rest, body: undefined });
  return true;
}

describe('readVerdict', () => {
  it('reads the usual successful line as parseResultLine does', () => {
    const line = JSON.stringify({ id: 'b1', custom_id: 'rec-1', response: { status_code: 200, request_id: 'req_1', body: { choices: [{ index: 0, message: { role: 'assistant', content: '"neutral"' }, logprobs: null, finish_reason: 'stop' }], usage: { prompt_tokens: 48, completion_tokens: 2 } } }, error: null });
    expect(expectAgrees(line)).toBe(true);
    expect(fast(line)).toMatchObject({ customId: 'rec-1', ok: true, statusCode: 200, requestId: 'req_1', response: '"neutral"', finishReason: 'stop', promptTokens: 48, completionTokens: 2, logprobs: null, error: null });
  });

  it('agrees with parseResultLine on thousands of generated variants (orders, escapes, repeats, odd types)', () => {
    const r = rng(7);
    let accepted = 0;
    for (let n = 0; n < 6000; n++) if (expectAgrees(variant(r))) accepted++;
    // The usual shapes take the fast path; the rest fell back (and agreement there is the full parse itself).
    expect(accepted).toBeGreaterThan(1500);
  });

  it('leaves malformed lines to the full parse (which rejects them)', () => {
    const r = rng(11);
    for (let n = 0; n < 4000; n++) {
      const text = broken(variant(r), r);
      if (fast(text) !== null) expect(slow(text), text).not.toBe('throws');
      expectAgrees(text);
    }
  });

  it('leaves lines with escaped or repeated deciding keys, failures and logprobs to the full parse', () => {
    const base = (over: string) => `{"custom_id":"a",${over}}`;
    const body = '"body":{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}';
    expect(fast(base(`"response":{"status_code":200,${body}}`))).not.toBeNull();
    expect(fast(base(`"response":{"status_code":200,${body}},"custom_\\u0069d":"b"`))).toBeNull();
    expect(fast(base(`"response":{"status_code":200,${body}},"custom_id":"b"`))).toBeNull();
    expect(fast(base(`"response":{"status_code":500,${body}}`))).toBeNull();
    expect(fast(base(`"response":{"status_code":200,${body}},"error":{"message":"x"}`))).toBeNull();
    expect(fast(base(`"response":{"status_code":200,"body":{"choices":[{"message":{"content":"x"},"logprobs":{"content":[]}}]}}`))).toBeNull();
    expect(fast(base(`"response":{"status_code":200,"body":{"choices":[{"message":{"content":"x","content":"y"}}]}}`))).toBeNull();
    expect(fast(base(`"response":{"status_code":200,${body}},"response":{"status_code":500,"body":{}}`))).toBeNull();
    expect(fast(base(`"response":{"status_code":200,"status_code":500,${body}}`))).toBeNull();
    expect(fast(base(`"response":{"status_code":200,${body},"body":{"choices":[]}}`))).toBeNull();
  });

  it('reads reasoning and cached token details as parseResultLine does (odd values fall back to it)', () => {
    const r = rng(13);
    const DETAILS: unknown[] = [null, 'x', [], obj({}), 0, 7, 1.5, -2, '3', raw('1e1'), 16777215, 123456789, raw('null')];
    let accepted = 0;
    for (let n = 0; n < 3000; n++) {
      const completionDetails = obj({ reasoning_tokens: pick(r, DETAILS), audio_tokens: 0, accepted_prediction_tokens: 0 });
      const promptDetails = obj({ audio_tokens: 0, cached_tokens: pick(r, DETAILS) });
      const usage = obj({ prompt_tokens: 48, completion_tokens: 20, total_tokens: 68, completion_tokens_details: pick(r, [completionDetails, null, 'x']), prompt_tokens_details: pick(r, [promptDetails, null, obj({})]) });
      if (r() < 0.2) usage.entries.reverse();
      if (r() < 0.1) completionDetails.entries.push(['"reasoning_tokens"', 1]); // repeated: JSON.parse keeps the last
      if (r() < 0.1) promptDetails.entries[1]![0] = '"cached_\\u0074okens"'; // escaped key
      const body = obj({ choices: [obj({ message: obj({ content: 'positive' }), finish_reason: 'stop' })], usage });
      const line = write(obj({ custom_id: `r${n}`, response: obj({ status_code: 200, body }) }), r);
      if (expectAgrees(line)) accepted++;
    }
    expect(accepted).toBeGreaterThan(300);
    const line = JSON.stringify({ custom_id: 'a', response: { status_code: 200, body: { choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 9, completion_tokens: 5, completion_tokens_details: { reasoning_tokens: 4 }, prompt_tokens_details: { cached_tokens: 8 } } } } });
    expect(fast(line)).toMatchObject({ promptTokens: 9, completionTokens: 5, reasoningTokens: 4, cachedTokens: 8 });
  });

  it('reads a line in a larger buffer only up to its end', () => {
    const line = JSON.stringify({ custom_id: 'a', response: { status_code: 200, body: { choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 12 } } } });
    for (const tail of ['\n{"next":1}', '\r\n', ' ', '3}']) {
      const buf = Buffer.from(`${line}${tail}`);
      expect(readVerdict(buf, 0, line.length, emptyVerdict()), tail).toBe(true);
    }
    const cut = Buffer.from(`${line.slice(0, -2)}12}}`);
    expect(readVerdict(cut, 0, line.length - 2, emptyVerdict())).toBe(false);
  });

  it('reads lines of a learned shape as the scanner does, whatever their values (escapes, odd numbers, other types)', () => {
    const r = rng(17);
    const STRINGS = ['"x"', '""', '"stop"', '"length"', '"a\\"b"', '"\\u0041"', '"é 😀"', '"tab\\tx"', '"\u0001"', '"\\x"', '"open'];
    const NUMBERS = ['0', '7', '-1', '1.5', '2e2', '0200', '200', '201', '299', '300', '16777215', '123456789', '1234567890', '-', '1.'];
    const OTHERS = ['null', 'true', 'false', '{}', '[]', '[1]', '{"a":1}'];
    const scan = new Scan();
    let fitted = 0;
    for (let n = 0; n < 1500; n++) {
      const base = variant(r);
      const templates = new VerdictTemplates(scan);
      const learned = emptyVerdict();
      if (!scanLine(scan, Buffer.from(base), 0, Buffer.byteLength(base), learned)) continue;
      templates.learn(Buffer.from(base), 0, Buffer.byteLength(base), learned);
      for (let m = 0; m < 8; m++) {
        let text = base;
        for (let c = 0; c < 1 + Math.floor(r() * 2); c++) {
          const tokens = valueTokens(text);
          // Half the changes go to the values the verdict reads.
          const deciding = tokens.filter(([from]) => DECIDING.test(text.slice(Math.max(0, from - 24), from)));
          if (tokens.length === 0) break;
          const [from, to] = pick(r, deciding.length > 0 && r() < 0.5 ? deciding : tokens);
          const pool = r() < 0.45 ? STRINGS : r() < 0.8 ? NUMBERS : OTHERS;
          text = text.slice(0, from) + pick(r, pool) + text.slice(to);
        }
        if (r() < 0.1) text = broken(text, r);
        if (r() < 0.1) text = base;
        // The line in a larger buffer: read only up to its end.
        const buf = Buffer.from(`${text}\n{}`);
        const [quick, scanned] = [emptyVerdict(), emptyVerdict()];
        const fits = templates.match(buf, 0, buf.length - 3, quick);
        const read = scanLine(scan, buf, 0, buf.length - 3, scanned);
        if (!fits) continue;
        fitted++;
        expect(read, text).toBe(true);
        expect(quick, text).toEqual(scanned);
      }
    }
    expect(fitted).toBeGreaterThan(800);
  });

  it('reads a file of one shape through the learned shape, and lines of other shapes by the scanner', () => {
    const line = (id: number, content: unknown): string => JSON.stringify({ custom_id: `r${id}`, response: { status_code: 200, body: { choices: [{ message: { content } }], usage: { prompt_tokens: id } } } });
    const scan = new Scan();
    const templates = new VerdictTemplates(scan);
    const read = (text: string): boolean => {
      const v = emptyVerdict();
      if (templates.match(Buffer.from(text), 0, Buffer.byteLength(text), v)) return true;
      if (scanLine(scan, Buffer.from(text), 0, Buffer.byteLength(text), v)) templates.learn(Buffer.from(text), 0, Buffer.byteLength(text), v);
      return false;
    };
    expect(read(line(1, 'yes'))).toBe(false);
    expect(read(line(22, 'no'))).toBe(true);
    expect(read(line(3, null))).toBe(false);
    // Both shapes are kept.
    expect(read(line(4, null))).toBe(true);
    expect(read(line(5, 'maybe'))).toBe(true);
    expect(read(line(6, 7))).toBe(false);
    // A shape that fit no line is followed by lines of new shapes learned only every 8th.
    for (let k = 0; k < 7; k++) expect(read(line(7, [k]).replace('"r7"', `"r7","x${'y'.repeat(k)}":0`))).toBe(false);
    expect(read(line(8, 'yes'))).toBe(true);
    // A very long line is scanned, never learned (a shape holds a copy of its line).
    const long = (id: number): string => line(id, 'z'.repeat(70_000)).replace(`"r${id}"`, `"r${id}","extra":0`);
    expect(read(long(9))).toBe(false);
    expect(read(long(10))).toBe(false);
    expect(read(line(11, 'z'.repeat(70_000)))).toBe(true);
  });

  it('stops trying the shapes while lines of three shapes in turn miss them, and tries them again once lines fit', () => {
    const DETAILS = ['null', '{"cached_tokens":0}', '{}'];
    const line = (n: number, details: string): string => `{"custom_id":"r${n}","response":{"status_code":200,"body":{"choices":[{"message":{"content":"c${n}"}}],"usage":{"prompt_tokens":${n},"prompt_tokens_details":${details}}}}}`;
    const scan = new Scan();
    const templates = new VerdictTemplates(scan);
    const read = (text: string): void => {
      const buf = Buffer.from(text);
      const [quick, scanned] = [emptyVerdict(), emptyVerdict()];
      const fits = templates.match(buf, 0, buf.length, quick);
      expect(scanLine(scan, buf, 0, buf.length, scanned), text).toBe(true);
      if (fits) expect(quick, text).toEqual(scanned);
      else templates.learn(buf, 0, buf.length, scanned);
    };
    for (let n = 0; n < 3000; n++) read(line(n, DETAILS[n % 3]!));
    // Two shapes for three kinds of lines: about half would fit, for more than the misses cost. A few are probed.
    expect(templates.counts.tried).toBeLessThan(3000 / 8);
    expect(templates.counts.tried).toBeGreaterThan(3000 / 32);
    for (let n = 0; n < 2000; n++) read(line(n, DETAILS[0]!));
    const { tried, fitted } = templates.counts;
    for (let n = 0; n < 1000; n++) read(line(n, DETAILS[0]!));
    // Lines of one shape again: every line is tried, and fits.
    expect(templates.counts).toEqual({ tried: tried + 1000, fitted: fitted + 1000 });
  });

  it('tries every line of a file of one shape against it (and all but the first fit)', () => {
    const scan = new Scan();
    const templates = new VerdictTemplates(scan);
    for (let n = 0; n < 500; n++) {
      const buf = Buffer.from(`{"custom_id":"r${n}","response":{"status_code":200,"body":{"choices":[{"message":{"content":"c${n}"}}]}}}`);
      const v = emptyVerdict();
      if (!templates.match(buf, 0, buf.length, v) && scanLine(scan, buf, 0, buf.length, v)) templates.learn(buf, 0, buf.length, v);
    }
    expect(templates.counts).toEqual({ tried: 500, fitted: 499 });
  });

  it('reads as the scanner does through readVerdict, line after line of changing shapes', () => {
    const r = rng(19);
    for (let n = 0; n < 3000; n++) {
      const text = r() < 0.5 ? variant(r) : `{"custom_id":"c${n}","response":{"status_code":200,"body":{"choices":[{"message":{"content":"n${n}"}}]}}}`;
      const buf = Buffer.from(text);
      const [quick, scanned] = [emptyVerdict(), emptyVerdict()];
      const ok = readVerdict(buf, 0, buf.length, quick);
      expect(ok, text).toBe(scanVerdict(buf, 0, buf.length, scanned));
      if (ok) expect(quick, text).toEqual(scanned);
    }
  });

  it('keeps no line alive after reading one, also one refused at its first byte', () => {
    const scan = new Scan();
    for (const text of ['  [1]', '{"custom_id":"a"}', 'x']) {
      expect(scanLine(scan, Buffer.from(text), 0, text.length, emptyVerdict()), text).toBe(false);
      expect(scan.buf.length, text).toBe(0);
    }
  });

  it('keeps long answers out of the store (their lines are read when taken)', () => {
    const text = JSON.stringify({ custom_id: 'a', response: { status_code: 200, body: { choices: [{ message: { content: 'x'.repeat(5000) } }] } } });
    const buf = Buffer.from(text);
    const v = emptyVerdict();
    expect(readVerdict(buf, 0, buf.length, v)).toBe(true);
    expect(new VerdictStore().keep(buf, v)).toBe(-1);
  });
});

const DECIDING = /"(custom_id|request_id|status_code|finish_reason|content|prompt_tokens|completion_tokens|reasoning_tokens|cached_tokens)"\s*:\s*$/;

/** The spans of a JSON text's values that are strings (not keys) or numbers, as `[from, to)` (the text is assumed JSON-like). */
function valueTokens(text: string): Array<[number, number]> {
  const tokens: Array<[number, number]> = [];
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      let k = j + 1;
      while (' \t\r'.includes(text[k] ?? 'x')) k++;
      if (text[k] !== ':') tokens.push([i, j + 1]);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j]!)) j++;
      tokens.push([i, j]);
      i = j;
    } else i++;
  }
  return tokens;
}


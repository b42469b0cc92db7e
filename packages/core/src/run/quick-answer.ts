// The answer of a successful result line read from its bytes, so that judging 200k answers parses none of them.
import { hasBackslash, successHead } from '../job/result-tally.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Keys that must not come again after the first choice's content: a duplicate wins in JSON.parse, so it decides. */
const NOT_AGAIN = new Set(['content', 'message', 'choices', 'body', 'status_code', 'response']);
/** Keys that must not be passed over on the way to the one sought (the same, plus logprobs). */
const DECIDING = new Set([...NOT_AGAIN, 'logprobs']);
const DECIDING_LENGTHS = new Set([...DECIDING].map((k) => k.length));

/**
 * The assistant's text of a result line `buf[start, end)` that `parseResultLine` would call ok with exactly that
 * `response` and no `logprobs`: a 2xx line of the usual shape (see {@link successHead}) whose body's only choice
 * has a `message.content` string without escapes and null or absent logprobs, with only plain members before
 * those keys. Undefined for any other line: then the caller parses it (the answer is the same either way).
 * Scans the line once, char by char (long `indexOf` searches cost more than a JSON.parse).
 * @param known - what the caller already has: the line's bytes `[start, end)` as latin1, and `statusEnd` of
 *   `successHead` of that text when it ran it (the download tally does: the line is not scanned twice)
 */
export function quickAnswer(buf: Buffer, start: number, end: number, known: { latin1?: string | undefined; statusEnd?: number | undefined } = {}): string | undefined {
  if (end - start < 40 || buf[start] !== 0x7b) return undefined;
  // One char a byte: indexes are byte offsets (a caller that decoded the line so already passes it).
  const text = known.latin1 ?? buf.toString('latin1', start, end);
  const statusEnd = known.latin1 !== undefined && known.statusEnd !== undefined ? known.statusEnd : successHead(text)?.statusEnd;
  if (statusEnd === undefined || text.charCodeAt(statusEnd) !== 0x2c) return undefined;
  // A line without any backslash (most are) has no escapes: its strings end at the next quote.
  const stringEnd = text.indexOf('\\') === -1 ? nextQuote : plainStringEnd;
  const body = memberValue(text, statusEnd + 1, 'body', stringEnd);
  if (body === -1 || text.charCodeAt(body) !== 0x7b) return undefined;
  const choices = memberValue(text, body + 1, 'choices', stringEnd);
  if (choices === -1 || text.charCodeAt(choices) !== 0x5b || text.charCodeAt(choices + 1) !== 0x7b) return undefined;
  const message = memberValue(text, choices + 2, 'message', stringEnd);
  if (message === -1 || text.charCodeAt(message) !== 0x7b) return undefined;
  const content = memberValue(text, message + 1, 'content', stringEnd);
  if (content === -1 || text.charCodeAt(content) !== QUOTE) return undefined;
  const close = stringEnd(text, content + 1);
  if (close === -1 || !restIsPlain(text, close + 1, stringEnd === nextQuote)) return undefined;
  const answer = buf.toString('utf8', start + content + 1, start + close);
  return hasControl(answer) ? undefined : answer;
}

/** Index of the quote closing a string whose text starts at `from`, or -1 (the caller knows there is no escape). */
type StringEnd = (text: string, from: number) => number;

/**
 * Index of the value of member `name` in the object whose first member starts at `pos`, when every member before
 * it has a plain value (a string without escapes, a number or a literal); else -1.
 */
function memberValue(text: string, pos: number, name: string, stringEnd: StringEnd): number {
  for (;;) {
    if (text.charCodeAt(pos) !== QUOTE) return -1;
    const keyEnd = stringEnd(text, pos + 1);
    if (keyEnd === -1 || text.charCodeAt(keyEnd + 1) !== 0x3a) return -1;
    const value = keyEnd + 2;
    if (keyEnd - pos - 1 === name.length && sameText(text, pos + 1, name)) return value;
    // A key that decides the answer, met before the one sought, may come again: JSON.parse keeps the last one.
    if (DECIDING_LENGTHS.has(keyEnd - pos - 1) && DECIDING.has(text.slice(pos + 1, keyEnd))) return -1;
    const after = text.charCodeAt(value) === QUOTE ? stringEnd(text, value + 1) + 1 : scalarEnd(text, value);
    if (after <= 0 || text.charCodeAt(after) !== 0x2c) return -1;
    pos = after + 1;
  }
}

/**
 * After the content string (at `from`, inside message, choice, choices): the first choice closes, `choices` ends
 * with it, every later `logprobs` is null, and no key that decides the answer comes again.
 */
function restIsPlain(text: string, from: number, noEscapes: boolean): boolean {
  let depth = 2;
  let choiceEnd = -1;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const close = noEscapes ? text.indexOf('"', i + 1) : stringEnd(text, i + 1);
      if (close === -1) return false;
      if (text.charCodeAt(close + 1) === 0x3a) {
        // An escaped key may spell a deciding one (`c\u006fntent`): the full parse decides.
        if (!noEscapes && hasBackslash(text, i + 1, close)) return false;
        const len = close - i - 1;
        if (len === 8 && sameText(text, i + 1, 'logprobs')) {
          if (!text.startsWith('null', close + 2)) return false;
        } else if (len >= 4 && len <= 11 && NOT_AGAIN.has(text.slice(i + 1, close))) return false;
      }
      i = close;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0 && choiceEnd === -1) {
        choiceEnd = i;
        if (text.charCodeAt(i + 1) !== 0x5d) return false; // more than one choice
      }
    }
  }
  // Balanced to the end: choices, body, response and the line itself close (a torn line goes to the parse).
  return choiceEnd !== -1 && depth === -4;
}

/** Index of the next quote from `from`, or -1 (for a line without escapes). */
function nextQuote(text: string, from: number): number {
  return text.indexOf('"', from);
}

/** Index of the quote closing a string whose text starts at `from`, or -1 (also for an escape). */
function plainStringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) return i;
    if (c === BACKSLASH) return -1;
  }
  return -1;
}

/** Index of the quote closing a string whose text starts at `from` (escapes skipped), or -1. */
function stringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return -1;
}

/** Index after a number or literal value at `from` (the next `,` or `}`), or -1 for anything else. */
function scalarEnd(text: string, from: number): number {
  SCALAR.lastIndex = from;
  return SCALAR.test(text) ? SCALAR.lastIndex : -1;
}

/** A JSON number or literal, nothing else, up to a `,` or `}` (a malformed value sends the line to the full parse). */
const SCALAR = /(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)(?=[,}])/y;


function sameText(text: string, at: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if (text.charCodeAt(at + i) !== word.charCodeAt(i)) return false;
  return true;
}

// A raw control character makes the line invalid JSON: the full parse decides.
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

// The request cache's key: what changes an answer (provider, model, the request body), never the custom_id.
import { hash } from 'node:crypto';
import { CHAT_PARAM_FIELDS } from '../request/request-options.js';

/** Bumped when the key's recipe changes: old entries then simply miss. */
const KEY_VERSION = 'kbatch-cache-2';

/**
 * JSON with every object's keys sorted (recursively) and one form per number (as `JSON.stringify` writes a parsed
 * number: `1.0` and `1e0` are `1`), so two bodies that mean the same request read the same.
 * @example canonicalJson({ b: 1, a: [{ d: 2.0, c: 'x' }] }) // '{"a":[{"c":"x","d":2}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  // Built by concatenation (no array per level): it runs once per request of a run.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + (value[i] === undefined ? 'null' : canonicalJson(value[i]));
    return `${out}]`;
  }
  return orderedJson(value as Record<string, unknown>, NO_ORDER);
}

// kbatch's encoder writes a body's keys in this order (model, messages, the chat parameters) and a message's as role,
// content: the canonical body follows it, so a line kbatch rendered is its own canonical body, byte for byte.
const NO_ORDER: readonly string[] = [];
const BODY_ORDER: readonly string[] = ['model', 'messages', ...CHAT_PARAM_FIELDS.map(([, field]) => field)];
const MESSAGE_ORDER: readonly string[] = ['role', 'content'];

/** An object's JSON: the `first` keys in that order, then the others sorted; each value as `render` writes it. */
function orderedJson(object: Record<string, unknown>, first: readonly string[], render: (value: unknown, key: string) => string = canonicalJson): string {
  const keys = Object.keys(object);
  if (keys.length > 1) {
    if (first.length === 0) keys.sort();
    else keys.sort((a, b) => rank(first, a) - rank(first, b) || (a < b ? -1 : a > b ? 1 : 0));
  }
  let out = '{';
  for (const key of keys) {
    const item = object[key];
    if (item === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${render(item, key)}`;
  }
  return `${out}}`;
}

function rank(order: readonly string[], key: string): number {
  const at = order.indexOf(key);
  return at === -1 ? order.length : at;
}

/**
 * A request body in the cache's canonical form: {@link canonicalJson}, except that the body's keys come in the order
 * kbatch's encoder writes them (model, messages, chat parameters, then any other sorted) and a message's as role,
 * content. A body kbatch rendered reads the same as its line's bytes (see {@link requestLineKey}).
 * @example canonicalBody({ temperature: 0, model: 'm', messages: [{ content: 'hi', role: 'user' }] })
 * // '{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0}'
 */
export function canonicalBody(body: Record<string, unknown>): string {
  return orderedJson(body, BODY_ORDER, bodyValueJson);
}

function bodyValueJson(value: unknown, key: string): string {
  if (key !== 'messages' || !Array.isArray(value)) return canonicalJson(value);
  let out = '[';
  for (let i = 0; i < value.length; i++) {
    const m: unknown = value[i];
    const json = typeof m === 'object' && m !== null && !Array.isArray(m) ? orderedJson(m as Record<string, unknown>, MESSAGE_ORDER) : canonicalJson(m);
    out += (i === 0 ? '' : ',') + json;
  }
  return `${out}]`;
}

/**
 * The sha256 (32 bytes) a request's answer is cached under: the provider's profile name, the model and the canonical
 * request body ({@link canonicalBody}: messages, parameters, response_format…, the model included).
 * @example requestKey({ provider: 'kluster', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } })
 */
export function requestKey(request: { provider: string; body: Record<string, unknown> }): Buffer {
  const model = typeof request.body['model'] === 'string' ? request.body['model'] : '';
  return hash('sha256', `${KEY_VERSION}\n${request.provider}\n${model}\n${canonicalBody(request.body)}`, 'buffer') as unknown as Buffer;
}

// What kbatch's encoder writes before a body: the custom_id's value, then this, then the body (`{"model":"…`).
const ID_HEAD = Buffer.from('{"custom_id":"');
const AFTER_ID = Buffer.from('","method":"POST","url":"/v1/chat/completions","body":{"model":"');

/** Where a request line kbatch wrote keeps its parts (see {@link readRequestHead}). */
export interface RequestHead {
  /** The custom_id as JSON (quotes included): `line[ID_JSON_START, idEnd)`. */
  idEnd: number;
  /** The body: `line[bodyStart, line.length - 1)`. */
  bodyStart: number;
  model: string;
}

/** The custom_id's JSON starts here in a line kbatch wrote (its opening quote). */
export const ID_JSON_START = ID_HEAD.length - 1;

/**
 * The parts of a request line as kbatch's encoder writes it (`{"custom_id":"…","method":"POST",…,"body":{"model":"…"`,
 * the custom_id and model without escapes, `}` last), read from its bytes; null for any other line (parse it).
 */
export function readRequestHead(line: Buffer): RequestHead | null {
  const n = line.length;
  if (n < ID_HEAD.length + AFTER_ID.length + 4 || line[n - 1] !== 0x7d || line[n - 2] !== 0x7d) return null;
  if (line.compare(ID_HEAD, 0, ID_HEAD.length, 0, ID_HEAD.length) !== 0) return null;
  const idQuote = plainStringEnd(line, ID_HEAD.length);
  if (idQuote === -1 || line.compare(AFTER_ID, 0, AFTER_ID.length, idQuote, idQuote + AFTER_ID.length) !== 0) return null;
  const modelStart = idQuote + AFTER_ID.length;
  const modelQuote = plainStringEnd(line, modelStart);
  if (modelQuote === -1) return null;
  return { idEnd: idQuote + 1, bodyStart: idQuote + AFTER_ID.length - '{"model":"'.length, model: line.toString('utf8', modelStart, modelQuote) };
}

/** The index of the `"` closing a string that starts at `from` and holds no escape or control byte; -1 otherwise. */
function plainStringEnd(line: Buffer, from: number): number {
  for (let i = from; i < line.length; i++) {
    const b = line[i]!;
    if (b === 0x22) return i;
    if (b === 0x5c || b < 0x20) return -1;
  }
  return -1;
}

/**
 * Keys of request lines kbatch wrote, from their bytes: no JSON.parse. The line's body bytes are its canonical body
 * (kbatch's encoder writes one key order and one number form), so the key equals {@link requestKey} of the parsed body.
 * @example const keys = requestLineKeys('kluster'); const head = readRequestHead(line); if (head) keys.of(line, head);
 */
export function requestLineKeys(provider: string): { of(line: Buffer, head: RequestHead): Buffer } {
  let model: string | null = null;
  let prefix = Buffer.alloc(0);
  let scratch = Buffer.allocUnsafe(4096);
  return {
    of(line, head) {
      if (head.model !== model) {
        model = head.model;
        prefix = Buffer.from(`${KEY_VERSION}\n${provider}\n${model}\n`);
      }
      const bodyBytes = line.length - 1 - head.bodyStart;
      const size = prefix.length + bodyBytes;
      if (size > scratch.length) scratch = Buffer.allocUnsafe(Math.max(size, scratch.length * 2));
      scratch.set(prefix, 0);
      scratch.set(line.subarray(head.bodyStart, line.length - 1), prefix.length);
      return hash('sha256', scratch.subarray(0, size), 'buffer') as unknown as Buffer;
    },
  };
}

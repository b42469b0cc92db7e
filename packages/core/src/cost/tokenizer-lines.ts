// The prompt tokens of request lines, counted with a real tokenizer at the speed an estimate of a million rows needs.
import { isUtf8 } from 'node:buffer';
import { at, CONTENT, estimateLineTokens, messagesStart, plainTail, ROLE } from '../chunk/line-tokens.js';
import { KbatchError } from '../errors.js';
import { peekCustomId } from '../internal/line-splitter.js';
import { chatPromptTokens, LLAMA_PREAMBLE, DATED_LLAMA, type ChatMessageLike } from './tokenizer-chat.js';
import type { TextTokenizer } from './tokenizer.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;

/**
 * A counter of request lines' prompt tokens (messages + chat template, {@link chatPromptTokens}). Lines in kbatch's
 * own shape take the fast path: each content string is cut, in its JSON bytes, at every space that follows a plain
 * ASCII character other than whitespace (both vocabularies' pre-tokenizers always split there, and a BPE never merges
 * across a split), and each distinct segment is decoded and counted once, then found again by its bytes. Anything
 * else (other key orders, names, non-string content, text that trimming would change, invalid UTF-8) is parsed and
 * counted whole, so both paths always agree.
 * @throws KbatchError LINE_INVALID when a line is not JSON with a `body.messages` list
 */
export function requestLineCounter(tokenizer: TextTokenizer, model: string): (line: Buffer) => number {
  if (tokenizer.kind === 'approximate') return estimateLineTokens;
  const memo = new SegmentMemo(tokenizer);
  const llama = tokenizer.kind === 'llama3';
  const dated = llama && DATED_LLAMA.test(model);
  const frame = llama ? llamaFrame(tokenizer, dated) : { start: 3, perMessage: 3, noSystem: 0 };
  const roles = new Map<string, number>();
  const roleTokens = (role: string): number => {
    let n = roles.get(role);
    if (n === undefined) roles.set(role, (n = tokenizer.count(role)));
    return n;
  };
  return (line) => {
    const fast = scanMessages(line, memo, llama ? { first: dated ? memo.datedPrefix : memo.llamaPrefix, rest: memo.llamaPrefix } : null);
    if (fast === undefined) return parsedLineTokens(line, tokenizer, model);
    let total = frame.start;
    for (let k = 0; k < fast.roles.length; k++) total += frame.perMessage + roleTokens(fast.roles[k]!) + fast.contents[k]!;
    // The dated Llama template's system block: its preamble was counted with the first message when that is the system prompt.
    if (dated && fast.roles[0] !== 'system') total += frame.noSystem;
    return total;
  };
}

/** The slow path: the line parsed, its messages counted whole. */
export function parsedLineTokens(line: Buffer, tokenizer: TextTokenizer, model: string): number {
  try {
    const messages = (JSON.parse(line.toString('utf8')) as { body?: { messages?: unknown } } | null)?.body?.messages;
    if (Array.isArray(messages) && messages.every((m) => typeof m === 'object' && m !== null && typeof (m as { role?: unknown }).role === 'string')) {
      return chatPromptTokens(tokenizer, messages as ChatMessageLike[], model);
    }
  } catch {
    // reported below, with the custom_id when one can be read
  }
  const id = peekCustomId(line);
  throw new KbatchError('LINE_INVALID', `request ${id === undefined ? '(no custom_id)' : JSON.stringify(id)}: its prompt tokens cannot be counted (a request line must be JSON with a body.messages list of {role, content})`, {
    ...(id === undefined ? {} : { customId: id }),
  });
}

/** The template's fixed tokens: per request, per message (besides its role) and, dated Llama, a missing system block. */
function llamaFrame(tokenizer: TextTokenizer, dated: boolean): { start: number; perMessage: number; noSystem: number } {
  // <|begin_of_text|> and the reply's header; per message <|start_header_id|>, <|end_header_id|>, <|eot_id|>.
  const start = 1 + 2 + tokenizer.count('assistant') + tokenizer.count('\n\n');
  return { start, perMessage: 3, noSystem: dated ? 3 + tokenizer.count('system') + tokenizer.count(`\n\n${LLAMA_PREAMBLE}`) : 0 };
}

/** Roles and content token counts of a line in kbatch's own shape; undefined for anything else. */
function scanMessages(line: Buffer, memo: SegmentMemo, prefixes: { first: string; rest: string } | null): { roles: string[]; contents: number[] } | undefined {
  let i = messagesStart(line);
  if (i < 0) return undefined;
  const roles: string[] = [];
  const contents: number[] = [];
  while (line[i] !== 0x5d) {
    if (roles.length > 0 && line[i++] !== 0x2c) return undefined;
    if (!at(line, i, ROLE)) return undefined;
    const roleEnd = line.indexOf(QUOTE, i + ROLE.length);
    if (roleEnd < 0 || line.indexOf(BACKSLASH, i + ROLE.length) !== -1 && line.indexOf(BACKSLASH, i + ROLE.length) < roleEnd) return undefined;
    roles.push(line.toString('utf8', i + ROLE.length, roleEnd));
    i = roleEnd + 1;
    if (!at(line, i, CONTENT)) return undefined;
    // Llama's template: "\n\n" before each content (a dated one puts its preamble before the system prompt too).
    const prefix = prefixes === null ? '' : roles.length === 1 && roles[0] === 'system' ? prefixes.first : prefixes.rest;
    const end = memo.scanContent(line, i + CONTENT.length, prefix);
    if (end < 0 || line[end] !== 0x7d) return undefined;
    contents.push(memo.tokens);
    i = end + 1;
  }
  return memo.plainTail(line, i + 1) && isUtf8(line) ? { roles, contents } : undefined;
}

/** One remembered segment: its JSON bytes and tokens. */
interface Segment {
  bytes: Buffer;
  tokens: number;
}

/** Distinct segments remembered before the memo starts over (bounds memory on inputs with endless distinct words). */
const MAX_SEGMENTS = 500_000;

/** Segments of content strings, counted once each and found again by their bytes (hash, then byte-compared). */
class SegmentMemo {
  /** Tokens of the content {@link scanContent} last read. */
  tokens = 0;
  readonly llamaPrefix = '\n\n';
  readonly datedPrefix = `\n\n${LLAMA_PREAMBLE}`;
  private segments = new Map<number, Segment>();
  private firsts = new Map<string, Map<number, Segment>>();

  private lastTail: Buffer | undefined;
  /** The segment {@link count} reads: one object reused (no allocation per segment). */
  private readonly span = { start: 0, end: 0, hash: 0 };

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** {@link plainTail}, remembering the last tail found plain (the body parameters after the messages rarely vary). */
  plainTail(line: Buffer, start: number): boolean {
    const tail = line.subarray(start);
    if (this.lastTail !== undefined && this.lastTail.equals(tail)) return true;
    if (!plainTail(line, start)) return false;
    this.lastTail = Buffer.from(tail);
    return true;
  }

  /**
   * Read the JSON string whose first character is at `start`, summing its segments' tokens into {@link tokens} (the
   * first segment counted after `prefix`); the index after its closing quote, or -1 when the fast path does not apply
   * (invalid JSON, or a prefix with content that starts or ends with whitespace, which the template would trim).
   */
  scanContent(line: Buffer, start: number, prefix: string): number {
    const n = line.length;
    const trims = prefix !== '';
    // The template trims content: the fast path takes only content that starts and ends with a character not trimmed.
    if (trims && (start >= n || line[start] === QUOTE || line[start] === BACKSLASH || !solidAt(line, start))) return -1;
    let total = 0;
    let segStart = start;
    let hash = 0;
    let plain = false;
    let first = prefix;
    let lastLead = start;
    for (let i = start; i < n; ) {
      const b = line[i]!;
      if (b === QUOTE) {
        if (trims && !plain && (line[lastLead] === BACKSLASH || !solidAt(line, lastLead))) return -1;
        this.tokens = total + this.count(line, this.spanOf(segStart, i, hash), first);
        return i + 1;
      }
      if (b < 0x20) return -1;
      if (b === BACKSLASH) {
        if (i + 1 >= n) return -1;
        const escape = line[i + 1]!;
        const length = escape === 0x75 ? 6 : 2;
        if ((escape !== 0x75 && !ESCAPES.has(escape)) || i + length > n) return -1;
        for (let k = i; k < i + length; k++) hash = (Math.imul(hash, 31) + line[k]!) | 0;
        lastLead = i;
        i += length;
        plain = false;
        continue;
      }
      if (b === SPACE && plain) {
        total += this.count(line, this.spanOf(segStart, i, hash), first);
        first = '';
        segStart = i;
        hash = 0;
      }
      hash = (Math.imul(hash, 31) + b) | 0;
      plain = isPlain(b);
      if ((b & 0xc0) !== 0x80) lastLead = i;
      i++;
    }
    return -1;
  }

  private spanOf(start: number, end: number, hash: number): { start: number; end: number; hash: number } {
    const span = this.span;
    span.start = start;
    span.end = end;
    span.hash = hash;
    return span;
  }

  /** The tokens of `line[span.start, span.end)` (a JSON string's raw bytes, `span.hash` their hash) after `prefix`. */
  private count(line: Buffer, span: { start: number; end: number; hash: number }, prefix: string): number {
    const { start, end, hash } = span;
    const map = prefix === '' ? this.segments : this.firstsFor(prefix);
    // A small integer key (no boxed number per lookup); a collision is caught by the byte comparison.
    const key = (hash ^ ((end - start) << 24)) & 0x3fffffff;
    const known = map.get(key);
    if (known !== undefined && sameBytes(known.bytes, line, start, end)) return known.tokens;
    let text: string;
    try {
      text = JSON.parse(`"${line.toString('utf8', start, end)}"`) as string;
    } catch {
      text = line.toString('utf8', start, end); // an invalid \u escape: the whole line is parsed (and refused) later
    }
    const tokens = this.tokenizer.count(prefix + text);
    if (known === undefined) {
      if (map.size >= MAX_SEGMENTS) map.clear();
      map.set(key, { bytes: Buffer.from(line.subarray(start, end)), tokens });
    }
    return tokens;
  }

  private firstsFor(prefix: string): Map<number, Segment> {
    let map = this.firsts.get(prefix);
    if (map === undefined) this.firsts.set(prefix, (map = new Map()));
    return map;
  }
}

/** A printable ASCII character other than space: a segment may end after it. */
const isPlain = (b: number): boolean => b > SPACE && b < 0x7f;

/** Whether the character starting at byte `at` is one a trim keeps: printable ASCII, or a multibyte non-space. */
function solidAt(line: Buffer, at: number): boolean {
  const b = line[at]!;
  if (b < 0x80) return isPlain(b);
  const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
  return length > 0 && !/^\s/u.test(line.toString('utf8', at, at + length));
}

const ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)));

function sameBytes(bytes: Buffer, line: Buffer, start: number, end: number): boolean {
  if (bytes.length !== end - start) return false;
  for (let k = 0; k < bytes.length; k++) if (bytes[k] !== line[start + k]) return false;
  return true;
}

// The fast path of an estimate's token count: a request line in kbatch's own shape counted from its bytes.
import { isUtf8 } from 'node:buffer';
import { at, CONTENT, lineMemo, messagesStart, plainTail, ROLE } from '../chunk/line-tokens.js';
import { LLAMA_PREAMBLE, DATED_LLAMA } from './tokenizer-chat.js';
import { RepeatedEnd } from './repeated-end.js';
import { SegmentTable, type Span } from './segment-table.js';
import type { TextTokenizer } from './tokenizer.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;

/** The template's fixed tokens: per request, per message (besides its role) and, dated Llama, a missing system block. */
function llamaFrame(tokenizer: TextTokenizer, dated: boolean): { start: number; perMessage: number; noSystem: number } {
  // <|begin_of_text|> and the reply's header; per message <|start_header_id|>, <|end_header_id|>, <|eot_id|>.
  const start = 1 + 2 + tokenizer.count('assistant') + tokenizer.count('\n\n');
  return { start, perMessage: 3, noSystem: dated ? 3 + tokenizer.count('system') + tokenizer.count(`\n\n${LLAMA_PREAMBLE}`) : 0 };
}

/** A role's JSON bytes and tokens (a line names one of a few roles: found again by comparing bytes). */
interface Role {
  bytes: Buffer;
  tokens: number;
  system: boolean;
}

/** A message's content as the last line read it: its JSON bytes (closing quote included) and tokens. */
interface RememberedContent {
  bytes: Buffer;
  length: number;
  tokens: number;
  prefix: number;
  /** Comparisons failed in a row. */
  misses: number;
}

/** Message indexes whose content is remembered, the bytes kept of each, and how often a varying one is compared. */
const MAX_REMEMBERED = 4;
const MAX_REMEMBERED_BYTES = 16_384;
const RECHECK = 64;

/** Roles remembered (beyond them a role is counted each time). */
const MAX_ROLES = 16;
/** Prefix ids of a content's first segment: none, Llama's "\n\n", the dated Llama's "\n\n" + preamble (system prompt). */
const NO_PREFIX = 0;
const LLAMA_PREFIX = 1;
const DATED_PREFIX = 2;
/** What {@link LineScanner.scanContent} returns (instead of an index) when the rest of the line repeats the last line's end. */
const REPEATED = -2;

/** The tokens handed between {@link LineScanner.count} and the content it reads (one object reused: no allocation per content). */
interface ContentRead {
  /** In: the line's tokens counted before this content (a repeated end's count includes them). */
  before: number;
  /** Out: the content's tokens, or, when the read returned {@link REPEATED}, the whole line's. */
  tokens: number;
}

/**
 * The fast path of {@link requestLineCounter}: a line in kbatch's own shape counted from its bytes. What it reads
 * once and then finds again by comparing bytes: the roles and the segments of contents ({@link SegmentTable}) (and,
 * in {@link messagesStart} and {@link plainTail}, the header after the custom_id and the parameters after the messages).
 */
export class LineScanner {
  private readonly table = new SegmentTable();
  /** The segment being looked up: one object reused (no allocation per segment). */
  private readonly span: Span = { start: 0, end: 0, hash: 0 };
  /** The header and tail of the last line, compared with the next's. */
  private readonly memo = lineMemo();
  private readonly prefixes: readonly string[];
  private readonly llama: boolean;
  private readonly dated: boolean;
  private readonly frame: { start: number; perMessage: number; noSystem: number };
  private readonly roles: Role[] = [];
  private readonly ends = new RepeatedEnd();
  private readonly contents: RememberedContent[] = [];
  /** Lines counted: a message whose content varies is compared again every {@link RECHECK} lines. */
  private lines = 0;
  private readonly read: ContentRead = { before: 0, tokens: 0 };

  constructor(
    private readonly tokenizer: TextTokenizer,
    model: string,
  ) {
    this.llama = tokenizer.kind === 'llama3';
    this.dated = this.llama && DATED_LLAMA.test(model);
    this.prefixes = ['', '\n\n', `\n\n${LLAMA_PREAMBLE}`];
    this.frame = this.llama ? llamaFrame(tokenizer, this.dated) : { start: 3, perMessage: 3, noSystem: 0 };
  }

  /** The prompt tokens of a line in kbatch's own shape; -1 for anything else. */
  count(line: Buffer): number {
    let i = messagesStart(line, this.memo);
    if (i < 0) return -1;
    this.ends.begin();
    this.lines++;
    let total = this.frame.start;
    let first = true;
    let system = false;
    for (let k = 0; line[i] !== 0x5d; k++) {
      if (!first && line[i++] !== 0x2c) return -1;
      if (!at(line, i, ROLE)) return -1;
      const role = this.role(line, i + ROLE.length);
      if (role === undefined) return -1;
      i += ROLE.length + role.bytes.length + 1;
      if (!at(line, i, CONTENT)) return -1;
      if (first) system = role.system;
      // Llama's template: "\n\n" before each content (a dated one puts its preamble before the system prompt too).
      const prefix = !this.llama ? NO_PREFIX : this.dated && first && role.system ? DATED_PREFIX : LLAMA_PREFIX;
      const read = this.read;
      read.before = total + this.frame.perMessage + role.tokens;
      const end = this.content(k, line, i + CONTENT.length, prefix);
      // The rest of the line repeats the last one's end (its tail was found plain then).
      if (end === REPEATED) return isUtf8(line) ? this.withSystem(read.tokens, system) : -1;
      if (end < 0 || line[end] !== 0x7d) return -1;
      total = read.before + read.tokens;
      first = false;
      i = end + 1;
    }
    if (!plainTail(line, i + 1, this.memo) || !isUtf8(line)) return -1;
    this.ends.end(line, total);
    return this.withSystem(total, system);
  }

  /**
   * {@link scanContent}, or the tokens of the same content at this message index in an earlier line (a system prompt,
   * a fixed message), found by comparing bytes. A content that varies is compared, and kept, only now and then.
   */
  private content(index: number, line: Buffer, start: number, prefix: number): number {
    if (index >= MAX_REMEMBERED) return this.scanContent(line, start, prefix);
    const known = (this.contents[index] ??= { bytes: Buffer.alloc(MAX_REMEMBERED_BYTES), length: 0, tokens: 0, prefix: 0, misses: 0 });
    if (known.misses >= 2 && this.lines % RECHECK !== 0) return this.scanContent(line, start, prefix);
    const end = start + known.length;
    if (known.length > 0 && known.prefix === prefix && end <= line.length && line.compare(known.bytes, 0, known.length, start, end) === 0) {
      known.misses = 0;
      this.read.tokens = known.tokens;
      return end;
    }
    known.misses++;
    const scanned = this.scanContent(line, start, prefix);
    // Kept with its closing quote, so only the very same string is found again.
    if (scanned >= 0 && scanned - start <= MAX_REMEMBERED_BYTES) {
      line.copy(known.bytes, 0, start, scanned);
      Object.assign(known, { length: scanned - start, tokens: this.read.tokens, prefix });
    }
    return scanned;
  }

  /** The dated Llama template's system block: its preamble was counted with the first message when that is the system prompt. */
  private withSystem(total: number, system: boolean): number {
    return this.dated && !system ? total + this.frame.noSystem : total;
  }

  /** The role whose JSON string starts at `start` (one without escapes), counted once; undefined for any other. */
  private role(line: Buffer, start: number): Role | undefined {
    let end = start;
    for (; end < line.length && line[end] !== QUOTE; end++) if (line[end] === BACKSLASH || line[end]! < SPACE) return undefined;
    if (end >= line.length) return undefined;
    for (const role of this.roles) if (role.bytes.length === end - start && at(line, start, role.bytes)) return role;
    const text = line.toString('utf8', start, end);
    const role = { bytes: Buffer.from(line.subarray(start, end)), tokens: this.tokenizer.count(text), system: text === 'system' };
    if (this.roles.length < MAX_ROLES) this.roles.push(role);
    return role;
  }

  /**
   * Read the JSON string whose first character is at `start`, summing its segments' tokens into {@link ContentRead.tokens}
   * (the first segment counted after prefix `prefixId`); the index after its closing quote, or -1 when the fast path
   * does not apply (invalid JSON, or Llama's content that starts or ends with whitespace, which its template trims), or
   * {@link REPEATED} when the line's end from one of its cuts repeats the last line's (its tokens: the whole line's).
   */
  private scanContent(line: Buffer, start: number, prefixId: number): number {
    const n = line.length;
    const trims = this.llama;
    // The template trims content: the fast path takes only content that starts and ends with a character not trimmed.
    if (trims && (start >= n || line[start] === QUOTE || line[start] === BACKSLASH || !solidAt(line, start))) return -1;
    let total = 0;
    let segStart = start;
    let hash = 0;
    let plain = false;
    let prefix = prefixId;
    let escapeEnd = -1;
    for (let i = start; i < n; ) {
      const b = line[i]!;
      // Most bytes: letters, digits, punctuation, multibyte characters.
      if (b > QUOTE && b !== BACKSLASH) {
        hash = (Math.imul(hash, 31) + b) | 0;
        plain = b < 0x7f;
        i++;
      } else if (b === SPACE || b === 0x21) {
        if (b === SPACE && plain) {
          total += this.segment(line, this.spanOf(segStart, i, hash), prefix);
          prefix = NO_PREFIX;
          segStart = i;
          hash = 0;
          const repeated = this.ends.cut(line, i, this.read.before + total);
          if (repeated >= 0) {
            this.read.tokens = repeated;
            return REPEATED;
          }
        }
        hash = (Math.imul(hash, 31) + b) | 0;
        plain = b === 0x21;
        i++;
      } else if (b === QUOTE) {
        if (trims && (escapeEnd === i || !solidBefore(line, start, i))) return -1;
        this.read.tokens = total + this.segment(line, this.spanOf(segStart, i, hash), prefix);
        return i + 1;
      } else if (b === BACKSLASH) {
        if (i + 1 >= n) return -1;
        const escape = line[i + 1]!;
        const length = escape === 0x75 ? 6 : 2;
        if (escape === 0x75 ? !hexAt(line, i + 2) : !ESCAPES.has(escape)) return -1;
        for (let k = i; k < i + length; k++) hash = (Math.imul(hash, 31) + line[k]!) | 0;
        i += length;
        escapeEnd = i;
        plain = false;
      } else return -1; // a control character: not valid JSON
    }
    return -1;
  }

  /** {@link span}, set to `line[start, end)` with hash `hash`. */
  private spanOf(start: number, end: number, hash: number): Span {
    const span = this.span;
    span.start = start;
    span.end = end;
    span.hash = hash;
    return span;
  }

  /** The tokens of the segment `span` of `line` (a JSON string's raw bytes) after prefix `prefixId`. */
  private segment(line: Buffer, span: Span, prefixId: number): number {
    const known = this.table.find(line, span, prefixId);
    if (known >= 0) return known;
    // Valid JSON: scanContent took only known escapes, each \u with 4 hex digits.
    const text = JSON.parse(`"${line.toString('utf8', span.start, span.end)}"`) as string;
    const tokens = this.tokenizer.count(this.prefixes[prefixId] + text);
    this.table.add(line, span, prefixId, tokens);
    return tokens;
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

/** Whether the last character before byte `end` (not an escape; `start` the string's first byte) is one a trim keeps. */
function solidBefore(line: Buffer, start: number, end: number): boolean {
  let lead = end - 1;
  while (lead > start && (line[lead]! & 0xc0) === 0x80) lead--;
  return solidAt(line, lead);
}

/** Whether `line[at, at + 4)` are 4 hex digits (a `\u` escape's). */
function hexAt(line: Buffer, at: number): boolean {
  if (at + 4 > line.length) return false;
  for (let k = at; k < at + 4; k++) if (!isHex(line[k]!)) return false;
  return true;
}

const isHex = (b: number): boolean => (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66);

const ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)));

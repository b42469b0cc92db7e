// An incremental reader of a Message Batches create body `{"requests":[…], …}`: each request is parsed on its own as
// its bytes arrive, so a 256 MB body is never held whole (memory: one request). Pure: bytes in, values out.

const [TAB, LF, CR, SPACE, QUOTE, BACKSLASH] = [0x09, 0x0a, 0x0d, 0x20, 0x22, 0x5c];
const [LBRACE, RBRACE, LBRACKET, RBRACKET, COMMA, COLON] = [0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a];
const isSpace = (b: number): boolean => b === SPACE || b === LF || b === CR || b === TAB;
const endsScalar = (b: number): boolean => isSpace(b) || b === COMMA || b === RBRACE || b === RBRACKET || b === COLON;

/** What the body held once it ended: `requests` as an array (its length) or as another value, or absent. */
export type RequestsShape = { kind: 'array'; count: number } | { kind: 'other'; value: unknown } | { kind: 'absent' };

/** A request as it completes (its index in `requests`); or `restart` when a later `requests` key replaces the earlier one (JSON.parse keeps the last). */
export type RequestsEvent = { type: 'request'; index: number; value: unknown } | { type: 'restart' };

/** The body is not JSON (the route answers as it did when JSON.parse failed). */
export class BodySyntaxError extends Error {}

/** Where the skeleton is: which byte it expects next. A value being cut records in `after` what it was. */
type State = 'start' | 'first-key' | 'key' | 'colon' | 'value' | 'after-value' | 'first-element' | 'element' | 'after-element' | 'done';

/**
 * Reads a create body chunk by chunk: `push` returns the requests completed in that chunk, `end` the shape of
 * `requests`. Every value outside the requests array is parsed too, so a body JSON.parse refuses is refused here
 * (BodySyntaxError); keys, separators and brackets are checked byte by byte, each value by JSON.parse.
 * @example const reader = new RequestsBodyReader(); for await (const c of req) handle(reader.push(c)); const shape = reader.end();
 */
export class RequestsBodyReader {
  private state: State = 'start';
  private key = '';
  private shape: RequestsShape = { kind: 'absent' };
  private count = 0;
  private events: RequestsEvent[] = [];
  /** The value being cut (null: none): its kind, the state after it, its bytes so far, and its scan state. */
  private value: { kind: 'string' | 'nested' | 'scalar'; after: State; parts: Buffer[]; depth: number; inString: boolean; escaped: boolean } | null = null;

  /** @throws BodySyntaxError as soon as the bytes cannot be JSON */
  push(chunk: Buffer): RequestsEvent[] {
    this.events = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.value !== null) {
        const end = this.cut(chunk, i);
        if (end < 0) break;
        i = end;
        this.valueDone();
      } else if (this.step(chunk[i]!)) i++;
    }
    return this.events;
  }

  /** @throws BodySyntaxError when the body ended before it was whole */
  end(): RequestsShape {
    if (this.value?.kind === 'scalar') this.valueDone();
    if (this.state !== 'done' || this.value !== null) throw new BodySyntaxError('the body ended early');
    return this.shape;
  }

  // One byte outside any value: true when consumed, false when a value starts at it (cut from this byte on).
  private step(b: number): boolean {
    if (isSpace(b)) return true;
    const s = this.state;
    if (s === 'start' && b === LBRACE) return this.to('first-key');
    if (s === 'start') return this.begin(b, 'done');
    if ((s === 'first-key' || s === 'key') && b === QUOTE) return this.begin(b, 'colon');
    if (s === 'first-key' && b === RBRACE) return this.to('done');
    if (s === 'colon' && b === COLON) return this.to('value');
    if (s === 'value' && this.key === 'requests' && b === LBRACKET) return this.startRequests();
    if (s === 'value') return this.begin(b, 'after-value');
    if (s === 'after-value' && b === COMMA) return this.to('key');
    if (s === 'after-value' && b === RBRACE) return this.to('done');
    if (s === 'first-element' && b === RBRACKET) return this.endRequests();
    if (s === 'first-element' || s === 'element') return this.begin(b, 'after-element');
    if (s === 'after-element' && b === COMMA) return this.to('element');
    if (s === 'after-element' && b === RBRACKET) return this.endRequests();
    throw new BodySyntaxError(`unexpected byte 0x${b.toString(16)} (expecting ${s})`);
  }

  private to(state: State): true {
    this.state = state;
    return true;
  }

  private begin(b: number, after: State): false {
    if (endsScalar(b)) throw new BodySyntaxError(`unexpected byte 0x${b.toString(16)} where a value starts`);
    const kind = b === QUOTE ? 'string' : b === LBRACE || b === LBRACKET ? 'nested' : 'scalar';
    this.value = { kind, after, parts: [], depth: 0, inString: false, escaped: false };
    return false;
  }

  private startRequests(): true {
    this.restart();
    this.shape = { kind: 'array', count: 0 };
    return this.to('first-element');
  }

  private endRequests(): true {
    this.shape = { kind: 'array', count: this.count };
    return this.to('after-value');
  }

  // A second `requests` key: what the first one gave is dropped (JSON.parse keeps the last value of a key).
  private restart(): void {
    if (this.shape.kind !== 'absent') this.events.push({ type: 'restart' });
    this.count = 0;
  }

  // Scan the value being cut from `i`: the index after its end, or -1 when the chunk ends first (its bytes are kept).
  private cut(chunk: Buffer, from: number): number {
    const v = this.value!;
    let i = from;
    for (; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (v.kind === 'scalar') {
        if (endsScalar(b)) break;
      } else if (v.inString) {
        if (v.escaped) v.escaped = false;
        else if (b === BACKSLASH) v.escaped = true;
        else if (b === QUOTE) {
          v.inString = false;
          if (v.depth === 0) return this.keep(chunk, from, i + 1);
        }
      } else if (b === QUOTE) v.inString = true;
      else if (b === LBRACE || b === LBRACKET) v.depth++;
      else if ((b === RBRACE || b === RBRACKET) && --v.depth === 0) return this.keep(chunk, from, i + 1);
    }
    if (i < chunk.length) return this.keep(chunk, from, i);
    v.parts.push(chunk.subarray(from));
    return -1;
  }

  private keep(chunk: Buffer, from: number, end: number): number {
    this.value!.parts.push(chunk.subarray(from, end));
    return end;
  }

  // A value is cut: JSON.parse checks it, and the skeleton takes it as a key, a request or another key's value.
  private valueDone(): void {
    const { parts, after } = this.value!;
    this.value = null;
    let value: unknown;
    try {
      value = JSON.parse((parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8'));
    } catch {
      throw new BodySyntaxError('a value in the body is not JSON');
    }
    if (after === 'colon') this.key = value as string;
    else if (after === 'after-element') this.events.push({ type: 'request', index: this.count++, value });
    else if (after === 'after-value' && this.key === 'requests') {
      this.restart();
      this.shape = { kind: 'other', value };
    }
    this.state = after;
  }
}

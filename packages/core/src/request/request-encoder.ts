// The one place where a record becomes a request line. Two forms share the builder's frame (custom_id, body start,
// messages, tail), the custom_id checks and the reject policy: `recordLine` (under `encodeLine` and `toLine`)
// from a record's values, and `createCsvRowEncoder` from CSV field spans, copying and JSON-escaping bytes
// (prepare's fast path: no UTF-16 decode, no JSON.stringify, no re-encode). Both write the same bytes; the tests
// compare them.
import { isKbatchError, type KbatchError } from '../errors.js';
import { ESCAPED } from '../internal/csv-scanner.js';
import type { OnInvalidRecord, RejectHandler, RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/source-record.js';
import { createIdRegistry, customIdFor, type IdRegistry } from './custom-id.js';
import type { LineBuffer } from './line-buffer.js';
import type { CompiledTemplate } from './template.js';
import type { RequestBuilder } from './to-batch-request.js';

/** Turns records into request lines one at a time, applying duplicate-id checks and the reject policy. */
export interface RequestEncoder {
  /** The serialized line (no newline), or undefined when the record was skipped. */
  encodeLine(record: SourceRecord): string | undefined;
  /** Records skipped so far. */
  readonly rejected: number;
}

/** How per-record errors are handled: stop (`error`, the default) or report through `onReject` and go on. */
export interface EncoderPolicy {
  onInvalidRecord?: OnInvalidRecord;
  onReject?: RejectHandler;
  file?: string;
}

/**
 * Stateful wrapper shared by `requestStream` and `prepareRequests`: custom_id uniqueness (ids from a column
 * only: generated ids are unique by construction) and `onInvalidRecord` for per-record errors.
 */
export function createRequestEncoder(builder: RequestBuilder, options: EncoderPolicy = {}): RequestEncoder {
  const ids = idChecker(builder, options);
  return {
    get rejected() {
      return ids.rejected;
    },
    encodeLine(record) {
      try {
        const line = builder.toLine(record, options.file);
        ids.add?.(builder.idOf(record, options.file), record.index);
        return line;
      } catch (err) {
        ids.fail(err, record, () => record.data);
        return undefined;
      }
    },
  };
}

/**
 * A record's request line (no newline), from its values: equal to `JSON.stringify(builder.toObject(record))`, with
 * only the custom_id and the rendered prompts JSON-encoded per record. This is `builder.toLine`.
 */
export function recordLine(builder: RequestBuilder, record: SourceRecord, file?: string): string {
  const { frame } = builder;
  const ctx = { file, record: record.index, line: record.line };
  let line = '{"custom_id":' + JSON.stringify(customIdFor(record, builder.options.idColumn, file)) + frame.bodyStart;
  if (frame.systemJson !== undefined) line += frame.systemJson;
  else if (frame.system !== undefined) line += `{"role":"system","content":${JSON.stringify(frame.system.render(record.data, ctx))}},`;
  return line + `{"role":"user","content":${JSON.stringify(frame.user.render(record.data, ctx))}}` + frame.tail;
}

/** One CSV row as the scanner found it (reused from row to row). */
export interface CsvRow {
  src: Buffer;
  /** Field i is `src[spans[3i] .. spans[3i+1])`, see `CsvSink`. */
  spans: Int32Array;
  /** Record number and physical line. */
  index: number;
  line: number;
  /** The row's values by column, built only when needed (a rejected row's raw text). */
  data(): Record<string, unknown>;
}

/** Writes request lines from CSV rows as bytes. */
export interface CsvRowEncoder {
  /** Append the row's line to `out`; false when the row was rejected (its custom_id). */
  encodeRow(out: LineBuffer, row: CsvRow): boolean;
}

interface TemplateBytes {
  open: Buffer;
  literals: Buffer[];
  columns: number[];
  close: Buffer;
}

/**
 * The byte form of `encodeLine` for rows under `columns` (a CSV header), or undefined when the template or the id
 * column names a field the header lacks (then only `encodeLine` can say what is wrong with each record).
 */
export function createCsvRowEncoder(builder: RequestBuilder, columns: readonly string[], options: EncoderPolicy = {}): CsvRowEncoder | undefined {
  const { frame } = builder;
  const idColumn = builder.options.idColumn;
  const idIndex = idColumn === undefined ? -1 : columns.indexOf(idColumn);
  const user = templateBytes(frame.user, 'user', columns);
  const system = frame.system === undefined ? undefined : systemBytes(frame, columns);
  if (user === undefined || system === null || (idColumn !== undefined && idIndex === -1)) return undefined;
  const head = Buffer.from(idColumn === undefined ? '{"custom_id":"row-' : '{"custom_id":"');
  const afterId = Buffer.from(`"${frame.bodyStart}`);
  const tail = Buffer.from(`${frame.tail}\n`);
  const fixed = head.length + 16 + afterId.length + tail.length + (Buffer.isBuffer(system) ? system.length : 0);
  const ids = idChecker(builder, options);
  return {
    encodeRow(out, row) {
      const { spans } = row;
      if (idIndex >= 0 && !acceptId(ids, row, idIndex, idColumn!)) return false;
      let bound = fixed + templateBound(user, spans);
      if (idIndex >= 0) bound += (spans[3 * idIndex + 1]! - spans[3 * idIndex]!) * 6;
      if (system !== undefined && !Buffer.isBuffer(system)) bound += templateBound(system, spans);
      out.reserve(bound);
      let off = copy(out.buf, out.off, head);
      if (idIndex >= 0) off = writeField(out.buf, off, row, idIndex);
      else off += out.buf.write(String(row.index), off, 'latin1');
      off = copy(out.buf, off, afterId);
      if (Buffer.isBuffer(system)) off = copy(out.buf, off, system);
      else if (system !== undefined) off = writeTemplate(out.buf, off, system, row);
      off = writeTemplate(out.buf, off, user, row);
      out.off = copy(out.buf, off, tail);
      return true;
    },
  };
}

// An id from a column: the same checks and messages as encodeLine's (customIdFor, the registry).
function acceptId(ids: IdChecker, row: CsvRow, idIndex: number, idColumn: string): boolean {
  const { src, spans } = row;
  let id = src.toString('utf8', spans[3 * idIndex]!, spans[3 * idIndex + 1]!);
  if (spans[3 * idIndex + 2] === ESCAPED) id = id.replaceAll('""', '"');
  try {
    if (id.trim() === '') customIdFor({ index: row.index, line: row.line, data: { [idColumn]: id } }, idColumn, ids.file);
    ids.add!(id, row.index);
    return true;
  } catch (err) {
    ids.fail(err, row, () => row.data());
    return false;
  }
}

interface IdChecker {
  readonly file: string | undefined;
  readonly rejected: number;
  /** Registers a column id (undefined for generated ids, unique by construction). */
  add: ((id: string, index: number) => void) | undefined;
  /** Apply the policy to a record's error: rethrow, or report it as rejected. */
  fail(err: unknown, record: { index: number; line: number }, data: () => unknown): void;
}

function idChecker(builder: RequestBuilder, { onInvalidRecord = 'error', onReject, file }: EncoderPolicy): IdChecker {
  const registry: IdRegistry | undefined = builder.options.idColumn === undefined ? undefined : createIdRegistry();
  let rejected = 0;
  return {
    file,
    get rejected() {
      return rejected;
    },
    add: registry === undefined ? undefined : (id, index) => registry.add(id, index),
    fail(err, record, data) {
      if (onInvalidRecord === 'error' || !isKbatchError(err)) throw withFile(err, file);
      rejected++;
      const skipped: RejectedRecord = {
        file: file ?? '-',
        line: record.line,
        record: record.index,
        code: (err as KbatchError).code,
        reason: err.message,
        raw: JSON.stringify(data()),
      };
      onReject?.(skipped);
    },
  };
}

function withFile(err: unknown, file: string | undefined): unknown {
  if (isKbatchError(err) && file !== undefined && err.file === undefined) (err as { file?: string }).file = file;
  return err;
}

function templateBytes(template: CompiledTemplate, role: string, columns: readonly string[]): TemplateBytes | undefined {
  const indexes = template.fields.map((f) => columns.indexOf(f));
  if (indexes.includes(-1)) return undefined;
  return {
    open: Buffer.from(`{"role":"${role}","content":"`),
    literals: template.literals.map((l) => Buffer.from(JSON.stringify(l).slice(1, -1))),
    columns: indexes,
    close: Buffer.from(role === 'user' ? '"}' : '"},'),
  };
}

// A system prompt without fields is encoded once; null when it names a field the header lacks.
function systemBytes(frame: RequestBuilder['frame'], columns: readonly string[]): TemplateBytes | Buffer | null {
  if (frame.systemJson !== undefined) return Buffer.from(frame.systemJson);
  return templateBytes(frame.system!, 'system', columns) ?? null;
}

function templateBound(t: TemplateBytes, spans: Int32Array): number {
  let bound = t.open.length + t.close.length;
  for (const lit of t.literals) bound += lit.length;
  for (const c of t.columns) bound += (spans[3 * c + 1]! - spans[3 * c]!) * 6;
  return bound;
}

function writeTemplate(out: Buffer, off: number, t: TemplateBytes, row: CsvRow): number {
  off = copy(out, off, t.open);
  for (let i = 0; i < t.columns.length; i++) {
    off = copy(out, off, t.literals[i]!);
    off = writeField(out, off, row, t.columns[i]!);
  }
  off = copy(out, off, t.literals[t.columns.length]!);
  return copy(out, off, t.close);
}

function copy(out: Buffer, off: number, bytes: Buffer): number {
  if (bytes.length > 0) out.set(bytes, off);
  return off + bytes.length;
}

const HEX = '0123456789abcdef';

// Field f JSON-escaped exactly as JSON.stringify does it, on UTF-8 bytes. In a quoted CSV field a quote is always
// doubled, so `""` becomes `\"`.
function writeField(out: Buffer, off: number, row: CsvRow, f: number): number {
  const { src, spans } = row;
  const end = spans[3 * f + 1]!;
  const escaped = spans[3 * f + 2] === ESCAPED;
  for (let i = spans[3 * f]!; i < end; i++) {
    const b = src[i]!;
    if (b >= 0x20 && b !== 0x22 && b !== 0x5c) {
      out[off++] = b;
      continue;
    }
    out[off++] = 0x5c;
    if (b === 0x22) {
      out[off++] = 0x22;
      if (escaped) i++;
    } else if (b === 0x5c) out[off++] = 0x5c;
    else if (b === 0x0a) out[off++] = 0x6e;
    else if (b === 0x0d) out[off++] = 0x72;
    else if (b === 0x09) out[off++] = 0x74;
    else if (b === 0x08) out[off++] = 0x62;
    else if (b === 0x0c) out[off++] = 0x66;
    else {
      out[off++] = 0x75;
      out[off++] = 0x30;
      out[off++] = 0x30;
      out[off++] = HEX.charCodeAt(b >> 4);
      out[off++] = HEX.charCodeAt(b & 15);
    }
  }
  return off;
}

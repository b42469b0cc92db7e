// The CSV/TSV fast path of prepare: bytes in, bytes out. Measured on 1M review rows (335 MB, two cores
// busy elsewhere): the text path spends ~0.35 s decoding UTF-8, ~0.7 s in JSON.stringify and string
// building and ~0.6 s encoding UTF-8 again; copying and escaping bytes instead removes all three.
// It applies when every template field (and the id column, if any) is a header column; the output is
// byte for byte what the text path writes (the tests compare both).
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { isKbatchError, KbatchError } from '../errors.js';
import { createIdRegistry, customIdFor } from '../request/custom-id.js';
import { raggedData, rejectionError, type RejectedRecord } from '../records/rejected-record.js';
import type { InputEncoding } from '../records/read-options.js';
import type { SourceRecord } from '../records/types.js';
import type { RequestBuilder } from '../request/to-batch-request.js';
import type { CompiledTemplate } from '../request/template.js';
import { CsvScanner, spanTexts, type CsvSink } from './csv-scanner.js';
import { invalidUtf8Reason, latin1ToUtf8, Utf8Check } from './utf8.js';

const OUT_BYTES = 1 << 20;

/** Inputs of the fast path. */
export interface FastCsvOptions {
  source: NodeJS.ReadableStream;
  file: string;
  delimiter: string;
  onInvalidRecord: 'error' | 'skip';
  builder: RequestBuilder;
  /** Ordered output with backpressure. */
  write(bytes: Buffer): Promise<void>;
  onReject(rejected: RejectedRecord): void;
  signal?: AbortSignal;
  encoding?: InputEncoding;
  /** Called with the header before any row (throw to stop). */
  onHeader?: (columns: string[], line: number) => void;
  /** Called with the first row as a record before its request is written (throw to stop). */
  checkRecord?: (record: SourceRecord) => void;
}

/** Lines written, or a stream replaying the whole input when the header does not fit the fast path. */
export type FastCsvResult = { linesWritten: number; recordsRead: number } | { fallback: Readable };

interface TemplateBytes {
  open: Buffer;
  literals: Buffer[];
  columns: number[];
  close: Buffer;
}

/** Run the fast path (the caller checked: CSV/TSV input). */
export async function fastCsvPrepare(opts: FastCsvOptions): Promise<FastCsvResult> {
  const { builder, file } = opts;
  const { frame } = builder;
  const idColumn = builder.options.idColumn;
  const registry = idColumn === undefined ? undefined : createIdRegistry();
  const head = Buffer.from(idColumn === undefined ? '{"custom_id":"row-' : '{"custom_id":"');
  let columnsNames: string[] = [];
  let idIndex = -1;
  const afterId = Buffer.from(`"${frame.bodyStart}`);
  const tail = Buffer.from(`${frame.tail}\n`);
  let system: TemplateBytes | Buffer | undefined;
  let user: TemplateBytes | undefined;
  let fallback = false;
  let decided = false;

  let out = Buffer.allocUnsafe(OUT_BYTES);
  let off = 0;
  const full: Buffer[] = [];
  let index = 0;
  let linesWritten = 0;
  let checked = opts.checkRecord === undefined;
  const dataOf = (src: Buffer, spans: Int32Array, count: number): Record<string, string> =>
    raggedData(columnsNames, spanTexts(src, spans, count)) as Record<string, string>;
  const reject = (rejected: RejectedRecord) => {
    if (opts.onInvalidRecord === 'error') throw rejectionError(rejected);
    opts.onReject(rejected);
  };

  const sink: CsvSink = {
    header(fields, line) {
      decided = true;
      const seen = new Set<string>();
      for (const name of fields) {
        if (seen.has(name)) {
          throw new KbatchError('RECORD_INVALID', `${file}:${line}: the header names column "${name}" twice`, { file, line, field: name });
        }
        seen.add(name);
      }
      opts.onHeader?.(fields, line);
      const compile = (template: CompiledTemplate, role: string): TemplateBytes | undefined => {
        const columns = template.fields.map((f) => fields.indexOf(f));
        if (columns.includes(-1)) return undefined;
        return {
          open: Buffer.from(`{"role":"${role}","content":"`),
          literals: template.literals.map((l) => Buffer.from(JSON.stringify(l).slice(1, -1))),
          columns,
          close: Buffer.from(role === 'user' ? '"}' : '"},'),
        };
      };
      user = compile(frame.user, 'user');
      if (frame.system !== undefined) {
        system =
          frame.system.fields.length === 0
            ? Buffer.from(`{"role":"system","content":${JSON.stringify(frame.system.render({}))}},`)
            : compile(frame.system, 'system');
      }
      columnsNames = fields;
      if (idColumn !== undefined) idIndex = fields.indexOf(idColumn);
      fallback = user === undefined || (frame.system !== undefined && system === undefined) || (idColumn !== undefined && idIndex === -1);
    },
    row(src, spans, count, line) {
      if (fallback) return;
      index++;
      // Rare: only once the input held invalid UTF-8 is each row checked (whole, then field by field).
      if (utf8.invalid && !isUtf8(src.subarray(spans[0]!, spans[3 * count - 2]!))) {
        for (let f = 0; f < count; f++) {
          if (isUtf8(src.subarray(spans[3 * f]!, spans[3 * f + 1]!))) continue;
          const raw = JSON.stringify(dataOf(src, spans, count));
          reject({ file, line, record: index, code: 'INPUT_ENCODING', reason: invalidUtf8Reason(`in field "${columnsNames[f]}"`), raw });
          return;
        }
      }
      if (!checked) {
        checked = true;
        opts.checkRecord!({ index, line, data: dataOf(src, spans, count) });
      }
      let bound = head.length + 16 + afterId.length + tail.length;
      if (idIndex >= 0) {
        // Ids from a column: the same checks and messages as the text path (customIdFor, the registry).
        let id = src.toString('utf8', spans[3 * idIndex]!, spans[3 * idIndex + 1]!);
        if (spans[3 * idIndex + 2] === 1) id = id.replaceAll('""', '"');
        try {
          if (id.trim() === '') customIdFor({ index, line, data: { [idColumn!]: id } }, idColumn, file);
          registry!.add(id, index);
        } catch (err) {
          if (!isKbatchError(err)) throw err;
          if (opts.onInvalidRecord === 'error') {
            if (err.file === undefined) (err as { file?: string }).file = file;
            throw err;
          }
          opts.onReject({ file, line, record: index, code: err.code, reason: err.message, raw: JSON.stringify(dataOf(src, spans, count)) });
          return;
        }
        bound += (spans[3 * idIndex + 1]! - spans[3 * idIndex]!) * 6;
      }
      bound += templateBound(user!, spans);
      if (system !== undefined) bound += Buffer.isBuffer(system) ? system.length : templateBound(system, spans);
      if (off + bound > out.length) {
        if (off > 0) full.push(out.subarray(0, off));
        out = Buffer.allocUnsafe(Math.max(OUT_BYTES, bound));
        off = 0;
      }
      const o = out;
      o.set(head, off);
      off += head.length;
      if (idIndex >= 0) off = writeEscaped(o, off, src, spans[3 * idIndex]!, spans[3 * idIndex + 1]!, spans[3 * idIndex + 2] === 1);
      else off += o.write(String(index), off, 'latin1');
      o.set(afterId, off);
      off += afterId.length;
      if (system !== undefined) {
        if (Buffer.isBuffer(system)) {
          o.set(system, off);
          off += system.length;
        } else off = writeTemplate(o, off, system, src, spans);
      }
      off = writeTemplate(o, off, user!, src, spans);
      o.set(tail, off);
      off += tail.length;
      linesWritten++;
    },
    invalid(reason, line, raw, fields) {
      if (fallback) return;
      reject({ file, line, record: ++index, code: 'RECORD_INVALID', reason, raw, ...(fields ? { data: raggedData(columnsNames, fields) } : {}) });
    },
  };

  const scanner = new CsvScanner(opts.delimiter);
  // Bytes go to the scanner as they are; invalid UTF-8 only switches on the per-row check above.
  const utf8 = new Utf8Check();
  const latin1 = opts.encoding === 'latin1';
  const kept: (Buffer | string)[] = [];
  const input = (opts.source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const flush = async () => {
    for (const chunk of full.splice(0)) await opts.write(chunk);
  };
  for (;;) {
    const next = await input.next();
    if (next.done) break;
    if (opts.signal?.aborted) throw new KbatchError('ABORTED', 'prepare was aborted', { cause: opts.signal.reason });
    if (!decided) kept.push(next.value);
    const bytes = latin1 ? latin1ToUtf8(next.value) : typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    if (!latin1) utf8.push(bytes);
    scanner.push(bytes, sink);
    if (fallback) return { fallback: replay(kept, input) };
    if (decided) kept.length = 0;
    await flush();
  }
  if (!latin1) utf8.end();
  scanner.end(sink);
  if (fallback) return { fallback: replay(kept, input) };
  if (off > 0) full.push(out.subarray(0, off));
  await flush();
  return { linesWritten, recordsRead: index };
}

function templateBound(t: TemplateBytes, spans: Int32Array): number {
  let bound = t.open.length + t.close.length;
  for (const lit of t.literals) bound += lit.length;
  for (const c of t.columns) bound += (spans[3 * c + 1]! - spans[3 * c]!) * 6;
  return bound;
}

function writeTemplate(out: Buffer, off: number, t: TemplateBytes, src: Buffer, spans: Int32Array): number {
  out.set(t.open, off);
  off += t.open.length;
  for (let i = 0; i < t.columns.length; i++) {
    const lit = t.literals[i]!;
    if (lit.length > 0) {
      out.set(lit, off);
      off += lit.length;
    }
    const c = t.columns[i]!;
    off = writeEscaped(out, off, src, spans[3 * c]!, spans[3 * c + 1]!, spans[3 * c + 2] === 1);
  }
  const lit = t.literals[t.columns.length]!;
  if (lit.length > 0) {
    out.set(lit, off);
    off += lit.length;
  }
  out.set(t.close, off);
  return off + t.close.length;
}

const HEX = '0123456789abcdef';

// JSON string escaping exactly as JSON.stringify does it, on UTF-8 bytes. In a quoted CSV field a quote
// is always doubled, so `""` becomes `\"`.
function writeEscaped(out: Buffer, off: number, src: Buffer, start: number, end: number, quoted: boolean): number {
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    if (b >= 0x20 && b !== 0x22 && b !== 0x5c) {
      out[off++] = b;
      continue;
    }
    out[off++] = 0x5c;
    if (b === 0x22) {
      out[off++] = 0x22;
      if (quoted) i++;
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

function replay(kept: (Buffer | string)[], rest: AsyncIterator<Buffer | string>): Readable {
  return Readable.from(
    (async function* () {
      yield* kept.map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
      for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
    })(),
    { objectMode: false },
  );
}

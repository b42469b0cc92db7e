import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import type { SourceRecord } from '../records/source-record.js';
import { customIdFor } from './custom-id.js';
import { CHAT_PARAM_FIELDS, RequestOptionsSchema, type RequestOptions, type ResolvedRequestOptions } from './request-options.js';
import { recordLine } from './request-encoder.js';
import { compileTemplate, type CompiledTemplate, type RenderContext } from './template.js';
import type { BatchRequestLine, ChatMessage, ChatRequestBody } from './request-line.js';

/** Options compiled once: templates parsed, constant JSON fragments encoded. */
export interface RequestBuilder {
  readonly options: ResolvedRequestOptions;
  /** The request line as an object. */
  toObject(record: SourceRecord, file?: string): BatchRequestLine;
  /**
   * The same request serialized (no trailing newline); equal to `JSON.stringify(toObject(record))`.
   * Only the custom_id and the rendered prompts are JSON-encoded per record (see request-encoder.ts).
   */
  toLine(record: SourceRecord, file?: string): string;
  /** The custom_id the record gets. */
  idOf(record: SourceRecord, file?: string): string;
  /**
   * Check a CSV header before any row: every template field (prompt and system) must be a column, else every
   * row would fail alike. @throws KbatchError TEMPLATE_FIELD_MISSING naming the field, the file and the header line
   */
  checkColumns(columns: readonly string[], file: string, line: number): void;
  /** The compiled pieces of a line, for writers that encode lines themselves (the CSV byte path). */
  readonly frame: {
    /** Text after the custom_id up to the first message: `,"method":…,"messages":[`. */
    bodyStart: string;
    /** Text after the last message: `]` + parameters + `}}`. */
    tail: string;
    user: CompiledTemplate;
    system: CompiledTemplate | undefined;
    /** The system message encoded once, when its template has no fields. */
    systemJson: string | undefined;
  };
}

/**
 * Validate request options and compile their templates.
 * @throws KbatchError OPTION_INVALID naming the option, the allowed range and the value given
 */
export function createRequestBuilder(options: RequestOptions | ResolvedRequestOptions): RequestBuilder {
  const opts = parseOptions(RequestOptionsSchema, options, 'requestOptions');
  const user = compileTemplate(opts.prompt);
  const system = opts.system === undefined ? undefined : compileTemplate(opts.system);
  const params: Record<string, unknown> = {};
  let paramsJson = '';
  for (const [option, field] of CHAT_PARAM_FIELDS) {
    const value = opts[option];
    if (value === undefined) continue;
    params[field] = value;
    paramsJson += `,${JSON.stringify(field)}:${JSON.stringify(value)}`;
  }
  const bodyStart = `,"method":"POST","url":"/v1/chat/completions","body":{"model":${JSON.stringify(opts.model)},"messages":[`;
  // A system prompt without fields is encoded once.
  const systemJson =
    system !== undefined && system.fields.length === 0 ? `{"role":"system","content":${JSON.stringify(system.render({}))}},` : undefined;
  const tail = `]${paramsJson}}}`;
  const ctx = (record: SourceRecord, file?: string): RenderContext => ({ file, record: record.index, line: record.line });

  const builder: RequestBuilder = {
    options: opts,
    frame: { bodyStart, tail, user, system, systemJson },
    idOf: (record, file) => customIdFor(record, opts.idColumn, file),
    checkColumns: (columns, file, line) => checkColumns([user, system], columns, file, line),
    toObject(record, file) {
      const messages: ChatMessage[] = [];
      if (system !== undefined) messages.push({ role: 'system', content: system.render(record.data, ctx(record, file)) });
      messages.push({ role: 'user', content: user.render(record.data, ctx(record, file)) });
      const body = { model: opts.model, messages, ...params } as ChatRequestBody;
      return { custom_id: customIdFor(record, opts.idColumn, file), method: 'POST', url: '/v1/chat/completions', body };
    },
    toLine: (record, file) => recordLine(builder, record, file),
  };
  return builder;
}

function checkColumns(templates: Array<CompiledTemplate | undefined>, columns: readonly string[], file: string, line: number): void {
  const known = new Set(columns);
  for (const field of templates.flatMap((t) => t?.fields ?? [])) {
    if (known.has(field)) continue;
    const shown = columns.length > 20 ? `${columns.slice(0, 20).join(', ')}, …` : columns.join(', ');
    const at = file === '-' ? `line ${line}` : `${file}:${line}`;
    throw new KbatchError('TEMPLATE_FIELD_MISSING', `${at}: the header has no column "${field}" used by the template (columns: ${shown})`, {
      file,
      line,
      field,
    });
  }
}

const builders = new WeakMap<object, RequestBuilder>();

/**
 * Pure: one record → one batch request line (`custom_id`, `method`, `url`, `body`). The body holds the model,
 * the messages and exactly the chat parameters given. Options are compiled once per options object.
 * @example
 * toBatchRequest({ index: 1, line: 2, data: { text: 'hi' } }, { model: 'm', prompt: 'Say {{text}}', temperature: 0 })
 * // { custom_id: 'row-1', method: 'POST', url: '/v1/chat/completions',
 * //   body: { model: 'm', messages: [{ role: 'user', content: 'Say hi' }], temperature: 0 } }
 */
export function toBatchRequest(record: SourceRecord, options: RequestOptions | RequestBuilder): BatchRequestLine {
  return builderFor(options).toObject(record);
}

function builderFor(options: RequestOptions | RequestBuilder): RequestBuilder {
  if ('toLine' in options && typeof options.toLine === 'function') return options as RequestBuilder;
  let builder = builders.get(options);
  if (builder === undefined) {
    builder = createRequestBuilder(options as RequestOptions);
    builders.set(options, builder);
  }
  return builder;
}

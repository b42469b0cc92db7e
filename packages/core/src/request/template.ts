import { KbatchError } from '../errors.js';

/** Where a render happens, for error messages. */
export interface RenderContext {
  file?: string;
  /** 1-based record number. */
  record?: number;
  /** 1-based input line. */
  line?: number;
}

/** A parsed template; rendering is one pass over precomputed parts. */
export interface CompiledTemplate {
  /** The source text. */
  readonly source: string;
  /** Field paths the template uses, in order of appearance (dotted form). */
  readonly fields: readonly string[];
  /** The literal text around the fields (`fields.length + 1` entries, escapes resolved). */
  readonly literals: readonly string[];
  /**
   * Fill the template from a record's data. Values are inserted as they are (a value holding `{{x}}` is
   * not expanded again); non-string JSON values are inserted as JSON text.
   * @throws KbatchError TEMPLATE_FIELD_MISSING naming the row and the field
   */
  render(data: Record<string, unknown>, context?: RenderContext): string;
}

type Getter = (data: Record<string, unknown>) => unknown;
const MISSING = Symbol('missing');

/**
 * Compile a prompt template. `{{column}}` inserts a field, `{{a.b}}` a nested one (a field literally named
 * `a.b` wins), spaces inside the braces are ignored. Write `\{{` for a literal `{{`; a lone `{`, `}` or `}}`
 * is literal as it stands.
 * @throws KbatchError TEMPLATE_INVALID for an unclosed or empty `{{ }}`
 * @example compileTemplate('Rate: {{review.text}}').render({ review: { text: 'good' } }) // 'Rate: good'
 */
export function compileTemplate(source: string): CompiledTemplate {
  const literals: string[] = [];
  const getters: Getter[] = [];
  const fields: string[] = [];
  let literal = '';
  let pos = 0;
  for (;;) {
    const open = source.indexOf('{{', pos);
    if (open === -1) {
      literal += source.slice(pos);
      break;
    }
    if (open > 0 && source.charCodeAt(open - 1) === 92 /* \ */) {
      literal += source.slice(pos, open - 1) + '{{';
      pos = open + 2;
      continue;
    }
    const close = source.indexOf('}}', open + 2);
    if (close === -1) {
      throw new KbatchError('TEMPLATE_INVALID', `template has an unclosed "{{" at character ${open + 1} (write \\{{ for literal braces)`);
    }
    const name = source.slice(open + 2, close).trim();
    if (name === '' || name.includes('{') || name.split('.').some((part) => part === '')) {
      throw new KbatchError('TEMPLATE_INVALID', `template has an invalid field "{{${source.slice(open + 2, close)}}}" at character ${open + 1} (write \\{{ for literal braces)`);
    }
    literals.push(literal + source.slice(pos, open));
    literal = '';
    getters.push(getterFor(name));
    fields.push(name);
    pos = close + 2;
  }
  literals.push(literal);

  const render = (data: Record<string, unknown>, context: RenderContext = {}): string => {
    let out = literals[0]!;
    for (let i = 0; i < getters.length; i++) {
      let value = getters[i]!(data);
      if (typeof value !== 'string') {
        if (value === MISSING) throw missingField(fields[i]!, context);
        value = JSON.stringify(value);
      }
      out += (value as string) + literals[i + 1]!;
    }
    return out;
  };
  return { source, fields, literals, render };
}

function getterFor(name: string): Getter {
  const path = name.split('.');
  if (path.length === 1) {
    return (data) => {
      const value = data[name];
      if (typeof value === 'string') return value;
      return value === undefined || !Object.hasOwn(data, name) ? MISSING : value;
    };
  }
  return (data) => {
    if (Object.hasOwn(data, name)) return data[name] === undefined ? MISSING : data[name];
    let value: unknown = data;
    for (const key of path) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return MISSING;
      value = (value as Record<string, unknown>)[key];
    }
    return value === undefined ? MISSING : value;
  };
}

function missingField(field: string, context: RenderContext): KbatchError {
  const where = [
    context.file !== undefined && context.file !== '-' ? context.file : undefined,
    context.record !== undefined ? `row ${context.record}` : undefined,
    context.line !== undefined ? `line ${context.line}` : undefined,
  ].filter(Boolean);
  const at = where.length > 0 ? `${where.join(', ')}: ` : '';
  return new KbatchError('TEMPLATE_FIELD_MISSING', `${at}the record has no field "${field}" used by the template`, {
    ...context,
    field,
  });
}

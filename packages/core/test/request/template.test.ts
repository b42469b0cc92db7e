import { describe, expect, it } from 'vitest';
import { compileTemplate } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('compileTemplate', () => {
  it('inserts fields, nested fields and tolerates spaces inside the braces', () => {
    const t = compileTemplate('Review {{ id }} of {{item.name}}: {{text}}');
    expect(t.fields).toEqual(['id', 'item.name', 'text']);
    expect(t.render({ id: '007', item: { name: 'lamp' }, text: 'fine' })).toBe('Review 007 of lamp: fine');
  });

  it('prefers a field literally named with a dot over nesting', () => {
    expect(compileTemplate('{{a.b}}').render({ 'a.b': 'flat', a: { b: 'nested' } })).toBe('flat');
  });

  it('renders non-string JSON values as JSON text', () => {
    const t = compileTemplate('{{n}}|{{b}}|{{z}}|{{o}}|{{l}}');
    expect(t.render({ n: 1.5, b: true, z: null, o: { x: [1] }, l: ['a'] })).toBe('1.5|true|null|{"x":[1]}|["a"]');
  });

  it('inserts a value that contains {{…}} as it is, never expanding it again', () => {
    expect(compileTemplate('Q: {{q}}').render({ q: 'what is {{secret}}?', secret: 'no' })).toBe('Q: what is {{secret}}?');
  });

  it('writes \\{{ as a literal {{ and leaves single braces and }} alone', () => {
    const t = compileTemplate('JSON: {"a": {"b": 1}} \\{{not a field}} {{x}} }}');
    expect(t.fields).toEqual(['x']);
    expect(t.render({ x: 'X' })).toBe('JSON: {"a": {"b": 1}} {{not a field}} X }}');
  });

  it('fails with TEMPLATE_FIELD_MISSING naming the row and the field', async () => {
    const t = compileTemplate('{{title}} {{meta.author}}');
    const err = await catchError(() => t.render({ title: 'x' }, { file: 'in.csv', record: 4, line: 5 }));
    expectKbatchError(err, { code: 'TEMPLATE_FIELD_MISSING', field: 'meta.author', record: 4, line: 5, message: 'row 4' });
    expect((err as Error).message).toContain('"meta.author"');
    // An empty string is a value, not a missing field; inherited properties are not fields.
    expect(t.render({ title: '', meta: { author: '' } })).toBe(' ');
    expectKbatchError(await catchError(() => compileTemplate('{{toString}}').render({})), { code: 'TEMPLATE_FIELD_MISSING' });
  });

  it('fails with TEMPLATE_INVALID for an unclosed or empty field', async () => {
    expectKbatchError(await catchError(() => compileTemplate('Hi {{name')), { code: 'TEMPLATE_INVALID', message: 'unclosed' });
    expectKbatchError(await catchError(() => compileTemplate('Hi {{ }}')), { code: 'TEMPLATE_INVALID' });
    expectKbatchError(await catchError(() => compileTemplate('Hi {{a..b}}')), { code: 'TEMPLATE_INVALID' });
  });
});

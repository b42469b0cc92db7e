import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildSchemaInstruction, compileAnswerSchema, loadAnswerSchema, parseSchemaAnswer } from '../../src/answers/answer-schema.js';
import { parseJsonAnswer } from '../../src/answers/json-answer.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const TICKET_JSON_SCHEMA = {
  type: 'object',
  properties: {
    category: { type: 'string', enum: ['billing', 'bug', 'other'] },
    urgency: { type: 'integer', minimum: 1, maximum: 5 },
    meta: { type: 'object', properties: { lang: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } }, required: ['lang'] },
  },
  required: ['category', 'urgency'],
};

const TICKET_ZOD = z.object({
  category: z.enum(['billing', 'bug', 'other']),
  urgency: z.number().int().min(1).max(5),
  meta: z.object({ lang: z.string(), tags: z.array(z.string()).optional() }).optional(),
});

describe('parseJsonAnswer', () => {
  it.each([
    ['{"a":1}', { a: 1 }],
    ['  {"a":1}\n', { a: 1 }],
    ['```json\n{"a":1}\n```', { a: 1 }],
    ['```\n{"a":1}\n```', { a: 1 }],
    ['Here you go:\n```json\n{"a": [1, 2]}\n```\nAnything else?', { a: [1, 2] }],
    ['Sure! {"a":1}', { a: 1 }],
    ['[1,2]', [1, 2]],
  ])('parses %j', (text, value) => {
    expect(parseJsonAnswer(text)).toEqual(value);
  });

  it.each(['', 'not json', '```json\n{"a":\n```', '{a:1}'])('rejects %j with ANSWER_INVALID', async (text) => {
    expectKbatchError(await catchError(() => parseJsonAnswer(text)), { code: 'ANSWER_INVALID' });
  });
});

describe('parseSchemaAnswer', () => {
  for (const [kind, schema] of [
    ['JSON Schema', TICKET_JSON_SCHEMA],
    ['zod', TICKET_ZOD],
  ] as const) {
    describe(`with a ${kind}`, () => {
      it('returns the validated answer', () => {
        expect(parseSchemaAnswer('```json\n{"category":"bug","urgency":3,"meta":{"lang":"en"}}\n```', schema)).toEqual({
          category: 'bug',
          urgency: 3,
          meta: { lang: 'en' },
        });
      });

      it('names the failing path with ANSWER_INVALID', async () => {
        expectKbatchError(await catchError(() => parseSchemaAnswer('{"category":"spam","urgency":3}', schema)), {
          code: 'ANSWER_INVALID',
          field: 'category',
          message: 'at category',
        });
        expectKbatchError(await catchError(() => parseSchemaAnswer('{"category":"bug","urgency":9}', schema)), { code: 'ANSWER_INVALID', field: 'urgency' });
        expectKbatchError(await catchError(() => parseSchemaAnswer('{"category":"bug","urgency":1,"meta":{}}', schema)), {
          code: 'ANSWER_INVALID',
          field: 'meta.lang',
        });
        expectKbatchError(await catchError(() => parseSchemaAnswer('{"category":"bug"}', schema)), { code: 'ANSWER_INVALID', message: 'urgency' });
      });

      it('declares top-level fields and flattened leaf columns', () => {
        const compiled = compileAnswerSchema(schema);
        expect(compiled.fields).toEqual(['category', 'urgency', 'meta']);
        expect(compiled.columns).toEqual(['category', 'urgency', 'meta.lang', 'meta.tags']);
      });
    });
  }

  it('builds the prompt instruction from either kind of schema', () => {
    expect(buildSchemaInstruction(TICKET_JSON_SCHEMA)).toBe(`Respond with JSON only, matching this JSON Schema: ${JSON.stringify(TICKET_JSON_SCHEMA)}`);
    const fromZod = buildSchemaInstruction(TICKET_ZOD);
    expect(fromZod.startsWith('Respond with JSON only, matching this JSON Schema: {')).toBe(true);
    expect(JSON.parse(fromZod.slice(fromZod.indexOf('{'))).properties.category.enum).toEqual(['billing', 'bug', 'other']);
  });

  it('rejects an unusable schema with SCHEMA_INVALID', async () => {
    expectKbatchError(await catchError(() => compileAnswerSchema({ type: 'strnig' })), { code: 'SCHEMA_INVALID' });
  });

  it('loads a JSON Schema file, naming the file when it is broken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-schema-'));
    const good = join(dir, 'good.json');
    const bad = join(dir, 'bad.json');
    await writeFile(good, JSON.stringify(TICKET_JSON_SCHEMA));
    await writeFile(bad, '{ not json');
    expect((await loadAnswerSchema(good)).fields).toEqual(['category', 'urgency', 'meta']);
    expectKbatchError(await catchError(() => loadAnswerSchema(bad)), { code: 'SCHEMA_INVALID', file: bad });
    expectKbatchError(await catchError(() => loadAnswerSchema(join(dir, 'nope.json'))), { code: 'INPUT_NOT_FOUND' });
  });
});

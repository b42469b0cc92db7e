import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { runRecords, type RunJobOptions, type RunSummary } from '../../src/index.js';

declare const base: Omit<RunJobOptions, 'schema' | 'prefix'>;

const Ticket = z.object({ category: z.enum(['bug', 'billing', 'other']), urgent: z.boolean(), note: z.string().optional() });

describe('runRecords row type', () => {
  it("types a zod schema's fields (null when the answer failed), merged into the record", async () => {
    for await (const row of runRecords({ ...base, schema: Ticket })) {
      expectTypeOf(row.category).toEqualTypeOf<'bug' | 'billing' | 'other' | null>();
      expectTypeOf(row.urgent).toEqualTypeOf<boolean | null>();
      expectTypeOf(row.note).toEqualTypeOf<string | null>();
      expectTypeOf(row['title']).toEqualTypeOf<unknown>();
    }
  });

  it('names the fields with the prefix', async () => {
    for await (const row of runRecords({ ...base, schema: Ticket, prefix: 'kb_' })) {
      expectTypeOf(row.kb_category).toEqualTypeOf<'bug' | 'billing' | 'other' | null>();
      expectTypeOf(row.category).toEqualTypeOf<unknown>();
    }
  });

  it('adds a non-object answer whole as `answer`', async () => {
    for await (const row of runRecords({ ...base, schema: z.array(z.string()) })) expectTypeOf(row.answer).toEqualTypeOf<string[] | null>();
  });

  it('types no field the runtime would not add: records, top-level transforms and nullable objects stay Record<string, unknown>', () => {
    type rows = AsyncGenerator<Record<string, unknown>, RunSummary, undefined>;
    expectTypeOf(runRecords({ ...base, schema: z.record(z.string(), z.number()) })).toEqualTypeOf<rows>();
    expectTypeOf(runRecords({ ...base, schema: Ticket.transform((t) => t.category) })).toEqualTypeOf<rows>();
    expectTypeOf(runRecords({ ...base, schema: Ticket.nullable() })).toEqualTypeOf<rows>();
  });

  it('keeps Record<string, unknown> rows without a zod schema, and the summary as the return value', () => {
    expectTypeOf(runRecords(base)).toEqualTypeOf<AsyncGenerator<Record<string, unknown>, RunSummary, undefined>>();
    expectTypeOf(runRecords({ ...base, schema: 'ticket.schema.json' })).toEqualTypeOf<AsyncGenerator<Record<string, unknown>, RunSummary, undefined>>();
  });
});

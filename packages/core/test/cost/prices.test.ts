import { describe, expect, it } from 'vitest';
import { PRICE_TABLE, priceFor, PriceRowSchema, priceTable, sameModel } from '../../src/cost/prices.js';

describe('priceFor', () => {
  it('finds a model by its exact id, per mode, with its source and date', () => {
    expect(priceFor({ provider: 'openai', model: 'gpt-4o-mini', mode: 'batch' })).toEqual({ currency: 'USD', inputPerMTok: 0.075, outputPerMTok: 0.3, source: expect.stringMatching(/^https:\/\//) as unknown as string, checked: '2026-12-05' });
    expect(priceFor({ provider: 'openai', model: 'gpt-4o-mini', mode: 'realtime' })).toMatchObject({ inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075 });
  });

  it('finds dated snapshots and -latest aliases, and nothing that only shares a prefix', () => {
    expect(priceFor({ provider: 'openai', model: 'gpt-4o-2024-08-06', mode: 'batch' })?.inputPerMTok).toBe(1.25);
    expect(priceFor({ provider: 'anthropic', model: 'claude-sonnet-4-20250514', mode: 'batch' })?.inputPerMTok).toBe(1.5);
    expect(priceFor({ provider: 'anthropic', model: 'claude-opus-4-1-20250805', mode: 'batch' })?.outputPerMTok).toBe(37.5);
    expect(sameModel('claude-3-5-haiku-latest', 'claude-3-5-haiku')).toBe(true);
    expect(sameModel('gpt-4o-mini', 'gpt-4o')).toBe(false);
    expect(sameModel('ft:gpt-4o-mini:org::abc', 'gpt-4o-mini')).toBe(false);
  });

  it('says unknown (undefined, never 0) for a model, provider or mode it has no row for', () => {
    expect(priceFor({ provider: 'kluster', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'batch', window: '24h' })).toBeUndefined();
    expect(priceFor({ provider: 'gemini', model: 'gemini-2.5-flash', mode: 'batch' })).toBeUndefined();
    expect(priceFor({ provider: 'together', model: 'gpt-4o', mode: 'batch' })).toBeUndefined();
    expect(priceFor({ provider: 'kluster', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'realtime' })?.inputPerMTok).toBe(0.18);
  });

  it('holds only positive figures, each row with a source URL and the date checked', () => {
    for (const row of PRICE_TABLE) {
      expect(row.inputPerMTok, row.model).toBeGreaterThan(0);
      expect(row.outputPerMTok, row.model).toBeGreaterThan(0);
      expect(row.source, row.model).toMatch(/^https:\/\//);
      expect(row.checked, row.model).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });

  it("knows an OpenAI model's output cap, and no cap it was not shown", () => {
    expect(priceTable().outputCapOf({ provider: 'openai', model: 'gpt-4o-mini-2024-07-18' })).toBe(16_384);
    expect(priceTable().outputCapOf({ provider: 'kluster', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' })).toBeUndefined();
  });

  it('knows no price for a dated snapshot priced unlike its base model, rather than the base model\'s', () => {
    expect(priceFor({ provider: 'openai', model: 'gpt-4o-2024-05-13', mode: 'batch' })).toBeUndefined();
    expect(priceFor({ provider: 'openai', model: 'gpt-4o-2024-08-06', mode: 'batch' })?.inputPerMTok).toBe(1.25);
  });
});

describe('priceTable', () => {
  const kluster = { providers: ['kluster'], model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', currency: 'USD', source: 'https://example.test/my-contract', checked: '2026-12-01' } as const;

  it('merges rows a user gives over the built-in table: theirs win where they fit, the built-in rows answer the rest', () => {
    const table = priceTable([
      { ...kluster, mode: 'batch', inputPerMTok: 0.05, outputPerMTok: 0.06 },
      { providers: ['openai'], model: 'gpt-4o-mini', mode: 'batch', currency: 'USD', inputPerMTok: 0.01, outputPerMTok: 0.02, source: 'negotiated', checked: '2026-11-30', outputCap: 99 },
    ]);
    expect(table.priceOf({ provider: 'kluster', model: kluster.model, mode: 'batch', window: '24h' })).toEqual({ currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.06, source: 'https://example.test/my-contract', checked: '2026-12-01' });
    expect(table.priceOf({ provider: 'openai', model: 'gpt-4o-mini-2024-07-18', mode: 'batch' })?.inputPerMTok).toBe(0.01);
    expect(table.outputCapOf({ provider: 'openai', model: 'gpt-4o-mini' })).toBe(99);
    // Not given: the built-in figures, and unknown stays unknown.
    expect(table.priceOf({ provider: 'kluster', model: kluster.model, mode: 'realtime' })?.inputPerMTok).toBe(0.18);
    expect(table.priceOf({ provider: 'openai', model: 'gpt-4o', mode: 'batch' })?.inputPerMTok).toBe(1.25);
    expect(table.outputCapOf({ provider: 'openai', model: 'gpt-4o' })).toBe(16_384);
    expect(table.priceOf({ provider: 'gemini', model: 'gemini-2.5-flash', mode: 'batch' })).toBeUndefined();
  });

  it('holds the built-in rows to the schema a user file is checked by', () => {
    for (const row of PRICE_TABLE) expect(PriceRowSchema.parse(row), row.model).toEqual(row);
  });
});

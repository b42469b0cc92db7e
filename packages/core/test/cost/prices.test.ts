import { describe, expect, it } from 'vitest';
import { outputCapFor, PRICE_TABLE, priceFor, sameModel } from '../../src/cost/prices.js';

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
    expect(outputCapFor({ provider: 'openai', model: 'gpt-4o-mini-2024-07-18' })).toBe(16_384);
    expect(outputCapFor({ provider: 'kluster', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' })).toBeUndefined();
  });

  it('knows no price for a dated snapshot priced unlike its base model, rather than the base model\'s', () => {
    expect(priceFor({ provider: 'openai', model: 'gpt-4o-2024-05-13', mode: 'batch' })).toBeUndefined();
    expect(priceFor({ provider: 'openai', model: 'gpt-4o-2024-08-06', mode: 'batch' })?.inputPerMTok).toBe(1.25);
  });
});

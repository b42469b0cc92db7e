import { describe, expect, it } from 'vitest';
import { modelColumns } from '../../src/report/model-columns.js';

describe('modelColumns', () => {
  it('reads one model from the plain (prefixed) fields', () => {
    expect(modelColumns(['id', 'kb_label', 'kb_error'], { prefix: 'kb_' })).toEqual([
      { alias: null, pred: 'kb_label', confidence: 'kb_confidence', error: 'kb_error', customId: 'kb_custom_id', promptTokens: 'kb_prompt_tokens', completionTokens: 'kb_completion_tokens' },
    ]);
  });

  it('reads one model per ALIAS.label column, aliases with dots included, in column order', () => {
    const columns = ['id', 'Meta-Llama-3.1-8B-Instruct-Turbo.label', 'Meta-Llama-3.1-8B-Instruct-Turbo.error', 'gpt-4o-mini.label', 'gpt-4o-mini-2.label'];
    const models = modelColumns(columns, { prefix: '' });
    expect(models.map((m) => m.alias)).toEqual(['Meta-Llama-3.1-8B-Instruct-Turbo', 'gpt-4o-mini', 'gpt-4o-mini-2']);
    expect(models[0]).toMatchObject({ pred: 'Meta-Llama-3.1-8B-Instruct-Turbo.label', error: 'Meta-Llama-3.1-8B-Instruct-Turbo.error' });
  });

  it('takes an explicit prediction column as one model, and falls back to the label column when none is found', () => {
    expect(modelColumns(['a.label', 'mine'], { prefix: '', pred: 'mine' })).toMatchObject([{ alias: null, pred: 'mine' }]);
    expect(modelColumns(['id', 'text'], { prefix: '' })).toMatchObject([{ alias: null, pred: 'label' }]);
  });
});

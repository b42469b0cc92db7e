import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { modelAliases } from '../../src/models/model-alias.js';
import { modelJobDir } from '../../src/models/models-state.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('modelAliases', () => {
  it("names each model by its id's last /-segment", () => {
    expect(modelAliases(['klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', 'deepseek-ai/DeepSeek-R1', 'gpt-4o-mini'])).toEqual(['Meta-Llama-3.1-8B-Instruct-Turbo', 'DeepSeek-R1', 'gpt-4o-mini']);
  });

  it('makes aliases unique with -2, -3 when models share a last segment, skipping one already taken', () => {
    expect(modelAliases(['a/x', 'b/x', 'c/x'])).toEqual(['x', 'x-2', 'x-3']);
    expect(modelAliases(['x-2', 'a/x', 'b/x'])).toEqual(['x-2', 'x', 'x-3']);
  });

  it('keeps an id that ends with a slash whole', () => {
    expect(modelAliases(['odd/', 'b'])).toEqual(['odd/', 'b']);
  });

  it('refuses a model listed twice with OPTION_INVALID', async () => {
    const err = await catchError(() => modelAliases(['a/x', 'a/x']));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'models' });
  });
});

describe('modelJobDir', () => {
  it('puts a model job under models/ by its alias, or by its position when the alias is not a plain file name', () => {
    expect(modelJobDir('/j', 'Meta-Llama-3.1-8B-Instruct-Turbo', 0)).toBe(join('/j', 'models', 'Meta-Llama-3.1-8B-Instruct-Turbo'));
    expect(modelJobDir('/j', '..', 1)).toBe(join('/j', 'models', '_2'));
    expect(modelJobDir('/j', 'ft:gpt-4o-mini:org::x1', 2)).toBe(join('/j', 'models', '_3'));
  });
});

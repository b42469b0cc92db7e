import { describe, expect, it } from 'vitest';
import { createRequestBuilder, toBatchRequest, type RequestOptions, type SourceRecord } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const record: SourceRecord = { index: 1, line: 2, data: { id: '007', text: 'Très "bien", merci\n😀', n: 3 } };

describe('toBatchRequest', () => {
  it('builds the request line with only the model, messages and the parameters given', () => {
    expect(toBatchRequest(record, { model: 'm', prompt: 'Rate: {{text}}' })).toEqual({
      custom_id: 'row-1',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'm', messages: [{ role: 'user', content: 'Rate: Très "bien", merci\n😀' }] },
    });
  });

  it('adds a system prompt template and every chat parameter under its API name', () => {
    const line = toBatchRequest(record, {
      model: 'm',
      prompt: '{{text}}',
      system: 'Row {{id}}',
      idColumn: 'id',
      frequencyPenalty: -2,
      presencePenalty: 2,
      logitBias: { '1234': -100, '5': 100 },
      logprobs: true,
      topLogprobs: 20,
      maxCompletionTokens: 5,
      seed: -1,
      stop: ['END', 'STOP'],
      temperature: 0,
      topP: 1,
    });
    expect(line.custom_id).toBe('007');
    expect(line.body).toEqual({
      model: 'm',
      messages: [
        { role: 'system', content: 'Row 007' },
        { role: 'user', content: record.data.text },
      ],
      frequency_penalty: -2,
      presence_penalty: 2,
      logit_bias: { '1234': -100, '5': 100 },
      logprobs: true,
      top_logprobs: 20,
      max_completion_tokens: 5,
      seed: -1,
      stop: ['END', 'STOP'],
      temperature: 0,
      top_p: 1,
    });
  });

  it('serializes lines exactly as JSON.stringify of the object (fast path)', () => {
    for (const options of [
      { model: 'm', prompt: '{{text}} {{n}}' },
      { model: 'mo"del', prompt: 'x', system: 'constant \\{{ system', temperature: 0.7, stop: 'END' },
      { model: 'm', prompt: '{{text}}', system: '{{id}}', idColumn: 'id', logitBias: { '9': 1 } },
    ] satisfies RequestOptions[]) {
      const builder = createRequestBuilder(options);
      expect(builder.toLine(record)).toBe(JSON.stringify(builder.toObject(record)));
    }
  });

  it.each([
    [{ temperature: 2.5 }, 'temperature', 'between 0 and 2', '2.5'],
    [{ temperature: 'hot' }, 'temperature', 'must be a number between 0 and 2', '"hot"'],
    [{ topP: -0.1 }, 'topP', 'between 0 and 1', '-0.1'],
    [{ frequencyPenalty: 3 }, 'frequencyPenalty', 'between -2 and 2', '3'],
    [{ presencePenalty: -3 }, 'presencePenalty', 'between -2 and 2', '-3'],
    [{ maxCompletionTokens: 0 }, 'maxCompletionTokens', 'positive integer', '0'],
    [{ seed: 1.5 }, 'seed', 'integer', '1.5'],
    [{ topLogprobs: 21, logprobs: true }, 'topLogprobs', 'between 0 and 20', '21'],
    [{ topLogprobs: 3 }, 'topLogprobs', 'logprobs: true', '3'],
    [{ logitBias: { '12': 101 } }, 'logitBias.12', 'between -100 and 100', '101'],
    [{ logitBias: { abc: 1 } }, 'logitBias.abc', 'token ids', undefined],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', '1 to 4', undefined],
    [{ stream: true }, 'stream', 'cannot stream', 'true'],
    [{ model: '' }, 'model', 'non-empty', '""'],
  ] as const)('refuses %j with OPTION_INVALID naming the option, range and value', async (bad, field, range, given) => {
    const err = await catchError(() => createRequestBuilder({ model: 'm', prompt: 'p', ...(bad as object) } as RequestOptions));
    expectKbatchError(err, { code: 'OPTION_INVALID', field, message: range });
    expect((err as Error).message).toContain(`\`${field}\``);
    if (given !== undefined) expect((err as Error).message).toMatch(new RegExp(`got ${given.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  });

  it('refuses unknown options (a typo is not silently ignored)', async () => {
    const err = await catchError(() => createRequestBuilder({ model: 'm', prompt: 'p', max_tokens: 5 } as unknown as RequestOptions));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: 'max_tokens' });
  });
});

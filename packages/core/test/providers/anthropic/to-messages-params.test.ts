import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TOKENS, toMessagesParams, unsupportedParam } from '../../../src/providers/anthropic/to-messages-params.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const user = (content: unknown) => ({ role: 'user', content });

describe('toMessagesParams', () => {
  it('moves leading system messages to system, maps max_completion_tokens and stop, and keeps the conversation', () => {
    const params = toMessagesParams({
      model: 'claude-haiku-5-5',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'developer', content: [{ type: 'text', text: 'JSON only.' }] }, user('Hi "there"\né'), { role: 'assistant', content: 'Yes?' }, user('Go')],
      max_completion_tokens: 12,
      stop: 'END',
    });
    expect(params).toEqual({
      model: 'claude-haiku-5-5',
      max_tokens: 12,
      system: 'Be brief.\n\nJSON only.',
      messages: [{ role: 'user', content: 'Hi "there"\né' }, { role: 'assistant', content: 'Yes?' }, { role: 'user', content: 'Go' }],
      stop_sequences: ['END'],
    });
  });

  it('sends the default max_tokens when the body has none, max_tokens when given, and text parts as text blocks', () => {
    expect(toMessagesParams({ model: 'm', messages: [user('x')] }).max_tokens).toBe(DEFAULT_MAX_TOKENS);
    expect(toMessagesParams({ model: 'm', messages: [user('x')] }, 50).max_tokens).toBe(50);
    expect(toMessagesParams({ model: 'm', max_tokens: 7, messages: [user([{ type: 'text', text: 'a' }])] })).toMatchObject({ max_tokens: 7, messages: [{ content: [{ type: 'text', text: 'a' }] }] });
  });

  it('maps response_format json_schema to output_config.format and passes text', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    expect(toMessagesParams({ model: 'm', messages: [user('x')], response_format: { type: 'json_schema', json_schema: { name: 'n', schema } } }).output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(toMessagesParams({ model: 'm', messages: [user('x')], response_format: { type: 'text' } }).output_config).toBeUndefined();
  });

  for (const [param, value] of [['temperature', 0], ['top_p', 1], ['top_k', 5], ['logprobs', true], ['top_logprobs', 2], ['seed', 1], ['frequency_penalty', 0.5], ['presence_penalty', 0], ['logit_bias', { '1': 2 }], ['n', 2], ['stream', true], ['tools', []]] as const) {
    it(`refuses ${param} with PARAM_UNSUPPORTED naming it and the provider`, async () => {
      const err = await catchError(() => toMessagesParams({ model: 'm', messages: [user('x')], [param]: value }));
      expectKbatchError(err, { code: 'PARAM_UNSUPPORTED', field: param, message: `\`${param}\` is not supported by provider anthropic` });
    });
  }

  it('lets values that change nothing pass (logprobs false, n 1, stream false, nulls)', () => {
    expect(unsupportedParam({ model: 'm', messages: [], logprobs: false, n: 1, stream: false, temperature: null })).toBeNull();
  });

  it('refuses json_object, a system message after the conversation started, a tool message and an image part', async () => {
    expectKbatchError(await catchError(() => toMessagesParams({ model: 'm', messages: [user('x')], response_format: { type: 'json_object' } })), { code: 'PARAM_UNSUPPORTED', field: 'response_format' });
    expectKbatchError(await catchError(() => toMessagesParams({ model: 'm', messages: [user('x'), { role: 'system', content: 's' }] })), { code: 'PARAM_UNSUPPORTED', field: 'messages[1].role' });
    expectKbatchError(await catchError(() => toMessagesParams({ model: 'm', messages: [{ role: 'tool', content: 's' }] })), { code: 'PARAM_UNSUPPORTED', field: 'messages[0].role' });
    expectKbatchError(await catchError(() => toMessagesParams({ model: 'm', messages: [user([{ type: 'image_url', image_url: { url: 'x' } }])] })), { code: 'PARAM_UNSUPPORTED', field: 'messages[0].content' });
    expectKbatchError(await catchError(() => toMessagesParams({ model: 'm', messages: [{ role: 'system', content: 's' }] })), { code: 'PARAM_UNSUPPORTED', field: 'messages' });
  });

  it('refuses a body without model or messages, or with a bad max_tokens, as LINE_INVALID', async () => {
    expectKbatchError(await catchError(() => toMessagesParams({ messages: [user('x')] })), { code: 'LINE_INVALID', field: 'model' });
    expectKbatchError(await catchError(() => toMessagesParams({ model: 'm', messages: [] })), { code: 'LINE_INVALID', field: 'messages' });
    expectKbatchError(await catchError(() => toMessagesParams({ model: 'm', messages: [user('x')], max_tokens: 0 })), { code: 'LINE_INVALID', field: 'max_tokens' });
  });
});

import { describe, expect, it } from 'vitest';
import { toGenerateContent } from '../../../src/providers/gemini/to-generate-content.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const MODEL = 'gemini-2.5-flash';

describe('toGenerateContent', () => {
  it('maps system and developer messages to systemInstruction, assistant to role model, text parts kept in order', () => {
    const { model, request } = toGenerateContent({
      model: `models/${MODEL}`,
      messages: [
        { role: 'system', content: 'You label.' },
        { role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', content: 'Héllo "quoted"\nline two' },
        { role: 'assistant', content: 'positive' },
        { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      ],
    });
    expect(model).toBe(MODEL);
    expect(request).toEqual({
      systemInstruction: { parts: [{ text: 'You label.' }, { text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Héllo "quoted"\nline two' }] },
        { role: 'model', parts: [{ text: 'positive' }] },
        { role: 'user', parts: [{ text: 'a' }, { text: 'b' }] },
      ],
    });
  });

  it('maps sampling, length, stop, seed, penalties and logprobs to generationConfig (max_completion_tokens over max_tokens)', () => {
    const { request } = toGenerateContent({
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      temperature: 0,
      top_p: 0.9,
      max_tokens: 5,
      max_completion_tokens: 16,
      stop: '\n\n',
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logprobs: true,
      top_logprobs: 5,
      stream: false,
    });
    expect(request.generationConfig).toEqual({
      temperature: 0,
      topP: 0.9,
      seed: 7,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      maxOutputTokens: 16,
      stopSequences: ['\n\n'],
      responseLogprobs: true,
      logprobs: 5,
    });
  });

  it('maps response_format json_schema to responseMimeType + responseJsonSchema, json_object to the MIME type, text to nothing', () => {
    const schema = { type: 'object', properties: { label: { type: 'string' } }, required: ['label'] };
    const base = { model: MODEL, messages: [{ role: 'user', content: 'x' }] };
    expect(toGenerateContent({ ...base, response_format: { type: 'json_schema', json_schema: { name: 's', schema } } }).request.generationConfig).toEqual({ responseMimeType: 'application/json', responseJsonSchema: schema });
    expect(toGenerateContent({ ...base, response_format: { type: 'json_object' } }).request.generationConfig).toEqual({ responseMimeType: 'application/json' });
    expect(toGenerateContent({ ...base, response_format: { type: 'text' } }).request.generationConfig).toBeUndefined();
  });

  it('refuses a parameter Gemini does not take with PARAM_UNSUPPORTED naming it and the provider (null and undefined ones pass)', async () => {
    const base = { model: MODEL, messages: [{ role: 'user', content: 'x' }] };
    for (const param of ['logit_bias', 'tools', 'user', 'some_future_param']) {
      const err = await catchError(() => toGenerateContent({ ...base, [param]: { 1: 2 } }));
      expectKbatchError(err, { code: 'PARAM_UNSUPPORTED', field: param, message: `Parameter \`${param}\` is not supported by provider gemini` });
    }
    expect(() => toGenerateContent({ ...base, logit_bias: null, tools: undefined })).not.toThrow();
    expectKbatchError(await catchError(() => toGenerateContent({ ...base, top_logprobs: 3 })), { code: 'PARAM_UNSUPPORTED', field: 'top_logprobs' });
    expectKbatchError(await catchError(() => toGenerateContent({ ...base, response_format: { type: 'json_schema' } })), { code: 'PARAM_UNSUPPORTED', field: 'response_format' });
  });

  it('refuses image parts and tool messages (only text is mapped), and a body without a model with LINE_INVALID', async () => {
    const image = { model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:' } }] }] };
    expectKbatchError(await catchError(() => toGenerateContent(image)), { code: 'PARAM_UNSUPPORTED', field: 'messages[0].content[0]' });
    const tool = { model: MODEL, messages: [{ role: 'tool', content: 'x' }] };
    expectKbatchError(await catchError(() => toGenerateContent(tool)), { code: 'PARAM_UNSUPPORTED', field: 'messages[0].role' });
    expectKbatchError(await catchError(() => toGenerateContent({ messages: [] })), { code: 'LINE_INVALID', field: 'model' });
  });
});

import { describe, expect, it } from 'vitest';
import {
  createTrainingExampleBuilder,
  estimateExampleTokens,
  fineTuneContextWindow,
  toTrainingExample,
} from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const rec = (data: Record<string, unknown>, index = 1) => ({ index, line: index + 1, data });
const opts = { prompt: 'Classify: {{text}}', completionColumn: 'label' };

describe('toTrainingExample', () => {
  it('builds user and assistant messages from the prompt template and completion column', () => {
    expect(toTrainingExample(rec({ text: 'great film', label: 'positive' }), opts)).toEqual({
      messages: [
        { role: 'user', content: 'Classify: great film' },
        { role: 'assistant', content: 'positive' },
      ],
    });
  });

  it('adds a system message from the system template and renders nested fields', () => {
    const example = toTrainingExample(rec({ meta: { lang: 'en' }, text: 'x', label: 'y' }), {
      ...opts,
      system: 'You label {{meta.lang}} reviews.',
    });
    expect(example.messages[0]).toEqual({ role: 'system', content: 'You label en reviews.' });
    expect(example.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
  });

  it('turns non-string completions into text', () => {
    expect(toTrainingExample(rec({ text: 'a', label: 3 }), opts).messages[1]!.content).toBe('3');
    expect(toTrainingExample(rec({ text: 'a', label: { k: 1 } }), opts).messages[1]!.content).toBe('{"k":1}');
  });

  it('passes an existing messages array through validated', () => {
    const messages = [
      { role: 'system', content: 's' },
      { role: 'user', content: 'u' },
      { role: 'assistant', content: 'a' },
    ];
    expect(toTrainingExample(rec({ messages }))).toEqual({
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'u' },
        { role: 'assistant', content: 'a' },
      ],
    });
  });

  it('parses messages held as JSON text (a CSV cell)', () => {
    const messages = JSON.stringify([{ role: 'user', content: 'u' }, { role: 'assistant', content: 'a' }]);
    expect(toTrainingExample(rec({ messages }), opts).messages).toHaveLength(2);
  });

  it.each([
    [{ messages: [{ role: 'user', content: 'u' }, { role: 'tool', content: 'a' }] }, /message 2 has role "tool"/],
    [{ messages: [{ role: 'user', content: '  ' }, { role: 'assistant', content: 'a' }] }, /message 1 \(user\) has empty content/],
    [{ messages: [{ role: 'user', content: 1 }, { role: 'assistant', content: 'a' }] }, /no text content/],
    [{ messages: [{ role: 'assistant', content: 'a' }, { role: 'user', content: 'u' }] }, /last message must be the assistant/],
    [{ messages: [{ role: 'system', content: 's' }, { role: 'assistant', content: 'a' }] }, /no user message/],
    [{ messages: [] }, /non-empty array/],
    [{ messages: '[oops' }, /not JSON/],
    [{ messages: ['x'] }, /message 1 is not an object/],
    [{ messages: [{ role: 'user', content: 'u' }, { role: 'system', content: 's' }, { role: 'assistant', content: 'a' }] }, /message 2 is a system message; only the first message may be one/],
    [{ messages: [{ role: 'user', content: 'u', name: 'bob' }, { role: 'assistant', content: 'a', weight: 0 }] }, /message 1 \(user\) has unsupported field `name`; training messages take only role and content/],
    [{ messages: [{ role: 'user', content: 'u' }, { role: 'assistant', content: 'a', weight: 0, tool_calls: [] }] }, /message 2 \(assistant\) has unsupported fields `weight`, `tool_calls`/],
  ])('rejects a bad conversation with FINETUNE_EXAMPLE_INVALID (%#)', async (data, message) => {
    const err = await catchError(() => toTrainingExample(rec(data, 7)));
    expectKbatchError(err, { code: 'FINETUNE_EXAMPLE_INVALID', record: 7, line: 8, message });
    expect((err as Error).message).toMatch(/^row 7: /);
  });

  it('rejects an empty or missing completion with the row number', async () => {
    expectKbatchError(await catchError(() => toTrainingExample(rec({ text: 'a', label: '' }, 4), opts)), {
      code: 'FINETUNE_EXAMPLE_INVALID',
      message: 'row 4: completion column `label` is empty',
    });
    expectKbatchError(await catchError(() => toTrainingExample(rec({ text: 'a' }, 5), opts)), {
      code: 'FINETUNE_EXAMPLE_INVALID',
      message: 'row 5: completion column `label` is missing',
    });
  });

  it('rejects a record lacking a prompt field as an invalid example', async () => {
    const err = await catchError(() => toTrainingExample(rec({ label: 'x' }, 2), opts));
    expectKbatchError(err, { code: 'FINETUNE_EXAMPLE_INVALID', record: 2, message: /no field "text"/ });
  });

  it('rejects a record without messages when no prompt is given', async () => {
    expectKbatchError(await catchError(() => toTrainingExample(rec({ a: 1 }))), {
      code: 'FINETUNE_EXAMPLE_INVALID',
      message: /no `messages` field and no prompt template/,
    });
  });

  it('rejects examples over the model context window, naming the estimate and the model', async () => {
    const long = 'x'.repeat(32_000 * 4);
    const build = createTrainingExampleBuilder({ ...opts, model: 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo' });
    const err = await catchError(() => build(rec({ text: long, label: 'y' }, 3)));
    expectKbatchError(err, { code: 'FINETUNE_EXAMPLE_INVALID', record: 3, message: /over the 32000-token context window of klusterai\/Meta-Llama-3.3-70B/ });
    // the same example fits the 8B model's 64k window
    const small = createTrainingExampleBuilder({ ...opts, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' });
    expect(small(rec({ text: long, label: 'y' })).tokens).toBeGreaterThan(32_000);
  });

  it('honours an explicit maxTokens', async () => {
    const build = createTrainingExampleBuilder({ ...opts, maxTokens: 20 });
    expect(build(rec({ text: 'a', label: 'b' })).tokens).toBeLessThanOrEqual(20);
    expectKbatchError(await catchError(() => build(rec({ text: 'a'.repeat(100), label: 'b' }))), { code: 'FINETUNE_EXAMPLE_INVALID' });
  });

  it('rejects an unsupported model with FINETUNE_MODEL_UNSUPPORTED listing the fine-tunable ones', async () => {
    const err = await catchError(() => createTrainingExampleBuilder({ ...opts, model: 'gpt-4o' }));
    expectKbatchError(err, { code: 'FINETUNE_MODEL_UNSUPPORTED', message: /klusterai\/Meta-Llama-3.1-8B-Instruct-Turbo/ });
    expect(fineTuneContextWindow('klusterai/Meta-Llama-3.1-8B-Instruct-Turbo')).toBe(64_000);
  });

  it('validates options with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => createTrainingExampleBuilder({ prompt: '{{a}}' })), {
      code: 'OPTION_INVALID',
      message: /Invalid option `completionColumn`: must be given with `prompt`/,
    });
    expectKbatchError(await catchError(() => createTrainingExampleBuilder({ maxTokens: -1 })), {
      code: 'OPTION_INVALID',
      message: 'Invalid option `maxTokens`: must be a positive integer, got -1',
    });
  });

  it('rejects a malformed template with TEMPLATE_INVALID', async () => {
    expectKbatchError(await catchError(() => createTrainingExampleBuilder({ prompt: 'x {{ }}', completionColumn: 'a' })), {
      code: 'TEMPLATE_INVALID',
    });
  });
});

describe('estimateExampleTokens', () => {
  it('is ceil(chars / 4) per message plus 5 per message plus 1', () => {
    expect(estimateExampleTokens([{ content: 'abcde' }, { content: 'abcd' }])).toBe(1 + (2 + 5) + (1 + 5));
  });
});

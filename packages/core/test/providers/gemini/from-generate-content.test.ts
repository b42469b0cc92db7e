import { describe, expect, it } from 'vitest';
import { finishReason, toChatCompletion } from '../../../src/providers/gemini/from-generate-content.js';
import { labelConfidence } from '../../../src/answers/confidence.js';
import { normalizeResultLine } from '../../../src/join/result-line.js';

describe('toChatCompletion', () => {
  it('gives the first candidate\'s text without thought parts, usage with thinking tokens as completion tokens', () => {
    const completion = toChatCompletion(
      {
        candidates: [{ content: { role: 'model', parts: [{ text: 'thinking…', thought: true }, { text: 'posi' }, { text: 'tive' }] }, finishReason: 'STOP' }],
        usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 2, thoughtsTokenCount: 30, totalTokenCount: 44 },
        modelVersion: 'gemini-2.5-flash-001',
        responseId: 'resp-1',
      },
      'gemini-2.5-flash',
    );
    expect(completion).toMatchObject({
      id: 'resp-1',
      object: 'chat.completion',
      model: 'gemini-2.5-flash-001',
      choices: [{ index: 0, message: { role: 'assistant', content: 'positive' }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 12, completion_tokens: 32, total_tokens: 44, completion_tokens_details: { reasoning_tokens: 30 } },
    });
    // kbatch reads it as any OpenAI completion.
    const result = normalizeResultLine({ custom_id: 'a', response: { status_code: 200, body: completion } });
    expect(result).toMatchObject({ ok: true, response: 'positive', finishReason: 'stop', promptTokens: 12, completionTokens: 32 });
  });

  it('maps finish reasons to one vocabulary: STOP stop, MAX_TOKENS length, safety and recitation blocks content_filter, others other', () => {
    const cases: Array<[string | undefined, string]> = [
      ['STOP', 'stop'],
      ['MAX_TOKENS', 'length'],
      ['SAFETY', 'content_filter'],
      ['RECITATION', 'content_filter'],
      ['BLOCKLIST', 'content_filter'],
      ['PROHIBITED_CONTENT', 'content_filter'],
      ['SPII', 'content_filter'],
      ['MALFORMED_FUNCTION_CALL', 'other'],
      ['LANGUAGE', 'other'],
      ['SOMETHING_NEW', 'other'],
      [undefined, 'stop'],
    ];
    expect(cases.map(([reason]) => finishReason(reason, false))).toEqual(cases.map(([, mapped]) => mapped));
  });

  it('gives a prompt blocked outright (no candidate) content null and finish_reason content_filter', () => {
    const completion = toChatCompletion({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } }, 'm');
    expect(completion).toMatchObject({ model: 'm', choices: [{ message: { content: null }, finish_reason: 'content_filter' }], usage: { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 } });
  });

  it('maps logprobsResult to choices[0].logprobs.content with top_logprobs, so confidence reads it as OpenAI\'s', () => {
    const completion = toChatCompletion(
      {
        candidates: [
          {
            content: { parts: [{ text: 'positive' }] },
            finishReason: 'STOP',
            logprobsResult: {
              chosenCandidates: [{ token: 'pos', logProbability: -0.2 }, { token: 'itive', logProbability: -0.01 }],
              topCandidates: [
                { candidates: [{ token: 'pos', logProbability: -0.2 }, { token: 'neg', logProbability: -1.8 }, { token: 'Pos', logProbability: -3 }] },
                { candidates: [{ token: 'itive', logProbability: -0.01 }] },
              ],
            },
          },
        ],
      },
      'm',
    );
    const result = normalizeResultLine({ custom_id: 'a', response: { status_code: 200, body: completion } });
    expect(result.logprobs).toEqual([
      { token: 'pos', logprob: -0.2, top_logprobs: [{ token: 'pos', logprob: -0.2 }, { token: 'neg', logprob: -1.8 }, { token: 'Pos', logprob: -3 }] },
      { token: 'itive', logprob: -0.01, top_logprobs: [{ token: 'itive', logprob: -0.01 }] },
    ]);
    expect(labelConfidence(result.logprobs, 'positive')).toBeCloseTo(Math.exp(-0.2) + Math.exp(-3), 10);
  });
});

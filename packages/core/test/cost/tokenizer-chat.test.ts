import { describe, expect, it } from 'vitest';
import { encodeChat } from 'gpt-tokenizer/encoding/o200k_base';
import llama3 from 'llama3-tokenizer-js';
import { loadTokenizer } from '../../src/cost/tokenizer.js';
import { chatPromptTokens, LLAMA_PREAMBLE } from '../../src/cost/tokenizer-chat.js';

const CHATS = [
  [{ role: 'user', content: 'Review: I love it' }],
  [
    { role: 'system', content: 'You are a careful annotator.' },
    { role: 'user', content: '  Classify:\n"great, really" 😀  ' },
  ],
  [
    { role: 'user', content: 'first' },
    { role: 'assistant', content: 'second' },
    { role: 'user', content: '\n\nthird with leading newlines' },
  ],
];

/** Llama 3.x's chat template rendered as text with its special tokens (the package encodes those as one token each). */
function renderLlama(messages: Array<{ role: string; content: string }>, dated: boolean): string {
  let out = '<|begin_of_text|>';
  let rest = messages;
  if (dated) {
    const system = messages[0]?.role === 'system' ? messages[0].content.trim() : '';
    if (messages[0]?.role === 'system') rest = messages.slice(1);
    out += `<|start_header_id|>system<|end_header_id|>\n\n${LLAMA_PREAMBLE}${system}<|eot_id|>`;
  }
  for (const m of rest) out += `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content.trim()}<|eot_id|>`;
  return `${out}<|start_header_id|>assistant<|end_header_id|>\n\n`;
}

describe('chatPromptTokens', () => {
  it("counts an OpenAI chat as gpt-tokenizer's encodeChat for gpt-4o does (3 per message + 3 for the reply)", async () => {
    const o200k = await loadTokenizer('o200k_base');
    for (const chat of CHATS) expect(chatPromptTokens(o200k, chat, 'gpt-4o')).toBe(encodeChat(chat as never, 'gpt-4o').length);
  });

  it('counts a Llama 3 chat as its rendered template, with the dated system block of Llama 3.1+', async () => {
    const l3 = await loadTokenizer('llama3');
    for (const chat of CHATS) {
      expect(chatPromptTokens(l3, chat, 'Meta-Llama-3-8B-Instruct')).toBe(llama3.encode(renderLlama(chat, false), { bos: false, eos: false }).length);
      expect(chatPromptTokens(l3, chat, 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo')).toBe(llama3.encode(renderLlama(chat, true), { bos: false, eos: false }).length);
    }
  });

  it('approximates other models as characters / 4 + 4 per message', async () => {
    const approx = await loadTokenizer('approximate');
    expect(chatPromptTokens(approx, [{ role: 'user', content: 'abcdefgh' }], 'claude-sonnet-4')).toBe(6);
  });
});

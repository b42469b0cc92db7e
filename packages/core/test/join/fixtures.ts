import type { SourceRecord } from '../../src/records/source-record.js';

/** A successful request output line, as in the reference. */
export function okLine(customId: string, content: string, extra: { logprobs?: unknown; finish?: string } = {}): Record<string, unknown> {
  return {
    id: `batch-req-${customId}`,
    custom_id: customId,
    response: {
      status_code: 200,
      request_id: `req-${customId}`,
      body: {
        id: `chatcmpl-${customId}`,
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content },
            logprobs: extra.logprobs ?? null,
            finish_reason: extra.finish ?? 'stop',
          },
        ],
        usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
      },
    },
    error: null,
  };
}

/** An error-file line: an HTTP failure with an error body. */
export function httpErrorLine(customId: string, status = 429, message = 'Rate limit exceeded'): Record<string, unknown> {
  return {
    id: `batch-req-${customId}`,
    custom_id: customId,
    response: { status_code: status, request_id: `req-${customId}`, body: { error: { message, type: 'rate_limit_exceeded' } } },
    error: null,
  };
}

/** Records 1..n with an `id` and `text` field. */
export function records(n: number, data: (i: number) => Record<string, unknown> = (i) => ({ id: `r${i}`, text: `text ${i}` })): SourceRecord[] {
  return Array.from({ length: n }, (_, k) => ({ index: k + 1, line: k + 2, data: data(k + 1) }));
}

/** Deterministic shuffle (seeded LCG), like the emulator's shuffled outputs. */
export function shuffle<T>(items: readonly T[], seed = 7): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    // Math.imul (a float product loses low bits and cycles early); j from the high bits (an LCG's low bits repeat).
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = Math.floor((s / 4294967296) * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

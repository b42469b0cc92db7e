import { usd, type JobEstimate } from './estimate-job.js';

/**
 * An estimate as lines for a person (`kbatch estimate` without `--json`).
 * @example estimateLines(await estimateJob(options)).join('\n')
 */
export function estimateLines(e: JobEstimate): string[] {
  const n = (v: number): string => v.toLocaleString('en-US');
  const c = e.completion_tokens;
  const limits = `${n(e.limits.max_requests)} requests, ${n(e.limits.max_bytes)} bytes${e.limits.max_batch_tokens === null ? '' : `, ${n(e.limits.max_batch_tokens)} tokens`} per batch`;
  const cost = (v: number | null): string => (v === null ? 'unknown' : usd(v));
  return [
    `requests:          ${n(e.requests)} of ${n(e.records)} records${e.skipped > 0 ? ` (${n(e.skipped)} skipped)` : ''}${e.cached_requests > 0 ? `; ${n(e.cached_requests)} answered by the request cache (not sent, cost 0; not counted below)` : ''}`,
    `batches:           ${n(e.batches)} (${limits}; ${e.provider}, ${e.mode}${e.mode === 'batch' ? `, window ${e.window}` : ''})`,
    `prompt tokens:     ${n(e.prompt_tokens)} (${e.tokenizer})`,
    `completion tokens: ${n(c.expected)} expected (${n(c.per_request.expected)} per request, from ${c.expected_from}), at most ${c.max === null ? 'unknown' : n(c.max)}${c.per_request.max === null ? '' : ` (${n(c.per_request.max)} per request, from ${c.max_from})`}`,
    `cost:              ${cost(e.cost.expected)} expected, ${cost(e.cost.worst_case)} worst case (${e.model})`,
    e.prices === null
      ? `prices:            unknown for ${e.model} on ${e.provider} (${e.mode}); kbatch's price table has no row for it`
      : `prices:            $${e.prices.input_per_mtok} in / $${e.prices.output_per_mtok} out per million tokens, from ${e.prices.source}, checked ${e.prices.checked}`,
  ];
}

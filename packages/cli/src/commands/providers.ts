import type { Command } from 'commander';
import { chunkLimits, describeWindows, PRICE_TABLE, PROVIDER_PROFILES, speaksBatches, type PriceRow, type ProviderProfile } from '@kbatch/core';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

/** `kbatch providers`: every provider profile with its limits, windows, auth, variables, docs and the date checked. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('providers')
    .description('List the provider profiles (--provider NAME): limits per batch, completion windows, auth, key variables, docs')
    .option('--json', 'print the profiles as a JSON array (null = not documented)')
    .option('--prices', "list kbatch's price table instead: provider, model, mode, window, USD per million tokens in and out, source, date checked (--json: the rows, in the schema --prices FILE reads)")
    .addHelpText(
      'after',
      "\nExamples:\n  $ kbatch providers\n  $ kbatch providers --json | jq -r '.[] | [.name, .limits.maxBytes] | @tsv'\n  $ kbatch providers --prices\n  $ kbatch providers --prices --json > prices.json   # edit, then: kbatch run … --prices prices.json",
    )
    .action((flags: { json?: boolean; prices?: boolean }) => {
      if (flags.prices) io.stdout.write(flags.json ? `${JSON.stringify(PRICE_TABLE, null, 2)}\n` : formatPrices(PRICE_TABLE));
      else if (flags.json) io.stdout.write(`${JSON.stringify(PROVIDER_PROFILES, null, 2)}\n`);
      else io.stdout.write(PROVIDER_PROFILES.map(formatProfile).join('\n'));
    });
};

const AUTH_TEXT: Record<ProviderProfile['auth'], string> = { bearer: 'Authorization: Bearer only', 'bare-or-bearer': 'bare key or Bearer', 'x-goog-api-key': 'x-goog-api-key header' };

/** A profile as a few indented lines; an undocumented limit shows the default kbatch uses instead. */
export function formatProfile(p: ProviderProfile): string {
  const used = chunkLimits(p);
  const limit = (value: number | null, fallback: number, unit: string) => (value === null ? `not documented (kbatch uses ${fallback.toLocaleString('en-US')}${unit})` : `${value.toLocaleString('en-US')}${unit}`);
  const lines = [
    `${p.name}${p.name === PROVIDER_PROFILES[0]!.name ? ' (default)' : ''}: ${p.title}`,
    `  api: ${p.apiShape}${speaksBatches(p) ? '' : ' (no batches yet: realtime, chat and lint only)'}; auth: ${AUTH_TEXT[p.auth]}; key: ${p.apiKeyEnv.join(' or ')}; base URL: ${p.defaultBaseURL ?? '(required: --base-url)'} (${p.baseUrlEnv})`,
    `  per batch: ${limit(p.limits.maxRequests, used.maxRequests, ' requests')}, ${limit(p.limits.maxBytes, used.maxBytes, ' bytes')}; per line: ${p.limits.maxLineBytes === null ? 'not documented' : `${p.limits.maxLineBytes.toLocaleString('en-US')} bytes`}`,
    `  token budget per batch: ${p.limits.maxBatchTokens === null ? 'none documented for every account (--max-batch-tokens sets one)' : `${p.limits.maxBatchTokens.toLocaleString('en-US')} estimated prompt tokens`}; output expiry: ${p.outputExpiry ? `${p.outputExpiry.minSeconds}s to ${p.outputExpiry.maxSeconds}s (--output-expires-after)` : 'not offered'}`,
    `  windows: ${p.windows === null ? 'not documented (any is passed on)' : describeWindows(p.windows)} (default ${p.defaultWindow})${p.quirks.oneModelPerFile ? '; one model per file' : ''}`,
    `  docs: ${p.docs.join(' ')} (checked ${p.checked})`,
    ...p.notes.map((note) => `  note: ${note}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * A price table as aligned columns, a line per provider and row; an unknown price has no row (the footer says so).
 * @example formatPrices(PRICE_TABLE)
 */
export function formatPrices(rows: readonly PriceRow[]): string {
  const head = ['provider', 'model', 'mode', 'window', 'input/Mtok', 'output/Mtok', 'checked', 'source'];
  const money = (v: number | undefined): string => (v === undefined ? '' : `$${v}`);
  const body = rows.flatMap((r) =>
    r.providers.map((provider) => [provider, r.model, r.mode, r.window ?? 'any', `${money(r.inputPerMTok)}${r.cachedInputPerMTok === undefined ? '' : ` (cached ${money(r.cachedInputPerMTok)})`}`, money(r.outputPerMTok), r.checked, r.source]),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  // The source is last and not padded: it is long, and a terminal wraps it.
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[line(head), ...body.map(line)].join('\n')}\n\nUSD per million tokens. A provider, model, mode or window without a row has no known price (costs show as unknown, never $0); give one with --prices FILE.\n`;
}

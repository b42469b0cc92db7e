import type { Command } from 'commander';
import { chunkLimits, describeWindows, PROVIDER_PROFILES, speaksBatches, type ProviderProfile } from '@kbatch/core';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

/** `kbatch providers`: every provider profile with its limits, windows, auth, variables, docs and the date checked. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('providers')
    .description('List the provider profiles (--provider NAME): limits per batch, completion windows, auth, key variables, docs')
    .option('--json', 'print the profiles as a JSON array (null = not documented)')
    .addHelpText('after', '\nExamples:\n  $ kbatch providers\n  $ kbatch providers --json | jq -r \'.[] | [.name, .limits.maxBytes] | @tsv\'')
    .action((flags: { json?: boolean }) => {
      if (flags.json) io.stdout.write(`${JSON.stringify(PROVIDER_PROFILES, null, 2)}\n`);
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

import { InvalidArgumentError } from 'commander';

/**
 * Commander argument parser for numbers. Leaves a non-number as the raw string so the core schema reports
 * it with the option's allowed range ("must be between 0 and 2, got "hot"").
 */
export function numberArg(value: string): number | string {
  const trimmed = value.trim();
  const n = Number(trimmed);
  return trimmed !== '' && Number.isFinite(n) ? n : value;
}

/** Commander parser for repeatable options: collects every value in order. */
export function collectArg(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Parse `--logit-bias` values: `TOKEN:BIAS`, repeatable or comma-separated (`1234:-100,99:5`).
 * Ranges are checked by the core schema; only the shape is checked here.
 */
export function parseLogitBias(values: readonly string[]): Record<string, number | string> {
  const bias: Record<string, number | string> = {};
  for (const value of values) {
    for (const pair of value.split(',')) {
      const match = /^\s*([^:\s]+)\s*:\s*(\S+)\s*$/.exec(pair);
      if (match === null) {
        throw new InvalidArgumentError(`--logit-bias takes TOKEN_ID:BIAS pairs such as 1234:-100, got "${pair}"`);
      }
      bias[match[1]!] = numberArg(match[2]!);
    }
  }
  return bias;
}

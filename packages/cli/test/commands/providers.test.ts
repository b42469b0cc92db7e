import { describe, expect, it } from 'vitest';
import { loadPrices, PRICE_TABLE } from '@kbatch/core';
import { runCli } from '../helpers/spawn.js';

describe('kbatch providers', () => {
  it('lists every profile with its limits, windows, auth, key variable, docs and the date checked', async () => {
    const { code, stdout } = await runCli(['providers']);
    expect(code).toBe(0);
    for (const name of ['kluster (default)', 'kluster-2025', 'openai', 'together', 'groq', 'openai-compatible', 'anthropic', 'gemini']) expect(stdout).toContain(`${name}: `);
    expect(stdout).toContain('per batch: 50,000 requests, 200,000,000 bytes');
    expect(stdout).toContain('windows: 24h, 48h, 72h (default 24h)');
    expect(stdout).toContain('windows: 24h to 7d (any whole number of hours or days) (default 24h)');
    expect(stdout).toMatch(/openai: .*\n.*\n.*\n  token budget per batch: none documented for every account \(--max-batch-tokens sets one\); output expiry: 3600s to 2592000s \(--output-expires-after\)\n/);
    expect(stdout).toMatch(/groq: .*\n.*\n.*\n  token budget per batch: .*; output expiry: not offered\n/);
    expect(stdout).toContain('auth: Authorization: Bearer only; key: OPENAI_API_KEY');
    expect(stdout).toContain('key: OPENAI_COMPATIBLE_API_KEY; base URL: (required: --base-url) (OPENAI_COMPATIBLE_BASE_URL)');
    expect(stdout).toMatch(/groq: .*\n.*\n  per batch: not documented \(kbatch uses 50,000 requests\)/);
    expect(stdout).toMatch(/docs: https:\/\/platform\.openai\.com\/\S+ .*\(checked \d{4}-\d{2}-\d{2}\)/);
  });

  it('prints the profiles as JSON with --json (null where a figure is not documented)', async () => {
    const { code, stdout } = await runCli(['providers', '--json']);
    expect(code).toBe(0);
    const profiles = JSON.parse(stdout) as Array<{ name: string; limits: { maxRequests: number | null }; apiKeyEnv: string[]; docs: string[] }>;
    expect(profiles.map((p) => p.name)).toEqual(['kluster', 'kluster-2025', 'openai', 'together', 'groq', 'openai-compatible', 'anthropic', 'gemini']);
    expect(profiles.find((p) => p.name === 'groq')!.limits.maxRequests).toBeNull();
    expect(profiles.find((p) => p.name === 'together')!.apiKeyEnv).toEqual(['TOGETHER_API_KEY']);
  });

  it('lists the price table with --prices: provider, model, mode, window, USD in and out per million tokens, checked, source', async () => {
    const { code, stdout } = await runCli(['providers', '--prices']);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^provider +model +mode +window +input\/Mtok +output\/Mtok +checked +source$/);
    expect(stdout).toMatch(/^openai +gpt-4o-mini +batch +any +\$0\.075 +\$0\.3 +2026-12-05 +https:\/\/\S+/m);
    expect(stdout).toMatch(/^openai +gpt-4o-mini +realtime +any +\$0\.15 \(cached \$0\.075\) +\$0\.6 /m);
    // A row for two providers is listed for each.
    expect(stdout).toMatch(/^kluster +klusterai\/Meta-Llama-3\.1-8B-Instruct-Turbo +realtime /m);
    expect(stdout).toMatch(/^kluster-2025 +klusterai\/Meta-Llama-3\.1-8B-Instruct-Turbo +realtime /m);
    expect(stdout).toContain('never $0); give one with --prices FILE.');
  });

  it('prints the price rows as JSON with --prices --json, in the schema --prices FILE reads back', async () => {
    const { code, stdout } = await runCli(['providers', '--prices', '--json']);
    expect(code).toBe(0);
    const rows = JSON.parse(stdout) as unknown[];
    expect(rows).toEqual(JSON.parse(JSON.stringify(PRICE_TABLE)));
    expect(await loadPrices(rows, '.')).toEqual(rows);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pgDriver from 'pg';
import { createClient } from '../../src/client/create-kluster-client.js';
import { keyFingerprint, quotaKey } from '../../src/quota/quota-key.js';
import { postgresStore, type PostgresJobStore } from '../../src/state/postgres-store.js';
import { detachRun } from '../../src/worker/detach-run.js';
import { POSTGRES_SKIP_REASON, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
// Nothing is sent by a detach: the client only names the provider, server and key.
const BASE_URL = 'http://127.0.0.1:9/v1';

describe.skipIf(POSTGRES_SKIP_REASON !== null)("detachRun's token count for the shared quota", () => {
  let pg: TestPostgres;
  let sql: pgDriver.Pool;
  let root: string;
  let input: string;
  const stores: PostgresJobStore[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
    sql = new pgDriver.Pool({ connectionString: pg.url, max: 1 });
    root = await mkdtemp(join(tmpdir(), 'kbatch-detach-tokens-'));
    input = join(root, 'in.csv');
    await writeFile(input, `id,text\n${Array.from({ length: 12 }, (_, i) => `r${i},review number ${i}`).join('\n')}\n`);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await sql?.end();
    await pg?.stop();
  });

  // Detach a run as `kbatch run --detach` does; the tokens its manifest records for each part.
  const detachTokens = async (jobId: string, extra: { maxEnqueuedTokens?: number } = {}) => {
    await mkdir(join(root, jobId), { recursive: true });
    const store = await postgresStore({ connectionString: pg.url, jobId, dir: join(root, jobId) });
    stores.push(store);
    await detachRun({ input, model: MODEL, prompt: 'Review: {{text}}', maxRequests: 5, client: createClient({ apiKey: 'k', baseURL: BASE_URL }), store, databaseUrl: pg.url, ...extra });
    return (await store.readManifest()).parts.map((p) => p.promptTokens);
  };

  it('counts no tokens when no limit applies to the key (the workers count them at create if one appears)', async () => {
    expect(await detachTokens('kb-no-limit')).toEqual([undefined, undefined, undefined]);
  });

  it('counts each part\'s tokens when a limit is given, or stored for the key by another job', async () => {
    const given = await detachTokens('kb-given', { maxEnqueuedTokens: 1_000_000 });
    expect(given).toHaveLength(3);
    for (const tokens of given) expect(tokens).toBeGreaterThan(0);
    await sql.query('DELETE FROM kbatch.quota_limit');
    await sql.query('INSERT INTO kbatch.quota_limit (quota_key, max_enqueued_tokens) VALUES ($1, 1000)', [quotaKey({ provider: 'kluster', fingerprint: keyFingerprint('k', BASE_URL), model: MODEL })]);
    expect(await detachTokens('kb-stored')).toEqual(given);
  });
});

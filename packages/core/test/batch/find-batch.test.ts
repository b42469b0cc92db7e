import { describe, expect, it } from 'vitest';
import { findBatchByMetadata } from '../../src/batch/find-batch.js';

const batch = (id: string, metadata: Record<string, string> | null) => ({
  id,
  status: 'in_progress',
  created_at: '1',
  request_counts: { total: 1, completed: 0, failed: 0 },
  metadata,
});

describe('findBatchByMetadata', () => {
  it('pages with `after` and matches every metadata key', async () => {
    const all = [batch('b1', null), batch('b2', { kbatch_job: 'j', kbatch_chunk: '00001' }), batch('b3', { kbatch_job: 'j', kbatch_chunk: '00002' })];
    const calls: unknown[] = [];
    const client = {
      list: async (query: { after?: string; limit?: number }) => {
        calls.push(query);
        const start = query.after ? all.findIndex((b) => b.id === query.after) + 1 : 0;
        const data = all.slice(start, start + 1);
        return { object: 'list', data, has_more: start + 1 < all.length, count: 1, page: 1 };
      },
    };
    const found = await findBatchByMetadata(client as never, { kbatch_job: 'j', kbatch_chunk: '00002' });
    expect(found.map((b) => b.id)).toEqual(['b3']);
    expect(calls).toHaveLength(3);
  });

  it('stops when a server ignores the cursor', async () => {
    const client = { list: async () => ({ data: [batch('b1', null)], has_more: true }) };
    expect(await findBatchByMetadata(client as never, { kbatch_job: 'j' })).toEqual([]);
  });

  it('matches metadata on the raw items, so an odd foreign batch does not break the search', async () => {
    const odd = { id: 'weird', status: null, request_counts: 'n/a', metadata: { other: 1 } };
    const client = { list: async () => ({ data: [odd, batch('b2', { kbatch_job: 'j' })], has_more: false }) };
    expect((await findBatchByMetadata(client as never, { kbatch_job: 'j' })).map((b) => b.id)).toEqual(['b2']);
  });

  it('stops paging at the first batch created before createdAfter', async () => {
    const all = [
      { ...batch('b3', { kbatch_job: 'j' }), created_at: 3000 },
      { ...batch('b2', null), created_at: 2000 },
      { ...batch('b1', { kbatch_job: 'j' }), created_at: '1970-01-01T00:16:40Z' },
      { ...batch('b0', { kbatch_job: 'j' }), created_at: 500 },
    ];
    let pages = 0;
    const client = {
      list: async (query: { after?: string }) => {
        pages++;
        const start = query.after ? all.findIndex((b) => b.id === query.after) + 1 : 0;
        return { data: all.slice(start, start + 1), has_more: start + 1 < all.length };
      },
    };
    const found = await findBatchByMetadata(client as never, { kbatch_job: 'j' }, { createdAfter: 1500 });
    expect(found.map((b) => b.id)).toEqual(['b3']);
    expect(pages).toBe(3);
  });
});

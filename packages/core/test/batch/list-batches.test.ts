import { describe, expect, it } from 'vitest';
import { listedBatches } from '../../src/batch/list-batches.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const batch = (id: string, status = 'in_progress') => ({ id, status, created_at: '1', request_counts: { total: 2, completed: 1, failed: 0 }, metadata: null });

describe('listedBatches', () => {
  it('returns the asked-for batches one page holds, parsed, and asks for that page once without SDK retries', async () => {
    const calls: unknown[][] = [];
    const client = {
      list: async (...args: unknown[]) => {
        calls.push(args);
        return { data: [batch('b3'), batch('b2', 'completed'), batch('other'), batch('b1')], has_more: true };
      },
    };
    const found = await listedBatches(client as never, new Set(['b1', 'b2', 'b9']), { pageSize: 7 });
    expect([...found.keys()].sort()).toEqual(['b1', 'b2']);
    expect(found.get('b2')).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 1, failed: 0 } });
    expect(calls).toEqual([[{ limit: 7 }, { maxRetries: 0 }]]);
  });

  it('leaves out an item that does not parse or repeats an id (its batch is then fetched on its own)', async () => {
    const odd = { id: 'b1', status: null, request_counts: 'n/a' };
    const client = { list: async () => ({ data: [odd, batch('b2'), { ...batch('b2'), status: 'failed' }, null, 7], has_more: false }) };
    const found = await listedBatches(client as never, new Set(['b1', 'b2']));
    expect([...found.keys()]).toEqual(['b2']);
    expect(found.get('b2')!.status).toBe('in_progress');
  });

  it('reads news of counts alone as a full parse would: odd counts agree, bad counts leave the item out', async () => {
    const counts: unknown[] = [{ total: '2', completed: '2', failed: 0 }, null, {}, { total: 2, completed: 1, failed: 1, extra: 'x' }, { total: 'n/a' }, { total: -1 }];
    for (const next of counts) {
      const parsed = new Map();
      const first = { ...batch('b1'), output_file_id: '' };
      await listedBatches({ list: async () => ({ data: [first] }) } as never, new Set(['b1']), { parsed });
      const item = { ...first, request_counts: next };
      const fast = await listedBatches({ list: async () => ({ data: [item] }) } as never, new Set(['b1']), { parsed });
      const full = await listedBatches({ list: async () => ({ data: [item] }) } as never, new Set(['b1']));
      expect(fast.get('b1')?.request_counts).toEqual(full.get('b1')?.request_counts);
      expect(fast.has('b1')).toBe(full.has('b1'));
    }
  });

  it('parses the whole item again when its status or a file id changed with its counts', async () => {
    const parsed = new Map();
    await listedBatches({ list: async () => ({ data: [batch('b1')] }) } as never, new Set(['b1']), { parsed });
    const done = { ...batch('b1', 'completed'), output_file_id: 'file-9', request_counts: { total: 2, completed: 2, failed: 0 } };
    const found = await listedBatches({ list: async () => ({ data: [done] }) } as never, new Set(['b1']), { parsed });
    expect(found.get('b1')).toMatchObject({ status: 'completed', output_file_id: 'file-9', request_counts: { completed: 2 } });
    const bad = { ...batch('b1', 'completed'), output_file_id: 7, request_counts: { total: 2, completed: 1, failed: 1 } };
    expect((await listedBatches({ list: async () => ({ data: [bad] }) } as never, new Set(['b1']), { parsed })).has('b1')).toBe(false);
  });

  it('refuses a page that is not a list with RESPONSE_INVALID', async () => {
    const client = { list: async () => ({ items: [] }) };
    expectKbatchError(await catchError(() => listedBatches(client as never, new Set(['b1']))), { code: 'RESPONSE_INVALID' });
  });
});

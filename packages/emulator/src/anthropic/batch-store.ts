// What the anthropic personality keeps beside the emulator's own batches: per input file, the request count and the
// requests its API version refused (validated asynchronously, as Anthropic does: they end as `errored` lines).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../store.js';

/** One inline create's bookkeeping, keyed by the input file the emulator wrote for it. */
export interface InlineBatch {
  /** Requests sent in the create call. */
  requests: number;
  /** Requests refused per request (e.g. `temperature` on 2026-10-21): `errored` results with this message. */
  errored: Array<{ custom_id: string; message: string }>;
}

/** Sidecars in `<dataDir>/anthropic/<fileId>.json`, cached; a batch without one is not an Anthropic batch. */
export class InlineBatches {
  private readonly cache = new Map<string, InlineBatch | null>();
  private readonly dir: string;

  constructor(store: Store) {
    this.dir = join(store.dir, 'anthropic');
    mkdirSync(this.dir, { recursive: true });
  }

  save(fileId: string, batch: InlineBatch): void {
    writeFileSync(join(this.dir, `${fileId}.json`), JSON.stringify(batch));
    this.cache.set(fileId, batch);
  }

  get(fileId: string): InlineBatch | null {
    if (!this.cache.has(fileId)) {
      let found: InlineBatch | null = null;
      try {
        found = JSON.parse(readFileSync(join(this.dir, `${fileId}.json`), 'utf8')) as InlineBatch;
      } catch {
        found = null;
      }
      this.cache.set(fileId, found);
    }
    return this.cache.get(fileId)!;
  }
}

/** Anthropic's id for an emulator batch, and back. */
export const anthropicId = (batchId: string): string => `msgbatch_${batchId.replace(/^batch_/, '')}`;
export const emulatorId = (id: string): string => `batch_${id.replace(/^msgbatch_/, '')}`;

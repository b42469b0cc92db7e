import { mkdir, open, readdir, readFile, rename, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The File object as stored (created_at in seconds). */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  /** When the file is deleted (seconds), set on a batch's output files by `output_expires_after`. */
  expires_at?: number;
}

/** Batch request counts. */
export interface RequestCounts {
  total: number;
  completed: number;
  failed: number;
}

/** One validation error of a failed batch. */
export interface BatchErrorEntry {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** The Batch object as stored (timestamps in seconds). */
export interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  errors: { object: 'list'; data: BatchErrorEntry[] } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: RequestCounts;
  metadata: Record<string, string>;
  /** OpenAI's output-file expiry, as given on create (absent when not given). */
  output_expires_after?: { anchor: 'created_at'; seconds: number };
}

/** Batch statuses of the reference. */
export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** A fine-tuning job as stored. */
export interface FineTuningJobObject {
  object: 'fine_tuning.job';
  id: string;
  model: string;
  created_at: number;
  finished_at: number | null;
  fine_tuned_model: string | null;
  result_files: string[];
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelling' | 'cancelled';
  training_file: string;
  validation_file: string | null;
  hyperparameters: { batch_size: number; learning_rate_multiplier: number; n_epochs: number };
  method: { type: 'supervised'; supervised: { batch_size: number; learning_rate_multiplier: number; n_epochs: number } };
  trained_tokens: number | null;
  integrations: unknown[];
  error: { code: string; message: string; param: string | null } | null;
  metadata: Record<string, string> | null;
  seed: number;
  nickname: string | null;
}

/** Stored records carry a creation sequence number for stable newest-first listing. */
export interface Stored<T> {
  seq: number;
  /** ms timestamp of creation; the batch lifecycle computes expiry from it. */
  createdMs: number;
  value: T;
}

type Kind = 'files' | 'batches' | 'jobs';

/**
 * The emulator's durable state: one JSON file per object written atomically (temp + fsync + rename),
 * files' bytes next to them. Objects are small, so they also live in memory; file bytes stay on disk.
 */
export class Store {
  readonly files = new Map<string, Stored<FileObject>>();
  readonly batches = new Map<string, Stored<BatchObject>>();
  readonly jobs = new Map<string, Stored<FineTuningJobObject>>();
  private seq = 0;
  private tmpCounter = 0;
  private readonly queues = new Map<string, Promise<void>>();

  private constructor(
    readonly dir: string,
    readonly temporary: boolean,
  ) {}

  /** Open (and load) a store in `dir`, or in a fresh temp dir when `dir` is undefined. */
  static async open(dir: string | undefined): Promise<Store> {
    const temporary = dir === undefined;
    const root = dir ?? (await mkdtemp(join(tmpdir(), 'kbatch-emulator-')));
    const store = new Store(root, temporary);
    for (const kind of ['files', 'batches', 'jobs', 'tmp'] as const) await mkdir(join(root, kind), { recursive: true });
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    for (const kind of ['files', 'batches', 'jobs'] as const) {
      const names = await readdir(join(this.dir, kind));
      for (const name of names) {
        if (!name.endsWith('.json')) continue;
        try {
          const rec = JSON.parse(await readFile(join(this.dir, kind, name), 'utf8')) as Stored<never>;
          (this[kind] as Map<string, Stored<unknown>>).set((rec.value as { id: string }).id, rec);
          this.seq = Math.max(this.seq, rec.seq);
        } catch {
          // A torn write cannot happen (rename is atomic); anything unreadable is not ours.
        }
      }
    }
    await rm(join(this.dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
  }

  /** Next creation sequence number. */
  nextSeq(): number {
    return ++this.seq;
  }

  /** Where a file's bytes live. */
  dataPath(fileId: string): string {
    return join(this.dir, 'files', `${fileId}.data`);
  }

  /** A fresh path in the store's tmp dir (same filesystem, so rename into place is atomic). */
  tmpPath(label: string): string {
    return join(this.dir, 'tmp', `${label}.${process.pid}.${++this.tmpCounter}.tmp`);
  }

  /** Persist an object (atomic, writes to one key are serialized). */
  save(kind: Kind, rec: Stored<{ id: string }>): Promise<void> {
    const key = `${kind}/${rec.value.id}`;
    const text = JSON.stringify(rec);
    const prev = this.queues.get(key) ?? Promise.resolve();
    const next = prev.then(() => writeAtomic(join(this.dir, kind, `${rec.value.id}.json`), this.tmpPath('obj'), text));
    const tracked = next.catch(() => undefined).finally(() => {
      if (this.queues.get(key) === tracked) this.queues.delete(key);
    });
    this.queues.set(key, tracked);
    return next;
  }

  /** Remove a file object and its bytes. */
  async deleteFile(id: string): Promise<void> {
    this.files.delete(id);
    await this.queues.get(`files/${id}`);
    await rm(join(this.dir, 'files', `${id}.json`), { force: true });
    await rm(this.dataPath(id), { force: true });
  }

  /** Remove a batch object (its files stay). */
  async deleteBatch(id: string): Promise<void> {
    this.batches.delete(id);
    await this.queues.get(`batches/${id}`);
    await rm(join(this.dir, 'batches', `${id}.json`), { force: true });
  }

  /** Wait for pending writes; remove the dir if it was a temp one. */
  async close(): Promise<void> {
    await Promise.all([...this.queues.values()]);
    if (this.temporary) await rm(this.dir, { recursive: true, force: true });
  }
}

/** temp + fsync + rename: a reader sees the old or the new object, never half of one. */
export async function writeAtomic(path: string, tmp: string, text: string): Promise<void> {
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

/** fsync + rename an already-written temp file into place. */
export async function commitFile(tmp: string, path: string): Promise<void> {
  const handle = await open(tmp, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

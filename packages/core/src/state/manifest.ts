import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { writeJsonAtomic } from '../internal/write-json-atomic.js';
import { parseStateFile } from './state-file.js';
import { DirectoryJobStore, type JobStore } from './job-store.js';

/** The manifest file inside a job directory. */
export const MANIFEST_FILE = 'manifest.json';

const Counts = z.object({ total: z.number(), completed: z.number(), failed: z.number() });

/** A request of a failed batch, mapped back from the server's line number to its custom_id. */
export const LineErrorSchema = z.object({
  line: z.number().nullable(),
  customId: z.string().nullable(),
  code: z.string().nullable(),
  message: z.string().nullable(),
});
export type LineError = z.output<typeof LineErrorSchema>;

/**
 * One part of a job: a chunk file and everything that happened to it remotely.
 * `*StartedAt` fields record intent: they are written before the remote call, so a crash can be resolved later.
 */
/**
 * What a run's judge said of a done part's result lines as they were downloaded (only for a completed batch whose
 * every line it could read): `lines` judged, `retry` of them a retry round would send again, the others' failure
 * causes, the digest of their custom_ids, and the result files' sizes then (a verdict is used only while they match).
 */
export const PartVerdictSchema = z.object({
  lines: z.number(),
  retry: z.number(),
  notRetried: z.record(z.string(), z.number()),
  ids: z.string(),
  files: z.array(z.object({ path: z.string(), bytes: z.number() })),
});
export type PartVerdict = z.output<typeof PartVerdictSchema>;

export const JobPartSchema = z.object({
  index: z.string(),
  /** chunk = from the submitted input; resubmit = leftovers of an expired batch; retry = added by addChunks(). */
  kind: z.enum(['chunk', 'resubmit', 'retry']),
  parent: z.string().optional(),
  path: z.string(),
  sha256: z.string(),
  requests: z.number(),
  bytes: z.number(),
  /** The chunk file's mtime when its sha256 was taken: while size and mtime match, an upload need not hash it again. */
  mtimeMs: z.number().optional(),
  /** The digest of its requests' custom_ids (see `IdDigest`), taken as the chunk was written; absent: read from the file. */
  requestIds: z.string().optional(),
  /** Its requests' estimated prompt tokens (see estimateLineTokens), taken as the chunk was written; absent: read from the file when needed (the shared quota). */
  promptTokens: z.number().optional(),
  uploadStartedAt: z.string().optional(),
  uploadAttempts: z.number().default(0),
  fileId: z.string().optional(),
  createStartedAt: z.string().optional(),
  createAttempts: z.number().default(0),
  batchId: z.string().optional(),
  adopted: z.boolean().optional(),
  status: z.string().optional(),
  requestCounts: Counts.optional(),
  outputFileId: z.string().nullable().optional(),
  errorFileId: z.string().nullable().optional(),
  outputPath: z.string().optional(),
  outputLines: z.number().optional(),
  errorPath: z.string().optional(),
  errorLines: z.number().optional(),
  downloadAttempts: z.number().default(0),
  lineErrors: z.array(LineErrorSchema).optional(),
  /** Result lines that succeeded / failed (set when done; never-run requests of a resubmitted part are in neither). */
  succeeded: z.number().optional(),
  failed: z.number().optional(),
  resubmittedAs: z.string().optional(),
  cancelRequested: z.boolean().optional(),
  /** When the uploaded input file (`fileId`) was deleted from the server (saved after the delete succeeded or found it gone). */
  fileDeletedAt: z.string().optional(),
  /**
   * Set, and saved, before kbatch itself cancels this in_progress batch because its last few requests stalled
   * (runJob `finishRealtime`): the requests it leaves without a result are finished realtime by the run, never
   * resubmitted as a batch. `remaining` of `total` were left after `idleMs` without progress.
   */
  straggler: z.object({ at: z.string(), remaining: z.number(), total: z.number(), idleMs: z.number() }).optional(),
  /** Set with `done` when the run judged the results on download (see {@link PartVerdictSchema}). */
  verdict: PartVerdictSchema.optional(),
  /** True once the batch is terminal and its files are downloaded and verified. */
  done: z.boolean().default(false),
});
export type JobPart = z.output<typeof JobPartSchema>;

/** The durable state of a job (`manifest.json`). Never contains the API key. */
export const JobManifestSchema = z.object({
  version: z.literal(1),
  jobId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  endpoint: z.string(),
  window: z.string(),
  /** Seconds the batches' output files are kept (`output_expires_after`, sent on every create of the job, resumes too). */
  outputExpiresAfter: z.number().optional(),
  /** The provider and base URL the job's batches were sent to (absent in jobs from before providers were recorded). */
  provider: z.string().optional(),
  baseURL: z.string().optional(),
  /** Set by cancelJob(): nothing new is submitted or resubmitted after it. */
  cancelledAt: z.string().optional(),
  parts: z.array(JobPartSchema),
});
export type JobManifest = z.output<typeof JobManifestSchema>;

/**
 * The part a part stands in for: resubmit parts (leftovers of an expired batch) are followed through `parent`
 * to the chunk or retry part whose requests they finish, so results are grouped by the attempt they belong to.
 */
export function rootOf(manifest: Pick<JobManifest, 'parts'>, part: JobPart): JobPart {
  return ancestorsOf(manifest, part).at(-1) ?? part;
}

/** The parts a resubmit part descends from, its parent first; at most one hop per part, so a damaged manifest's cycle ends. */
export function ancestorsOf(manifest: Pick<JobManifest, 'parts'>, part: JobPart): JobPart[] {
  const chain: JobPart[] = [];
  for (let p = part; p.kind === 'resubmit' && p.parent !== undefined && chain.length < manifest.parts.length; ) {
    const parent = manifest.parts.find((q) => q.index === p.parent);
    if (!parent) break;
    chain.push(parent);
    p = parent;
  }
  return chain;
}

/**
 * Read and validate a job's manifest.
 * @param jobDir - the job directory
 * @throws KbatchError JOB_NOT_FOUND when there is no manifest, JOB_INVALID when it is unreadable
 */
export async function loadManifest(jobDir: string): Promise<JobManifest> {
  const file = join(jobDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KbatchError('JOB_NOT_FOUND', `No kbatch job in ${jobDir} (${MANIFEST_FILE} is missing)`, { file, cause });
    }
    throw cause;
  }
  return parseStateFile(file, text, JobManifestSchema, 'manifest');
}

/**
 * Write the manifest atomically: temp file, fsync, rename, fsync of the directory.
 * A crash leaves either the old or the new manifest, never a torn one.
 */
export async function writeManifest(jobDir: string, manifest: JobManifest): Promise<void> {
  // The directory exists on every save but the first: make it only when the write says it is missing.
  await writeJsonAtomic(join(jobDir, MANIFEST_FILE), manifest).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    await mkdir(jobDir, { recursive: true });
    await writeJsonAtomic(join(jobDir, MANIFEST_FILE), manifest);
  });
}


/**
 * The in-memory manifest of a running job plus serialized, atomic saves through its {@link JobStore}.
 * Mutate `manifest` synchronously, then `await save()`; concurrent saves are queued so none is lost.
 */
export class ManifestStore {
  private queue: Promise<void> = Promise.resolve();
  private lock: Promise<void> = Promise.resolve();
  /** Where the manifest (and the rest of the job's state) is saved. */
  readonly jobStore: JobStore;

  /** @param job - the job's store, or its directory (then the directory store) */
  constructor(
    job: JobStore | string,
    readonly manifest: JobManifest,
  ) {
    this.jobStore = typeof job === 'string' ? new DirectoryJobStore(job) : job;
  }

  /** The job directory: where the part's data files (chunks, results) are. */
  get jobDir(): string {
    return this.jobStore.dir;
  }

  /** Open the manifest of an existing job. */
  static async open(job: JobStore | string): Promise<ManifestStore> {
    const jobStore = typeof job === 'string' ? new DirectoryJobStore(job) : job;
    return new ManifestStore(jobStore, await jobStore.readManifest());
  }

  /** Persist the current state (resolves once this state, or a later one, is saved). */
  save(): Promise<void> {
    const run = async () => {
      this.manifest.updatedAt = new Date().toISOString();
      await this.jobStore.writeManifest(this.manifest);
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * Run `fn` alone: changes that allocate a part index and write its chunk (two expiring batches at once)
   * must not interleave, or both take the same index and the same file.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.then(
      () => {},
      () => {},
    );
    return next;
  }

  /** The part with this index. */
  part(index: string): JobPart {
    const part = this.manifest.parts.find((p) => p.index === index);
    if (!part) throw new KbatchError('JOB_INVALID', `Job ${this.manifest.jobId} has no part ${index}`);
    return part;
  }

  /** The next free part index ('00001', '00002', …). */
  nextIndex(): string {
    const max = this.manifest.parts.reduce((m, p) => Math.max(m, Number(p.index) || 0), 0);
    return String(max + 1).padStart(5, '0');
  }
}

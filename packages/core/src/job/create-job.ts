import { copyFile, link, mkdir, readdir, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { KbatchError } from '../errors.js';
import { CHAT_COMPLETIONS_ENDPOINT } from '../batch/create-batch.js';
import { ManifestStore, type JobManifest, type JobPart } from '../state/manifest.js';
import { scanFile } from './lines.js';
import { directoryStore, type JobStore } from '../state/job-store.js';

/** Where new jobs go when no job directory is given (relative to cwd). */
export const DEFAULT_JOBS_DIR = '.kbatch/jobs';

/** A fresh, sortable job id: `kb-20250101-120000-1a2b3c`. */
export function newJobId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `kb-${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * Expand the inputs of `kbatch submit`: files are taken as given, a directory gives its `*.jsonl` files in name order.
 * @throws KbatchError INPUT_NOT_FOUND for a missing path or a directory without .jsonl files
 */
export async function resolveChunkFiles(paths: readonly string[], cwd = process.cwd()): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const abs = resolve(cwd, p);
    let info;
    try {
      info = await stat(abs);
    } catch (cause) {
      throw new KbatchError('INPUT_NOT_FOUND', `No such file or directory: ${p}`, { file: p, cause });
    }
    if (info.isDirectory()) {
      const names = (await readdir(abs)).filter((n) => n.endsWith('.jsonl')).sort();
      if (names.length === 0) throw new KbatchError('INPUT_NOT_FOUND', `No .jsonl chunk files in ${p}`, { file: p });
      out.push(...names.map((n) => join(abs, n)));
    } else out.push(abs);
  }
  if (out.length === 0) throw new KbatchError('INPUT_NOT_FOUND', 'No chunk files given');
  return out;
}

/** Options of {@link createJob}. */
export interface CreateJobOptions {
  /** Chunk files (JSONL request lines) or directories of them. */
  chunks: readonly string[];
  /** The job directory (default: a new `.kbatch/jobs/<id>` under cwd). Must not hold a job already. */
  jobDir?: string;
  cwd?: string;
  /** Completion window, e.g. `24h`. */
  window?: string;
  /** Seconds to keep the batches' output files (`output_expires_after`), recorded so every create sends the same. */
  outputExpiresAfter?: number | undefined;
  /** The provider and server the job's batches go to, recorded in the manifest (never the key). */
  provider?: string;
  baseURL?: string;
  /** Where the job's state goes (default: the job directory); its `dir` is then the job directory and its `jobId` the id. */
  store?: JobStore;
  jobId?: string;
  /**
   * What writing the chunk files measured, by absolute path (e.g. from `splitRequests`' onChunk): such a file is
   * not read again for its sha256, request count and size.
   */
  written?: ReadonlyMap<string, FileSummary>;
}

/** A chunk file's sha256, byte size and number of request lines (and its custom_ids' digest, when every one was read). */
export interface FileSummary {
  sha256: string;
  bytes: number;
  lines: number;
  ids?: string | undefined;
  /** Estimated prompt tokens of its lines, when the writer counted them. */
  tokens?: number | undefined;
}

/**
 * Create a job directory: chunk files linked (or copied) into `chunks/`, and a first manifest with each
 * chunk's sha256, request count and size. Nothing remote happens here.
 * @returns the job directory (absolute) and its manifest
 */
export async function createJob(options: CreateJobOptions): Promise<{ jobDir: string; manifest: JobManifest }> {
  const cwd = options.cwd ?? process.cwd();
  const files = await resolveChunkFiles(options.chunks, cwd);
  const jobId = options.jobId ?? options.store?.jobId ?? newJobId();
  const jobDir = options.store?.dir ?? resolve(cwd, options.jobDir ?? join(DEFAULT_JOBS_DIR, jobId));
  await mkdir(join(jobDir, 'chunks'), { recursive: true });
  const jobStore = options.store ?? directoryStore(jobDir);
  const lock = await jobStore.lock();
  try {
    // Checked under the lock: two creates racing for one directory cannot both write a first manifest.
    if (await jobStore.hasManifest()) {
      throw new KbatchError('JOB_MISMATCH', `${jobDir} already holds a job; use \`kbatch resume ${jobDir}\` to continue it`, {
        file: jobDir,
      });
    }
    const parts: JobPart[] = [];
    for (const [i, file] of files.entries()) {
      const index = String(i + 1).padStart(5, '0');
      parts.push(await partFromFile(jobDir, file, { index, kind: 'chunk', summary: options.written?.get(file) }));
    }
    const now = new Date().toISOString();
    const manifest: JobManifest = {
      version: 1,
      jobId,
      createdAt: now,
      updatedAt: now,
      endpoint: CHAT_COMPLETIONS_ENDPOINT,
      window: options.window ?? '24h',
      ...(options.outputExpiresAfter === undefined ? {} : { outputExpiresAfter: options.outputExpiresAfter }),
      ...(options.provider === undefined ? {} : { provider: options.provider }),
      ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
      parts,
    };
    await jobStore.writeManifest(manifest);
    return { jobDir, manifest };
  } finally {
    await lock.release();
  }
}

/**
 * Add follow-up parts to an existing job from files of request lines (e.g. retries of failed requests).
 * A later part's result for a custom_id replaces earlier ones in {@link readJobResults}.
 * Submit them with `resumeJob(jobDir, …)`.
 * @returns the new part indexes
 */
export async function addChunks(jobDir: string, files: readonly string[], options: { cwd?: string; store?: JobStore } = {}): Promise<string[]> {
  const resolved = await resolveChunkFiles(files, options.cwd);
  const jobStore = options.store ?? directoryStore(jobDir);
  const lock = await jobStore.lock();
  try {
    const store = await ManifestStore.open(jobStore);
    const added: string[] = [];
    for (const file of resolved) {
      const index = store.nextIndex();
      store.manifest.parts.push(await partFromFile(jobDir, file, { index, kind: 'retry' }));
      added.push(index);
    }
    await store.save();
    return added;
  } finally {
    await lock.release();
  }
}

/**
 * Bring a chunk file into the job (hard link when possible, else copy) and describe it: from `summary` when its
 * writer measured it, else by reading it.
 */
export async function partFromFile(
  jobDir: string,
  file: string,
  { index, kind, summary }: { index: string; kind: JobPart['kind']; summary?: FileSummary | undefined },
): Promise<JobPart> {
  const rel = join('chunks', `part-${index}.jsonl`);
  const dest = join(jobDir, rel);
  if (resolve(file) !== resolve(dest)) {
    try {
      await link(file, dest);
    } catch {
      await copyFile(file, dest);
    }
  }
  // Taken before the hash: a write during the scan then shows as a change (the upload hashes again).
  const { mtimeMs } = await stat(dest);
  const { sha256, bytes, lines } = summary ?? (await scanFile(dest));
  if (lines === 0) throw new KbatchError('INPUT_NOT_FOUND', `Chunk file ${file} has no request lines`, { file });
  const ids = summary?.ids === undefined ? {} : { requestIds: summary.ids };
  const tokens = summary?.tokens === undefined ? {} : { promptTokens: summary.tokens };
  return { index, kind, path: rel, sha256, requests: lines, bytes, mtimeMs, ...ids, ...tokens, uploadAttempts: 0, createAttempts: 0, downloadAttempts: 0, done: false };
}

/** Absolute path of a job-relative path. */
export function jobPath(jobDir: string, rel: string): string {
  return isAbsolute(rel) ? rel : join(jobDir, rel);
}

import { resolve } from 'node:path';

/**
 * Where a job's data files live (chunks, results, the spooled input): today a directory every machine that continues
 * the job can see (a shared filesystem); an object store could implement this later. The job's state is elsewhere
 * (its {@link JobStore}).
 */
export interface JobStorage {
  /** The storage's root, as given (absolute). */
  readonly root: string;
  /** The directory holding the files of job `jobId`. */
  jobDir(jobId: string): string;
}

/**
 * A directory as {@link JobStorage}: job `id`'s files are under `<root>/<id>`.
 * @example directoryStorage('/mnt/shared/kbatch').jobDir('kb-123') // '/mnt/shared/kbatch/kb-123'
 */
export function directoryStorage(root: string): JobStorage {
  const absolute = resolve(root);
  return { root: absolute, jobDir: (jobId) => resolve(absolute, jobId) };
}

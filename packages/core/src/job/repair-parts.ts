import { access } from 'node:fs/promises';
import type { JobPart } from '../state/manifest.js';
import type { JobContext } from './context.js';
import { jobPath } from './create-job.js';
import { customIdOf, readFileLines, scanFile } from './lines.js';
import { resubmittedRequests, writeResubmitPart } from './finish-part.js';
import { KbatchError } from '../errors.js';

/**
 * Repair what two batches expiring at once left behind before resubmissions were serialized: two resubmit parts
 * with the same index, and a chunk file holding the other part's requests (JOB_MISMATCH at every upload). A
 * resubmit part that was never uploaded and whose chunk is damaged or whose index is shared is rebuilt from its
 * parent's chunk and results (the parent's never-run requests), under a fresh index when its own is shared.
 * Nothing remote happens; a part with an uploaded file or a batch is never touched: when two of those share an index
 * (their results would overwrite each other) or an uploaded resubmit part holds other requests than its parent's
 * never-run ones, it throws JOB_INVALID naming them.
 * @returns the rebuilt parts
 */
export async function repairParts(ctx: Pick<JobContext, 'store' | 'emit'>): Promise<JobPart[]> {
  const { store } = ctx;
  const parts = store.manifest.parts;
  const counts = new Map<string, number>();
  for (const p of parts) counts.set(p.index, (counts.get(p.index) ?? 0) + 1);
  const broken: JobPart[] = [];
  for (const part of parts) {
    if (part.kind !== 'resubmit' || part.fileId || part.batchId || part.done || part.parent === undefined) continue;
    if ((counts.get(part.index) ?? 0) > 1 || !(await chunkMatches(store.jobDir, part))) broken.push(part);
  }
  // Past an upload nothing can be rebuilt: a damaged uploaded part stops the job before anything more is sent or downloaded.
  await checkUploadedParts(store.jobDir, parts, counts);
  if (broken.length === 0) return [];
  for (const part of broken) {
    const parent = parts.find((p) => p.index === part.parent && p.resubmittedAs === part.index && p.done);
    if (!parent) continue;
    const old = part.index;
    // A shared index goes to whichever part keeps it; a rebuilt one takes a new index (and so a new chunk file).
    const shared = (counts.get(old) ?? 0) > 1;
    const index = shared ? store.nextIndex() : old;
    if (shared) counts.set(old, counts.get(old)! - 1);
    const unrun = await resubmittedRequests(store.jobDir, parent);
    const rebuilt = await writeResubmitPart(store.jobDir, parent, unrun, index);
    Object.assign(part, { index, path: rebuilt.path, sha256: rebuilt.sha256, requests: rebuilt.requests, bytes: rebuilt.bytes });
    // The recorded upload intent was for other bytes, which the sha256 check kept from ever reaching the server.
    delete part.uploadStartedAt;
    parent.resubmittedAs = index;
    ctx.emit({
      type: 'warning',
      part: index,
      message: `part ${old} of part ${parent.index} was damaged (two batches expired at once); rebuilt as part ${index} with ${rebuilt.requests} never-run requests`,
    });
  }
  await store.save();
  return broken;
}

async function chunkMatches(jobDir: string, part: JobPart): Promise<boolean> {
  const path = jobPath(jobDir, part.path);
  try {
    await access(path);
  } catch {
    return false;
  }
  const { sha256, bytes } = await scanFile(path);
  return sha256 === part.sha256 && bytes === part.bytes;
}

/** Throw JOB_INVALID for uploaded parts sharing an index, or an uploaded resubmit part whose chunk is not its parent's never-run requests. */
async function checkUploadedParts(jobDir: string, parts: JobPart[], counts: Map<string, number>): Promise<void> {
  const uploaded = (p: JobPart) => Boolean(p.fileId || p.batchId);
  const check = 'check them with `kbatch status` and the batches on the server before resuming; this job cannot be resumed safely';
  for (const [index, n] of counts) {
    const shared = parts.filter((p) => p.index === index && uploaded(p));
    if (n > 1 && shared.length > 1) {
      throw new KbatchError('JOB_INVALID', `${shared.length} uploaded parts share index ${index} (${shared.map(describe).join(', ')}): an older kbatch resubmitted two expired batches at once and their results would overwrite each other; ${check}`);
    }
  }
  for (const part of parts) {
    if (part.kind !== 'resubmit' || !uploaded(part) || part.parent === undefined) continue;
    const parent = parts.find((p) => p.index === part.parent && p.done);
    if (!parent) continue;
    const unrun = await resubmittedRequests(jobDir, parent);
    const ids = (await chunkMatches(jobDir, part)) ? await customIds(jobDir, part) : null;
    if (ids && ids.size === unrun.size && [...ids].every((id) => unrun.has(id))) continue;
    const what = ids ? `holds ${ids.size} requests, not the ${unrun.size} requests its parent part ${parent.index} left to resubmit` : 'no longer holds the bytes that were uploaded';
    throw new KbatchError('JOB_INVALID', `resubmit part ${part.index} (${describe(part)}) ${what} (an older kbatch resubmitted two expired batches at once); ${check}`, {
      ...(part.batchId ? { batchId: part.batchId } : {}),
    });
  }
}

function describe(part: JobPart): string {
  return `part ${part.index} of part ${part.parent ?? '-'}: ${part.batchId ? `batch ${part.batchId}` : `file ${part.fileId}, no batch yet`}`;
}

async function customIds(jobDir: string, part: JobPart): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
    const id = customIdOf(text);
    if (id !== null) ids.add(id);
  }
  return ids;
}

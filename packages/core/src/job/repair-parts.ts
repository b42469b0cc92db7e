import { access } from 'node:fs/promises';
import type { JobPart } from './manifest.js';
import type { JobContext } from './context.js';
import { jobPath } from './create-job.js';
import { scanFile } from './lines.js';
import { tallyPart, writeResubmitPart } from './finish-part.js';

/**
 * Repair what two batches expiring at once left behind before resubmissions were serialized: two resubmit parts
 * with the same index, and a chunk file holding the other part's requests (JOB_MISMATCH at every upload). A
 * resubmit part that was never uploaded and whose chunk is damaged or whose index is shared is rebuilt from its
 * parent's chunk and results (the parent's never-run requests), under a fresh index when its own is shared.
 * Nothing remote happens; a part with an uploaded file or a batch is never touched.
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
  // Two uploaded parts under one index cannot be told apart by their result files: say so rather than guess.
  for (const [index, n] of counts) {
    if (n > 1 && parts.filter((p) => p.index === index && (p.fileId || p.batchId)).length > 1) {
      ctx.emit({ type: 'warning', part: index, message: `${n} parts share index ${index} and were uploaded (an older kbatch resubmitted two expired batches at once); check their results in manifest.json` });
    }
  }
  if (broken.length === 0) return [];
  for (const part of broken) {
    const parent = parts.find((p) => p.index === part.parent && p.resubmittedAs === part.index && p.done);
    if (!parent) continue;
    const old = part.index;
    // A shared index goes to whichever part keeps it; a rebuilt one takes a new index (and so a new chunk file).
    const shared = (counts.get(old) ?? 0) > 1;
    const index = shared ? store.nextIndex() : old;
    if (shared) counts.set(old, counts.get(old)! - 1);
    const { unrun } = await tallyPart(store.jobDir, parent, true);
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
